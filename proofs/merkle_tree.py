"""RFC 9162 proof-path index arithmetic, for every tree size below 2^32 (z3 bit-vectors).

Source: RFC 9162 §2.1.3.2 (inclusion) and §2.1.4.2 (consistency): the verifier walks the path
with two indices, ``fn`` (the node's index at the current level) and ``sn`` (the last index at
that level), and one iteration is

    4.b  if LSB(fn) or fn = sn:  (hash p on the left)  and, if LSB(fn) is not set, right-shift
                                  fn and sn equally until LSB(fn) is set or fn is 0
         otherwise:               (hash p on the right)
    4.c  right-shift fn and sn once.

Sizes, indices, ``fn`` and ``sn`` are 32-bit unsigned bit-vectors, so every goal speaks about
*every* tree of fewer than 2^32 leaves. The inner "shift until" loop is the shift by the count
of trailing zeros of ``fn`` (none when fn = 0), written as a 32-way case split; the outer loop is
unrolled 32 times, which is exhaustive because each iteration shifts ``sn`` at least once.

What is proved (hash-free: only the index arithmetic), with
``L(fn, sn) = bitlen(fn xor sn) + popcount(fn >> bitlen(fn xor sn))``:
    ``inclusion_step_progress``       -- an iteration keeps fn <= sn and makes sn strictly
                                         smaller while sn > 0: the loop ends within 32 rounds;
    ``inclusion_length_drops_inside`` -- for fn != sn (fn <= sn) an iteration lowers the
                                         inner part of L by one and keeps its border part;
    ``inclusion_length_drops_on_border`` -- for fn = sn != 0 even, the iteration strips fn's
                                         lowest set bit and the zeros below it (so L, which is
                                         popcount(fn) there, drops by one: stated, see below);
    ``inclusion_length_drops_at_odd_border`` -- for fn = sn odd, L drops by one;
    so while sn > 0 every iteration lowers L by exactly one. (One goal for all cases timed out
    in z3 at 10 s; the even border case with the popcount in the goal takes 6-10 s, so its
    goal is the bit identity, from which the popcount drop is one line of arithmetic.)
    ``inclusion_length_zero_iff_done`` -- for fn <= sn, L = 0 exactly when sn = 0.
    By induction on L (the three lemmas), the loop started at fn = m, sn = n - 1 (0 <= m < n)
    runs exactly ``L(m, n - 1)`` iterations before sn = 0, so the verifier accepts no path of
    another length: step 4.a fails a longer one, step 5's "sn is 0" a shorter one. That
    ``L(m, n - 1) = len(PATH(m, D[n]))`` is checked in the tests for every n < 200 (on the impl's
    PATH, itself checked equal to the spec's recursive one up to 64 leaves), not proved here.
    ``consistency_prelude``           -- for 0 < m < n, after steps 3-4 of §2.1.4.2 (fn = m - 1,
                                         sn = n - 1, shifted while LSB(fn)): fn <= sn, LSB(fn) = 0
                                         and sn >= 1. Step 6 runs the same iteration, so by the
                                         lemmas above it reads exactly ``L(fn, sn)`` hashes after
                                         the seed: the path has ``1 + L(fn, sn) - [m is a power of
                                         two]`` hashes (the tests check this equals
                                         ``len(PROOF(m, D[n]))`` for every n < 200).

A first attempt unrolled the loop 32 times in one goal; z3 timed out on it (10 s), hence the
inductive split.

What is not z3's to prove: that equal roots mean equal trees. "A proof verifies only if honest"
rests on the collision resistance of SHA-256, an *assumption*; the model checker and the tests
check the hashing itself on bounded and random trees.
"""

from __future__ import annotations

import z3

from .core import Goal, Proof, ProofMutant, named_proof

PROTOCOL = "merkle-tree"
SOURCE = "RFC 9162, section 2.1.3.2 and section 2.1.4.2 (the verifier's fn/sn loops)."
ASSUMPTIONS = (
    "sizes and indices are unsigned 32-bit integers (trees of fewer than 2^32 leaves); "
    "hash collision resistance is assumed, not proved (these lemmas are hash-free)."
)
WIDTH = 32

NO_BORDER_SHIFT = "merkle-tree/no-border-shift"
INNER_ONLY = "merkle-tree/inner-only-length"

