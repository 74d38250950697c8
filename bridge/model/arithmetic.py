"""Arithmetic between facts: which regions a product or a ratio of two
bounded number facts can fall in, computed exactly in rational arithmetic.

A derived fact D = X * Y (product) or D = X / Y (ratio) is compared by the
rules with constants, which cut D's values into regions (typed.py). What a
case says about X and Y narrows D to the regions some completion reaches:
an operand is either known (one value) or unknown over its declared bounds,
whole numbers only for an int fact. `reachable` decides, for one region R,
whether some pair (x, y) of operand values gives x op y in R.

Proof of exactness (every answer is a yes/no about the existence of a pair):
  * Neither operand ranges over whole numbers. Both spans are closed
    intervals (a point is one) and, for a ratio, Y's span excludes 0, so
    x op y is continuous on the closed rectangle and monotone in each
    operand with the other fixed. Its image is therefore the closed interval
    between the least and the greatest of its four corner values; R is
    reached exactly when that interval meets R.
  * Some operand ranges over whole numbers (at most WHOLE_LIMIT of them).
    The values t of one operand T are tried one by one: a known operand's
    one value, else a ratio's whole divisor, else the smaller whole range.
    With T = t fixed, the other operand O:
      - not whole: x op y is continuous and monotone in O, so its image over
        O's closed span is the closed interval between its two end values;
      - whole: x op y = k * o for a constant k (k = t for a product, 1 / t
        for a ratio whose divisor is T), so the values of O that reach R are
        the interval R / k (ends swapped when k < 0; every value, when k = 0
        and 0 is in R, none otherwise); R is reached exactly when that
        interval holds a whole number of O's span.
    In a ratio T is the divisor whenever the divisor is whole or known, so
    O is never a whole divisor.
All arithmetic is in fractions.Fraction, so no rounding enters.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from math import ceil, floor
from typing import TYPE_CHECKING

from policykb.bridge.model.policy import FactType
from policykb.bridge.model.typed import Interval

if TYPE_CHECKING:
    from collections.abc import Mapping

    from policykb.bridge.model.policy import Fact, Policy

KINDS = ("product", "ratio")
WHOLE_LIMIT = 10_000
"""The most whole values of an int operand that `reachable` tries one by one;
a policy whose int operand allows more is refused when it loads."""


@dataclass(frozen=True)
class Span:
    """The values an operand may take: every value (every whole number, when
    `whole`) from `low` through `high`, both included; a known value is a
    span of one point."""

    low: Fraction
    high: Fraction
    whole: bool = False

    @classmethod
    def point(cls, value: int | Decimal | Fraction) -> Span:
        exact = Fraction(value)
        return cls(exact, exact)

    def wholes(self) -> range:
        """The whole numbers of the span, in order."""
        return range(ceil(self.low), floor(self.high) + 1)


@dataclass(frozen=True)
class _Line:
    """An interval of rationals; None for an unbounded end."""

    low: Fraction | None
    low_closed: bool
    high: Fraction | None
    high_closed: bool

    @classmethod
    def of(cls, region: Interval) -> _Line:
        def exact(end: int | Decimal | None) -> Fraction | None:
            return None if end is None else Fraction(end)

        return cls(exact(region.low), region.low_closed, exact(region.high), region.high_closed)

    def scaled(self, k: Fraction) -> _Line:
        """{v * k : v in self}, for k != 0."""
        low = None if self.low is None else self.low * k
        high = None if self.high is None else self.high * k
        if k > 0:
            return _Line(low, self.low_closed, high, self.high_closed)
        return _Line(high, self.high_closed, low, self.low_closed)

    def meets(self, low: Fraction, high: Fraction, whole: bool) -> bool:
        """Whether some value (some whole number, when `whole`) of the closed
        interval [low, high] lies inside."""
        start, start_closed = low, True
        if self.low is not None and (
            self.low > start or (self.low == start and not self.low_closed)
        ):
            start, start_closed = self.low, self.low_closed
        end, end_closed = high, True
        if self.high is not None and (
            self.high < end or (self.high == end and not self.high_closed)
        ):
            end, end_closed = self.high, self.high_closed
        if whole:
            first = ceil(start) + (1 if start == ceil(start) and not start_closed else 0)
            last = floor(end) - (1 if end == floor(end) and not end_closed else 0)
            return first <= last
        return start < end or (start == end and start_closed and end_closed)


def _apply(kind: str, x: Fraction, y: Fraction) -> Fraction:
    return x * y if kind == "product" else x / y


def reachable(kind: str, x: Span, y: Span, region: Interval) -> bool:
    """Whether some x of `x` and y of `y` give x * y (kind "product") or x / y
    (kind "ratio", y's span without 0) inside `region` (see the module's proof)."""
    line = _Line.of(region)
    if not x.whole and not y.whole:
        corners = [_apply(kind, a, b) for a in (x.low, x.high) for b in (y.low, y.high)]
        return line.meets(min(corners), max(corners), whole=False)
    # Try the values of a point first (one value), then of a whole divisor,
    # else of the smaller whole range.
    if kind == "ratio":
        divisor_first = y.whole or y.low == y.high
    elif x.low == x.high or y.low == y.high:
        divisor_first = y.low == y.high
    else:
        divisor_first = y.whole and (not x.whole or len(y.wholes()) <= len(x.wholes()))
    tried = y if divisor_first else x
    for fixed in [tried.low] if tried.low == tried.high else map(Fraction, tried.wholes()):
        other = x if divisor_first else y
        if not other.whole:
            ends = [
                _apply(kind, o, fixed) if divisor_first else _apply(kind, fixed, o)
                for o in (other.low, other.high)
            ]
            if line.meets(min(ends), max(ends), whole=False):
                return True
            continue
        k = (1 / fixed if kind == "ratio" else fixed) if divisor_first else fixed
        if k == 0:
            if line.meets(Fraction(0), Fraction(0), whole=False) and other.wholes():
                return True
            continue
        wanted = line.scaled(1 / k)
        if wanted.meets(other.low, other.high, whole=True):
            return True
    return False


def reachable_regions(
    kind: str, x: Span, y: Span, regions: tuple[Interval, ...]
) -> tuple[Interval, ...]:
    """The regions of the derived fact some completion of `x` and `y` reaches."""
    return tuple(region for region in regions if reachable(kind, x, y, region))


@dataclass(frozen=True)
class ArithmeticUse:
    """A derived number fact: `fact` = `left` * `right` (kind "product") or
    `left` / `right` (kind "ratio"), as a policy declares it at `where`.

    Invariant (checked when the policy loads): both operands are int or
    decimal facts with both bounds, a divisor's bounds exclude 0, no rule
    compares an operand itself, and no operand serves two uses, so that the
    operands are independent of every other fact and the derived fact's
    possible regions depend on the operands' values alone."""

    kind: str
    fact: str
    left: str
    right: str
    where: str = ""

    @property
    def operands(self) -> tuple[str, str]:
        return self.left, self.right

    @property
    def sign(self) -> str:
        return "*" if self.kind == "product" else "/"

    @property
    def words(self) -> str:
        """ "apnea_events / sleep_hours"."""
        return f"{self.left} {self.sign} {self.right}"

    def value(self, left: Fraction, right: Fraction) -> Fraction:
        """The derived value of two operand values."""
        return _apply(self.kind, left, right)


