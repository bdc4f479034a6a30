"""The oracle registry: for each protocol, its model entry and its codec binding."""

from __future__ import annotations

from . import gcounter, lww_register, orset, pncounter, vector_clock
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
    )
}


def oracle(name: str) -> tuple[ProtocolEntry, OracleBinding]:
    try:
        return ORACLES[name]
    except KeyError:
        known = ", ".join(ORACLES)
        raise KeyError(f"unknown protocol {name!r} (known: {known})") from None