MUTANTS = (
    ProofMutant(
        NO_BORDER_SHIFT,
        PROTOCOL,
        "step 4.b.2 forgotten: no extra right-shift when fn = sn and LSB(fn) is not set",
        ("merkle-tree.inclusion_length_drops_on_border",),
    ),
    ProofMutant(
        INNER_ONLY,
        PROTOCOL,
        "the path length taken as bitlen(m xor (n-1)) alone, without the border hashes",
        (
            "merkle-tree.inclusion_length_drops_at_odd_border",
            "merkle-tree.inclusion_length_zero_iff_done",
        ),
    ),
)


def _bv(name: str) -> z3.BitVecRef:
    return z3.BitVec(name, WIDTH)


def _const(value: int) -> z3.BitVecRef:
    return z3.BitVecVal(value, WIDTH)


def trailing_zeros(x: z3.BitVecRef) -> z3.BitVecRef:
    """The count of trailing zero bits of x (WIDTH when x = 0)."""
    result = _const(WIDTH)
    for bit in reversed(range(WIDTH)):
        result = z3.If(z3.Extract(bit, bit, x) == 1, _const(bit), result)
    return result


def bit_length(x: z3.BitVecRef) -> z3.BitVecRef:
    """The number of bits of x (0 for x = 0)."""
    result = _const(0)
    for bit in range(WIDTH):
        result = z3.If(z3.Extract(bit, bit, x) == 1, _const(bit + 1), result)
    return result


def popcount(x: z3.BitVecRef) -> z3.BitVecRef:
    return z3.Sum([z3.ZeroExt(WIDTH - 1, z3.Extract(bit, bit, x)) for bit in range(WIDTH)])


def is_odd(x: z3.BitVecRef) -> z3.BoolRef:
    return z3.Extract(0, 0, x) == 1


def iteration(
    fn: z3.BitVecRef, sn: z3.BitVecRef, mutant: str | None
) -> tuple[z3.BitVecRef, z3.BitVecRef]:
    """Steps 4.b and 4.c on the indices (the hashes play no part in them)."""
    # 4.b.2: if fn = sn and LSB(fn) is not set, shift until LSB(fn) is set or fn is 0
    shift = z3.If(fn == 0, _const(0), trailing_zeros(fn))
    border = z3.And(z3.Not(is_odd(fn)), fn == sn)
    if mutant == NO_BORDER_SHIFT:
        border = z3.BoolVal(False)
    fn1 = z3.If(border, z3.LShR(fn, shift), fn)
    sn1 = z3.If(border, z3.LShR(sn, shift), sn)
    # 4.c: shift once
    return z3.LShR(fn1, 1), z3.LShR(sn1, 1)


def closed_form(m: z3.BitVecRef, last: z3.BitVecRef, mutant: str | None = None) -> z3.BitVecRef:
    """``bitlen(m xor last) + popcount(m >> bitlen(m xor last))``: inner plus border hashes."""
    inner = bit_length(m ^ last)
    if mutant == INNER_ONLY:
        return inner
    return inner + popcount(z3.LShR(m, inner))


def inclusion_step_progress(mutant: str | None) -> Goal:
    """One iteration of §2.1.3.2 step 4 keeps fn <= sn and makes sn smaller while sn > 0."""
    fn, sn = _bv("fn"), _bv("sn")
    fn1, sn1 = iteration(fn, sn, mutant)
    return Goal(
        claim="fn <= sn and sn > 0 imply fn' <= sn' and sn' < sn",
        conclusion=z3.And(z3.ULE(fn1, sn1), z3.ULT(sn1, sn)),
        hypotheses=(z3.ULE(fn, sn), sn != 0),
        shown=((("fn", fn), ("sn", sn)), (("fn'", fn1), ("sn'", sn1))),
    )


def inclusion_length_drops_inside(mutant: str | None) -> Goal:
    """fn != sn: an iteration drops one inner level and keeps the border part.

    After the step, ``bitlen(fn' xor sn') = bitlen(fn xor sn) - 1`` and ``fn' >> bitlen(fn' xor
    sn') = fn >> bitlen(fn xor sn)``, so L drops by exactly one (the popcount term is equal).
    """
    fn, sn = _bv("fn"), _bv("sn")
    fn1, sn1 = iteration(fn, sn, mutant)
    inner, inner1 = bit_length(fn ^ sn), bit_length(fn1 ^ sn1)
    border, border1 = z3.LShR(fn, inner), z3.LShR(fn1, inner1)
    if mutant == INNER_ONLY:  # the border hashes are not counted: pretend they vanish
        border, border1 = _const(0), _const(0)
    return Goal(
        claim="inner' = inner - 1 and fn' >> inner' = fn >> inner",
        conclusion=z3.And(inner1 == inner - 1, border1 == border),
        hypotheses=(z3.ULE(fn, sn), fn != sn),
        shown=(
            (("fn", fn), ("sn", sn)),
            (("inner", inner), ("inner'", inner1)),
            (("fn >> inner", border), ("fn' >> inner'", border1)),
        ),
    )


