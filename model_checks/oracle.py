"""The oracle registry: for each protocol, its model entry and its codec binding."""

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
from .vectors import OracleBinding

ORACLES: dict[str, tuple[ProtocolEntry, OracleBinding]] = {
    entry.name: (entry, binding)
    for entry, binding in (
        (gcounter.PROTOCOL, gcounter.ORACLE),
        (pncounter.PROTOCOL, pncounter.ORACLE),
        (lww_register.PROTOCOL, lww_register.ORACLE),
        (orset.PROTOCOL, orset.ORACLE),
        (vector_clock.PROTOCOL, vector_clock.ORACLE),
        (merkle_tree.PROTOCOL, merkle_tree.ORACLE),
        (merkle_sync.PROTOCOL, merkle_sync.ORACLE),
        (merkle_crdt.PROTOCOL, merkle_crdt.ORACLE),
        (bully.PROTOCOL, bully.ORACLE),
        (raft_election.PROTOCOL, raft_election.ORACLE),
        (lamport_mutex.PROTOCOL, lamport_mutex.ORACLE),
        (tendermint.PROTOCOL, tendermint.ORACLE),
        (pbft.PROTOCOL, pbft.ORACLE),
        (rbc.PROTOCOL, rbc.ORACLE),
        (aba.PROTOCOL, aba.ORACLE),
        (acs.PROTOCOL, acs.ORACLE),
        (honeybadger.PROTOCOL, honeybadger.ORACLE),
        (slush.PROTOCOL, slush.ORACLE),
        (snowflake.PROTOCOL, snowflake.ORACLE),
        (snowball.PROTOCOL, snowball.ORACLE),
        (avalanche.PROTOCOL, avalanche.ORACLE),
    )
}


def oracle(name: str) -> tuple[ProtocolEntry, OracleBinding]:
    try:
        return ORACLES[name]
    except KeyError:
        known = ", ".join(ORACLES)
        raise KeyError(f"unknown protocol {name!r} (known: {known})") from None
