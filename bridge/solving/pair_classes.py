"""The classes of pairs of days of two reference dates a case leaves unknown.

As of a pair of days (a, b) for two reference dates A and B, the program that
decides sees the pair only through the order pattern of the boundaries the
two days move (day_classes.py gives the argument for one date; covered_from
reads a stated anchor's boundaries from the case, so DayPatterns with A's day
and B's day stated covers both): every date fact compared with A or with B,
and A and B themselves, cut at constants, bounds, stated values and at A and
B moved by each duration. Two pairs with one pattern give the same ground
program up to the days written in its regions. A pair class is the set of
pairs of one pattern; it is answered by the grounding at its first pair
with both dates fixed there.

Finding the classes without trying every pair. With a fixed, the pattern of
(a, b) changes with b only where a point moving with B (a boundary moved from
B, or B's own value) meets a point of the same fact that does not move with
it, or where the points moving with B reorder among themselves:
  * a point q(b) = duration.after(b) + shift is nondecreasing in b (a month
    step never goes back), so against a still point p the days b split into
    q(b) < p, q(b) = p and q(b) > p, three runs whose ends are found by
    bisection;
  * the order among the points moving with B depends on b alone
    (`moving_order`), computed once per day of B.
So for each day a, the days of B between consecutive such ends share one
pattern; each such run is a row (a, first b, last b) of one class. This is
the product of the two dates' own classes refined by the regions of their
difference (for day durations, q(b) = b + c against p(a) = a + c'), and it is
exact for month durations too. Both dates need both bounds (a day span).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from policykb.bridge.model.typed import Duration
from policykb.bridge.solving.covered_from import DayPatterns

ROWS_LIMIT = 2_000_000
"""The most (day of A, run of days of B) rows the sweep may visit; past it a
case is refused (LimitError) rather than run for minutes."""


@dataclass(frozen=True)
class PairClass:
    """The pairs of days of (A, B) with one pattern: `day` its first pair,
    `rows` its pairs as (day of A, first day of B, last day of B), ordinals,
    in order."""

    day: tuple[int, int]
    rows: tuple[tuple[int, int, int], ...]

    def first_days(self) -> list[tuple[int, int]]:
        """The runs of days of A this class holds some pair with."""
        return _runs(sorted({a for a, _, _ in self.rows}))

    def second_days(self) -> list[tuple[int, int]]:
        """The runs of days of B this class holds some pair with."""
        spans = sorted({(b0, b1) for _, b0, b1 in self.rows})
        merged: list[list[int]] = []
        for b0, b1 in spans:
            if merged and b0 <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], b1)
            else:
                merged.append([b0, b1])
        return [(a, b) for a, b in merged]

    def blocks(self) -> list[tuple[int, int, int, int]]:
        """The class as rectangles (first a, last a, first b, last b)."""
        return blocks_of(self.rows)


def blocks_of(rows: Iterable[tuple[int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Pairs given as rows (a, first b, last b) as rectangles (first a, last
    a, first b, last b): each day's runs of b merged where they touch, then
    rows of consecutive days of A with one run of B merged."""
    by_day: dict[int, list[list[int]]] = {}
    for a, b0, b1 in sorted(rows):
        spans = by_day.setdefault(a, [])
        if spans and b0 <= spans[-1][1] + 1:
            spans[-1][1] = max(spans[-1][1], b1)
        else:
            spans.append([b0, b1])
    found: list[list[int]] = []
    open_by_span: dict[tuple[int, int], int] = {}
    for a in sorted(by_day):
        for b0, b1 in by_day[a]:
            index = open_by_span.get((b0, b1))
            if index is not None and found[index][1] == a - 1:
                found[index][1] = a
            else:
                open_by_span[(b0, b1)] = len(found)
                found.append([a, a, b0, b1])
    return [(a0, a1, b0, b1) for a0, a1, b0, b1 in sorted(found)]


def _runs(days: list[int]) -> list[tuple[int, int]]:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][1] == day - 1:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    return [(a, b) for a, b in runs]


def _position(duration: Duration | None, shift: int, day: int) -> int:
    if duration is None:
        return day
    return duration.after(date.fromordinal(day)).toordinal() + shift


def _first_reaching(
    duration: Duration | None, shift: int, low: int, high: int, wanted: float, strictly: bool
) -> int:
    """The first day b of low..high whose position reaches `wanted` (passes
    it, when `strictly`); high + 1 when none does. The position is
    nondecreasing in b."""
    first, last = low, high + 1
    while first < last:
        middle = (first + last) // 2
        position = _position(duration, shift, middle)
        if position > wanted or (position == wanted and not strictly):
            last = middle
        else:
            first = middle + 1
    return first


def pair_classes(
    patterns: DayPatterns,
    known: Mapping[str, object],
    first: tuple[str, int, int],
    second: tuple[str, int, int],
) -> list[PairClass]:
    """The pair classes of (A, B) over A's days first[1]..first[2] and B's
    days second[1]..second[2] (`patterns` built for A with B also), in order
    of their first pair. LimitError past ROWS_LIMIT rows."""
    from policykb.bridge.model.errors import LimitError

    name_a, low_a, high_a = first
    name_b, low_b, high_b = second
    # Where the points moving with B reorder among themselves.
    cuts_b: list[int] = []
    previous: object = None
    for ordinal in range(low_b, high_b + 1):
        order = patterns.moving_order(name_b, date.fromordinal(ordinal))
        if order != previous:
            cuts_b.append(ordinal)
        previous = order
    rows: dict[object, list[tuple[int, int, int]]] = {}
    visited = 0
    for a in range(low_a, high_a + 1):
        day_a = date.fromordinal(a)
        stated = {**known, name_a: day_a}
        cuts = set(cuts_b)
        for duration, shift, point in patterns.crossings(stated, name_b):
            for strictly in (False, True):
                cut = _first_reaching(duration, shift, low_b, high_b, point, strictly)
                if cut <= high_b:
                    cuts.add(cut)
        starts = sorted(cuts | {low_b})
        starts = starts[bisect_left(starts, low_b) :]
        visited += len(starts)
        if visited > ROWS_LIMIT:
            raise LimitError(
                f"the pairs of days of {name_a} and {name_b} fall into more than "
                f"{ROWS_LIMIT:,} runs; state one of them"
            )
        for index, start in enumerate(starts):
            end = starts[index + 1] - 1 if index + 1 < len(starts) else high_b
            key = patterns.of({**stated, name_b: date.fromordinal(start)}, day_a)
            found = rows.setdefault(key, [])
            if found and found[-1][0] == a and found[-1][2] == start - 1:
                found[-1] = (a, found[-1][1], end)
            else:
                found.append((a, start, end))
    classes = [PairClass((spans[0][0], spans[0][1]), tuple(spans)) for spans in rows.values()]
    return sorted(classes, key=lambda c: c.day)
