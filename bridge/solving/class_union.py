"""Day regions of dates, and verdicts over unions of day classes.

A date region is an Interval of ordinals, each side open or closed; its
whole days are those it contains. A verdict over a union of completions is
the common verdict when they share one, else needs_information.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from datetime import date
from typing import TypeVar

from policykb.bridge.model.result import Verdict
from policykb.bridge.model.typed import Interval
from policykb.bridge.solving.grounding import Consequences

Element = TypeVar("Element", bound=Hashable)


def combined(found: Iterable[Consequences]) -> Consequences:
    possible: frozenset[object] = frozenset()
    certain: frozenset[object] | None = None
    for consequences in found:
        possible |= consequences.possible
        certain = consequences.certain if certain is None else certain & consequences.certain
    return Consequences(possible, certain or frozenset())  # type: ignore[arg-type]


def joined(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict over the union of completions with these verdicts."""
    seen = set(verdicts)
    return seen.pop() if len(seen) == 1 else Verdict.NEEDS_INFORMATION


def minimal(sets: Iterable[frozenset[Element]]) -> list[frozenset[Element]]:
    ordered = sorted(set(sets), key=len)
    kept: list[frozenset[Element]] = []
    for candidate in ordered:
        if not any(k <= candidate for k in kept):
            kept.append(candidate)
    return kept


def days_of(region: Interval) -> tuple[float, float]:
    """The first and last whole day of a date region (infinite when open)."""
    low, high = float("-inf"), float("inf")
    if region.low is not None:
        low = float(region.low) + (0 if region.low_closed else 1)
    if region.high is not None:
        high = float(region.high) - (0 if region.high_closed else 1)
    return low, high


def holds_day(value: object, region: Interval) -> bool:
    """Whether a stated date lies in a region (False when not stated)."""
    if not isinstance(value, date):
        return False
    low, high = days_of(region)
    return low <= value.toordinal() <= high


def within_region(inner: Interval, outer: Interval) -> bool:
    """Whether the days of `inner` lie in `outer`."""
    inner_low, inner_high = days_of(inner)
    outer_low, outer_high = days_of(outer)
    return outer_low <= inner_low and inner_high <= outer_high


def merged_intervals(found: list[tuple[Interval, Verdict]]) -> list[tuple[Interval, Verdict]]:
    merged: list[tuple[Interval, Verdict]] = []
    for region, verdict in found:
        if merged and merged[-1][1] is verdict:
            before = merged[-1][0]
            region = Interval(before.low, before.low_closed, region.high, region.high_closed)
            merged[-1] = (region, verdict)
        else:
            merged.append((region, verdict))
    return merged
