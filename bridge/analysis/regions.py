"""Regions of change an analyst can read: as general as the change allows.

diff finds each region as the smallest part of a scenario under which the
verdict changes, and a list fact's part is then its whole value (one subset
of the options). Here such a value is widened, option by option, as long as
every scenario in the wider region still changes, into a condition over
members ("contains all of", "contains none of"); and regions that differ in
one fact only are merged where their union is still one condition (adjacent
ranges of a number, lists whose union is "contains any of").
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TypeVar

from clingo import SymbolType

from policykb.bridge.loading.comparisons import Comparison
from policykb.bridge.loading.region_facts import passes
from policykb.bridge.model.policy import Fact, FactType, Policy, Span, Value
from policykb.bridge.model.typed import CodeCell, Interval
from policykb.bridge.solving.query import QueryProgram

MERGED_OPTIONS = 12
"""Lists with more options are merged only where their conditions are equal
(the union is checked over every subset of the options)."""


@dataclass(frozen=True)
class ListCondition:
    """A list fact's condition over its members: it contains every option of
    `all_of`, none of `none_of`, and (when `any_of` is not empty) some of
    `any_of`."""

    all_of: frozenset[str] = frozenset()
    none_of: frozenset[str] = frozenset()
    any_of: frozenset[str] = frozenset()

    def holds(self, value: object) -> bool:
        if not isinstance(value, frozenset):
            return False
        return (
            self.all_of <= value
            and not (self.none_of & value)
            and (not self.any_of or bool(self.any_of & value))
        )

    def words(self, options: Sequence[str]) -> str:
        def named(members: frozenset[str]) -> str:
            return ", ".join(o for o in options if o in members)

        said = []
        if self.all_of:
            said.append(f"contains all of {named(self.all_of)}")
        if self.any_of:
            said.append(f"contains any of {named(self.any_of)}")
        if self.none_of:
            said.append(f"contains none of {named(self.none_of)}")
        return " and ".join(said) or "any value"

    def data(self, options: Sequence[str]) -> dict[str, list[str]]:
        return {
            key: [o for o in options if o in members]
            for key, members in (
                ("all_of", self.all_of),
                ("any_of", self.any_of),
                ("none_of", self.none_of),
            )
            if members
        }

    def example(self, options: Sequence[str]) -> frozenset[str]:
        """A value inside: its required members, and the first of any_of."""
        first = [o for o in options if o in self.any_of][:1]
        return self.all_of | frozenset(first)

    def members(self, options: Sequence[str]) -> set[frozenset[str]]:
        """Every value inside (over the options)."""
        return {s for s in _subsets(options) if self.holds(s)}


def _subsets(options: Sequence[str]) -> Iterable[frozenset[str]]:
    for size in range(len(options) + 1):
        for chosen in itertools.combinations(options, size):
            yield frozenset(chosen)


def condition_span(fact: Fact, condition: ListCondition) -> Span:
    return Span(
        "contains",
        condition.data(fact.options),
        condition.words(fact.options),
        condition.example(fact.options),
    )


def region_assumptions(program: QueryProgram, region: Mapping[str, object]) -> list[int]:
    """The assumptions that put a scenario in `region` (a list fact's
    condition pins only the members it names)."""
    found: list[int] = []
    for fact, value in region.items():
        if isinstance(value, ListCondition):
            assert not value.any_of  # widened conditions have none; merged ones are not pinned
            of = program.literals.of[fact]
            found += [of[o] for o in value.all_of] + [-of[o] for o in value.none_of]
        else:
            found += program.literals.pin(fact, value)
    return found


def widened(
    program: QueryProgram, policy: Policy, region: Mapping[str, object], unchanged: int
) -> dict[str, object]:
    """`region` with each list fact's value widened into a condition over its
    members: an option is left free when no scenario of the wider region has
    the literal `unchanged` (so every scenario there still changes)."""
    found: dict[str, object] = dict(region)
    for fact, value in region.items():
        declared = policy.facts[fact]
        if declared.type is not FactType.LIST or not isinstance(value, frozenset):
            continue
        condition = ListCondition(value, frozenset(declared.options) - value)
        for option in declared.options:
            looser = ListCondition(condition.all_of - {option}, condition.none_of - {option})
            trial = {**found, fact: looser}
            if program.scenario([*region_assumptions(program, trial), unchanged], []) is None:
                condition = looser
        found[fact] = condition
    return found


def _union_condition(
    options: Sequence[str], conditions: Sequence[ListCondition]
) -> ListCondition | None:
    """One condition holding on exactly the values some of `conditions` holds
    on, or None."""
    if len(options) > MERGED_OPTIONS:
        return None
    union = set().union(*(c.members(options) for c in conditions))
    if not union:
        return None
    all_of = frozenset.intersection(*union)
    none_of = frozenset(options) - frozenset().union(*union)
    plain = ListCondition(all_of, none_of)
    if plain.members(options) == union:
        return plain
    any_of = frozenset(o for o in options if o not in all_of | none_of and all_of | {o} in union)
    found = ListCondition(all_of, none_of, any_of)
    return found if any_of and found.members(options) == union else None


def _union_interval(intervals: Sequence[Interval]) -> Interval | None:
    """The one interval the intervals make together, or None when they leave
    a hole (whole numbers: [1, 2] and [3, 4] are [1, 4])."""
    ordered = sorted(intervals, key=lambda i: (i.low is not None, i.low or 0, not i.low_closed))
    merged = ordered[0]
    for following in ordered[1:]:
        if merged.high is None:
            continue
        touching = following.low is None or (
            following.low < merged.high
            or (following.low == merged.high and (merged.high_closed or following.low_closed))
            or (
                isinstance(following.low, int)
                and isinstance(merged.high, int)
                and merged.high_closed
                and following.low_closed
                and following.low == merged.high + 1
            )
        )
        if not touching:
            return None
        if (
            following.high is None
            or following.high > merged.high
            or (following.high == merged.high and following.high_closed)
        ):
            merged = Interval(merged.low, merged.low_closed, following.high, following.high_closed)
    return merged


@dataclass(frozen=True)
class CodeSets:
    """A code fact's condition: its code lies in one of `cells` (each cell
    the codes in exactly some of the policy's code sets), said with the
    policy's own set names: in any of some sets, or in none of them."""

    cells: frozenset[CodeCell]
    any_of: tuple[str, ...] = ()
    none_of: tuple[str, ...] = ()

    def holds(self, fact: Fact, value: object) -> bool:
        try:
            return fact.region_of(value) in self.cells  # type: ignore[arg-type,operator]
        except ValueError:
            return False

    @property
    def words(self) -> str:
        if self.any_of:
            return "a code in " + " or ".join(self.any_of)
        return "a code in none of " + ", ".join(self.none_of)

    @property
    def data(self) -> dict[str, list[str]]:
        return (
            {"in_any_of": list(self.any_of)} if self.any_of else {"in_none_of": list(self.none_of)}
        )


