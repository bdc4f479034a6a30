"""Asynchronous common subset (ACS) over abstract RBC and ABA instances: the executable spec.

Source: A. Miller, Y. Xia, K. Croman, E. Shi, D. Song, "The Honey Badger of BFT Protocols",
CCS 2016, §4.4 and Figure 4 ("Common Subset Agreement protocol (for party P_i)"), after
Ben-Or, Kelmer, Rabin (PODC 1994). Figure 4 has three rules, one spec rule each:

* line 1 "upon delivery of v_j from RBC_j, if input has not yet been provided to BA_j, then
  provide input 1 to BA_j"                                         -> :class:`RbcDeliver`;
* line 2 "upon delivery of value 1 from at least N − f instances of BA, provide input 0 to each
  instance of BA that has not yet been provided input"             -> :class:`BaOutput`;
* line 3 "once all instances of BA have completed, let C ⊂ [1..N] be the indexes of each BA that
  delivered 1. Wait for the output v_j for each RBC_j such that j ∈ C. Finally output
  ∪_{j∈C} v_j"                                                      -> :func:`output_ready`,
  fired by whichever of the two events completes it.

The sub-protocols are *abstract instances with exactly their guarantees* (DESIGN.md: keep the
state small; their own specs, :mod:`.rbc` and :mod:`.aba`, check the guarantees):

* RBC_j (HB Figure 2; Bracha 1987) delivers at most one value, the same at every correct node,
  and, when the proposer j is correct, j's proposal. The adversary schedules each delivery at
  each correct node, or never. A Byzantine proposer chooses its value from a fixed alphabet
  (``byzantine_values``: equivocation collapses into that choice, because RBC agreement lets only
  one value through) or stays silent (it never delivers).
* BA_j (MMR with the CONF round) decides one bit, the same at every correct node, and a bit that
  some correct node input (validity; :class:`BaDecide`). The adversary picks when, and which of
  the bits some correct node input; each correct node then outputs it when the adversary lets it
  (:class:`BaOutput`). Termination is liveness and is not forced here (a BA nobody input never
  decides).

How the rules fire: a reaction ("upon …") runs in the step of the event that enables it, as the
sans-IO node (:mod:`mnemosyne_consensus.impl.acs`) does; this removes interleavings that only
delay a local computation and adds no behaviour. The value v_j of a Byzantine proposer's RBC is
fixed by its first delivery.

Reductions that keep the exhaustive model small at n = 4 (each documented where it is made):
a BA decision is output at every correct node in the step it is made unless
``Params.per_node_ba_output`` (a node reads decisions only through line 2, and a node that has
not yet seen one can be given an earlier schedule with the same inputs); deliveries that ACS no
longer reads are not offered and are forgotten (:func:`relevant`, :func:`_forget`); one
Byzantine value suffices (RBC agreement lets one value through, so two values only rename it).
:func:`canonicalizer` (symmetry of the correct nodes) is sound but costs more than it saves
here, so the model does not use it.

Invariants (HB §4.4, "Agreement" and the lemma that the output holds at least N − f values
of which N − 2f from correct nodes): :func:`agreement`, :func:`enough_proposals`,
:func:`enough_correct_proposals`, and :func:`output_integrity` (each output entry is RBC_j's
value for a BA_j that decided 1). Sometimes companions: a node outputs, every correct node
outputs, a Byzantine proposal is included, a correct proposal is left out.

Departure from the original design notes: none recorded for ACS; the notes do not describe it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import permutations
from typing import Any

import attrs

from .common import replace_at
from .properties import Invariant, Reachable

Entry = tuple[int, str]  # (proposer j, the value v_j its RBC delivered)


@attrs.frozen
class Params:
    n: int
    f: int
    # the Byzantine nodes are the last f: 0..n-f-1 are correct
    byzantine_values: tuple[str, ...] = ("x", "y")  # () : Byzantine proposers are silent
    # False: a BA's decision is output at every correct node in the step it is made (a
    # reduction, see the module docstring); True: each node outputs it in its own step
    per_node_ba_output: bool = False

    @property
    def correct(self) -> tuple[int, ...]:
        return tuple(range(self.n - self.f))

    def is_correct(self, node: int) -> bool:
        return node < self.n - self.f


def proposal(j: int) -> str:
    """Correct node j's ACS input (an abstract value; HoneyBadger proposes a ciphertext)."""
    return f"v{j}"


