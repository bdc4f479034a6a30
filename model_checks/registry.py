"""Every protocol the command line knows, in the order ``list`` and ``check --all`` show them."""

from __future__ import annotations

from . import (
    avalanche,
    bully,
    gcounter,
    lamport_mutex,
    lww_register,
    orset,
    pncounter,
    raft_election,
    slush,
    snowball,
    snowflake,
    tendermint,
    vector_clock,
)
from .registry_types import ProtocolEntry

PROTOCOLS: dict[str, ProtocolEntry] = {
    entry.name: entry
    for entry in (
        gcounter.PROTOCOL,
        pncounter.PROTOCOL,
        lww_register.PROTOCOL,
        orset.PROTOCOL,
        vector_clock.PROTOCOL,
        bully.PROTOCOL,
        raft_election.PROTOCOL,
        lamport_mutex.PROTOCOL,
        tendermint.PROTOCOL,
        slush.PROTOCOL,
        snowflake.PROTOCOL,
        snowball.PROTOCOL,
        avalanche.PROTOCOL,
    )
}


def protocol(name: str) -> ProtocolEntry:
    try:
        return PROTOCOLS[name]
    except KeyError:
        known = ", ".join(PROTOCOLS)
        raise KeyError(f"unknown protocol {name!r} (known: {known})") from None
