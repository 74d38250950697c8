"""Exact regions of products and ratios of bounded number facts
(bridge/model/arithmetic.py), against brute force over fine grids."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from itertools import pairwise
from itertools import product as pairs

from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge.model.arithmetic import Span, reachable
from policykb.bridge.model.typed import Cut, intervals

GRID = 8  # steps per unit for a decimal operand's sample values


def _samples(span: Span, extra: list[Fraction]) -> list[Fraction]:
    """Every whole value of a whole span; for a decimal span a fine grid plus
    every point that solves x op y = cut (given as `extra`) inside it."""
    if span.whole:
        return [Fraction(t) for t in span.wholes()]
    if span.low == span.high:
        return [span.low]
    steps = int((span.high - span.low) * GRID)
    grid = [span.low + Fraction(i, GRID) for i in range(steps + 1)] + [span.high]
    points = sorted({*grid, *(e for e in extra if span.low <= e <= span.high)})
    # Midpoints: a value strictly between two boundary solutions.
    return sorted({*points, *((a + b) / 2 for a, b in pairwise(points))})


def _solutions(
    kind: str, cuts: list[Fraction], fixed: list[Fraction], solve_x: bool
) -> list[Fraction]:
    found = []
    for c in cuts:
        for t in fixed:
            if kind == "product":
                if t != 0:
                    found.append(c / t)
            elif solve_x:
                found.append(c * t)
            elif c != 0:
                found.append(t / c)
    return found


def _brute(kind: str, x: Span, y: Span, cuts: list[Fraction], region) -> bool:  # type: ignore[no-untyped-def]
    xs0 = _samples(x, [])
    ys0 = _samples(y, [])
    xs = _samples(x, _solutions(kind, cuts, ys0, True))
    ys = _samples(y, _solutions(kind, cuts, xs0, False))
    for a, b in pairs(xs, ys):
        value = a * b if kind == "product" else a / b
        low_ok = (
            region.low is None or value > region.low or (value == region.low and region.low_closed)
        )
        high_ok = (
            region.high is None
            or value < region.high
            or (value == region.high and region.high_closed)
        )
        if low_ok and high_ok:
            return True
    return False


@st.composite
def _span(draw: st.DrawFn, positive: bool) -> Span:
    whole = draw(st.booleans())
    low = draw(st.integers(1 if positive else -3, 6))
    high = draw(st.integers(low, low + 5))
    if draw(st.booleans()):
        point = Fraction(draw(st.integers(low * 4, high * 4)), 4 if not whole else 1)
        point = Fraction(draw(st.integers(low, high))) if whole else point
        return Span.point(point)
    return Span(Fraction(low), Fraction(high), whole)


@settings(max_examples=300, deadline=None)
@given(
    kind=st.sampled_from(["product", "ratio"]),
    data=st.data(),
    cuts=st.lists(
        st.tuples(st.integers(-8, 40), st.sampled_from([1, 2, 4]), st.booleans()), max_size=3
    ),
)
def test_reachable_agrees_with_brute_force(
    kind: str, data: st.DataObject, cuts: list[tuple[int, int, bool]]
) -> None:
    """Each region of the derived value is reachable exactly when some pair of
    sampled operand values (all whole values, or a fine grid with every
    boundary solution) lands in it."""
    x = data.draw(_span(positive=False))
    y = data.draw(_span(positive=kind == "ratio"))
    made = [Cut(Decimal(n) / Decimal(d), closed) for n, d, closed in cuts]
    for region in intervals(None, None, made, whole=False):
        expected = _brute(kind, x, y, [Fraction(c.at) for c in made], region)
        assert reachable(kind, x, y, region) == expected, (x, y, region)


def _derived_policy(kind: str, x: Span, y: Span, regions: tuple) -> tuple:  # type: ignore[type-arg]
    """A policy with d = x op y over the spans' bounds, d cut into `regions`
    (spans of whole numbers have whole ends; decimal spans here have too)."""
    from policykb.bridge.model.arithmetic import ArithmeticUse
    from policykb.bridge.model.policy import Fact, FactType, Policy

    def fact(name: str, span: Span) -> Fact:
        kind_of = FactType.INT if span.whole else FactType.DECIMAL
        low = int(span.low) if span.whole else Decimal(span.low.numerator)
        high = int(span.high) if span.whole else Decimal(span.high.numerator)
        return Fact(name, kind_of, 0, low=low, high=high)  # type: ignore[arg-type]

    use = ArithmeticUse(kind, "d", "x", "y")
    facts = {
        "x": fact("x", x),
        "y": fact("y", y),
        "d": Fact("d", FactType.DECIMAL, 0, regions=regions),  # type: ignore[arg-type]
    }
    return Policy("p", None, {}, facts, {}, arithmetic=(use,)), use  # type: ignore[arg-type]


@settings(max_examples=120, deadline=None)
@given(
    kind=st.sampled_from(["product", "ratio"]),
    data=st.data(),
    cuts=st.lists(
        st.tuples(st.integers(-8, 40), st.sampled_from([1, 2, 4]), st.booleans()), max_size=3
    ),
    pin=st.sampled_from([None, "x", "y"]),
)
def test_fitting_operands_exist_exactly_where_a_region_is_reached(
    kind: str, data: st.DataObject, cuts: list[tuple[int, int, bool]], pin: str | None
) -> None:
    """A check or diff witness states operands for a derived fact's region:
    fitting_operands finds values within the bounds (whole for an int
    operand, a stated operand kept) whose exact result lies in the region,
    and finds none exactly when `reachable` says no values reach it."""
    from policykb.bridge.model.arithmetic import fitting_operands

    x = data.draw(_span(positive=False).filter(lambda s: s.low != s.high))
    y = data.draw(_span(positive=kind == "ratio").filter(lambda s: s.low != s.high))
    made = [Cut(Decimal(n) / Decimal(d), closed) for n, d, closed in cuts]
    regions = tuple(intervals(None, None, made, whole=False))
    policy, use = _derived_policy(kind, x, y, regions)
    spans = {"x": x, "y": y}
    known: dict[str, object] = {}
    if pin is not None:
        span = spans[pin]
        value = data.draw(st.integers(int(span.low), int(span.high)))
        known[pin] = value
        spans[pin] = Span.point(value)
    for region in regions:
        found = fitting_operands(policy, use, region, known)
        assert (found is not None) == reachable(kind, spans["x"], spans["y"], region), region
        if found is None:
            continue
        for name, span in (("x", x), ("y", y)):
            value = Fraction(found[name])
            assert span.low <= value <= span.high
            assert not span.whole or value.denominator == 1
        if pin is not None:
            assert found[pin] == known[pin]
        points = (Span.point(Fraction(found["x"])), Span.point(Fraction(found["y"])))
        assert _brute(kind, *points, [Fraction(c.at) for c in made], region), (found, region)


def _reached_by_brute(kind: str, x: Span, y: Span, cuts: list[Fraction], regions) -> set:  # type: ignore[no-untyped-def,type-arg]
    return {r for r in regions if _brute(kind, x, y, cuts, r)}


@settings(max_examples=120, deadline=None)
@given(
    kind=st.sampled_from(["product", "ratio"]),
    data=st.data(),
    cuts=st.lists(
        st.tuples(st.integers(-8, 40), st.sampled_from([1, 2]), st.booleans()), max_size=2
    ),
    flip_left=st.booleans(),
)
def test_flip_pairs_agree_with_brute_force(
    kind: str, data: st.DataObject, cuts: list[tuple[int, int, bool]], flip_left: bool
) -> None:
    """The moves of the derived fact that changing one unknown operand can
    make equal those found by fixing the other operand at every sampled value
    (every whole value, or a fine grid with every boundary solution) and
    collecting the regions the flipped operand's values reach."""
    from policykb.bridge.model.arithmetic import flip_pairs

    x = data.draw(_span(positive=False).filter(lambda s: s.low != s.high))
    y = data.draw(_span(positive=kind == "ratio").filter(lambda s: s.low != s.high))
    made = [Cut(Decimal(n) / Decimal(d), closed) for n, d, closed in cuts]
    regions = tuple(intervals(None, None, made, whole=False))
    exact = [Fraction(c.at) for c in made]
    policy, use = _derived_policy(kind, x, y, regions)
    flipped, fixed = ("x", y) if flip_left else ("y", x)
    others = _samples(
        fixed, _solutions(kind, exact, _samples(x if flip_left else y, []), not flip_left)
    )
    expected = set()
    for value in others:
        point = Span.point(value)
        reached = (
            _reached_by_brute(kind, x, point, exact, regions)
            if flip_left
            else _reached_by_brute(kind, point, y, exact, regions)
        )
        expected |= {(a, b) for a in reached for b in reached if a != b}
    assert flip_pairs(policy, use, flipped, {}) == expected