@attrs.frozen
class Rules:
    """Switches the mutants flip; :data:`SPEC_RULES` is Figure 4."""

    # Fig. 4 line 2: how many BAs must have output 1 before input 0 to the others (N − f)
    zero_threshold: Callable[[int, int], int] = lambda n, f: n - f
    # Fig. 4 line 3: wait for *all* BAs to complete (False: only for ``early_ones`` ones)
    wait_for_all: bool = True
    # with wait_for_all False: output once this many BAs output 1 (and their RBCs delivered)
    early_ones: Callable[[int, int], int] = lambda n, f: n - f
    # Fig. 4 line 3: output the RBC values of C only (True: of every delivered RBC)
    union_of_delivered: bool = False


SPEC_RULES = Rules()
NO_INPUT = -1


@attrs.frozen(cache_hash=True)
class SystemState:
    # RBC instances: the value RBC_j delivers (None: no delivery yet); fixed by the first one
    rbc_value: tuple[str | None, ...]
    # BA instances: the bit BA_j decided (None: not yet)
    ba_decision: tuple[int | None, ...]
    # per correct node i: bit mask of the RBCs it delivered, its input to each BA (-1: none),
    # bit mask of the BAs whose decision it output, and its ACS output (None: not yet)
    delivered: tuple[int, ...]
    ba_input: tuple[tuple[int, ...], ...]
    ba_output: tuple[int, ...]
    output: tuple[tuple[Entry, ...] | None, ...]


def initial_state(params: Params) -> SystemState:
    n, c = params.n, len(params.correct)
    return SystemState(
        rbc_value=(None,) * n,
        ba_decision=(None,) * n,
        delivered=(0,) * c,
        ba_input=((NO_INPUT,) * n,) * c,
        ba_output=(0,) * c,
        output=(None,) * c,
    )


# -- Actions ------------------------------------------------------------------------------------


@attrs.frozen
class RbcDeliver:
    """Correct ``node`` delivers ``value`` from RBC_``instance`` (Fig. 4 line 1 reacts)."""

    node: int
    instance: int
    value: str

    def __str__(self) -> str:
        return f"node {self.node}: RBC_{self.instance} delivers {self.value!r}"


@attrs.frozen
class BaDecide:
    """BA_``instance`` decides ``bit`` (the adversary's choice within ABA validity)."""

    instance: int
    bit: int

    def __str__(self) -> str:
        return f"BA_{self.instance} decides {self.bit}"


@attrs.frozen
class BaOutput:
    """Correct ``node`` outputs BA_``instance``'s decision (Fig. 4 lines 2 and 3 react)."""

    node: int
    instance: int

    def __str__(self) -> str:
        return f"node {self.node}: BA_{self.instance} outputs"


Action = RbcDeliver | BaDecide | BaOutput


def rbc_values(params: Params, state: SystemState, j: int) -> tuple[str, ...]:
    """The values RBC_j may deliver: its fixed value, else the proposer's (or the alphabet)."""
    fixed = state.rbc_value[j]
    if fixed is not None:
        return (fixed,)
    return (proposal(j),) if params.is_correct(j) else params.byzantine_values


def enabled(params: Params, state: SystemState, action: Action) -> bool:
    """The enabling condition of each action (the sub-protocols' guarantees)."""
    if isinstance(action, RbcDeliver):
        i, j = action.node, action.instance
        # RBC: at most one delivery per node; agreement; validity for a correct proposer
        return not state.delivered[i] >> j & 1 and action.value in rbc_values(params, state, j)
    if isinstance(action, BaDecide):
        j = action.instance
        # ABA: one decision; validity: a bit some correct node input
        inputs = {row[j] for row in state.ba_input}
        return state.ba_decision[j] is None and action.bit in inputs
    i, j = action.node, action.instance
    # ABA agreement: every correct node outputs the one decision, once
    return state.ba_decision[j] is not None and not state.ba_output[i] >> j & 1