def operand_span(fact: Fact, value: object) -> Span:
    """An operand's span: its known `value`, else (unknown, or a scenario's
    region, which for an operand is its whole bounds) its bounds."""
    if isinstance(value, int | Decimal | Fraction) and not isinstance(value, bool):
        return Span.point(value)
    assert fact.low is not None and fact.high is not None
    return Span(Fraction(fact.low), Fraction(fact.high), fact.type is FactType.INT)


def excluded_regions(
    policy: Policy, use: ArithmeticUse, chosen: Mapping[str, object]
) -> list[Interval]:
    """The regions of the derived fact that no completion of the operand
    values in `chosen` reaches. When `chosen` gives the derived fact itself a
    value, that stands for operands changed to fit (a change set's value):
    then only the regions no operand values within their bounds reach are
    excluded."""
    pinned = {} if use.fact in chosen else chosen
    left = operand_span(policy.facts[use.left], pinned.get(use.left))
    right = operand_span(policy.facts[use.right], pinned.get(use.right))
    regions = policy.facts[use.fact].regions
    return [
        r for r in regions if isinstance(r, Interval) and not _reachable(use.kind, left, right, r)
    ]


@lru_cache(maxsize=4096)
def _reachable(kind: str, x: Span, y: Span, region: Interval) -> bool:
    return reachable(kind, x, y, region)


