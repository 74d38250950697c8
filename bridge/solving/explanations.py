"""Minimal explanations: the smallest sets of a case's known facts that alone
give its verdict.

Found by implicit hitting sets (solving/query.py): a small clingo program
proposes the smallest set of the case's facts not yet refuted; the scenario
program either confirms that it alone forces the verdict or returns the
closest counterexample, whose disagreements with the case (a minimum
correction set) become a new constraint. Every confirmed proposal is a
minimal explanation, and they come smallest first.

At a reference date that alone decides the verdict, the explanation is the
frame: the reference date, citing the criterion it decides.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence

from policykb.bridge.model.citing import cite_shared_facts
from policykb.bridge.model.errors import EngineError
from policykb.bridge.model.policy import Role, Value
from policykb.bridge.model.result import ExplanationItem, FrameReason, Status, Verdict
from policykb.bridge.model.scenario_values import explanation_item
from policykb.bridge.solving.forcing import CompiledTests, Forcing
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.hitting_sets import Correction, minimal_sets_by_rank

STATUSES_KEPT = 64
"""How many sets of facts' criteria statuses an Explanations keeps."""


class Explanations:
    """The minimal explanations of cases over one grounding, and their items."""

    def __init__(self, grounding: Grounding, forcing: Forcing | None = None) -> None:
        """`forcing`: where a question has compiled the policy already, the
        criteria's statuses on an explanation's facts are read from the
        circuit (one pass) instead of two solver calls."""
        self.grounding = grounding
        self.forcing = forcing
        self._statuses: dict[frozenset[tuple[str, Value]], dict[str, Status]] = {}

    def of(
        self, known: Assignment, verdict: Verdict, *, smallest_only: bool = False
    ) -> Iterator[tuple[str, ...]]:
        """Every minimal explanation of `verdict` among `known`, smallest first.

        A minimal explanation is a set S of known facts such that S alone (every
        other fact unknown) gets `verdict`, and no proper subset of S does.
        With `smallest_only`, stop after the explanations of the smallest size.
        Within one size, explanations come in vocabulary order.
        """
        if verdict is Verdict.NEEDS_INFORMATION:
            # With every fact unknown the case already needs information, so
            # the empty set is the one minimal explanation.
            yield ()
            return
        g = self.grounding
        g.require_anchored()
        compiled = None if self.forcing is None else self.forcing.compiled
        if compiled is not None:
            found = self.compiled_implicants(compiled, known, verdict, smallest_only)
        else:
            refute = -g.covered if verdict is Verdict.COVERED else g.covered
            found = g.program.implicants(known, refute, smallest_only=smallest_only)
        for explanation in found:
            if not explanation and g.anchors:
                # The reference dates alone decide: at them no value of a date
                # compared with them meets (or fails) a criterion. The frame is
                # then the explanation, so that the reason cites that criterion.
                yield tuple(self.frame_decides(verdict))
                return
            yield explanation

    def compiled_implicants(
        self,
        compiled: CompiledTests,
        known: Assignment,
        verdict: Verdict,
        smallest_only: bool,
    ) -> Iterator[tuple[str, ...]]:
        """The minimal explanations by the same hitting sets as the solver's
        (query.py), each candidate tested on the compiled policy in one pass:
        when the candidate's facts leave some completion off the verdict, the
        part of one that refutes it (compile/refuting.py) agrees with the
        candidate, so every explanation holds a known fact the part gives
        another value. The explanations are the same sets (the minimal ones
        are what they are, whatever the corrections that find them)."""
        g = self.grounding
        keys = {fact: g.value_key(fact, value) for fact, value in known.items()}
        covered = verdict is Verdict.COVERED

        def test(chosen: list[str]) -> Correction[str] | None:
            part = compiled.refuting_part({fact: keys[fact] for fact in chosen}, covered)
            if part is None:
                return None
            moved = [fact for fact, value in part.items() if fact in keys and keys[fact] != value]
            if not moved:
                raise EngineError("the case's own facts do not force the verdict")
            return Correction(moved)

        rank = {fact: g.policy.facts[fact].rank for fact in known}
        return minimal_sets_by_rank(list(known), test, rank, smallest_only=smallest_only)

    def frame_decides(self, verdict: Verdict) -> dict[str, tuple[str, list[str]]]:
        """For a verdict decided by the reference dates alone: each reference
        date (vocabulary order) with the criterion it decides and the dates
        compared with it there. A criterion counts when, with every fact
        unknown, it stands as the verdict needs (met for covered; not met, or
        an exclusion met, for not covered) and a rule of it reads a date
        compared with the reference. Every reference date when none does."""
        g = self.grounding
        statuses = g.statuses(g.solve_consequences([]))

        def decides(criterion: str) -> bool:
            status = statuses.get(criterion)
            exclusion = g.policy.criteria[criterion].role is Role.EXCLUSION
            if verdict is Verdict.COVERED:
                return status is Status.MET and not exclusion
            return status is (Status.MET if exclusion else Status.NOT_MET)

        found: dict[str, tuple[str, list[str]]] = {}
        for reference in sorted(g.references, key=lambda f: g.policy.facts[f].rank):
            compared = g.references[reference]
            for criterion in g.policy.criteria:
                reads = {
                    fact
                    for rule in g.rules
                    if rule.head == "met" and rule.head_args[:1] == (f'"{criterion}"',)
                    for fact in rule.facts
                }
                dates = [f for f in compared if f in reads]
                if dates and decides(criterion):
                    found[reference] = (criterion, dates)
                    break
        if not found:
            found = {
                reference: ("", list(compared)) for reference, compared in g.references.items()
            }
        return found

    def explain_items(
        self,
        explanation: Sequence[str],
        known: Assignment,
        assumed: Collection[str],
        verdict: Verdict,
        case_statuses: Mapping[str, Status] | None = None,
    ) -> tuple[ExplanationItem, ...]:
        """The items of an explanation; a reference date that the verdict rests
        on as the frame cites the criterion it decides, and a fact read by
        several criteria the one that decides the case (model/citing.py;
        `case_statuses`: the criteria's statuses on `known`, when known)."""
        g = self.grounding
        framed = (
            g.anchors
            and verdict is not Verdict.NEEDS_INFORMATION
            and all(f in g.references for f in explanation)
            and g.verdict_of({}) is verdict
        )
        frame = self.frame_decides(verdict) if framed and explanation else {}
        items = [
            self.frame_item(fact, known[fact], *frame[fact], verdict)
            if fact in frame
            else self.explain_item(fact, known[fact], fact in assumed)
            for fact in explanation
        ]
        return cite_shared_facts(g.policy, verdict, items, known, self.statuses_of, case_statuses)

    def statuses_of(self, given: Mapping[str, Value]) -> dict[str, Status]:
        """Each criterion's status with `given` known and every other fact
        unknown. Where the policy is compiled, read from the circuit (its
        met/1 and applies/1 are exact) without solving. The last ones found
        are kept: a case's explanations ask again for the same facts."""
        key = frozenset(given.items())
        found = self._statuses.get(key)
        if found is None:
            found = self._statuses[key] = self.solve_statuses(given)
            if len(self._statuses) > STATUSES_KEPT:
                del self._statuses[next(iter(self._statuses))]
        return found

    def solve_statuses(self, given: Mapping[str, Value]) -> dict[str, Status]:
        g = self.grounding
        compiled = None if self.forcing is None else self.forcing.compiled
        if compiled is not None:
            return compiled.statuses({f: g.value_key(f, v) for f, v in given.items()})
        return g.statuses(g.solve_consequences(g.literals.assumptions(given)))

    def frame_item(
        self, fact: str, value: Value, criterion: str, dates: list[str], verdict: Verdict
    ) -> ExplanationItem:
        """A reference date the verdict rests on as the frame: the criterion
        that, as of it, no value (or every value) of the dates compared with
        it meets."""
        g = self.grounding
        if not criterion:
            return self.explain_item(fact, value, False)
        role = g.policy.criteria[criterion].role
        frame = FrameReason(
            criterion,
            tuple(dates),
            every=verdict is Verdict.COVERED or role is Role.EXCLUSION,
            exclusion=verdict is not Verdict.COVERED and role is Role.EXCLUSION,
        )
        text = g.policy.criteria[criterion].text
        return ExplanationItem(fact, value, criterion, text, False, frame=frame)

    def explain_item(self, fact: str, value: Value, assumed: bool) -> ExplanationItem:
        """One known fact of an explanation, citing the criterion it speaks to."""
        g = self.grounding
        history = g.policy.history_of(fact) if g.policy.histories else None
        if history is None:
            return explanation_item(g.policy, fact, value, assumed, g.value_key(fact, value))
        citation = g.policy.citation(fact, value)
        region = history.span(fact, value is True, g.anchors)
        return ExplanationItem(fact, value, citation.criterion, citation.text, assumed, region)
