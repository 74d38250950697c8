"""History windows moved from a reference date the case leaves unknown.

A history's conditions may test a record's date against a window moved from
a reference date B ("a colonoscopy in the 119 months before the date of
service"). With B unknown, the boolean facts the case's records pin (the
levels of their classes, kb/core/history.lp) are not one assignment: they
depend on B's day. As of one day d they are `history_facts` at d, and the
program that decides sees the histories, beyond the records' pins, only
through `history_symbols` at d (the classes a record can fall in, and the
order, pair and run facts the day's windows decide).

So the day of B adds to its order pattern (day_classes.py) the *history
key*: the level facts the records pin as of d, and the history symbols at d.
Two days equal in pattern and history key ground the same program (up to
the days written in the regions) and pin the same facts: one class. With the
records' dates known, a record changes class only where d crosses its date
shifted by a window's edge, and the symbols change only where an edge
crosses a field's bound or another edge; every such day is a day where the
key changes, and the key is computed for every day of B's span, so the cuts
need no inverting of month steps. Each class is answered with its own pins
(`WindowPins.at`): the case's known facts hold the other facts, each class
adds the levels its records pin as of its first day.

The records themselves must have every field (a record states every declared
field: case_histories.py), so a record's date is never unknown.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from datetime import date
from functools import cached_property
from typing import TYPE_CHECKING

from policykb.bridge.model.policy import Value

if TYPE_CHECKING:
    from policykb.bridge.model.case import StatedHistory
    from policykb.bridge.model.history_condition import FieldTest
    from policykb.bridge.model.policy import Policy


def windowed_histories(policy: Policy, reference: str) -> list[str]:
    """The histories whose windows move from `reference`, in declared order."""
    return [name for name, history in policy.histories.items() if reference in history.references]


class WindowPins:
    """The boolean facts a case's stated histories pin as of each day of an
    unknown reference date, and the history key of that day."""

    def __init__(
        self,
        policy: Policy,
        reference: str,
        stated: Mapping[str, StatedHistory],
        known: Mapping[str, Value],
    ) -> None:
        """`stated` the case's histories (records checked); `known` the case's
        other facts, whose stated reference dates anchor the other windows."""
        self.policy = policy
        self.reference = reference
        self.windowed = windowed_histories(policy, reference)
        self.stated = {name: stated[name] for name in self.windowed if name in stated}
        self.known = known
        self.facts = frozenset(
            fact for name in self.windowed for fact in policy.histories[name].fact_names
        )
        """Every boolean fact of a history whose windows move from the date."""

    def span(self, first: int, last: int, open_low: bool, open_high: bool) -> tuple[int, int]:
        """The days of the reference date to search, widened on an open side
        to SPAN_MARGIN_DAYS past every record date, field bound and constant
        limit moved by the farthest window edge (day_classes.py gives the
        margin's argument: past them, every record is on one side of every
        edge, and the key depends on the calendar position alone)."""
        from policykb.bridge.solving.day_classes import SPAN_MARGIN_DAYS

        still: list[int] = []
        reach = 0
        for name in self.windowed:
            history = self.policy.histories[name]
            for field_name, declared in history.fields.items():
                tests = history.tests_of(field_name)
                if not any(t.reference == self.reference for t in tests):
                    continue
                still += [int(b) for b in (declared.low, declared.high) if b is not None]
                for test in tests:
                    if test.reference is None:
                        still += [int(c) for c in test.constants if isinstance(c, int)]
                    elif test.reference == self.reference:
                        reach = max(reach, _reach(test))
                given = self.stated.get(name)
                if given is not None:
                    still += [int(r[field_name]) for r in given.records]  # type: ignore[call-overload]
        if not still:
            return first, last
        if open_low:
            first = min(first, min(still) - reach - SPAN_MARGIN_DAYS)
        if open_high:
            last = max(last, max(still) + reach + SPAN_MARGIN_DAYS)
        return first, last

    def at(self, day: int) -> dict[str, Value]:
        """The facts the stated histories pin with the reference date at `day`."""
        from policykb.bridge.loading.case_histories import history_facts

        anchored = {**self.known, self.reference: date.fromordinal(day)}
        return dict(history_facts(self.policy, self.stated, anchored))

    def key(self, day: int) -> Hashable:
        """What a day's program and pins depend on beyond its date pattern.

        Without order, sum, pair, run or twice uses, the pins are the records'
        classes (each a function of its tests' outcomes, the relative ones
        `signature` holds) cut by the possible classes, and the symbols are
        the possible classes (a function of the boundary pattern,
        history_class.anchor_pattern): the key is kept per signature, and a
        day with a signature seen before costs its signature only."""
        anchors = self._anchors(day)
        if self._plain:
            signature = self._signature(anchors)
            found = self._by_signature.get(signature)
            if found is None:
                found = self._by_signature[signature] = self._key(day, anchors)
            return found
        return self._key(day, anchors)

    def _anchors(self, day: int) -> dict[str, int]:
        anchors = {
            name: value.toordinal() for name, value in self.known.items() if isinstance(value, date)
        }
        anchors[self.reference] = day
        return anchors

    @cached_property
    def _plain(self) -> bool:
        return not any(self.policy.histories[name].derived for name in self.windowed)

    @cached_property
    def _by_signature(self) -> dict[Hashable, Hashable]:
        return {}

    @cached_property
    def _relative(self) -> dict[str, tuple[dict[str, list[FieldTest]], list[FieldTest]]]:
        """Per windowed history: its tests by field, and its relative tests."""
        found = {}
        for name in self.windowed:
            history = self.policy.histories[name]
            tests = {field: history.tests_of(field) for field in history.fields}
            moved = [t for field in tests.values() for t in field if t.reference is not None]
            found[name] = (tests, moved)
        return found

    def _signature(self, anchors: Mapping[str, int]) -> Hashable:
        """The boundary pattern of each windowed history and the outcome of
        each relative test on each stated record."""
        from policykb.bridge.model.history_class import anchor_pattern

        parts: list[object] = []
        for name, (tests, moved) in self._relative.items():
            history = self.policy.histories[name]
            parts.append(anchor_pattern(history.fields, tests, anchors))
            given = self.stated.get(name)
            for record in given.records if given is not None else ():
                parts.append(
                    tuple(t.passes(record[t.field], anchors, history.code_sets) for t in moved)
                )
        return tuple(parts)

    def _key(self, day: int, anchors: Mapping[str, int]) -> Hashable:
        from policykb.bridge.loading.history_orders import tied_symbols
        from policykb.bridge.loading.history_pairs import pair_symbols
        from policykb.bridge.loading.history_runs import run_symbols

        symbols: list[object] = []
        for name in self.windowed:
            history = self.policy.histories[name]
            symbols.append((name, tuple(c.index for c in history.possible(anchors))))
            symbols += [
                str(s)
                for s in (
                    *tied_symbols(history, anchors),
                    *pair_symbols(history, anchors),
                    *run_symbols(history, anchors),
                )
            ]
        return tuple(sorted(self.at(day).items())), tuple(symbols)


def _reach(test: FieldTest) -> int:
    """How far a relative test's edges lie from its reference date, at most."""
    days = [date(2024, 1, 31), date(2024, 3, 31), date(2023, 12, 31)]
    return (
        max(
            abs(int(limit) - day.toordinal())
            for day in days
            for limit in test.limits({test.reference or "": day.toordinal()}) or [day.toordinal()]
        )
        + 1
    )


def records_key(window: WindowPins | None) -> Hashable:
    """The stated histories a set of day classes was cut for (the classes are
    kept per policy for the cases that share them)."""
    if window is None:
        return ()
    return tuple(
        (
            name,
            given.complete,
            tuple(tuple(sorted(record.items())) for record in given.records),
        )
        for name, given in sorted(window.stated.items())
    )
