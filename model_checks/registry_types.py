"""The records every protocol registers: its configurations, its mutants and its model builder."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from .engine import Bounds, Model


@attrs.frozen
class Config:
    """A named configuration: parameters, the bounds of its exhaustive run, and what it covers."""

    name: str
    description: str
    params: Mapping[str, Any]
    bounds: Bounds = attrs.Factory(Bounds)
    # distinct states of a complete exhaustive run, pinned by a test (None: not exhaustible)
    expected_distinct_states: int | None = None


@attrs.frozen
class Mutant:
    """A deliberately broken variant, shipped so that auditors can see each check fail.

    ``breaks`` names the property the mutant must violate; a test runs the check restricted to
    that property and asserts a violation with a trace.
    """

    name: str
    description: str
    breaks: str
    # the smallest config that exhibits the bug (None: the protocol's "tiny" or default config)
    config: str | None = None


@attrs.frozen
class ProtocolEntry:
    name: str
    summary: str
    source: str
    configs: tuple[Config, ...]  # the first is the default
    mutants: tuple[Mutant, ...]
    build: Callable[[Config, Mutant | None], Model[Any, Any]]
    # named variables of a state, for printing traces and for ITF export
    view: Callable[[Any], Mapping[str, Any]]
    # a config for ``n`` processes of which ``f`` are Byzantine (``check --replicas N --byzantine
    # F``); raises UnsafeConfigError when the protocol cannot tolerate f unless allow_unsafe,
    # ValueError for sizes that make no sense. None: the protocol has named configs only.
    sized_config: Callable[[int, int, bool], Config] | None = None

    @property
    def default_config(self) -> Config:
        return self.configs[0]

    def config(self, name: str | None) -> Config:
        if name is None:
            return self.default_config
        for config in self.configs:
            if config.name == name:
                return config
        known = ", ".join(c.name for c in self.configs)
        raise KeyError(f"unknown config {name!r} for {self.name} (known: {known})")

    def mutant(self, name: str | None) -> Mutant | None:
        if name is None:
            return None
        for mutant in self.mutants:
            if mutant.name == name:
                return mutant
        known = ", ".join(m.name for m in self.mutants) or "none"
        raise KeyError(f"unknown mutant {name!r} for {self.name} (known: {known})")


class UnsafeConfigError(ValueError):
    """A size the protocol cannot tolerate (e.g. 3f >= n for a BFT protocol), asked for without
    ``allow_unsafe``: the message says the bound and how to ask for the counterexample."""
