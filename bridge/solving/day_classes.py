"""The day classes of a reference date a case leaves unknown.

Day classes. As of a day d for B, the program that decides sees d only
through the order pattern of the boundaries d moves (covered_from.py gives
the argument): each date fact compared with B, and B itself, has its values
cut at constants, at its bounds, at its stated value and at B moved by each
duration; two days with the same patterns give the same ground program up to
the days written in its regions. The days of B's bounds (and, for the date of
service, of the version's period) are partitioned by pattern; each class is
answered by the grounding at its first day with B fixed to that day
(`Evaluator.at(..., fixed={B})`), so every completion of the case with B in
the class is a completion of that grounding, and back.

For a policy whose history windows move from B, the key of a day also
holds the case's records as of it (history_windows.py): the facts they pin
and the classes a record can fall in.

The pattern of a day takes the case's stated values into account, so the
classes refine those of every subset of the case's facts: they also answer
explanations, whose subsets set facts aside.

An unbounded side of B is cut at SPAN_MARGIN_DAYS past the last boundary
that does not move with B. Past it, every such boundary is on one side, and
the pattern depends only on the calendar position of the day (the lengths of
the months the durations cross); from 1901 to 2099 a leap year comes every
fourth year, so the eight years of the margin hold every position.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from policykb.bridge.model.result import Verdict
from policykb.bridge.solving.covered_from import DayPatterns

if TYPE_CHECKING:
    from policykb.bridge.solving.evaluator import Evaluator

SPAN_MARGIN_DAYS = 8 * 366
"""How far past the outermost boundary an unbounded reference date is
searched (see the module docstring)."""


CLASSES_KEPT = 64
"""How many sets of day classes a policy keeps (one per set of stated dates)."""


@dataclass(frozen=True)
class DayClass:
    """The days of a reference date with one pattern: `day` the first, `runs`
    its maximal runs of consecutive days (first, last; ordinals)."""

    day: int
    runs: tuple[tuple[int, int], ...]


def unknown_references(evaluator: Evaluator, known: Mapping[str, object]) -> list[str]:
    """The reference dates of the policy the case does not state as dates."""
    return [name for name in evaluator.references if not isinstance(known.get(name), date)]


def day_span(
    patterns: DayPatterns,
    known: Mapping[str, object],
    low: int | None,
    high: int | None,
) -> tuple[int, int, bool, bool]:
    """The first and last day searched, and whether each side was cut (the
    bound is open): `low`/`high` the bounds, None for open."""
    reach = max(
        (
            abs(d.after(day).toordinal() - day.toordinal())
            for d in patterns.moves()
            for day in (date(2024, 1, 31), date(2024, 3, 31))
        ),
        default=0,
    )
    still = [int(p) for p in patterns.still_points(known)]
    middle = still or [date(2024, 1, 1).toordinal()]
    # The margin runs from the outermost boundary, or from the other bound
    # where that lies beyond it (a version in force from long after every
    # boundary: the days from its first on hold every calendar position).
    lowest = min(middle) - reach if high is None else min(min(middle) - reach, high)
    highest = max(middle) + reach if low is None else max(max(middle) + reach, low)
    first = low if low is not None else lowest - SPAN_MARGIN_DAYS
    last = high if high is not None else highest + SPAN_MARGIN_DAYS
    return first, last, low is None, high is None


def day_classes(
    patterns: DayPatterns,
    known: Mapping[str, object],
    first: int,
    last: int,
    extra: Callable[[int], Hashable] | None = None,
) -> list[DayClass]:
    """The days from `first` through `last` grouped by pattern (and by
    `extra(day)`, the history key of history_windows.py), in order of their
    first day."""
    reference = patterns.reference
    runs: dict[object, list[list[int]]] = {}
    previous: object = None
    for ordinal in range(first, last + 1):
        day = date.fromordinal(ordinal)
        key: object = patterns.of({**known, reference: day}, day)
        if extra is not None:
            key = (key, extra(ordinal))
        found = runs.setdefault(key, [])
        if key == previous:
            found[-1][1] = ordinal
        else:
            found.append([ordinal, ordinal])
        previous = key
    return [DayClass(spans[0][0], tuple((a, b) for a, b in spans)) for spans in runs.values()]


def merged_runs(
    runs: Iterable[tuple[int, int, Verdict]],
) -> list[tuple[int, int, Verdict]]:
    """Runs of days with their verdicts, in order, neighbours with one verdict
    merged."""
    merged: list[tuple[int, int, Verdict]] = []
    for first, last, verdict in sorted(runs):
        if merged and merged[-1][2] is verdict and merged[-1][1] + 1 == first:
            merged[-1] = (merged[-1][0], last, verdict)
        else:
            merged.append((first, last, verdict))
    return merged


def kept_classes(base: Evaluator) -> MutableMapping[object, list[DayClass]]:
    """The day classes computed for a policy, the last CLASSES_KEPT kept."""
    from cachetools import LRUCache

    kept: MutableMapping[object, list[DayClass]] | None = getattr(base, "_day_classes", None)
    if kept is None:
        kept = LRUCache(maxsize=CLASSES_KEPT)
        base._day_classes = kept  # type: ignore[attr-defined]
    return kept


def history_references_of(evaluator: Evaluator) -> set[str]:
    """The reference dates the policy's history windows move from."""
    if not evaluator.policy.histories:
        return set()
    from policykb.bridge.loading.histories import history_references

    return set(history_references(evaluator.policy))
