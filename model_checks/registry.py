"""Every protocol the command line knows, in the order ``list`` and ``check --all`` show them."""

from __future__ import annotations

from . import (
    aba,
    acs,
    avalanche,
    bully,
    gcounter,
    honeybadger,
    lamport_mutex,
    lww_register,
    merkle_crdt,
    merkle_sync,
    merkle_tree,
    orset,
    pbft,
    pncounter,
    raft_election,
    rbc,
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
        merkle_tree.PROTOCOL,
        merkle_sync.PROTOCOL,
        merkle_crdt.PROTOCOL,
        bully.PROTOCOL,
        raft_election.PROTOCOL,
        lamport_mutex.PROTOCOL,
        tendermint.PROTOCOL,
        pbft.PROTOCOL,
        rbc.PROTOCOL,
        aba.PROTOCOL,
        acs.PROTOCOL,
        honeybadger.PROTOCOL,
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
