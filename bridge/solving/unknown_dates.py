"""A case that leaves a reference date unknown, answered exactly.

A policy that compares dates with a reference date B (the date of service,
an event) is grounded once per day of B (anchoring.py). A case that leaves B
out is answered over every day B can take: its *day classes*.

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

The pattern of a day takes the case's stated values into account, so the
classes refine those of every subset of the case's facts: they also answer
explanations, whose subsets set facts aside.

An unbounded side of B is cut at SPAN_MARGIN_DAYS past the last boundary
that does not move with B. Past it, every such boundary is on one side, and
the pattern depends only on the calendar position of the day (the lengths of
the months the durations cross); from 1901 to 2099 a leap year comes every
fourth year, so the eight years of the margin hold every position.

Answers, over every completion (B included):

- verdict and statuses: the union of the classes' consequences (possible in
  one class, certain in every class);
- explanations: a set of known facts explains when it explains in every
  class; the minimal ones are the minimal unions of one minimal explanation
  per class;
- missing facts: a fact other than B is missing when it is missing in some
  class (B is fixed there); B is missing when two of its days give two
  verdicts under one filling of the other unknowns (date_product.py);
- answers for B: each class's verdict over its runs of days, neighbours with
  one verdict merged; for another fact, each of its regions (for a date
  compared with B: the regions of its constant boundaries) with the verdict
  over the classes;
- changes: stating B (a run of days of one class) with the smallest changes
  of that class, or changes of facts B does not move that work in every
  class, whichever are smaller. Changes of a date compared with B while B
  stays unknown are not searched (documented).

A case may leave one reference date unknown; with two or more unknown, the
day classes would be of pairs of days, and the case is refused.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, replace
from datetime import date
from itertools import combinations
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.result import (
    Answer,
    Change,
    Evaluation,
    ExplanationItem,
    MissingFact,
    Status,
    Verdict,
    WhyAnswer,
)
from policykb.bridge.model.typed import Interval
from policykb.bridge.solving.covered_from import DayPatterns, boundary_shift
from policykb.bridge.solving.grounding import Assignment, Consequences

if TYPE_CHECKING:
    from policykb.bridge.model.case import Case
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
    first = low if low is not None else min(middle) - reach - SPAN_MARGIN_DAYS
    last = high if high is not None else max(middle) + reach + SPAN_MARGIN_DAYS
    return first, last, low is None, high is None


def day_classes(
    patterns: DayPatterns, known: Mapping[str, object], first: int, last: int
) -> list[DayClass]:
    """The days from `first` through `last` grouped by pattern, in order of
    their first day."""
    reference = patterns.reference
    runs: dict[object, list[list[int]]] = {}
    previous: object = None
    for ordinal in range(first, last + 1):
        day = date.fromordinal(ordinal)
        key = patterns.of({**known, reference: day}, day)
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


def _combined(found: Iterable[Consequences]) -> Consequences:
    possible: frozenset[object] = frozenset()
    certain: frozenset[object] | None = None
    for consequences in found:
        possible |= consequences.possible
        certain = consequences.certain if certain is None else certain & consequences.certain
    return Consequences(possible, certain or frozenset())  # type: ignore[arg-type]


def _joined(verdicts: Iterable[Verdict]) -> Verdict:
    """The verdict over the union of completions with these verdicts."""
    seen = set(verdicts)
    return seen.pop() if len(seen) == 1 else Verdict.NEEDS_INFORMATION


def _minimal(sets: Iterable[frozenset[str]]) -> list[frozenset[str]]:
    ordered = sorted(set(sets), key=len)
    kept: list[frozenset[str]] = []
    for candidate in ordered:
        if not any(k <= candidate for k in kept):
            kept.append(candidate)
    return kept


class UnknownDate:
    """One case's known facts over the day classes of the reference date it
    leaves unknown (see the module docstring)."""

    def __init__(
        self,
        base: Evaluator,
        known: Assignment,
        within: tuple[int | None, int | None] = (None, None),
    ) -> None:
        """`base` is the policy's unanchored evaluator; `within` the days the
        version is in force (first, last; None for open), which bound the
        date of service."""
        from policykb.bridge.model.version import SERVICE_DATE

        unknown = unknown_references(base, known)
        if len(unknown) != 1:
            raise CaseError(
                f"the case leaves {', '.join(unknown)} unknown: the policy compares dates "
                "with each, and a case may leave at most one such date unknown"
            )
        self.base = base
        self.reference = reference = unknown[0]
        if reference in _history_references(base):
            raise CaseError(
                f"the case must state {reference}: the policy's history windows move from it"
            )
        declared = base.policy.facts[reference]
        low = None if declared.low is None else int(declared.low)
        high = None if declared.high is None else int(declared.high)
        if reference == SERVICE_DATE:
            if within[0] is not None:
                low = within[0] if low is None else max(low, within[0])
            if within[1] is not None:
                high = within[1] if high is None else min(high, within[1])
        self.patterns = DayPatterns(base, reference)
        first, last, self.open_low, self.open_high = day_span(self.patterns, known, low, high)
        if first > last:
            raise CaseError(f"{reference} has no day within its bounds")
        self.first, self.last = first, last
        # The classes depend on the stated dates only: kept per policy for the
        # cases that share them (a batch's, a session's what-ifs).
        stated = tuple(sorted((f, v) for f, v in known.items() if isinstance(v, date)))
        key = (reference, first, last, stated)
        kept = _kept_classes(base)
        found = kept.get(key)
        if found is None:
            found = day_classes(self.patterns, known, first, last)
            kept[key] = found
        self.classes = found
        others = {
            name: known[name].toordinal()  # type: ignore[union-attr]
            for name in base.references
            if name != reference
        }
        fixed = frozenset({reference})
        self.cases: list[tuple[DayClass, Evaluator]] = [
            (day_class, base.at({**others, reference: day_class.day}, fixed=fixed))
            for day_class in self.classes
        ]

    # -- the verdict ------------------------------------------------------------

    def consequences(self, known: Assignment) -> Consequences:
        """What holds in some, and in every, completion of `known`, the
        reference date included (the case's own flags: which facts it states)."""
        return _combined(evaluator.case_consequences(known) for _, evaluator in self.cases)

    def verdict_of(self, known: Assignment) -> Verdict:
        """The verdict on exactly these known facts, the reference date unknown."""
        return _joined(evaluator.verdict_of(known) for _, evaluator in self.cases)

    def class_verdicts(self, known: Assignment) -> list[Verdict]:
        """The verdict in each class, in class order."""
        return [evaluator.verdict_of(known) for _, evaluator in self.cases]

    # -- explanations ------------------------------------------------------------

    def explanations(
        self, known: Assignment, verdict: Verdict, *, smallest_only: bool = False
    ) -> Iterator[tuple[str, ...]]:
        """Every minimal explanation of `verdict` among `known` over every
        class, smallest first (vocabulary order within a size)."""
        if verdict is Verdict.NEEDS_INFORMATION:
            yield ()
            return
        unions: list[frozenset[str]] = [frozenset()]
        for _, evaluator in self.cases:
            refute = -evaluator.covered if verdict is Verdict.COVERED else evaluator.covered
            own = [frozenset(e) for e in evaluator.program.implicants(known, refute)]
            unions = _minimal(u | e for u in unions for e in own)
        rank = {name: fact.rank for name, fact in self.base.policy.facts.items()}
        ordered = sorted(
            (tuple(sorted(u, key=rank.__getitem__)) for u in unions),
            key=lambda e: (len(e), [rank[f] for f in e]),
        )
        smallest = len(ordered[0]) if ordered else 0
        for explanation in ordered:
            if smallest_only and len(explanation) > smallest:
                return
            yield explanation

    def explain_items(
        self,
        explanation: tuple[str, ...],
        known: Assignment,
        assumed: frozenset[str],
        verdict: Verdict,
    ) -> tuple[ExplanationItem, ...]:
        """The items of an explanation. A date compared with the unknown
        reference date is shown by its value alone: its region as of one
        class's day would name that day's edges, which other days move."""
        first = self.cases[0][1]
        moved = set(self.base.references.get(self.reference, []))
        items = first.explain_items(explanation, known, assumed, verdict)
        return tuple(replace(item, region=None) if item.fact in moved else item for item in items)

    # -- missing facts -------------------------------------------------------------

    def missing_facts(self, known: Assignment) -> list[str]:
        """The unknown facts the verdict on `known` still depends on, in
        vocabulary order, the reference date among them."""
        found: set[str] = set()
        for _, evaluator in self.cases:
            found.update(evaluator.missing_facts(known))
        if self.reference_missing(known):
            found.add(self.reference)
        return [name for name in self.base.policy.facts if name in found]

    def reference_missing(self, known: Assignment) -> bool:
        """Whether some filling of the other unknowns gives two days of the
        reference date two verdicts."""
        verdicts = set(self.class_verdicts(known))
        if len(verdicts) > 1:
            # Two definite verdicts differ; a definite one and an open one
            # differ in a filling where the open class gets the other verdict.
            return True
        if verdicts != {Verdict.NEEDS_INFORMATION}:
            return False
        from policykb.bridge.solving.date_product import DayProduct

        return DayProduct(self).turns(known)

    # -- answers ---------------------------------------------------------------------

    def answers(self, known: Assignment, fact: str) -> list[Answer]:
        """What each answer for a missing fact would lead to (module docstring)."""
        display = self.base.display
        if fact == self.reference:
            runs = [
                (first, last, verdict)
                for (day_class, _), verdict in zip(
                    self.cases, self.class_verdicts(known), strict=True
                )
                for first, last in day_class.runs
            ]
            return [
                Answer(display.shown(fact, self._days(first, last)), verdict)
                for first, last, verdict in merged_runs(runs)
            ]
        declared = self.base.policy.facts[fact]
        if declared.type.many:
            return []  # list answers are per class; not combined (documented)
        if fact in self.base.references.get(self.reference, []):
            return self._moved_answers(known, fact)
        values = self.cases[0][1].candidate_values(fact)
        found: list[tuple[Any, Verdict]] = [
            (value, _joined(e.verdict_of({**known, fact: value}) for _, e in self.cases))  # type: ignore[dict-item]
            for value in values
        ]
        if declared.type.numeric:
            found = list(_merged_intervals(found))
        return [Answer(display.shown(fact, value), verdict) for value, verdict in found]

    def _moved_answers(self, known: Assignment, fact: str) -> list[Answer]:
        """Answers for a date compared with the reference date: per region of
        its constant boundaries, the verdicts of the classes' regions in it."""
        found: list[tuple[object, Verdict]] = []
        for region in self.base.policy.facts[fact].regions:
            assert isinstance(region, Interval)
            verdicts = [
                evaluator.verdict_of({**known, fact: inner})  # type: ignore[dict-item]
                for _, evaluator in self.cases
                for inner in evaluator.candidate_values(fact)
                if isinstance(inner, Interval) and _within(inner, region)
            ]
            found.append((region, _joined(verdicts)))
        display = self.base.display
        return [
            Answer(display.shown(fact, value), verdict)
            for value, verdict in _merged_intervals(found)  # type: ignore[arg-type]
        ]

    def _days(self, first: int, last: int) -> Interval:
        """A run of days, open on a side the search cut when the class is the
        same over the whole margin there."""
        low: int | None = first
        high: int | None = last
        if first == self.first and self.open_low and last - first >= SPAN_MARGIN_DAYS:
            low = None
        if last == self.last and self.open_high and last - first >= SPAN_MARGIN_DAYS:
            high = None
        return Interval(low, low is not None, high, high is not None)

    # -- changes -----------------------------------------------------------------------

    def smallest_changes(
        self, known: Assignment, target: Verdict, limit: int, keep: Collection[str]
    ) -> tuple[list[list[tuple[str, object]]], int]:
        """The smallest change sets giving `target` (module docstring), at most
        `limit`, and how many were left out."""
        reference = self.reference
        with_reference: list[list[tuple[str, object]]] = []
        moved = set(self.base.references.get(reference, []))
        size: int | None = None
        if reference not in keep:
            by_rest: dict[tuple[tuple[str, object], ...], list[tuple[int, int]]] = {}
            for day_class, evaluator in self.cases:
                if evaluator.verdict_of(known) is target:
                    rests: list[tuple[tuple[str, object], ...]] = [()]
                else:
                    found, _, _ = evaluator.smallest_changes(
                        known, target, max(limit, 1) * 4, {*keep, reference}
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
                with_reference += [[(reference, self._days(a, b)), *rest] for a, b, _ in joined]
        without = self._changes_without_reference(known, target, keep, size)
        if without and (size is None or len(without[0]) < size):
            chosen = without
        else:
            chosen = [*without, *with_reference]
        return chosen[:limit], max(0, len(chosen) - limit)

    def _changes_without_reference(
        self, known: Assignment, target: Verdict, keep: Collection[str], bound: int | None
    ) -> list[list[tuple[str, object]]]:
        """The smallest change sets that leave the reference date unknown, of
        at most `bound` changes (None: any), giving `target` in every class:
        of facts it does not move, and of dates compared with it to days on
        one side of every boundary it can move them to (`_decided_days`)."""
        moved = set(self.base.references.get(self.reference, []))
        first = self.cases[0][1]
        # (fact, the value shown, the value evaluated)
        candidates: list[tuple[str, Any, Any]] = []
        for fact, declared in self.base.policy.facts.items():
            if fact in keep or fact in self.base.references or declared.type.many:
                continue
            if fact in moved:
                candidates += [
                    (fact, region, date.fromordinal(sample))
                    for region, sample in self._decided_days(fact)
                    if not _holds_day(known.get(fact), region)
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
        for size in range(1, most + 1):
            found = [
                [(fact, shown) for fact, shown, _ in chosen]
                for chosen in combinations(candidates, size)
                if len({fact for fact, _, _ in chosen}) == size
                and all(
                    evaluator.verdict_of({**known, **{f: v for f, _, v in chosen}}) is target
                    for _, evaluator in self.cases
                )
            ]
            if found:
                return found
        return []

    def _decided_days(self, fact: str) -> list[tuple[Interval, int]]:
        """The regions of a date compared with the reference date in which
        every comparison with it is decided whatever the reference date's day
        (before every boundary it can be moved to, or after every one), cut at
        the date's constant boundaries; each with a day inside. A side the
        search cut (an open bound) has none."""
        moves = [
            (c.duration, boundary_shift(c.test.name))
            for c in self.base.comparisons
            if c.fact == fact and c.reference == self.reference and c.duration is not None
        ]
        # A boundary at position p splits p - 1 from p; the reference date's
        # days move each one monotonically (a month step never goes back).
        zones: list[tuple[float, float]] = []
        if not self.open_low:
            start = date.fromordinal(self.first)
            lowest = min(d.after(start).toordinal() + shift for d, shift in moves)
            zones.append((float("-inf"), lowest - 1))
        if not self.open_high:
            end = date.fromordinal(self.last)
            highest = max(d.after(end).toordinal() + shift for d, shift in moves)
            zones.append((highest, float("inf")))
        found: list[tuple[Interval, int]] = []
        for region in self.base.policy.facts[fact].regions:
            assert isinstance(region, Interval)
            low, high = _days_of(region)
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

    # -- the answers to a case -------------------------------------------------------------

    def evaluate(self, case: Case, known: Assignment, assumed: frozenset[str]) -> Evaluation:
        """The evaluation of a case over every day of its unknown reference date."""
        first = self.cases[0][1]
        consequences = self.consequences(known)
        verdict = first.verdict(consequences)
        explanation = next(self.explanations(known, verdict, smallest_only=True), ())
        missing = self.missing_facts(known) if verdict is Verdict.NEEDS_INFORMATION else []
        return Evaluation(
            id=case.id,
            policy=self.base.policy.name,
            version=self.base.policy.version,
            verdict=verdict,
            criteria=_statuses(first, consequences),
            explanation=self.explain_items(explanation, known, assumed, verdict),
            missing=tuple(first.missing_item(f) for f in missing),
            warnings=first.notes(consequences, known),
        )

    def why(
        self,
        case: Case,
        known: Assignment,
        assumed: frozenset[str],
        max_changes: int,
        keep: Collection[str],
    ) -> WhyAnswer:
        """Why, over every day of the unknown reference date."""
        first = self.cases[0][1]
        verdict = first.verdict(self.consequences(known))
        target = Verdict.NOT_COVERED if verdict is Verdict.COVERED else Verdict.COVERED
        changes, left_out = self.smallest_changes(known, target, max_changes, keep)
        missing = self.missing_facts(known) if verdict is Verdict.NEEDS_INFORMATION else []
        facts = self.base.policy.facts
        return WhyAnswer(
            id=case.id,
            policy=self.base.policy.name,
            version=self.base.policy.version,
            verdict=verdict,
            explanations=tuple(
                self.explain_items(explanation, known, assumed, verdict)
                for explanation in self.explanations(known, verdict)
            ),
            target=target,
            changes=tuple(
                tuple(Change(f, self.base.shown(f, v)) for f, v in change) for change in changes
            ),
            changes_capped=left_out > 0,
            changes_left_out=left_out,
            missing=tuple(
                MissingFact(
                    f,
                    facts[f].question,
                    facts[f].clauses,
                    tuple(self.answers(known, f)),
                )
                for f in missing
            ),
        )


def _kept_classes(base: Evaluator) -> MutableMapping[object, list[DayClass]]:
    """The day classes computed for a policy, the last CLASSES_KEPT kept."""
    from cachetools import LRUCache

    kept: MutableMapping[object, list[DayClass]] | None = getattr(base, "_day_classes", None)
    if kept is None:
        kept = LRUCache(maxsize=CLASSES_KEPT)
        base._day_classes = kept  # type: ignore[attr-defined]
    return kept


def _statuses(evaluator: Evaluator, consequences: Consequences) -> dict[str, Status]:
    return evaluator.statuses(consequences)


def _history_references(evaluator: Evaluator) -> set[str]:
    if not evaluator.policy.histories:
        return set()
    from policykb.bridge.loading.histories import history_references

    return set(history_references(evaluator.policy))


def _without(known: Assignment, name: str) -> dict[str, object]:
    return {fact: value for fact, value in known.items() if fact != name}


def _meets(day_class: DayClass, value: object) -> bool:
    """Whether a day of the class is the stated day, or in the stated region."""
    if isinstance(value, date):
        day = value.toordinal()
        return any(a <= day <= b for a, b in day_class.runs)
    assert isinstance(value, Interval)
    return any(
        (value.low is None or b >= value.low) and (value.high is None or a <= value.high)
        for a, b in day_class.runs
    )


def _days_of(region: Interval) -> tuple[float, float]:
    """The first and last whole day of a date region (infinite when open)."""
    low, high = float("-inf"), float("inf")
    if region.low is not None:
        low = float(region.low) + (0 if region.low_closed else 1)
    if region.high is not None:
        high = float(region.high) - (0 if region.high_closed else 1)
    return low, high


def _holds_day(value: object, region: Interval) -> bool:
    """Whether a stated date lies in a region (False when not stated)."""
    if not isinstance(value, date):
        return False
    low, high = _days_of(region)
    return low <= value.toordinal() <= high


def _within(inner: Interval, outer: Interval) -> bool:
    """Whether the days of `inner` lie in `outer`."""
    inner_low, inner_high = _days_of(inner)
    outer_low, outer_high = _days_of(outer)
    return outer_low <= inner_low and inner_high <= outer_high


def _merged_intervals(found: list[tuple[Interval, Verdict]]) -> list[tuple[Interval, Verdict]]:
    merged: list[tuple[Interval, Verdict]] = []
    for region, verdict in found:
        if merged and merged[-1][1] is verdict:
            before = merged[-1][0]
            region = Interval(before.low, before.low_closed, region.high, region.high_closed)
            merged[-1] = (region, verdict)
        else:
            merged.append((region, verdict))
    return merged