def _union_cells(fact: Fact, cells: frozenset[CodeCell]) -> CodeSets | None:
    """The cells as "in any of" or "in none of" some named sets, or None."""
    every = [c for c in fact.regions if isinstance(c, CodeCell)]
    order = [s.name for s in fact.code_sets]  # the policy's own order of its sets
    named = [n for n in order if any(n in c.inside for c in cells)]
    if named and cells == {c for c in every if c.inside & set(named)}:
        return CodeSets(cells, any_of=tuple(named))
    outside = [n for n in order if n not in named]
    if outside and cells == {c for c in every if not c.inside & set(outside)}:
        return CodeSets(cells, none_of=tuple(outside))
    return None


def _merged_value(fact: Fact, values: Sequence[object]) -> object | None:
    if fact.type is FactType.CODE and all(isinstance(v, CodeCell | CodeSets) for v in values):
        cells = frozenset(
            cell for v in values for cell in (v.cells if isinstance(v, CodeSets) else (v,))
        )
        return _union_cells(fact, cells)  # type: ignore[arg-type]
    if all(isinstance(v, Offset) for v in values):
        return _union_offset(values)  # type: ignore[arg-type]
    if all(isinstance(v, ListCondition) for v in values):
        return _union_condition(fact.options, values)  # type: ignore[arg-type]
    if all(isinstance(v, frozenset) for v in values) and fact.type is FactType.LIST:
        exact = [
            ListCondition(v, frozenset(fact.options) - v)
            for v in values
            if isinstance(v, frozenset)
        ]
        return _union_condition(fact.options, exact)
    # Dates are left apart: a date compared with a reference date is read by
    # the comparisons one value of its region passes (diff.DateTests).
    if (
        fact.type.numeric
        and fact.type is not FactType.DATE
        and all(isinstance(v, Interval) for v in values)
    ):
        return _union_interval(values)  # type: ignore[arg-type]
    return None


Change = TypeVar("Change")


def _union_offset(offsets: Sequence[Offset]) -> Offset | None:
    """Neighbouring offsets from one date as one, or None."""
    first, second = sorted(offsets, key=lambda o: (o.low is not None, o.low or 0))
    if first.base != second.base or first.high is None or second.low != first.high + 1:
        return None
    return Offset(first.base, first.low, second.high)


