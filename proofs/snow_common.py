"""z3 encodings shared by the Slush, Snowflake and Snowball proofs: parameters, one poll, rules.

Source: Team Rocket, arXiv:1906.08936 v2+, Figures 1-3; avalanchego
``snow/consensus/snowball/parameters.go`` (``K/2 < AlphaPreference <= AlphaConfidence <= K``,
``0 < Beta``) and ``binary_snowflake.go`` / ``binary_snowball.go`` (dual thresholds). The
executable specs are :mod:`mnemosyne_consensus.spec.slush`, ``.snowflake``, ``.snowball``.

Encoding (every constant is universally quantified: all k, all thresholds, all counts)
    ``k, ap, ac, beta``  integers with avalanchego's conditions (:func:`verified`);
    ``c0, c1``           the answers for colours 0 and 1 in one poll: ``c0, c1 >= 0`` and
                         ``c0 + c1 <= k`` (the other answers may be anything else -- a third
                         colour, or Byzantine noise);
    a poll *succeeds* for colour c when ``c_c >= ap`` and is *confident* when ``c_c >= ac``.
"""

from __future__ import annotations

import attrs
import z3

from .core import Labelled


@attrs.frozen
class Poll:
    k: z3.ArithRef
    ap: z3.ArithRef
    ac: z3.ArithRef
    beta: z3.ArithRef
    c0: z3.ArithRef
    c1: z3.ArithRef

    def shown(self) -> tuple[Labelled, ...]:
        return (
            ("k", self.k),
            ("alpha_preference", self.ap),
            ("alpha_confidence", self.ac),
            ("beta", self.beta),
            ("answers for 0", self.c0),
            ("answers for 1", self.c1),
        )


def poll() -> Poll:
    return Poll(*z3.Ints("k ap ac beta c0 c1"))


def verified(p: Poll, half_k: bool = False, inverted: bool = False) -> list[z3.BoolRef]:
    """avalanchego's Verify (k/2 < ap <= ac <= k, 0 < beta) and a well-formed poll.

    ``half_k`` weakens the first condition to ``k/2 <= ap``; ``inverted`` drops ``ap <= ac``
    (both are proof mutants).
    """
    majority = 2 * p.ap >= p.k if half_k else 2 * p.ap > p.k
    conditions = [p.k >= 1, p.ap >= 1, p.ac >= 1, majority, p.ac <= p.k, p.beta >= 1]
    if not inverted:
        conditions.append(p.ap <= p.ac)
    return [*conditions, p.c0 >= 0, p.c1 >= 0, p.c0 + p.c1 <= p.k]


def colour(name: str) -> z3.ArithRef:
    return z3.Int(name)


def binary(*colours: z3.ArithRef) -> list[z3.BoolRef]:
    return [z3.Or(c == 0, c == 1) for c in colours]


def answers(p: Poll, c: z3.ArithRef) -> z3.ArithRef:
    return z3.If(c == 0, p.c0, p.c1)


def other(c: z3.ArithRef) -> z3.ArithRef:
    return 1 - c


@attrs.frozen
class Outcome:
    """What a poll says, by the figures' loop over colours (0 first, then 1)."""

    maj: z3.BoolRef  # some colour had ap answers (line "maj := true")
    win: z3.ArithRef  # the last colour in loop order with ap answers
    confident: z3.BoolRef  # the winner had ac answers
    strong: z3.BoolRef  # some colour had ac answers (the checker's record)
    strong_colour: z3.ArithRef


def outcome(p: Poll) -> Outcome:
    w0, w1 = p.c0 >= p.ap, p.c1 >= p.ap
    win = z3.If(w1, 1, 0)
    s0, s1 = p.c0 >= p.ac, p.c1 >= p.ac
    return Outcome(
        maj=z3.Or(w0, w1),
        win=win,
        confident=z3.If(w1, s1, s0),
        strong=z3.Or(s0, s1),
        strong_colour=z3.If(s0, 0, 1),
    )


@attrs.frozen
class Run:
    """The checker's record of consecutive confident polls: colour and length."""

    colour: z3.ArithRef
    length: z3.ArithRef


def next_run(o: Outcome, run: Run) -> Run:
    """``spec.snow_common.observe``: a confident poll extends a run of its colour or starts
    one; any other poll ends the run."""
    extends = z3.And(run.length > 0, run.colour == o.strong_colour)
    return Run(
        colour=z3.If(o.strong, o.strong_colour, run.colour),
        length=z3.If(o.strong, z3.If(extends, run.length + 1, 1), 0),
    )


def counter_step(
    o: Outcome, held: z3.ArithRef, cnt: z3.ArithRef, reset_on_failure: bool = True
) -> z3.ArithRef:
    """Figure 2 lines 11-13, 15 (Figure 3 lines 15-17, 19) with avalanchego's dual threshold:
    the counter ``cnt`` of the colour ``held`` (Snowflake's col, Snowball's lastcol)."""
    success = z3.If(o.win != held, z3.If(o.confident, 1, 0), z3.If(o.confident, cnt + 1, 0))
    failure = z3.IntVal(0) if reset_on_failure else cnt
    return z3.If(o.maj, success, failure)


def counter_invariant(
    held: z3.ArithRef, cnt: z3.ArithRef, run: Run, last: z3.ArithRef
) -> z3.BoolRef:
    """``cnt`` is the run of confident polls for ``held``, the last majority colour."""
    return z3.And(cnt == run.length, z3.Implies(run.length > 0, run.colour == held), last == held)


def counter_is_consecutive_successes(
    mutant_reset: bool, half_k: bool = False
) -> tuple[list[z3.BoolRef], z3.BoolRef, tuple[tuple[Labelled, ...], ...]]:
    """The inductive step of the counter invariant over one poll (hypotheses, conclusion, shown)."""
    p = poll()
    held, last, cnt = colour("held"), colour("last_majority"), z3.Int("cnt")
    run = Run(colour("run_colour"), z3.Int("run_length"))
    o = outcome(p)
    hypotheses = [
        *verified(p, half_k=half_k),
        *binary(held, last, run.colour),
        cnt >= 0,
        run.length >= 0,
        counter_invariant(held, cnt, run, last),
    ]
    held2 = z3.If(o.maj, o.win, held)
    last2 = z3.If(o.maj, o.win, last)
    cnt2 = counter_step(o, held, cnt, reset_on_failure=not mutant_reset)
    run2 = next_run(o, run)
    shown = (
        p.shown(),
        (("held", held), ("cnt", cnt), ("run_colour", run.colour), ("run_length", run.length)),
        (("held after", held2), ("cnt after", cnt2), ("run_length after", run2.length)),
    )
    return hypotheses, counter_invariant(held2, cnt2, run2, last2), shown
