"""The Evaluator: every question about a case of one policy, answered exactly.

It is the policy's grounded program (grounding.py) with one object per
question, each in its own module:

    anchoring.py      which grounding answers a case (its reference dates)
    missing.py        the unknown facts the verdict still depends on
    explanations.py   minimal explanations and their items
    changes.py        smallest change sets (`why`)
    list_edits.py     smallest edits of, and answers to, list facts
    answers.py        what each answer to a missing fact would lead to
    display.py        values of changes and answers in the analyst's terms
    forcing.py        minimal forcing parts, and the compiled policy's tests

Its dependencies are passed in: the limits of its searches (limits.py) and
the function that compiles its policy (forcing.CompiledTests; the
KnowledgeBase passes bridge/compile's, which solving never imports).

Anchoring is explicit: `evaluate` and `why` take a case and resolve its
reference dates first (`for_known`); the questions about known facts
(verdict_of, explanations, missing_facts, ...) answer on the grounding they
are asked of, and refuse while a policy's reference dates are unresolved.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import TypeAlias

from policykb.bridge.model.case import Case, StatedHistory
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import PolicySource, Span, Value
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
from policykb.bridge.solving.anchoring import ReferenceDates
from policykb.bridge.solving.answers import Answers
from policykb.bridge.solving.changes import ChangeSearch, ChangeSet
from policykb.bridge.solving.display import ValueDisplay
from policykb.bridge.solving.explanations import Explanations
from policykb.bridge.solving.forcing import CompiledTests, Forcing
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.limits import SolvingLimits
from policykb.bridge.solving.list_edits import ListEdits, ListEditSearch
from policykb.bridge.solving.missing import MissingFacts
from policykb.bridge.solving.unknown_dates import UnknownDate, split_of, unknown_references

__all__ = ["Assignment", "CompiledTests", "Compiler", "Evaluator", "ListEdits", "SolvingLimits"]

Compiler: TypeAlias = "Callable[[Evaluator], CompiledTests | None]"
"""Compiles an evaluator's policy into exact tests of partial scenarios; None
when it does not compile."""


class Evaluator(Grounding):
    """Evaluates cases of one policy. Grounds its programs once (per day of
    its reference dates).

    Not thread-safe by itself: a clingo Control answers one query at a time.
    Callers that share an evaluator across threads hold `lock` around each
    call (KnowledgeBase does).
    """

    def __init__(
        self,
        source: PolicySource,
        anchors: Mapping[str, int] | None = None,
        *,
        base: Evaluator | None = None,
        fixed: bool | frozenset[str] = False,
        limits: SolvingLimits | None = None,
        compiler: Compiler | None = None,
    ) -> None:
        """An evaluator of the policy at `source` (see Grounding for `anchors`,
        `base` and `fixed`). `limits` bounds its searches; `compiler`, when
        given, compiles the policy for why's questions on large policies. An
        evaluator grounded at reference dates shares both with its base."""
        super().__init__(source, anchors, base=base, fixed=fixed)
        self.limits = limits or SolvingLimits()
        self.compiler = compiler
        self.dates: ReferenceDates[Evaluator] = ReferenceDates(
            self.references, self._ground_at, self.limits.anchored_kept
        )
        self.forcing = Forcing(
            self, self.limits, None if compiler is None else lambda: compiler(self)
        )
        self._missing = MissingFacts(self)
        self._explanations = Explanations(self, self.forcing)
        self.display = ValueDisplay(self)
        self._lists = ListEditSearch(self, self.forcing, self.limits)
        self._changes = ChangeSearch(self, self.forcing, self._lists, self.limits)
        self._answers = Answers(self, self.forcing, self._lists, self.display)
        # The days this version is in force (first, last; None: open), set by
        # the KnowledgeBase: an unknown date of service ranges over them.
        self.in_force: tuple[int | None, int | None] = (None, None)

    # -- reference dates -------------------------------------------------------

    def _ground_at(self, anchors: Mapping[str, int], fixed: bool | frozenset[str]) -> Evaluator:
        return Evaluator(
            self.source,
            anchors,
            base=self,
            fixed=fixed,
            limits=self.limits,
            compiler=self.compiler,
        )

    def for_known(self, known: Mapping[str, object]) -> Evaluator:
        """The evaluator for a case with these known facts: this one, or for a
        policy that compares dates with reference dates, the one grounded at
        the case's reference dates (which the case must state)."""
        if not self.needs_anchors:
            return self
        return self.dates.resolve(known)

    def for_case(self, known: Mapping[str, object]) -> Evaluator:
        """Like for_known, but this evaluator itself for a case that leaves a
        reference date unknown: evaluate and why answer it over every day of
        that date (unknown_dates.py)."""
        if self.needs_anchors and unknown_references(self, known):
            return self
        return self.for_known(known)

    def unknown_date(
        self, known: Assignment, histories: Mapping[str, StatedHistory] | None = None
    ) -> UnknownDate:
        """The case's known facts over the days of the reference date it
        leaves unknown, or the pairs of days of the two it leaves unknown (the
        date of service within `in_force`); `histories` the case's stated
        histories, whose records pin facts as of each day."""
        return split_of(self, known, self.in_force, histories)

    def at(self, anchors: Mapping[str, int], *, fixed: bool | frozenset[str] = False) -> Evaluator:
        """The evaluator grounded with each reference date at its day in
        `anchors` (with `fixed`, taking no other value)."""
        return self.dates.at(anchors, fixed=fixed)

    # -- the questions, each answered by its own object -------------------------

    def missing_facts(self, known: Assignment) -> list[str]:
        """The unknown facts the verdict on `known` still depends on (missing.py)."""
        return self._missing.of(known)

    def relevant_options(self, known: Assignment, fact: str) -> list[str]:
        """The options of an unknown list fact the verdict on `known` can
        still turn on, one at a time (missing.py)."""
        return self._missing.relevant_options(known, fact)

    def missing_item(self, fact: str) -> MissingFact:
        """A missing fact with its question and the criteria that ask for it."""
        declared = self.policy.facts[fact]
        return MissingFact(fact, declared.question, declared.clauses)

    def explanations(
        self, known: Assignment, verdict: Verdict, *, smallest_only: bool = False
    ) -> Iterator[tuple[str, ...]]:
        """Every minimal explanation of `verdict` among `known`, smallest first
        (explanations.py)."""
        return self._explanations.of(known, verdict, smallest_only=smallest_only)

    def explain_items(
        self,
        explanation: Sequence[str],
        known: Assignment,
        assumed: Collection[str],
        verdict: Verdict,
        case_statuses: Mapping[str, Status] | None = None,
    ) -> tuple[ExplanationItem, ...]:
        """The items of an explanation (explanations.py)."""
        return self._explanations.explain_items(explanation, known, assumed, verdict, case_statuses)

    def explain_item(self, fact: str, value: Value, assumed: bool) -> ExplanationItem:
        """One known fact of an explanation, citing the criterion it speaks to."""
        return self._explanations.explain_item(fact, value, assumed)

    def smallest_changes(
        self,
        known: Assignment,
        target: Verdict,
        limit: int,
        keep: Collection[str] = (),
    ) -> tuple[list[ChangeSet], int, bool]:
        """Every smallest set of fact changes that gives the case the `target`
        verdict, at most `limit` of them (changes.py)."""
        return self._changes.smallest(known, target, limit, keep)

    def answers(self, known: Assignment, fact: str) -> list[Answer]:
        """What each possible answer for a missing fact would lead to (answers.py)."""
        return self._answers.of(known, fact)

    def minimal_implicant(self, values: Mapping[str, object], never: int) -> set[str]:
        """A subset-minimal part of a complete scenario under which the literal
        `never` cannot hold (forcing.py)."""
        return self.forcing.minimal_implicant(values, never)

    def shown(self, fact: str, value: object) -> Value | Span:
        """A value a change or an answer gives `fact`, in the analyst's terms."""
        return self.display.shown(fact, value)

    # -- evaluation ----------------------------------------------------------

    def check_keep(self, keep: Collection[str]) -> None:
        """A CaseError naming the first fact to keep that the policy does not declare."""
        unknown_facts = [fact for fact in keep if fact not in self.policy.facts]
        if unknown_facts:
            raise CaseError(f"--keep names unknown fact {unknown_facts[0]!r}")

    def evaluate(self, case: Case) -> Evaluation:
        """Evaluate one case: verdict, criteria, smallest explanation, missing
        facts, notes; at the case's reference dates."""
        known, assumed = self.known_facts(case)
        if self.needs_anchors and unknown_references(self, known):
            return self.unknown_date(known, case.histories).evaluate(case, known, assumed)
        anchored = self.for_known(known)
        if anchored is not self:
            return anchored.evaluate(case)
        consequences = self.case_consequences(known)
        verdict = self.verdict(consequences)
        explanation = next(self.explanations(known, verdict, smallest_only=True), ())
        missing = self.missing_facts(known) if verdict is Verdict.NEEDS_INFORMATION else []
        statuses = self.statuses(consequences)
        return Evaluation(
            id=case.id,
            policy=self.policy.name,
            version=self.policy.version,
            verdict=verdict,
            criteria=statuses,
            explanation=self.explain_items(explanation, known, assumed, verdict, statuses),
            missing=tuple(self.missing_item(f) for f in missing),
            warnings=self.notes(consequences, known),
        )

    def why(self, case: Case, max_changes: int = 20, keep: Collection[str] = ()) -> WhyAnswer:
        """Every minimal explanation, the smallest flipping changes (never changing
        the facts in `keep`), and the missing facts; at the case's reference dates."""
        self.check_keep(keep)
        known, assumed = self.known_facts(case)
        if self.needs_anchors and unknown_references(self, known):
            split = self.unknown_date(known, case.histories)
            return split.why(case, known, assumed, max_changes, keep)
        anchored = self.for_known(known)
        if anchored is not self:
            return anchored.why(case, max_changes, keep)
        verdict = self.forcing.verdict_of(known)
        target = Verdict.NOT_COVERED if verdict is Verdict.COVERED else Verdict.COVERED
        changes, left_out, exact = self.smallest_changes(known, target, max_changes, keep)
        missing = self.missing_facts(known) if verdict is Verdict.NEEDS_INFORMATION else []
        return WhyAnswer(
            id=case.id,
            policy=self.policy.name,
            version=self.policy.version,
            verdict=verdict,
            explanations=tuple(
                self.explain_items(explanation, known, assumed, verdict)
                for explanation in self.explanations(known, verdict)
            ),
            target=target,
            changes=tuple(tuple(Change(f, self.shown(f, v)) for f, v in c) for c in changes),
            changes_capped=left_out > 0,
            changes_left_out=left_out,
            changes_left_out_exact=exact,
            missing=tuple(
                MissingFact(
                    f,
                    self.policy.facts[f].question,
                    self.policy.facts[f].clauses,
                    tuple(self.answers(known, f)),
                )
                for f in missing
            ),
        )
