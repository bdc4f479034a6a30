"""Validating ITF traces of the community Tendermint specs against ours.

CometBFT's TLA+ ``TendermintAcc_004_draft`` / ``TendermintAcc005`` and their Quint port
(informalsystems/quint, ``examples/cosmos/tendermint/Tendermint.qnt``) specify the same
Algorithm 1 for one height, with the variables ``round, step, decision, lockedValue,
lockedRound, validValue, validRound`` per correct process and the message pools ``msgsPropose,
msgsPrevote, msgsPrecommit`` keyed by round. This module reads an ITF trace of those specs
(Apalache's ``--out-itf`` or ``quint run --out-itf``) and checks that every step of it is a step
of :mod:`mnemosyne_consensus.spec.tendermint`, so a user of those specs can check their traces
against ours, and ours can be checked against theirs.

The mapping (a JSON document, see :class:`AccMapping`) names the processes and the constants::

    {"processes": {"p1": 0, "p2": 1, "p3": 2, "p4": 3},   our validator id of each name
     "faulty": ["p4"],                                     Faulty (TendermintAcc's Faulty)
     "valid_values": ["v0", "v1"], "invalid_values": ["v2"],
     "max_round": 2,                                       MaxRound
     "proposer": {"0": "p1", "1": "p2", "2": "p3"}}        optional: Proposer, checked

How the variables correspond (their name → ours):

* a variable's name is matched on its last ``::`` segment, so Quint's instance prefixes
  (``MC::Tendermint::round``) do not matter;
* ``round[p], step[p], lockedValue[p], lockedRound[p], validValue[p], validRound[p]`` →
  the fields of process ``processes[p]`` at height 0; ``"None"`` is nil, ``-1`` the nil round,
  steps are compared case-insensitively;
* ``decision[p]`` → ``decisions[0]``'s value. Their ``step = "decided"`` freezes a decided
  process's round and locks, while Algorithm 1 (lines 51-54), and our spec, move it to height 1
  with fresh locks: for a decided process only the decision is compared;
* ``msgsPropose[r]``, ``msgsPrevote[r]``, ``msgsPrecommit[r]`` restricted to correct senders →
  our pool (``id`` is the value: both specs model hashes as identity). Messages of faulty senders
  are the Byzantine alphabet in our spec (every message a faulty validator may sign), a superset
  of what their initial states inject, so they are not compared;
* ``evidence*``, ``action``, ``fired_action`` are not compared (book-keeping).

What must agree for the check to mean anything (else the mapping is refused, exit 2): equal
power with N = 3T + 1, so their thresholds T + 1 and 2T + 1 are ours (more than 1/3 and 2/3 of
the power); their ``Proposer`` is our round robin ``proposer(0, r) = r mod N`` under the id
mapping. Their specs take ``Proposer`` as an arbitrary function: traces of other proposer
functions are outside our spec by construction.

The check: the set of our states consistent with the trace so far starts at our initial state;
each next ITF state keeps the successors (one enabled action, or none: a stutter, since their
book-keeping variables change on steps that are stutters for us) whose observation equals it.
An empty set is a failure at that state, with their ``fired_action`` and what changed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ..spec import tendermint as spec
from .codec import DecodeError

NIL_VALUE = "None"
STEPS = {"propose": spec.Step.PROPOSE, "prevote": spec.Step.PREVOTE}
STEPS["precommit"] = spec.Step.PRECOMMIT
PROCESS_VARIABLES = ("round", "step", "decision", "lockedValue", "lockedRound")
PROCESS_VARIABLES += ("validValue", "validRound")
POOLS = {"msgsPropose": spec.Kind.PROPOSAL, "msgsPrevote": spec.Kind.PREVOTE}
POOLS["msgsPrecommit"] = spec.Kind.PRECOMMIT


@attrs.frozen
class AccMapping:
    """Process names to our validator ids, and the constants of their model."""

    processes: Mapping[str, int]
    faulty: tuple[str, ...]
    valid_values: tuple[str, ...]
    invalid_values: tuple[str, ...]
    max_round: int

    @property
    def names(self) -> dict[int, str]:
        return {i: name for name, i in self.processes.items()}

    @property
    def correct(self) -> tuple[str, ...]:
        return tuple(sorted(n for n in self.processes if n not in self.faulty))

    def params(self) -> spec.Params:
        n = len(self.processes)
        return spec.Params(
            powers=(1,) * n,
            byzantine=tuple(sorted(self.processes[name] for name in self.faulty)),
            values=self.valid_values,
            max_round=self.max_round,
            invalid_values=self.invalid_values,
        )


def _strings(doc: Any, path: str) -> tuple[str, ...]:
    if not isinstance(doc, list) or not all(isinstance(x, str) for x in doc):
        raise DecodeError(path, "expected a list of strings")
    return tuple(doc)


def decode_mapping(doc: Any) -> AccMapping:
    """The mapping document (see the module docstring); DecodeError names the bad field."""
    if not isinstance(doc, dict):
        raise DecodeError("$", "expected an object")
    for key in ("processes", "faulty", "valid_values", "invalid_values", "max_round"):
        if key not in doc:
            raise DecodeError(f"$.{key}", "missing")
    processes = doc["processes"]
    if not isinstance(processes, dict) or not processes:
        raise DecodeError("$.processes", "expected a non-empty object of name: id")
    n = len(processes)
    if sorted(processes.values()) != list(range(n)) or any(
        type(i) is not int for i in processes.values()
    ):
        raise DecodeError("$.processes", f"ids must be 0..{n - 1}, each once")
    faulty = _strings(doc["faulty"], "$.faulty")
    for k, name in enumerate(faulty):
        if name not in processes:
            raise DecodeError(f"$.faulty[{k}]", f"{name!r} is not in processes")
    max_round = doc["max_round"]
    if type(max_round) is not int or max_round < 0:
        raise DecodeError("$.max_round", "expected an integer >= 0")
    if 3 * len(faulty) + 1 != n:
        raise DecodeError(
            "$.faulty",
            f"N = {n} with T = {len(faulty)} faulty: the mapping needs N = 3T + 1, where their "
            "thresholds T + 1 and 2T + 1 equal ours (more than 1/3 and 2/3 of equal power)",
        )
    mapping = AccMapping(
        dict(processes),
        faulty,
        _strings(doc["valid_values"], "$.valid_values"),
        _strings(doc["invalid_values"], "$.invalid_values"),
        max_round,
    )
    proposer = doc.get("proposer")
    if proposer is not None:
        if not isinstance(proposer, dict):
            raise DecodeError("$.proposer", "expected an object of round: name")
        for r, name in proposer.items():
            if not r.isdigit():
                raise DecodeError(f"$.proposer.{r}", "keys are rounds: 0, 1, 2, ...")
            ours = mapping.names.get(spec.proposer(mapping.params(), 0, int(r)))
            if name != ours:
                raise DecodeError(
                    f"$.proposer.{r}",
                    f"their proposer of round {r} is {name!r}, ours (round robin) is {ours!r}: "
                    "renumber the processes so that proposer(r) = r mod N",
                )
    return mapping


# -- ITF values ----------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """ITF's encodings (#bigint, #set, #map, #tup) as Python values; ValueError if malformed.

    Not :func:`.render.from_itf`: these traces hold sets of records, which that function would
    turn into frozensets of dicts (unhashable). Sets stay lists here, records dicts.
    """
    if isinstance(value, dict):
        if "#bigint" in value:
            return int(value["#bigint"])  # ValueError/TypeError on a non-number
        if "#set" in value:
            return [_plain(x) for x in _array(value["#set"])]
        if "#map" in value:
            pairs = _array(value["#map"])
            if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
                raise ValueError("#map must hold [key, value] pairs")
            return [(_plain(k), _plain(v)) for k, v in pairs]
        if "#tup" in value:
            return tuple(_plain(x) for x in _array(value["#tup"]))
        return {k: _plain(v) for k, v in value.items() if not k.startswith("#")}
    if isinstance(value, list):
        return [_plain(x) for x in value]
    return value


def _array(value: Any) -> list[Any]:
    if not isinstance(value, list):
        raise ValueError(f"expected an array, got {type(value).__name__}")
    return value


def _variables(state: Any, index: int) -> dict[str, Any]:
    if not isinstance(state, dict):
        raise DecodeError(f"$.states[{index}]", "expected an object")
    out = {name.rsplit("::", 1)[-1]: value for name, value in state.items() if name != "#meta"}
    for name in (*PROCESS_VARIABLES, *POOLS):
        if name not in out:
            raise DecodeError(f"$.states[{index}]", f"no variable {name!r} (or '...::{name}')")
    return out


Observation = tuple[tuple[tuple[str, Any], ...], frozenset[tuple[Any, ...]]]


def _nil(value: Any) -> Any:
    return None if value == NIL_VALUE else value


def _map(variables: dict[str, Any], name: str, path: str) -> dict[Any, Any]:
    """ITF variable ``name`` as a dict, or DecodeError naming it."""
    try:
        value = _plain(variables[name])
    except (ValueError, TypeError) as error:
        raise DecodeError(f"{path}.{name}", f"malformed ITF value ({error})") from None
    if not isinstance(value, list) or not all(isinstance(p, tuple) and len(p) == 2 for p in value):
        raise DecodeError(f"{path}.{name}", "expected an ITF #map")
    try:
        return dict(value)
    except TypeError:
        raise DecodeError(f"{path}.{name}", "a #map key that is not a value") from None


_MESSAGE_FIELDS = {
    spec.Kind.PROPOSAL: ("round", "src", "proposal", "validRound"),
    spec.Kind.PREVOTE: ("round", "src", "id"),
    spec.Kind.PRECOMMIT: ("round", "src", "id"),
}


def observe_itf(mapping: AccMapping, state: Any, index: int) -> Observation:
    """What both specs share, read off one ITF state of theirs (DecodeError if malformed)."""
    path = f"$.states[{index}]"
    variables = _variables(state, index)
    per_process = {k: _map(variables, k, path) for k in PROCESS_VARIABLES}
    processes = []
    for name in mapping.correct:
        try:
            step = str(per_process["step"][name]).lower()
            if step == "decided":
                processes.append((name, ("decided", per_process["decision"][name])))
                continue
            processes.append(
                (
                    name,
                    (
                        per_process["round"][name],
                        step,
                        _nil(per_process["lockedValue"][name]),
                        per_process["lockedRound"][name],
                        _nil(per_process["validValue"][name]),
                        per_process["validRound"][name],
                    ),
                )
            )
        except KeyError as error:
            raise DecodeError(path, f"no entry for process {error}") from None
    pool = set()
    for variable, kind in POOLS.items():
        fields = _MESSAGE_FIELDS[kind]
        for round_, messages in _map(variables, variable, path).items():
            if not isinstance(messages, list):
                raise DecodeError(f"{path}.{variable}", f"round {round_}: expected a #set")
            for m in messages:
                if not isinstance(m, dict) or not all(f in m for f in fields):
                    wanted = ", ".join(fields)
                    raise DecodeError(f"{path}.{variable}", f"a message without {wanted}")
                if m["src"] in mapping.faulty:
                    continue
                if kind is spec.Kind.PROPOSAL:
                    pool.add((kind.value, m["round"], m["src"], m["proposal"], m["validRound"]))
                else:
                    pool.add((kind.value, m["round"], m["src"], _nil(m["id"]), -1))
    return tuple(processes), frozenset(pool)


def observe_ours(mapping: AccMapping, state: spec.SystemState) -> Observation:
    """The same observation of one of our states."""
    names = mapping.names
    processes = []
    for proc in state.processes:
        decided = proc.decisions[0]
        if decided is not None:
            processes.append((names[proc.id], ("decided", decided.value)))
            continue
        step = proc.step.name.lower()
        observed = (proc.round, step, proc.locked_value, proc.locked_round)
        processes.append((names[proc.id], (*observed, proc.valid_value, proc.valid_round)))
    processes.sort()
    pool = frozenset(
        (m.kind.value, m.round, names[m.sender], m.value, m.valid_round)
        for m in state.pool
        if m.height == 0
    )
    return tuple(processes), pool


# -- The check -----------------------------------------------------------------------------------


@attrs.frozen
class AccFailure:
    index: int  # the ITF state that no step of our spec explains
    fired_action: str | None
    changed: str
    reason: str


@attrs.frozen
class AccResult:
    states: int
    failure: AccFailure | None


def _changes(before: Observation, after: Observation) -> str:
    lines = []
    old, new = dict(before[0]), dict(after[0])
    for name in sorted(new):
        if old.get(name) != new[name]:
            lines.append(f"{name}: {old.get(name)} -> {new[name]}")
    for m in sorted(after[1] - before[1], key=repr):
        lines.append(f"sent {m}")
    for m in sorted(before[1] - after[1], key=repr):
        lines.append(f"unsent {m} (pools only grow)")
    return "; ".join(lines) or "nothing both specs observe"


def validate_acc_trace(doc: Any, mapping: AccMapping) -> AccResult:
    """Every step of the ITF trace ``doc`` is a step (or a stutter) of our spec."""
    if not isinstance(doc, dict) or not isinstance(doc.get("states"), list):
        raise DecodeError("$", "expected an ITF document with a 'states' list")
    states = doc["states"]
    if not states:
        raise DecodeError("$.states", "empty trace")
    ctx = spec.Context(mapping.params())
    ours = {spec.initial_state(ctx.params)}
    previous = observe_itf(mapping, states[0], 0)
    if observe_ours(mapping, next(iter(ours))) != previous:
        initial = observe_ours(mapping, next(iter(ours)))
        return AccResult(
            1, AccFailure(0, None, _changes(initial, previous), "not our initial state")
        )
    for index in range(1, len(states)):
        wanted = observe_itf(mapping, states[index], index)
        following = set()
        for state in ours:
            if observe_ours(mapping, state) == wanted:
                following.add(state)
            for action in spec.enabled_actions(ctx, state):
                post = spec.apply(ctx, state, action)
                if observe_ours(mapping, post) == wanted:
                    following.add(post)
        if not following:
            fired = states[index].get(
                next((k for k in states[index] if k.endswith("fired_action")), ""), None
            )
            return AccResult(
                index + 1,
                AccFailure(
                    index,
                    fired if isinstance(fired, str) else None,
                    _changes(previous, wanted),
                    "no enabled action of our spec (nor a stutter) leads there",
                ),
            )
        ours, previous = following, wanted
    return AccResult(len(states), None)