def merge(
    policy: Policy, regions: Sequence[tuple[dict[str, object], Change]]
) -> list[tuple[dict[str, object], Change, list[int]]]:
    """Regions (each a condition and the change it states) merged, until no
    two differ in one fact only with a union that is one condition (a
    boolean fact true in one and false in the other drops out); each
    with the indexes of the regions it holds, the first first."""
    found = [dict(r) for r, _ in regions]
    changes = [c for _, c in regions]
    members = [[index] for index in range(len(found))]
    merging = True
    while merging:
        merging = False
        for first, second in itertools.combinations(range(len(found)), 2):
            a, b = found[first], found[second]
            if changes[first] != changes[second] or a.keys() != b.keys():
                continue
            differing = [f for f in a if a[f] != b[f]]
            if len(differing) != 1:
                continue
            fact = differing[0]
            declared = policy.facts[fact]
            if declared.type is FactType.BOOL:
                # true or false: any value, so the fact drops out.
                found[first] = {f: v for f, v in a.items() if f != fact}
            else:
                value = _merged_value(declared, [a[fact], b[fact]])
                if value is None:
                    continue
                found[first] = {**a, fact: value}
            members[first] += members[second]
            del found[second], changes[second], members[second]
            merging = True
            break
    return list(zip(found, changes, members, strict=True))


def shown(policy: Policy, fact: str, value: object) -> Value | Span:
    """A region's value in the analyst's terms."""
    declared = policy.facts[fact]
    if isinstance(value, ListCondition):
        return condition_span(declared, value)
    if isinstance(value, CodeSets):
        first = min(value.cells, key=lambda c: c.sample)
        return Span("codes", value.data, value.words, first.sample)
    if declared.type.typed:
        return declared.span(value)  # type: ignore[arg-type]
    return value  # type: ignore[return-value]


def example(policy: Policy, fact: str, value: object) -> object:
    """A scenario value inside a region's value (for the witness)."""
    if isinstance(value, ListCondition):
        return value.example(policy.facts[fact].options)
    if isinstance(value, CodeSets):
        return min(value.cells, key=lambda c: c.sample)
    return value


@dataclass(frozen=True)
class DateTests:
    """A date's condition relative to reference dates: the comparisons of
    either version on it that it passes and those it fails (at a placement,
    each region of the date is such a set; dates with the same set decide
    alike)."""

    tests: tuple[tuple[Comparison, bool], ...]

    def holds(self, fact: Fact, day: object, known: Mapping[str, object]) -> bool:
        """Whether a case's date passes and fails as stated, its reference
        dates its own."""
        if not isinstance(day, date):
            return False
        anchors: dict[str, int] = {}
        for comparison, _ in self.tests:
            if comparison.reference is not None:
                reference = known.get(comparison.reference)
                if not isinstance(reference, date):
                    return False
                anchors[comparison.reference] = reference.toordinal()
        point = Interval(day.toordinal(), True, day.toordinal(), True)
        return all(passes(fact, point, c, anchors) is ok for c, ok in self.tests)

    @property
    def words(self) -> str:
        return " and ".join(("" if ok else "not ") + _test_words(c) for c, ok in self.tests)


@dataclass(frozen=True)
class Offset:
    """Where a reference date stands from another: `low` to `high` days after
    it (negative: before; None: as far as the date's bounds go)."""

    base: str
    low: int | None
    high: int | None

    def holds(self, day: object, known: Mapping[str, object]) -> bool:
        base = known.get(self.base)
        if not isinstance(day, date) or not isinstance(base, date):
            return False
        days = (day - base).days
        return (self.low is None or days >= self.low) and (self.high is None or days <= self.high)

    @property
    def words(self) -> str:
        def said(days: int) -> str:
            if days == 0:
                return f"on {self.base}"
            return f"{abs(days)} day(s) {'after' if days > 0 else 'before'} {self.base}"

        if self.low is not None and self.low == self.high:
            return said(self.low)
        if self.low is None and self.high is None:
            return "any day"
        if self.low is None:
            return f"{said(self.high)} or earlier"  # type: ignore[arg-type]
        if self.high is None:
            return f"{said(self.low)} or later"
        return f"from {said(self.low)} to {said(self.high)}"


def _test_words(comparison: Comparison) -> str:
    test = comparison.test
    if comparison.reference is not None:
        assert comparison.duration is not None
        moved = comparison.duration.signed
        return f"{test.name} {comparison.reference}" + (f" {moved}" if moved else "")
    return f"{test.name} " + " and ".join(
        a.string if a.type == SymbolType.String else str(a) for a in test.arguments
    )
