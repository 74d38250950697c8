"""The smallest changes of a case that leaves a reference date unknown.

Changes: stating the reference date B (a run of days of one class) with the
smallest changes of that class, or changes of facts B does not move that work
in every class, whichever are smaller. Changes of a date compared with B
while B stays unknown are limited to days on one side of every boundary B
can move it to (`decided_days`); other such changes are not searched
(documented).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import date
from itertools import combinations
from math import comb
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import LimitError
from policykb.bridge.model.result import Verdict
from policykb.bridge.model.typed import Interval
from policykb.bridge.solving.class_union import days_of, holds_day
from policykb.bridge.solving.covered_from import boundary_shift
from policykb.bridge.solving.day_classes import merged_runs
from policykb.bridge.solving.grounding import Assignment

if TYPE_CHECKING:
    from policykb.bridge.solving.unknown_dates import UnknownDate


def smallest_changes(
    split: UnknownDate, known: Assignment, target: Verdict, limit: int, keep: Collection[str]
) -> tuple[list[list[tuple[str, object]]], int]:
    """The smallest change sets giving `target` (module docstring of unknown_dates.py), at most
    `limit`, and how many were left out."""
    reference = split.reference
    with_reference: list[list[tuple[str, object]]] = []
    moved = set(split.base.references.get(reference, []))
    if split.window is not None:
        # A record class moves with the date too: "add a record of ..." as of
        # the class's first day names that day's window.
        moved |= split.window.facts
    size: int | None = None
    if reference not in keep:
        by_rest: dict[tuple[tuple[str, object], ...], list[tuple[int, int]]] = {}
        for index, (day_class, evaluator) in enumerate(split.cases):
            as_of_class = split.class_known(index, known)
            if evaluator.verdict_of(as_of_class) is target:
                rests: list[tuple[tuple[str, object], ...]] = [()]
            else:
                found, _, _ = evaluator.smallest_changes(
                    as_of_class, target, max(limit, 1) * 4, {*keep, reference}
                )
                rests = [tuple(change) for change in found]
            if not rests:
                continue
            own = 1 + len(rests[0])
            if size is None or own < size:
                size, by_rest = own, {}
            if own == size:
                for rest in rests:
                    # A change of a date compared with the reference date is
                    # a region as of the class's first day: it holds with
                    # that day only (on another day of the class the same
                    # region sits elsewhere).
                    relative = any(fact in moved for fact, _ in rest)
                    days = ((day_class.day, day_class.day),) if relative else day_class.runs
                    by_rest.setdefault(rest, []).extend(days)
        for rest, runs in by_rest.items():
            joined = merged_runs((a, b, target) for a, b in runs)
            with_reference += [[(reference, split.days(a, b)), *rest] for a, b, _ in joined]
    without = changes_without_reference(split, known, target, keep, size)
    if without and (size is None or len(without[0]) < size):
        chosen = without
    else:
        chosen = [*without, *with_reference]
    return chosen[:limit], max(0, len(chosen) - limit)


def changes_without_reference(
    split: UnknownDate, known: Assignment, target: Verdict, keep: Collection[str], bound: int | None
) -> list[list[tuple[str, object]]]:
    """The smallest change sets that leave the reference date unknown, of
    at most `bound` changes (None: any), giving `target` in every class:
    of facts it does not move, and of dates compared with it to days on
    one side of every boundary it can move them to (`decided_days`)."""
    moved = set(split.base.references.get(split.reference, []))
    first = split.cases[0][1]
    # The records' classes move with the unknown date: a change of one is not
    # one change over every day (it is searched with the date stated).
    windowed = set() if split.window is None else split.window.facts
    # (fact, the value shown, the value evaluated)
    candidates: list[tuple[str, Any, Any]] = []
    for fact, declared in split.base.policy.facts.items():
        if fact in keep or fact in split.base.references or declared.type.many:
            continue
        if fact in windowed:
            continue
        if fact in moved:
            candidates += [
                (fact, region, date.fromordinal(sample))
                for region, sample in decided_days(split, fact)
                if not holds_day(known.get(fact), region)
            ]
            continue
        candidates += [
            (fact, value, value)
            for value in first.candidate_values(fact)
            if fact not in known or first.value_key(fact, known[fact]) != value
        ]
    most = len({fact for fact, _, _ in candidates})
    if bound is not None:
        most = min(most, bound)
    trials = 0
    for size in range(1, most + 1):
        # Every combination of this size is tried in every class: refuse,
        # rather than run for hours, past a stated budget (a smaller set is
        # never skipped, so what is answered stays exact).
        trials += comb(len(candidates), size) * len(split.cases)
        if trials > MAX_TRIALS:
            raise LimitError(
                f"why: the smallest changes that leave {split.reference} unknown would "
                f"take more than {MAX_TRIALS:,} trials (sets of {size} changes among "
                f"{len(candidates)} candidates); state {split.reference} to have the "
                "changes searched as of its days"
            )
        found = [
            [(fact, shown) for fact, shown, _ in chosen]
            for chosen in combinations(candidates, size)
            if len({fact for fact, _, _ in chosen}) == size
            and all(
                evaluator.verdict_of(own) is target
                for evaluator, own in split.each({**known, **{f: v for f, _, v in chosen}})
            )
        ]
        if found:
            return found
    return []


MAX_TRIALS = 20_000
"""How many (change set, day class) verdicts the search for changes that
leave the reference date unknown may try before it refuses (LimitError,
exit 6; HTTP 413): a case with most facts unknown would otherwise try
billions."""


def decided_days(split: UnknownDate, fact: str) -> list[tuple[Interval, int]]:
    """The regions of a date compared with the reference date in which
    every comparison with it is decided whatever the reference date's day
    (before every boundary it can be moved to, or after every one), cut at
    the date's constant boundaries; each with a day inside. A side the
    search cut (an open bound) has none."""
    moves = [
        (c.duration, boundary_shift(c.test.name))
        for c in split.base.comparisons
        if c.fact == fact and c.reference == split.reference and c.duration is not None
    ]
    # A boundary at position p splits p - 1 from p; the reference date's
    # days move each one monotonically (a month step never goes back).
    zones: list[tuple[float, float]] = []
    if not split.open_low:
        start = date.fromordinal(split.first)
        lowest = min(d.after(start).toordinal() + shift for d, shift in moves)
        zones.append((float("-inf"), lowest - 1))
    if not split.open_high:
        end = date.fromordinal(split.last)
        highest = max(d.after(end).toordinal() + shift for d, shift in moves)
        zones.append((highest, float("inf")))
    found: list[tuple[Interval, int]] = []
    for region in split.base.policy.facts[fact].regions:
        assert isinstance(region, Interval)
        low, high = days_of(region)
        for zone_low, zone_high in zones:
            first, last = max(low, zone_low), min(high, zone_high)
            if first > last:
                continue
            sample = int(first) if first != float("-inf") else int(last)
            found.append(
                (
                    Interval(
                        None if first == float("-inf") else int(first),
                        first != float("-inf"),
                        None if last == float("inf") else int(last),
                        last != float("inf"),
                    ),
                    sample,
                )
            )
    return found
