"""Conditions on a history's records and the tests they make on one field each.

A condition (record_condition/3) is met by a record when every one of its
tests (condition_test/3) passes on the record's field. A test compares with
constants, or with a date fact moved by a duration or a number of years
(a relative test), so its limits depend on the case's reference dates.

Invariants:
- `FieldTest.limits(anchors)` is None exactly when `unresolved(anchors)`:
  the test moves from a date `anchors` do not give.
- For a test on a number or date field, `cut_points(anchors)` are the
  points where `passes` can change its answer along the line (numbers or day
  numbers), each with the side it closes on: two values in one region
  between neighbouring points pass or fail together (model/history.py
  samples one value per region).
- `past(later)` passes a date exactly when the date is later (earlier) than
  every date this test lets through.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policykb.bridge.model.typed import CodeSet, Duration, Number

# Where a test puts its constant on the line: values at or above it (True) or above it.
_CLOSED_ABOVE = {
    "at_least": True,
    "on_or_after": True,
    "below": True,
    "before": True,
    "above": False,
    "after": False,
    "at_most": False,
    "on_or_before": False,
}
ORDER_TESTS = frozenset(_CLOSED_ABOVE)
RANGE_TESTS = frozenset({"between", "in_year_of"})
YEAR_EDGES = {"after_year_of": 1, "before_year_of": 0}
"""Tests made for latest_within and earliest_within: a date on or after the
first day of the year after (before the first day of) the year of Reference
moved by N years; the year whose first day each cuts at, counted from it."""
# What lies past a window's end: the test a date passes when it is later
# (earlier) than every date one of the window's tests lets through.
LATER = {"on_or_before": "after", "before": "on_or_after", "in_year_of": "after_year_of"}
EARLIER = {"on_or_after": "before", "after": "on_or_before", "in_year_of": "before_year_of"}


@dataclass(frozen=True)
class FieldTest:
    """One test of a condition on one field of a record.

    `kind` is is, holds, fails, has_code_in, one of the order tests
    (at_least ... before), between or in_year_of. `constants` holds the
    option, the code set's name or the numbers (day numbers for dates);
    `reference` the date fact a relative test moves from, by `duration`
    (order tests) or by `years` (in_year_of)."""

    field: str
    kind: str
    constants: tuple[object, ...] = ()
    reference: str | None = None
    duration: Duration | None = None
    years: int = 0

    def limits(self, anchors: Mapping[str, int]) -> list[Number] | None:
        """The numbers (day numbers) the test compares with; None when its
        reference date is not among `anchors`."""
        if self.reference is None:
            return list(self.constants)  # type: ignore[arg-type]  # numbers for order tests
        if self.reference not in anchors:
            return None
        return list(_moved(self, anchors[self.reference]))

    def _limits_at(self, day_number: int) -> tuple[Number, ...]:
        """The limits with the reference date on `day_number` (a relative test)."""
        day = date.fromordinal(day_number)
        if self.kind in YEAR_EDGES:
            return (date(day.year + self.years + YEAR_EDGES[self.kind], 1, 1).toordinal(),)
        if self.kind == "in_year_of":
            year = day.year + self.years
            return (date(year, 1, 1).toordinal(), date(year, 12, 31).toordinal())
        assert self.duration is not None
        return (self.duration.after(day).toordinal(),)

    def passes(
        self, value: object, anchors: Mapping[str, int], sets: Mapping[str, CodeSet]
    ) -> bool:
        """Whether a record's field value passes (dates as day numbers, codes undotted)."""
        if self.kind == "is":
            return value == self.constants[0]
        if self.kind == "holds":
            return value is True
        if self.kind == "fails":
            return value is False
        if self.kind == "has_code_in":
            return value in sets[str(self.constants[0])]
        numbers = self.limits(anchors)
        assert numbers is not None
        number: Number = value  # type: ignore[assignment]
        if self.kind in RANGE_TESTS:
            return numbers[0] <= number <= numbers[1]
        limit = numbers[0]
        if self.kind in ("at_least", "on_or_after", "after_year_of"):
            return number >= limit
        if self.kind in ("at_most", "on_or_before"):
            return number <= limit
        if self.kind in ("above", "after"):
            return number > limit
        return number < limit

    def unresolved(self, anchors: Mapping[str, int]) -> bool:
        """Whether the test moves from a reference date `anchors` do not give."""
        return self.reference is not None and self.reference not in anchors

    def cut_points(self, anchors: Mapping[str, int]) -> list[tuple[Number, bool]] | None:
        """Where the test cuts the line, as (point, closed_above); None when
        its reference is not among `anchors`."""
        numbers = self.limits(anchors)
        if numbers is None:
            return None
        if self.kind in RANGE_TESTS:
            return [(numbers[0], True), (numbers[1], False)]
        if self.kind in YEAR_EDGES:
            return [(numbers[0], True)]
        return [(numbers[0], _CLOSED_ABOVE[self.kind])]

    def past(self, later: bool) -> FieldTest | None:
        """The test a date passes exactly when it is later (with `later`,
        else earlier) than every date this test lets through; None when this
        test sets no such end."""
        if self.kind == "between":
            if later:
                return FieldTest(self.field, "after", (self.constants[1],))
            return FieldTest(self.field, "before", (self.constants[0],))
        kind = (LATER if later else EARLIER).get(self.kind)
        if kind is None:
            return None
        return FieldTest(
            self.field, kind, self.constants, self.reference, self.duration, self.years
        )


@lru_cache(maxsize=4096)
def _moved(test: FieldTest, day_number: int) -> tuple[Number, ...]:
    """A relative test's limits with its reference date on `day_number`
    (a batch's cases share a few days)."""
    return test._limits_at(day_number)


@dataclass(frozen=True)
class Condition:
    """A named test on one record: every one of `tests` passes."""

    name: str
    history: str
    text: str
    tests: tuple[FieldTest, ...]
