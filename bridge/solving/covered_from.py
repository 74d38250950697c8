"""The earliest date of service from which a denied case is covered.

For a `not_covered` case that states its date of service, the *covered-from
date* is the first day d, from the case's own date through the horizon (the
same day HORIZON_MONTHS later), such that the case with its date of service
set to d, every other fact unchanged, is `covered` under the version of the
policy in force on d; None when no such day exists in the horizon. A day on
which no version is in force, or outside the declared bounds of the date of
service, is not covered.

Exactness without evaluating every day. As of a day d, the program that
decides (the version in force on d, grounded at d's reference dates, see
anchoring.py) sees days only through regions: each date fact's values are
cut into the maximal intervals of its bounds between the boundaries its
comparisons put (a constant, or a reference date moved by a duration), and
the case pins a stated date to the region holding it. With whole days, a
boundary is a position p splitting p - 1 from p (at_least/on_or_after/
below/before at v: p = v; above/after/at_most/on_or_before at v: p = v + 1;
between l and h: l and h + 1). So the region numbering, every satisfies/3
fact and every region the case pins are functions of the *order pattern*
(the dense ranks, ties included) of the boundary positions, the bounds
(low, high + 1) and the stated value, fact by fact. Two days with the same
version and the same patterns give the same ground program up to the days
written in its regions, the same assumptions, hence the same verdict. The
search evaluates each day whose (version, patterns) key is new and reuses
the verdict of an earlier day with the same key otherwise: its answer is the
answer of evaluating every day of the horizon. Only date facts compared with
the date of service, and the date of service itself, can change pattern
from one day to another; the others are left out of the key.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING

from policykb.bridge.model.policy import FactType
from policykb.bridge.model.result import CoveredFrom, Verdict
from policykb.bridge.model.typed import Duration, Step
from policykb.bridge.model.version import SERVICE_DATE

if TYPE_CHECKING:
    from policykb.bridge.model.case import StatedHistory
    from policykb.bridge.model.policy import Policy, Value
    from policykb.bridge.solving.grounding import Grounding

HORIZON_MONTHS = 120
"""The search looks this many months past the case's date of service (ten
years, the month rule applied): long enough for every waiting period and
frequency limit of the bundled policies (the longest, 119 months)."""

# Whether a test at v puts its boundary at v (True) or at v + 1 (False).
_AT_LIMIT = {
    "at_least": True,
    "on_or_after": True,
    "below": True,
    "before": True,
    "above": False,
    "after": False,
    "at_most": False,
    "on_or_before": False,
}


def boundary_shift(test: str) -> int:
    """Where a test at day v puts its boundary: v + the shift (0 or 1)."""
    return 0 if _AT_LIMIT.get(test, True) else 1


_BELOW_ALL = float("-inf")
_ABOVE_ALL = float("inf")


@dataclass(frozen=True)
class DayKey:
    """What the verdict on a case as of a day depends on: the version in force
    and the order pattern of each date fact the day moves."""

    version: int
    patterns: tuple[tuple[str, tuple[int, ...]], ...]
    histories: tuple[object, ...] = ()
    """For a policy with histories: the levels the case's records pin as of
    the day and the record classes possible that day (history_key)."""


def _ranks(points: list[float]) -> tuple[int, ...]:
    """The dense rank of each point among the points (ties share a rank)."""
    order = {value: rank for rank, value in enumerate(sorted(set(points)))}
    return tuple(order[point] for point in points)


@dataclass(frozen=True)
class _Moved:
    """A boundary at a reference date moved by a duration, plus `shift`."""

    reference: str
    duration: Duration
    shift: int


class DayPatterns:
    """The order pattern, as of a day for the date of service, of every date
    fact whose regions the date of service moves (see the module docstring),
    for one version: its constant boundaries read once, the moved ones per day."""

    def __init__(
        self, grounding: Grounding, reference: str = SERVICE_DATE, also: str | None = None
    ) -> None:
        """`grounding` is the version's unanchored grounding (its comparisons
        and declared facts); `reference` the date fact the day is for (the
        date of service for covered-from, any reference date the case leaves
        unknown for solving/unknown_dates.py); `also` a second reference date
        whose facts the patterns cover too, its day read from the case's
        facts (a pair of unknown dates, solving/pair_classes.py)."""
        self.reference = reference
        moving = {reference} if also is None else {reference, also}
        self._facts: list[tuple[str, list[float | _Moved], float, float]] = []
        for name, fact in grounding.policy.facts.items():
            if fact.type is not FactType.DATE:
                continue
            tests = [c for c in grounding.comparisons if c.fact == name]
            if name not in moving and not any(c.reference in moving for c in tests):
                continue
            boundaries: list[float | _Moved] = []
            for comparison in tests:
                at_limit = _AT_LIMIT.get(comparison.test.name, True)
                if comparison.reference is not None:
                    assert comparison.duration is not None
                    shift = 0 if at_limit else 1
                    boundaries.append(_Moved(comparison.reference, comparison.duration, shift))
                    continue
                numbers = comparison.limits(fact, {})
                assert numbers is not None  # a constant needs no anchor
                if comparison.test.name == "between":
                    boundaries += [float(numbers[0]), float(numbers[1]) + 1]
                else:
                    boundaries.append(float(numbers[0]) + (0 if at_limit else 1))
            low = _BELOW_ALL if fact.low is None else float(fact.low)
            high = _ABOVE_ALL if fact.high is None else float(fact.high) + 1
            self._facts.append((name, boundaries, low, high))

    def still_points(self, known: Mapping[str, object]) -> list[float]:
        """The finite boundary positions that do not move with the day: the
        constants, the bounds, the stated values and the boundaries moved
        from another reference date the case states."""
        points: list[float] = []
        for name, boundaries, low, high in self._facts:
            for boundary in boundaries:
                if not isinstance(boundary, _Moved):
                    points.append(boundary)
                elif boundary.reference != self.reference:
                    anchor = known.get(boundary.reference)
                    if isinstance(anchor, date):
                        points.append(float(boundary.duration.after(anchor).toordinal()))
            points += [p for p in (low, high) if p not in (_BELOW_ALL, _ABOVE_ALL)]
            value = known.get(name)
            if isinstance(value, date) and name != self.reference:
                points.append(float(value.toordinal()))
        return points

    def crossings(
        self, known: Mapping[str, object], mover: str
    ) -> list[tuple[Duration | None, int, float]]:
        """Each point of a fact that moves with the reference date `mover` (a
        boundary moved from it: its duration and shift; the fact's own value,
        when the fact is `mover`: None and 0) with each point of the same fact
        that does not (constants, finite bounds, a stated value, boundaries
        moved from another reference date `known` states): where the fact's
        pattern can change as `mover`'s day moves, the others fixed."""
        found: list[tuple[Duration | None, int, float]] = []
        for name, boundaries, low, high in self._facts:
            moving: list[tuple[Duration | None, int]] = []
            still: list[float] = [p for p in (low, high) if p not in (_BELOW_ALL, _ABOVE_ALL)]
            for boundary in boundaries:
                if not isinstance(boundary, _Moved):
                    still.append(boundary)
                elif boundary.reference == mover:
                    moving.append((boundary.duration, boundary.shift))
                else:
                    anchor = known.get(boundary.reference)
                    if isinstance(anchor, date):
                        moved = boundary.duration.after(anchor).toordinal() + boundary.shift
                        still.append(float(moved))
            if name == mover:
                moving.append((None, 0))
            else:
                value = known.get(name)
                if isinstance(value, date):
                    still.append(float(value.toordinal()))
            found += [(duration, shift, point) for duration, shift in moving for point in still]
        return found

    def moving_order(self, mover: str, day: date) -> tuple[tuple[int, ...], ...]:
        """The order pattern, fact by fact, of the points that move with the
        reference date `mover` when it is at `day` (the lengths of the months
        their durations cross can reorder them)."""
        found = []
        for name, boundaries, _, _ in self._facts:
            points = [
                float(b.duration.after(day).toordinal() + b.shift)
                for b in boundaries
                if isinstance(b, _Moved) and b.reference == mover
            ]
            if name == mover:
                points.append(float(day.toordinal()))
            found.append(_ranks(points))
        return tuple(found)

    def moves(self) -> list[Duration]:
        """The durations by which the day's reference date is moved."""
        return [
            boundary.duration
            for _, boundaries, _, _ in self._facts
            for boundary in boundaries
            if isinstance(boundary, _Moved) and boundary.reference == self.reference
        ]

    def of(self, known: Mapping[str, object], day: date) -> tuple[tuple[str, tuple[int, ...]], ...]:
        """The patterns as of `day`; `known` the case's facts (defaults filled
        in), its date of service at `day`."""
        patterns = []
        for name, boundaries, low, high in self._facts:
            points: list[float] = []
            for boundary in boundaries:
                if not isinstance(boundary, _Moved):
                    points.append(boundary)
                    continue
                reference = boundary.reference
                anchor = day if reference == self.reference else known.get(reference)
                if isinstance(anchor, date):
                    moved = boundary.duration.after(anchor).toordinal() + boundary.shift
                    points.append(float(moved))
                else:  # another reference date the case leaves out: refused when evaluated
                    points.append(_ABOVE_ALL)
            points += [low, high]
            value = known.get(name)
            stated = isinstance(value, date)
            if isinstance(value, date):
                points.append(float(value.toordinal()))
            # The last entry tells a stated value's rank from none.
            patterns.append((name, (*_ranks(points), int(stated))))
        return tuple(patterns)