def flip_pairs(
    policy: Policy, use: ArithmeticUse, flipped: str, known: Mapping[str, object]
) -> frozenset[tuple[Interval, Interval]]:
    """The ordered pairs of distinct regions of the derived fact that two
    values of the unknown operand `flipped` reach with one value of the
    other operand (its known value, else any of its bounds): the changes of
    the derived fact that changing `flipped` alone can make.

    Exact: with the other operand at o, the regions reached form a set S(o),
    and every pair of S(o) is made by two values of `flipped`. S(o) changes
    only where o makes e op o (or o op e) equal to an end c of a region, e a
    value of `flipped` that bounds its image (its two ends; every whole
    value for an int fact), since each such term is continuous and monotone
    in o on the other operand's span. Trying every such o and one o strictly
    between each two consecutive ones (a whole one, for an int fact) sees
    every S(o)."""
    other = use.right if flipped == use.left else use.left
    regions = tuple(r for r in policy.facts[use.fact].regions if isinstance(r, Interval))
    span = operand_span(policy.facts[flipped], None)
    other_fact = policy.facts[other]
    if other in known:
        candidates = [operand_span(other_fact, known[other])]
    else:
        candidates = [Span.point(o) for o in _critical(use, flipped, span, other_fact, regions)]
    pairs: set[tuple[Interval, Interval]] = set()
    for point in candidates:
        x, y = (span, point) if flipped == use.left else (point, span)
        reached = [r for r in regions if _reachable(use.kind, x, y, r)]
        pairs.update((a, b) for a in reached for b in reached if a != b)
    return frozenset(pairs)


def _critical(
    use: ArithmeticUse, flipped: str, span: Span, other: Fact, regions: tuple[Interval, ...]
) -> list[Fraction]:
    """Values of the other operand at and between which the regions reached
    by `flipped` can change (see flip_pairs)."""
    bounds = operand_span(other, None)
    ends = {Fraction(e) for r in regions for e in (r.low, r.high) if e is not None}
    values = [Fraction(t) for t in span.wholes()] if span.whole else [span.low, span.high]
    found = {bounds.low, bounds.high}
    for e in values:
        for c in ends:
            if use.kind == "product":
                solved = c / e if e != 0 else None
            elif flipped == use.left:  # e / o = c
                solved = e / c if c != 0 else None
            else:  # o / e = c
                solved = c * e
            if solved is not None and bounds.low <= solved <= bounds.high:
                found.add(solved)
    ordered = sorted(found)
    between = []
    for a, b in itertools.pairwise(ordered):
        if bounds.whole:
            inside = floor(a) + 1
            if inside < b:
                between.append(Fraction(inside))
        else:
            between.append((a + b) / 2)
    points = [p for p in ordered if not bounds.whole or p.denominator == 1]
    return sorted({*points, *between})


def allowed(policy: Policy, known: Mapping[str, object]) -> dict[str, list[Interval]]:
    """Each derived fact that `known` does not state, with the regions the
    operand values in `known` reach (every region, when it states neither):
    how an engine without the solver's assumptions (SWI-Prolog) is told what
    the operands imply."""
    found: dict[str, list[Interval]] = {}
    for use in policy.arithmetic:
        if use.fact in known:
            continue
        excluded = set(excluded_regions(policy, use, known))
        found[use.fact] = [
            r
            for r in policy.facts[use.fact].regions
            if isinstance(r, Interval) and r not in excluded
        ]
    return found


