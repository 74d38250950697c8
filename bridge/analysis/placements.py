"""Where a policy's reference dates can stand relative to each other, for
check and diff.

A policy that compares dates with reference dates (`before(sleep_test_date,
therapy_start_date)`, `on_or_after(reevaluation_date, therapy_start_date,
days(31))`) is grounded with each reference date on one day. Analysed as of a
day, the first reference date in vocabulary order (the date of service,
typically) stands on that day; every other reference date can stand on any
day its bounds allow, and what the policy decides depends on where it stands
relative to the others: whether its cuts fall before or after theirs on a
date compared with both, and whether it passes the comparisons made on it.

A *placement* gives each reference date its day. Two placements whose
grounded region facts (region/2, satisfies/3) are equal ground the same
program, so they decide alike up to the dates themselves. The placements
returned here are one per such class, for every class a day of the other
reference dates reaches: each other reference date is tried at the days
where one of its cuts meets a cut or bound of a date compared with it (or
where it meets a cut on itself), a few days to either side (a month step
moves by up to three days with the day of the month, month_start and
month_end by up to 30: Duration.spread), and beyond the
outermost of them. With two reference dates this covers every class; with
three or more, the days of each are found from the placement of those
before it, in vocabulary order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from policykb.bridge.loading.comparisons import CUTS, Comparison
from policykb.bridge.loading.region_facts import region_symbols, with_regions
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import Policy
from policykb.bridge.solving.evaluator import Evaluator

SPREAD = 4
"""Days tried on either side of a meeting point: a month step moves a cut by
up to three days with the day of the month it starts from."""

MAX_PLACEMENTS = 512
"""Placements analysed at most; past it the policy is refused."""


def _fixed(policy: Policy, placement: Mapping[str, int]) -> Policy:
    facts = dict(policy.facts)
    for name, day in placement.items():
        facts[name] = dataclasses.replace(facts[name], low=day, high=day)
    return dataclasses.replace(policy, facts=facts)


def signature(
    policy: Policy, comparisons: Sequence[Comparison], placement: Mapping[str, int]
) -> frozenset[object]:
    """The region facts the policy is grounded with at `placement` (equal
    signatures ground equal programs)."""
    fixed = with_regions(_fixed(policy, placement), comparisons, placement)
    return frozenset(region_symbols(fixed, comparisons, placement))


def _boundary(comparison: Comparison, limit: int) -> int:
    """The first day above the cut a comparison makes at `limit` (a test
    `>= limit` cuts at limit, a test `> limit` at limit + 1)."""
    return limit if CUTS[comparison.test.name] else limit + 1


def _points(
    policy: Policy,
    comparisons: Sequence[Comparison],
    fact: str,
    placement: Mapping[str, int],
) -> list[int]:
    """The boundaries on `fact` that do not move with the reference date being
    placed: its bounds, its cuts at constants and at placed reference dates."""
    declared = policy.facts[fact]
    found = [int(declared.low)] if declared.low is not None else []
    if declared.high is not None:
        found.append(int(declared.high) + 1)
    for comparison in comparisons:
        if comparison.fact != fact:
            continue
        if comparison.reference is not None and comparison.reference not in placement:
            continue
        limits = comparison.limits(declared, placement)
        if limits is None:
            continue
        if comparison.test.name == "between":
            found += [int(limits[0]), int(limits[1]) + 1]
        else:
            found.append(_boundary(comparison, int(limits[0])))
    return found


def _candidates(
    policy: Policy,
    comparisons: Sequence[Comparison],
    reference: str,
    placement: Mapping[str, int],
    base: int,
) -> list[int]:
    """The days worth trying for `reference`, the others at `placement`."""
    meeting: set[int] = {base}
    for comparison in comparisons:
        if comparison.reference == reference:
            # One of its cuts meets a boundary that stays put on the same date.
            assert comparison.duration is not None
            moved = comparison.duration.after(date.fromordinal(base)).toordinal() - base
            shift = _boundary(comparison, 0)
            stays = _points(policy, comparisons, comparison.fact, placement)
            if comparison.fact in placement:
                stays.append(placement[comparison.fact])
            meeting.update(point - moved - shift for point in stays)
        elif comparison.fact == reference:
            # A cut on the reference date itself, at a constant or a placed date.
            meeting.update(_points(policy, comparisons, reference, placement))
    # A duration's move differs from day to day by up to its spread (a month
    # step by 3 days, month_start and month_end by 30), so a meeting point
    # found with the move at `base` is off by at most that much.
    spread = max(
        [SPREAD]
        + [
            c.duration.spread + 1
            for c in comparisons
            if c.reference == reference and c.duration is not None
        ]
    )
    low, high = min(meeting) - spread - 1, max(meeting) + spread + 1
    days = {day + step for day in meeting for step in range(-spread, spread + 1)} | {low, high}
    declared = policy.facts[reference]
    return sorted(
        day
        for day in days
        if (declared.low is None or day >= declared.low)
        and (declared.high is None or day <= declared.high)
        and 0 < day < date.max.toordinal()
    )


def placements(
    policy: Policy, comparisons: Sequence[Comparison], references: Sequence[str], day: date
) -> list[dict[str, int]]:
    """One placement of the reference dates per class of equal groundings, the
    first reference date (in vocabulary order) on `day`."""
    ordered = [name for name in policy.facts if name in references]
    first, rest = ordered[0], ordered[1:]
    base = day.toordinal()
    declared = policy.facts[first]
    if (declared.low is not None and base < declared.low) or (
        declared.high is not None and base > declared.high
    ):
        raise PolicyError(f"{day.isoformat()} is outside the bounds of {first}")
    partial: list[dict[str, int]] = [{first: base}]
    for reference in rest:
        grown: list[dict[str, int]] = []
        for placement in partial:
            for candidate in _candidates(policy, comparisons, reference, placement, base):
                grown.append({**placement, reference: candidate})
        partial = _distinct(policy, comparisons, grown)
        if len(partial) > MAX_PLACEMENTS:
            raise PolicyError(
                f"policy {policy.name!r}: its reference dates {', '.join(ordered)} stand in "
                f"more than {MAX_PLACEMENTS} distinct ways relative to each other; "
                "check and diff cannot analyse it"
            )
    return partial


def _distinct(
    policy: Policy, comparisons: Sequence[Comparison], found: Sequence[dict[str, int]]
) -> list[dict[str, int]]:
    seen: set[frozenset[object]] = set()
    kept = []
    for placement in found:
        key = signature(policy, comparisons, placement)
        if key not in seen:
            seen.add(key)
            kept.append(placement)
    return kept


def placed_evaluators(evaluator: Evaluator, day: date | None) -> list[Evaluator]:
    """The evaluators to analyse a policy on: itself when it has no reference
    date or is grounded at its reference dates already, else one per
    placement of its reference dates, each fixed there."""
    if not evaluator.references or evaluator.anchors:
        return [evaluator]
    if day is None:
        raise PolicyError(
            f"policy {evaluator.policy.name!r} compares dates with "
            f"{', '.join(evaluator.references)}: give --as-of YYYY-MM-DD to analyse it "
            "as of a day"
        )
    found = placements(evaluator.policy, evaluator.comparisons, list(evaluator.references), day)
    return [evaluator.at(placement, fixed=True) for placement in found]


@dataclass(frozen=True)
class Run:
    """Days of the second reference date over which the grounding stays the
    same, the first reference date on its day: `placement` is one of them,
    `low` and `high` the first and last (None: as far as its bounds go)."""

    placement: dict[str, int]
    low: int | None
    high: int | None


def runs(
    policy: Policy, comparisons: Sequence[Comparison], references: Sequence[str], day: date
) -> tuple[str, str | None, list[Run]]:
    """For a policy with one or two reference dates: the first (in vocabulary
    order), the second (None for one), and the runs of days of the second that cover all its days,
    the first on `day`. Between two neighbouring days tried no boundary
    falls, so a run's days all ground the same program."""
    ordered = [name for name in policy.facts if name in references]
    first = ordered[0]
    base = {first: day.toordinal()}
    if len(ordered) == 1:
        return first, None, [Run(base, None, None)]
    second = ordered[1]
    days = _candidates(policy, comparisons, second, base, day.toordinal())
    keys = [signature(policy, comparisons, {**base, second: d}) for d in days]
    declared = policy.facts[second]
    found: list[Run] = []
    for index, candidate in enumerate(days):
        if index and keys[index] == keys[index - 1]:
            continue
        follows = next(
            (d for d, k in zip(days[index:], keys[index:], strict=True) if k != keys[index]), None
        )
        low = candidate if index else (None if declared.low is None else int(declared.low))
        high = (
            follows - 1
            if follows is not None
            else (None if declared.high is None else int(declared.high))
        )
        found.append(Run({**base, second: candidate}, low, high))
    return first, second, found