def repinned(
    policy: Policy, stated: Mapping[str, StatedHistory], known: Mapping[str, Value]
) -> dict[str, Value]:
    """`known` with each stated history's boolean facts pinned anew as of its
    reference dates in `known` (the day's date of service): the records'
    classes depend on the day. Levels of a history the case leaves out stay
    unpinned."""
    from policykb.bridge.loading.case_histories import history_facts

    mine = {name: given for name, given in stated.items() if name in policy.histories}
    levels = {fact for name in mine for _, _, fact in policy.histories[name].level_facts()}
    # Also the levels another version's classes named (the case was read
    # under the version of its own date).
    facts = {
        name: value
        for name, value in known.items()
        if name not in levels and not any(name.startswith(f"{h}_c") for h in mine)
    }
    facts.update(history_facts(policy, mine, known))
    return facts


def history_key(policy: Policy, known: Mapping[str, Value]) -> tuple[object, ...]:
    """What a day's verdict depends on beyond the date patterns, for a policy
    with histories: the level facts pinned (repinned) and, per history, the
    record classes possible as of the day (kb_history_possible/2). Two days
    equal in these, the version and the patterns ground the same program and
    pin the same facts."""
    if not policy.histories:
        return ()
    anchors = {name: value.toordinal() for name, value in known.items() if isinstance(value, date)}
    pinned = tuple(
        sorted((name, value) for name, value in known.items() if policy.history_of(name))
    )
    possible = tuple(
        (name, tuple(c.index for c in history.possible(anchors)))
        for name, history in sorted(policy.histories.items())
    )
    return pinned, possible


def horizon_of(start: date, months: int = HORIZON_MONTHS) -> date:
    """The last day searched from `start`."""
    return Step(months, "months").after(start)


def covered_from(
    start: date,
    key_of: Callable[[date], Hashable | None],
    verdict_at: Callable[[date], Verdict],
    until: date | None = None,
) -> CoveredFrom:
    """The first day from `start` through `until` (default: the horizon) whose
    verdict is covered. `key_of(day)` is the day's DayKey, or None for a day
    that cannot be covered (no version in force, out of bounds); equal keys
    have equal verdicts, so `verdict_at` is asked once per key."""
    last = horizon_of(start) if until is None else until
    verdicts: dict[Hashable, Verdict] = {}
    day = start
    while day <= last:
        key = key_of(day)
        if key is not None:
            if key not in verdicts:
                verdicts[key] = verdict_at(day)
            if verdicts[key] is Verdict.COVERED:
                return CoveredFrom(start, day, last)
        day += timedelta(days=1)
    return CoveredFrom(start, None, last)