def operand_pieces(
    policy: Policy, use: ArithmeticUse, operand: str, known: Mapping[str, object]
) -> list[tuple[Interval, int | Decimal]]:
    """The values of the unknown `operand`, in order, cut into pieces on
    each of which the derived fact reaches the same regions (with the other
    operand at its known value, else over its bounds), each with a value
    inside it to decide it by. Exact by the argument of flip_pairs with the
    roles swapped; a piece's ends are exact except where an end is not a
    finite decimal, which a decimal operand's piece shows to 6 places."""
    fact = policy.facts[operand]
    other = use.right if operand == use.left else use.left
    other_fact = policy.facts[other]
    other_span = operand_span(other_fact, known.get(other))
    regions = tuple(r for r in policy.facts[use.fact].regions if isinstance(r, Interval))
    cuts = _critical(use, other, other_span, fact, regions)
    whole = fact.type is FactType.INT
    pieces: list[tuple[Interval, int | Decimal]] = []
    for index, at in enumerate(cuts):
        if not whole or at.denominator == 1:
            shown = _shown(at, whole)
            pieces.append((Interval(shown, True, shown, True), _shown(at, whole)))
        if index + 1 == len(cuts):
            break
        following = cuts[index + 1]
        if whole:
            first, last = floor(at) + 1, ceil(following) - 1
            if first <= last:
                pieces.append((Interval(first, True, last, True), first))
        else:
            pieces.append(
                (
                    Interval(_shown(at, False), False, _shown(following, False), False),
                    _decimal_inside(at, following),
                )
            )
    return pieces


def fitting_operands(
    policy: Policy, use: ArithmeticUse, region: Interval, known: Mapping[str, object]
) -> dict[str, int | Decimal] | None:
    """Operand values that put the derived fact in `region`: a number `known`
    states for an operand is kept, and each other operand takes the value
    operand_pieces gives for a piece that still reaches `region` (with the
    operand after it over its bounds, then at the value chosen). `region` is
    one of the derived fact's regions or a union of neighbouring ones. None
    when no values within the bounds do. Complete because a piece reaches the
    same regions throughout: if some value of the operand reaches `region`,
    its piece's value does."""
    values: dict[str, int | Decimal] = {
        name: value
        for name in use.operands
        if isinstance(value := known.get(name), int | Decimal) and not isinstance(value, bool)
    }
    for operand in use.operands:
        if operand in values:
            continue
        for _, inside in operand_pieces(policy, use, operand, values):
            trial = {**values, operand: inside}
            spans = [operand_span(policy.facts[name], trial.get(name)) for name in use.operands]
            if _reachable(use.kind, *spans, region):
                values = trial
                break
        else:
            return None
    derived = use.value(Fraction(values[use.left]), Fraction(values[use.right]))
    return values if _within(derived, region) else None


def _within(value: Fraction, region: Interval) -> bool:
    """Whether the exact `value` lies in `region` (Interval's own test takes
    ints and decimals only)."""
    if region.low is not None:
        low = Fraction(region.low)
        if value < low or (value == low and not region.low_closed):
            return False
    if region.high is not None:
        high = Fraction(region.high)
        if value > high or (value == high and not region.high_closed):
            return False
    return True


def _shown(value: Fraction, whole: bool) -> int | Decimal:
    if whole:
        return int(value)
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    if Fraction(exact) == value:
        return (
            exact.normalize() if exact != exact.to_integral_value() else exact.to_integral_value()
        )
    return exact.quantize(Decimal("0.000001"))


def _decimal_inside(low: Fraction, high: Fraction) -> Decimal:
    """A finite decimal strictly between `low` and `high` (low < high)."""
    places = 0
    while True:
        step = Fraction(1, 10**places)
        candidate = (floor(low / step) + 1) * step
        if candidate < high:
            return Decimal(candidate.numerator) / Decimal(candidate.denominator)
        places += 1