def relevant(state: SystemState, i: int, j: int) -> bool:
    """Whether node i's delivery from RBC_j can still matter to ACS (a reduction of the model:
    other deliveries change nothing that ACS reads, so they are left out).

    Before every BA has decided, a delivery matters when it gives BA_j its input (Fig. 4
    line 1); once every BA has decided, it matters when BA_j decided 1 (line 3 waits for v_j).
    A late delivery made earlier (after the input, before the last decision) changes only *when*
    the node may output, never *what* (v_j is fixed by RBC agreement), so it is scheduled after
    the last decision, which the adversary may always do.
    """
    if state.output[i] is not None:
        return False
    if None in state.ba_decision:
        return state.ba_input[i][j] == NO_INPUT
    return state.ba_decision[j] == 1


def enabled_actions(params: Params, state: SystemState) -> Iterator[Action]:
    for i in params.correct:
        for j in range(params.n):
            if not state.delivered[i] >> j & 1 and relevant(state, i, j):
                for v in rbc_values(params, state, j):
                    yield RbcDeliver(i, j, v)
    for j in range(params.n):
        if state.ba_decision[j] is None:
            for bit in sorted({row[j] for row in state.ba_input} - {NO_INPUT}):
                yield BaDecide(j, bit)
    if not params.per_node_ba_output:
        return
    for i in params.correct:
        for j in range(params.n):
            if state.ba_decision[j] is not None and not state.ba_output[i] >> j & 1:
                yield BaOutput(i, j)


def ones_output(params: Params, state: SystemState, i: int) -> tuple[int, ...]:
    """The BAs whose output 1 node i has seen (Fig. 4's C once all have completed)."""
    return tuple(
        j for j in range(params.n) if state.ba_output[i] >> j & 1 and state.ba_decision[j] == 1
    )


def output_ready(rules: Rules, params: Params, state: SystemState, i: int) -> bool:
    """Fig. 4 line 3's condition: all BAs completed and every RBC of C delivered."""
    ones = ones_output(params, state, i)
    if rules.wait_for_all:
        if state.ba_output[i] != (1 << params.n) - 1:
            return False
    elif len(ones) < rules.early_ones(params.n, params.f):
        return False
    return all(state.delivered[i] >> j & 1 for j in ones)


def output_set(rules: Rules, params: Params, state: SystemState, i: int) -> tuple[Entry, ...]:
    """Fig. 4 line 3's ∪_{j∈C} v_j, as the sorted entries (j, v_j)."""
    if rules.union_of_delivered:
        chosen: tuple[int, ...] = tuple(j for j in range(params.n) if state.delivered[i] >> j & 1)
    else:
        chosen = ones_output(params, state, i)
    return tuple((j, v) for j in chosen if (v := state.rbc_value[j]) is not None)


def _try_output(rules: Rules, params: Params, state: SystemState, i: int) -> SystemState:
    if state.output[i] is not None or not output_ready(rules, params, state, i):
        return state
    entries = output_set(rules, params, state, i)
    return attrs.evolve(state, output=replace_at(state.output, i, entries))


def apply(rules: Rules, params: Params, state: SystemState, action: Action) -> SystemState:
    """The effect of an enabled action, with the reactions it triggers."""
    return _forget(params, _apply(rules, params, state, action))


def _forget(params: Params, state: SystemState) -> SystemState:
    """Clears what ACS can no longer read (a canonical form; see :func:`relevant`): once every BA
    has decided, the BA inputs, and the deliveries of RBCs outside C; once a node has output,
    its deliveries."""
    if None in state.ba_decision:
        return state
    ones = sum(1 << j for j, d in enumerate(state.ba_decision) if d == 1)
    delivered = tuple(
        0 if o is not None else m & ones for m, o in zip(state.delivered, state.output, strict=True)
    )
    blank = ((NO_INPUT,) * params.n,) * len(params.correct)
    if delivered == state.delivered and state.ba_input == blank:
        return state
    return attrs.evolve(state, delivered=delivered, ba_input=blank)


