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