def inclusion_length_drops_on_border(mutant: str | None) -> Goal:
    """fn = sn != 0 and even: the iteration strips fn's lowest set bit and the zeros below it.

    4.b.2 shifts by the trailing zeros, 4.c once more: ``fn = ((fn' << 1) | 1) << ctz(fn)`` and
    ``sn' = fn'``. So ``L(fn', sn') = popcount(fn') = popcount(fn) - 1 = L(fn, sn) - 1``; the
    popcount step is stated, not given to z3 (with the popcount in the goal z3 needs 6-10 s).
    """
    fn = _bv("fn")  # sn is fn
    fn1, sn1 = iteration(fn, fn, mutant)
    stripped = (fn1 << 1 | 1) << trailing_zeros(fn)
    return Goal(
        claim="fn' = sn' and fn = ((fn' << 1) | 1) << ctz(fn)",
        conclusion=z3.And(fn1 == sn1, fn == stripped),
        hypotheses=(fn != 0, z3.Not(is_odd(fn))),
        shown=((("fn = sn", fn),), (("fn'", fn1), ("sn'", sn1))),
    )


def inclusion_length_drops_at_odd_border(mutant: str | None) -> Goal:
    """fn = sn odd: an iteration (4.c's single shift) lowers L = popcount(fn) by one."""
    fn = _bv("fn")  # sn is fn
    fn1, sn1 = iteration(fn, fn, mutant)
    before, after = closed_form(fn, fn, mutant), closed_form(fn1, sn1, mutant)
    return Goal(
        claim="L(fn', sn') = L(fn, sn) - 1 when fn = sn is odd",
        conclusion=after == before - 1,
        hypotheses=(is_odd(fn),),
        shown=((("fn = sn", fn),), (("L(fn, sn)", before), ("L(fn', sn')", after))),
    )


def inclusion_length_zero_iff_done(mutant: str | None) -> Goal:
    """For fn <= sn, the closed form is 0 exactly when sn is 0 (the loop's end)."""
    fn, sn = _bv("fn"), _bv("sn")
    length = closed_form(fn, sn, mutant)
    return Goal(
        claim="L(fn, sn) = 0 iff sn = 0",
        conclusion=(length == 0) == (sn == 0),
        hypotheses=(z3.ULE(fn, sn),),
        shown=((("fn", fn), ("sn", sn)), (("L(fn, sn)", length),)),
    )


def _prelude(m: z3.BitVecRef, n: z3.BitVecRef) -> tuple[z3.BitVecRef, z3.BitVecRef]:
    """Steps 3-4 of §2.1.4.2: fn = m - 1, sn = n - 1, shifted while LSB(fn) is set.

    The trailing ones of m - 1 are the trailing zeros of m, so the shift is ``ctz(m)``.
    """
    shift = trailing_zeros(m)
    return z3.LShR(m - 1, shift), z3.LShR(n - 1, shift)


def consistency_prelude(mutant: str | None) -> Goal:
    """After steps 3-4 of §2.1.4.2 (0 < m < n): fn <= sn, LSB(fn) = 0 and sn >= 1."""
    m, n = _bv("m"), _bv("n")
    fn, sn = _prelude(m, n)
    return Goal(
        claim="fn <= sn, LSB(fn) = 0 and sn >= 1 after steps 3-4",
        conclusion=z3.And(z3.ULE(fn, sn), z3.Not(is_odd(fn)), sn != 0),
        hypotheses=(m != 0, z3.ULT(m, n)),
        shown=((("m", m), ("n", n)), (("fn", fn), ("sn", sn))),
    )


PROOFS: tuple[Proof, ...] = tuple(
    named_proof(PROTOCOL, build, ASSUMPTIONS, SOURCE)
    for build in (
        inclusion_step_progress,
        inclusion_length_drops_inside,
        inclusion_length_drops_on_border,
        inclusion_length_drops_at_odd_border,
        inclusion_length_zero_iff_done,
        consistency_prelude,
    )
)