def _apply(rules: Rules, params: Params, state: SystemState, action: Action) -> SystemState:
    if isinstance(action, BaDecide):
        decision = replace_at(state.ba_decision, action.instance, action.bit)
        state = attrs.evolve(state, ba_decision=decision)
        if not params.per_node_ba_output:
            for i in params.correct:
                state = _ba_output(rules, params, state, i, action.instance)
        return state
    i, j = action.node, action.instance
    if isinstance(action, RbcDeliver):
        row = state.ba_input[i]
        # Fig. 4 line 1: input 1 to BA_j unless an input was already provided
        if row[j] == NO_INPUT:
            row = replace_at(row, j, 1)
        state = attrs.evolve(
            state,
            rbc_value=replace_at(state.rbc_value, j, action.value),
            delivered=replace_at(state.delivered, i, state.delivered[i] | 1 << j),
            ba_input=replace_at(state.ba_input, i, row),
        )
        return _try_output(rules, params, state, i)
    return _ba_output(rules, params, state, i, j)


def _ba_output(rules: Rules, params: Params, state: SystemState, i: int, j: int) -> SystemState:
    """Node i outputs BA_j's decision; Fig. 4 lines 2 and 3 react."""
    state = attrs.evolve(
        state, ba_output=replace_at(state.ba_output, i, state.ba_output[i] | 1 << j)
    )
    # Fig. 4 line 2: N − f ones seen: input 0 to every BA not yet given input
    if len(ones_output(params, state, i)) >= rules.zero_threshold(params.n, params.f):
        row = tuple(0 if b == NO_INPUT else b for b in state.ba_input[i])
        if row != state.ba_input[i]:
            state = attrs.evolve(state, ba_input=replace_at(state.ba_input, i, row))
    return _try_output(rules, params, state, i)


def next_state(rules: Rules, params: Params, state: SystemState, action: Action) -> SystemState:
    if not enabled(params, state, action):
        raise ValueError(f"{action} is not enabled")
    return apply(rules, params, state, action)


# -- Symmetry: correct nodes are interchangeable (node i proposes v_i, so a permutation renames
# nodes, RBC/BA instances and proposals together; Byzantine instances stay put) -------------------


def permute(params: Params, state: SystemState, perm: tuple[int, ...]) -> SystemState:
    """The state with correct node i renamed perm[i] (with its instances and its proposal)."""
    n = params.n
    full = (*perm, *range(len(perm), n))
    inv = [0] * n
    for a, b in enumerate(full):
        inv[b] = a

    def mask(m: int) -> int:
        return sum(1 << full[j] for j in range(n) if m >> j & 1)

    def value(v: str | None) -> str | None:
        if v is not None and v.startswith("v") and v[1:].isdigit():
            return proposal(full[int(v[1:])])
        return v

    def entries(out: tuple[Entry, ...] | None) -> tuple[Entry, ...] | None:
        if out is None:
            return None
        return tuple(sorted((full[j], value(v) or "") for j, v in out))

    c = len(perm)
    return SystemState(
        rbc_value=tuple(value(state.rbc_value[inv[j]]) for j in range(n)),
        ba_decision=tuple(state.ba_decision[inv[j]] for j in range(n)),
        delivered=tuple(mask(state.delivered[inv[i]]) for i in range(c)),
        ba_input=tuple(tuple(state.ba_input[inv[i]][inv[j]] for j in range(n)) for i in range(c)),
        ba_output=tuple(mask(state.ba_output[inv[i]]) for i in range(c)),
        output=tuple(entries(state.output[inv[i]]) for i in range(c)),
    )


def canonicalizer(params: Params) -> Callable[[SystemState], SystemState]:
    """The least (by repr) image of a state under the correct-node permutations."""
    perms = tuple(permutations(params.correct))

    def canonical(state: SystemState) -> SystemState:
        return min((permute(params, state, p) for p in perms), key=_order_key)

    return canonical


