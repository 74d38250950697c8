"""Which record is the latest (earliest): the order facts of latest_meets and earliest_meets.

`latest_meets(H, M, T)` asks whether the latest record of H meeting M meets T
(kb/core/history.lp). Record classes count records but do not order them, so
each such use gets one boolean *order fact*: "the latest record meeting M
meets T". The rules read it only when both a record meeting M and T and one
meeting M but not T exist; otherwise the classes decide alone. Ties count
against: the latest record meets T when every record meeting M dated on the
latest such date meets T (earliest: the earliest date).

Exactness. Let R be the dates M lets a record have at the case's dates (its
tests on the order field, within the field's bounds). The loader admits a use
only when (1) T does not test the order field, (2) every other condition that some
record meeting M can meet tests the order field only as M does, and (3) every
class meeting M has cap 1. By (2) every record meeting M, whatever its other
fields, may be dated anywhere in R and in no other date, so records of the
classes meeting M are freely ordered within R; by (3) a class a scenario
reaches holds, for the rules, any number of extra records. Then, for a
scenario in which both kinds exist (with R of two days or more):
- no stated record meeting M: either kind can be the latest (put it last);
- stated records meeting M, the latest on d*: "meets T" is reachable by an
  extra record meeting T after d*, which R has unless d* is R's last day; and
  then only when the records on d* all meet T (extras of the other kind go
  before d*, which R has since it has two days); "fails T" by an extra record
  failing T on d*, always.
So the order fact is pinned false for a partial history exactly when its
latest record meeting M is on R's last day and one of its records that day
fails T; pinned to the stated records' answer for a complete history; free
otherwise. When R has at most one day every record meeting M ties and the
answer is "fails T" whenever both kinds exist: the bridge states that per
case (kb_history_tied/2) instead of a pin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.history_condition import Condition, FieldTest

DIRECTIONS = ("latest", "earliest")
# The tests that bound a date from below (their first limit) and above.
_LOWER = {"on_or_after": 0, "after": 1, "after_year_of": 0}
_UPPER = {"on_or_before": 0, "before": -1, "before_year_of": -1}


@dataclass(frozen=True)
class OrderUse:
    """One latest_meets or earliest_meets of the rules: Condition, Test, the
    direction, the date field that orders the records and the order fact."""

    condition: str
    test: str
    direction: str
    field: str
    fact: str
    clauses: tuple[str, ...] = ()
    """The criteria whose rules make this use."""

    def question(self, what: str, conditions: Mapping[str, Condition]) -> str:
        """The order fact asked in words."""
        which = "most recent" if self.direction == "latest" else "earliest"
        return (
            f"Of {what}, does the {which} record that is "
            f"{conditions[self.condition].text} also meet: {conditions[self.test].text}?"
        )

    def data(self, held: bool) -> dict[str, object]:
        """The order fact's JSON form in explanations and changes."""
        return {self.direction: self.condition, "meets" if held else "fails": self.test}

    def words(self, conditions: Mapping[str, Condition], held: bool) -> str:
        """The order fact, held or not, as explanations and changes show it."""
        which = "most recent" if self.direction == "latest" else "earliest"
        verb = "meets" if held else "does not meet"
        return (
            f"the {which} record that is {conditions[self.condition].text} "
            f"{verb}: {conditions[self.test].text}"
        )


def order_range(
    tests: Sequence[FieldTest],
    low: int | None,
    high: int | None,
    anchors: Mapping[str, int],
) -> tuple[int | None, int | None] | None:
    """R: the first and last day number a record meeting the condition may be
    dated (None for no end), given its `tests` on the order field and the
    field's bounds; None when a test's reference date is not in `anchors`.
    The range may be empty (first after last)."""
    for test in tests:
        limits = test.limits(anchors)
        if limits is None:
            return None
        numbers = [int(n) for n in limits]
        if test.kind in ("between", "in_year_of"):
            low = numbers[0] if low is None else max(low, numbers[0])
            high = numbers[1] if high is None else min(high, numbers[1])
        elif test.kind in _LOWER:
            first = numbers[0] + _LOWER[test.kind]
            low = first if low is None else max(low, first)
        elif test.kind in _UPPER:
            last = numbers[0] + _UPPER[test.kind]
            high = last if high is None else min(high, last)
    return low, high


def tied(span: tuple[int | None, int | None] | None) -> bool:
    """Whether every record of the range shares one day (or none can be dated):
    then no record meeting the condition is later than another."""
    if span is None:
        return False
    low, high = span
    return low is not None and high is not None and high - low < 1


def order_pin(
    use: OrderUse,
    dated: Sequence[tuple[int, bool]],
    complete: bool,
    span: tuple[int | None, int | None] | None,
) -> bool | None:
    """The order fact a case pins: `dated` holds (day number, meets T) for each
    stated record meeting the condition. A complete history pins the stated
    answer; a partial one pins false when its latest (earliest) record meeting
    the condition is on the range's last (first) day and a record that day
    fails T; otherwise the fact stays free (None). See the module docstring."""
    if not dated:
        return False if complete else None
    latest = use.direction == "latest"
    edge = max(d for d, _ in dated) if latest else min(d for d, _ in dated)
    meets = all(m for d, m in dated if d == edge)
    if complete:
        return meets
    end = None if span is None else (span[1] if latest else span[0])
    if end is not None and end == edge and not meets:
        return False
    return None


def day_number(value: object) -> int:
    """A record's date field as a day number (checked records hold day numbers)."""
    if isinstance(value, date):
        return value.toordinal()
    assert isinstance(value, int)
    return value


def condition_span(
    history: History, condition: str, field: str, anchors: Mapping[str, int]
) -> tuple[int | None, int | None] | None:
    """R: the days a record meeting `condition` may have in the date `field`
    at `anchors`, within the field's declared bounds (None when a reference
    date is missing). The order, run and pair facts all read this range."""
    declared = history.fields[field]
    tests = [t for t in history.conditions[condition].tests if t.field == field]
    low = None if declared.low is None else int(declared.low)
    high = None if declared.high is None else int(declared.high)
    return order_range(tests, low, high, anchors)


def meeting_days(
    history: History,
    condition: str,
    field: str,
    records: Sequence[Mapping[str, object]],
    anchors: Mapping[str, int],
) -> list[int]:
    """The day numbers in the date `field` of the checked `records` that meet
    `condition`, in the records' order (repeats kept)."""
    tests = history.conditions[condition].tests
    return [
        day_number(r[field])
        for r in records
        if all(t.passes(r[t.field], anchors, history.code_sets) for t in tests)
    ]


def order_pins(
    history: History,
    records: Sequence[Mapping[str, object]],
    complete: bool,
    anchors: Mapping[str, int],
) -> dict[str, bool]:
    """The order facts a case's checked records pin (order_pin for each use)."""
    pins: dict[str, bool] = {}
    for use in history.ordered:
        condition = history.conditions[use.condition]
        test = history.conditions[use.test]
        dated = [
            (
                day_number(record[use.field]),
                all(t.passes(record[t.field], anchors, history.code_sets) for t in test.tests),
            )
            for record in records
            if all(t.passes(record[t.field], anchors, history.code_sets) for t in condition.tests)
        ]
        span = condition_span(history, use.condition, use.field, anchors) if records else None
        pin = order_pin(use, dated, complete, span)
        if pin is not None:
            pins[use.fact] = pin
    return pins
