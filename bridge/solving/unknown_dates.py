"""A case that leaves a reference date unknown, answered exactly.

A policy that compares dates with a reference date B (the date of service,
an event) is grounded once per day of B (anchoring.py). A case that leaves B
out is answered over every day B can take: its *day classes*.

Day classes (day_classes.py): the days of B grouped by the order pattern of
the boundaries they move; each class is answered by the grounding at its
first day with B fixed to that day (`Evaluator.at(..., fixed={B})`), so
every completion of the case with B in the class is a completion of that
grounding, and back.

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
  class, whichever are smaller (unknown_date_changes.py).

History windows moved from B (history_windows.py): the days are also cut
where the case's records change class, and each class is answered with the
facts its records pin as of its days (`class_known`). An explanation is then
a set of claims (fact, value): a record level may hold as of some days and
not others, and a set of claims explains when, in every class, the claims
that hold there get the verdict. Changes leaving B unknown never change a
record level (its class moves with B); B is missing by the product program
with the records tied across its copies (date_product.py, joint_records.py).

A case that leaves two reference dates unknown is answered over the classes
of pairs of their days (unknown_date_pairs.py), unless a history window
moves from one of them (refused); with three or more unknown, it is
refused. `split_of` gives the one or the other.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterator, Mapping
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING, Any, cast

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
from policykb.bridge.solving.class_union import (
    combined,
    joined,
    merged_intervals,
    minimal,
    within_region,
)
from policykb.bridge.solving.covered_from import DayPatterns
from policykb.bridge.solving.day_classes import (
    SPAN_MARGIN_DAYS,
    DayClass,
    day_classes,
    day_span,
    history_references_of,
    kept_classes,
    merged_runs,
    unknown_references,
)
from policykb.bridge.solving.grounding import Assignment, Consequences
from policykb.bridge.solving.history_windows import WindowPins, records_key

if TYPE_CHECKING:
    from policykb.bridge.model.case import Case, StatedHistory
    from policykb.bridge.solving.evaluator import Evaluator

__all__ = ["Claim", "UnknownDate", "split_of", "unknown_references"]

Claim = tuple[str, Hashable]
"""A known fact of an explanation with its value (as of the classes where it holds)."""


def split_of(
    base: Evaluator,
    known: Assignment,
    within: tuple[int | None, int | None],
    histories: Mapping[str, StatedHistory] | None = None,
) -> UnknownDate:
    """The case's known facts over the days of the one reference date, or the
    pairs of days of the two, it leaves unknown; CaseError for three or more.
    `histories` are the case's stated histories (their records pin facts per
    day when their windows move from the unknown date)."""
    unknown = unknown_references(base, known)
    if len(unknown) > 2:
        raise CaseError(
            f"the case leaves {', '.join(unknown)} unknown: the policy compares dates "
            "with each, and a case may leave at most two such dates unknown"
        )
    if len(unknown) == 2:
        from policykb.bridge.solving.unknown_date_pairs import UnknownDatePair

        return UnknownDatePair(base, known, within)
    return UnknownDate(base, known, within, histories)


class UnknownDate:
    """One case's known facts over the day classes of the reference date it
    leaves unknown (see the module docstring)."""

    def __init__(
        self,
        base: Evaluator,
        known: Assignment,
        within: tuple[int | None, int | None] = (None, None),
        histories: Mapping[str, StatedHistory] | None = None,
    ) -> None:
        """`base` is the policy's unanchored evaluator; `within` the days the
        version is in force (first, last; None for open), which bound the
        date of service; `histories` the case's stated histories."""
        from policykb.bridge.model.version import SERVICE_DATE

        unknown = unknown_references(base, known)
        assert len(unknown) == 1, "a pair of unknown dates is unknown_date_pairs.py's"
        self.base = base
        self.reference = reference = unknown[0]
        self.references: tuple[str, ...] = (reference,)
        self.moved = set(base.references.get(reference, []))
        self.window: WindowPins | None = None
        if reference in history_references_of(base):
            self.window = WindowPins(base.policy, reference, histories or {}, known)
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
        if self.window is not None:
            first, last = self.window.span(first, last, self.open_low, self.open_high)
        if first > last:
            raise CaseError(f"{reference} has no day within its bounds")
        self.first, self.last = first, last
        # The classes depend on the stated dates only: kept per policy for the
        # cases that share them (a batch's, a session's what-ifs).
        stated = tuple(sorted((f, v) for f, v in known.items() if isinstance(v, date)))
        key = (reference, first, last, stated, records_key(self.window))
        kept = kept_classes(base)
        found = kept.get(key)
        if found is None:
            extra = None if self.window is None else self.window.key
            found = day_classes(self.patterns, known, first, last, extra)
            kept[key] = found
        self.classes = found
        # Each class's own pins: the levels the records reach as of its days.
        window = self.window
        self.pins: list[dict[str, Any]] = [
            {} if window is None else window.at(day_class.day) for day_class in self.classes
        ]
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
        return combined(e.case_consequences(own) for e, own in self.each(known))

    def verdict_of(self, known: Assignment) -> Verdict:
        """The verdict on exactly these known facts, the reference date unknown."""
        return joined(e.verdict_of(own) for e, own in self.each(known))

    def class_verdicts(self, known: Assignment) -> list[Verdict]:
        """The verdict in each class, in class order."""
        return [e.verdict_of(own) for e, own in self.each(known)]

    def class_known(self, index: int, known: Assignment) -> Assignment:
        """`known` as of class `index`: with the facts the case's records pin
        as of its days (history windows moved from the date), where `known`
        does not set them itself (a change may)."""
        pins = self.pins[index] if index < len(self.pins) else {}
        return {**pins, **known} if pins else known

    def answering(
        self, known: Assignment, fact: str, value: object
    ) -> Iterator[tuple[Evaluator, Assignment]]:
        """Each class's evaluator with `known` and the answer `fact` = `value`
        as of that class: an answer fills in a fact the class leaves unknown,
        so where the case's records pin it (a record level as of those days)
        the records stand."""
        for index, (_, evaluator) in enumerate(self.cases):
            pins = self.pins[index] if index < len(self.pins) else {}
            answered = {**known, fact: value} if fact not in pins else dict(known)
            yield evaluator, self.class_known(index, answered)  # type: ignore[arg-type]

    def each(self, known: Assignment) -> Iterator[tuple[Evaluator, Assignment]]:
        """Each class's evaluator with `known` as of that class."""
        for index, (_, evaluator) in enumerate(self.cases):
            yield evaluator, self.class_known(index, known)

    # -- explanations ------------------------------------------------------------

    def explanations(
        self, known: Assignment, verdict: Verdict, *, smallest_only: bool = False
    ) -> Iterator[tuple[Claim, ...]]:
        """Every minimal explanation of `verdict` over every class, smallest
        first (vocabulary order within a size), as claims (fact, value). A
        fact the case's records pin takes its value as of each class, so one
        fact may make two claims ("a record of ..." as of some days, "no
        record of ..." as of others): a set of claims explains when, in every
        class, the claims that hold there get the verdict."""
        if verdict is Verdict.NEEDS_INFORMATION:
            yield ()
            return
        unions: list[frozenset[Claim]] = [frozenset()]
        for evaluator, own in self.each(known):
            refute = -evaluator.covered if verdict is Verdict.COVERED else evaluator.covered
            found = [
                frozenset((f, _hashable(own[f])) for f in e)
                for e in evaluator.program.implicants(own, refute)
            ]
            unions = minimal(u | e for u in unions for e in found)
        rank = {name: fact.rank for name, fact in self.base.policy.facts.items()}
        ordered = sorted(
            (tuple(sorted(u, key=lambda c: (rank[c[0]], str(c[1])))) for u in unions),
            key=lambda e: (len(e), [rank[f] for f, _ in e]),
        )
        smallest = len(ordered[0]) if ordered else 0
        for explanation in ordered:
            if smallest_only and len(explanation) > smallest:
                return
            yield explanation

    def explain_items(
        self,
        explanation: tuple[Claim, ...],
        known: Assignment,
        assumed: frozenset[str],
        verdict: Verdict,
    ) -> tuple[ExplanationItem, ...]:
        """The items of an explanation. A date compared with the unknown
        reference date is shown by its value alone: its region as of one
        class's day would name that day's edges, which other days move; a
        record class's ranges likewise (its words name the window)."""
        first = self.cases[0][1]
        names: list[str] = []
        values: dict[str, Any] = {}
        again: list[Claim] = []
        for fact, value in explanation:
            if fact in values:
                again.append((fact, value))
            else:
                names.append(fact)
                values[fact] = known.get(fact, value)
        items = [
            *first.explain_items(tuple(names), {**known, **values}, assumed, verdict),
            *(first.explain_item(fact, cast("Any", value), False) for fact, value in again),
        ]
        return tuple(self._unmoved(item) for item in items)

    def _unmoved(self, item: ExplanationItem) -> ExplanationItem:
        """An item without the edges the unknown date moves."""
        if item.fact in self.moved:
            return replace(item, region=None)
        if self.window is not None and item.fact in self.window.facts:
            history = self.base.policy.history_of(item.fact)
            assert history is not None
            return replace(item, region=history.span(item.fact, item.value is True, {}))
        return item

    # -- missing facts -------------------------------------------------------------

    def missing_facts(self, known: Assignment) -> list[str]:
        """The unknown facts the verdict on `known` still depends on, in
        vocabulary order, the reference date among them."""
        found: set[str] = set()
        for evaluator, own in self.each(known):
            found.update(evaluator.missing_facts(own))
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
                Answer(display.shown(fact, self.days(first, last)), verdict)
                for first, last, verdict in merged_runs(runs)
            ]
        declared = self.base.policy.facts[fact]
        if declared.type.many:
            return []  # list answers are per class; not combined (documented)
        if fact in self.moved:
            return self._moved_answers(known, fact)
        values = self.cases[0][1].candidate_values(fact)
        found: list[tuple[Any, Verdict]] = [
            (value, joined(e.verdict_of(own) for e, own in self.answering(known, fact, value)))
            for value in values
        ]
        if declared.type.numeric:
            found = list(merged_intervals(found))
        return [Answer(display.shown(fact, value), verdict) for value, verdict in found]

    def _moved_answers(self, known: Assignment, fact: str) -> list[Answer]:
        """Answers for a date compared with the reference date: per region of
        its constant boundaries, the verdicts of the classes' regions in it."""
        found: list[tuple[object, Verdict]] = []
        for region in self.base.policy.facts[fact].regions:
            assert isinstance(region, Interval)
            verdicts = [
                evaluator.verdict_of({**self.class_known(index, known), fact: inner})  # type: ignore[dict-item]
                for index, (_, evaluator) in enumerate(self.cases)
                for inner in evaluator.candidate_values(fact)
                if isinstance(inner, Interval) and within_region(inner, region)
            ]
            found.append((region, joined(verdicts)))
        display = self.base.display
        return [
            Answer(display.shown(fact, value), verdict)
            for value, verdict in merged_intervals(found)  # type: ignore[arg-type]
        ]

    def class_words(self, index: int) -> str:
        """The days of a class in words (`date_of_service in 2024-01-02 to
        2024-03-20`), its runs in order."""
        day_class = self.cases[index][0]
        runs = ", ".join(self.days_words(a, b) for a, b in day_class.runs)
        return f"{self.reference} in {runs}"

    def days_words(self, first: int, last: int) -> str:
        """A run of days in words, open on a side the search left open."""
        shown = self.days(first, last)
        low = None if shown.low is None else date.fromordinal(int(shown.low)).isoformat()
        high = None if shown.high is None else date.fromordinal(int(shown.high)).isoformat()
        if low is None and high is None:
            return "any day"
        if low is None:
            return f"on or before {high}"
        if high is None:
            return f"on or after {low}"
        return low if low == high else f"{low} to {high}"

    def days(self, first: int, last: int) -> Interval:
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
        """The smallest change sets giving `target` (unknown_date_changes.py),
        at most `limit`, and how many were left out."""
        from policykb.bridge.solving.unknown_date_changes import smallest_changes

        return smallest_changes(self, known, target, limit, keep)

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


def _statuses(evaluator: Evaluator, consequences: Consequences) -> dict[str, Status]:
    return evaluator.statuses(consequences)


def _hashable(value: object) -> Hashable:
    """A value as a claim holds it (lists as frozensets)."""
    if isinstance(value, list | set):
        return frozenset(value)
    return value