def _order_key(state: SystemState) -> tuple[Any, ...]:
    return (
        tuple(v or "" for v in state.rbc_value),
        tuple(-1 if d is None else d for d in state.ba_decision),
        state.delivered,
        state.ba_input,
        state.ba_output,
        tuple(() if o is None else ((1, *o),) for o in state.output),
    )


# -- Invariants ---------------------------------------------------------------------------------


def outputs(state: SystemState) -> list[tuple[Entry, ...]]:
    return [o for o in state.output if o is not None]


def agreement(params: Params, state: SystemState) -> bool:
    """HB §4.4 Agreement: every correct node that outputs, outputs the same set."""
    return len(set(outputs(state))) <= 1


def enough_proposals(params: Params, state: SystemState) -> bool:
    """HB §4.4: the output holds the values of at least N − f proposers."""
    return all(len(o) >= params.n - params.f for o in outputs(state))


def enough_correct_proposals(params: Params, state: SystemState) -> bool:
    """HB §4.4: at least N − 2f of the output's proposers are correct nodes."""
    need = params.n - 2 * params.f
    return all(sum(params.is_correct(j) for j, _ in o) >= need for o in outputs(state))


def output_integrity(params: Params, state: SystemState) -> bool:
    """Each output entry (j, v) is RBC_j's value (j's proposal if j is correct), BA_j decided 1."""
    for o in outputs(state):
        for j, v in o:
            if state.ba_decision[j] != 1 or state.rbc_value[j] != v:
                return False
            if params.is_correct(j) and v != proposal(j):
                return False
    return True


def explain_outputs(params: Params, state: SystemState) -> str:
    return "; ".join(
        f"node {i} output {list(o)}" for i, o in enumerate(state.output) if o is not None
    )


def some_output(params: Params, state: SystemState) -> bool:
    return bool(outputs(state))


def all_output(params: Params, state: SystemState) -> bool:
    return all(o is not None for o in state.output)


def byzantine_included(params: Params, state: SystemState) -> bool:
    return any(not params.is_correct(j) for o in outputs(state) for j, _ in o)


def correct_excluded(params: Params, state: SystemState) -> bool:
    return any(
        sum(params.is_correct(j) for j, _ in o) < len(params.correct) for o in outputs(state)
    )


def invariants(params: Params) -> tuple[Invariant[SystemState], ...]:
    def bind(p: Callable[[Params, SystemState], bool]) -> Callable[[SystemState], bool]:
        return lambda s: p(params, s)

    def explain(s: SystemState) -> str:
        return explain_outputs(params, s)

    return (
        Invariant("agreement", "all correct nodes output the same set", bind(agreement), explain),
        Invariant(
            "enough_proposals",
            "every output holds at least n - f proposals",
            bind(enough_proposals),
            explain,
        ),
        Invariant(
            "enough_correct_proposals",
            "every output holds at least n - 2f proposals of correct nodes",
            bind(enough_correct_proposals),
            explain,
        ),
        Invariant(
            "output_integrity",
            "each output entry is RBC_j's value and BA_j decided 1",
            bind(output_integrity),
            explain,
        ),
    )


def reachables(params: Params) -> tuple[Reachable[SystemState], ...]:
    def bind(p: Callable[[Params, SystemState], bool]) -> Callable[[SystemState], bool]:
        return lambda s: p(params, s)

    out = [
        Reachable("some_output", "a correct node outputs", bind(some_output)),
        Reachable("all_output", "every correct node outputs", bind(all_output)),
    ]
    # a silent Byzantine proposer's BA decides 0, so the n - f ones are the correct nodes'
    if params.byzantine_values and params.f:
        out += [
            Reachable(
                "byzantine_included",
                "an output includes a Byzantine proposal",
                bind(byzantine_included),
            ),
            Reachable(
                "correct_excluded",
                "an output leaves a correct proposal out",
                bind(correct_excluded),
            ),
        ]
    return tuple(out)
