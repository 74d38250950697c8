"""List edits: the smallest edits of a list fact's value that give a case a
verdict (options added, options removed), and the smallest answers to a
missing list.

Each is found by implicit hitting sets over the options to toggle
(solving/hitting_sets.py): a counterexample's list value must be moved away
from. The bridge returns the edits as data; display.py states them in the
analyst's terms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from policykb.bridge.model.result import Verdict
from policykb.bridge.solving.forcing import Forcing
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.hitting_sets import Correction, MinimalSets
from policykb.bridge.solving.limits import SolvingLimits


@dataclass(frozen=True)
class ListEdits:
    """The smallest edits of a list fact's value that work: each adds some
    options and removes others (for a code list: cells of its code sets).

    `base` is the case's value as options (cells); `given` is the value as the
    case states it (its codes, for a code list), which the span shows and
    which the example starts from."""

    base: frozenset[object]
    edits: tuple[tuple[frozenset[object], frozenset[object]], ...]
    answers: bool = False
    """Answers to a missing list (from nothing) rather than changes of a value."""
    given: frozenset[object] | None = None


class ListEditSearch:
    """The smallest edits and answers of list facts over one grounding."""

    def __init__(self, grounding: Grounding, forcing: Forcing, limits: SolvingLimits) -> None:
        self.grounding = grounding
        self.forcing = forcing
        self.limits = limits

    def edits(
        self,
        known: Assignment,
        others: Mapping[str, object],
        fact: str,
        opposite: int,
        facts: Sequence[str],
    ) -> ListEdits:
        """The smallest edits (options added, options removed) of list `fact`
        from its value in the case (empty when unknown) that, with `others`,
        rule out the literal `opposite`. Found by hitting sets over the options
        to toggle: a counterexample's list value must be moved away from."""
        g = self.grounding
        base = g.value_key(fact, known[fact]) if fact in known else frozenset()
        assert isinstance(base, frozenset)
        given = known.get(fact)
        assert given is None or isinstance(given, frozenset)
        options = list(g.literals.of[fact])

        def test(toggled: list[object]) -> Correction[object] | None:
            value = base.symmetric_difference(toggled)
            pinned = [*g.literals.assumptions({**known, **others, fact: value}), opposite]
            scenario = g.program.scenario(pinned, facts)
            if scenario is None:
                return None
            if fact not in self.forcing.minimal_implicant(scenario, -opposite):
                return Correction([])  # no edit of this list can help
            differ = base.symmetric_difference(scenario[fact])  # type: ignore[arg-type]
            return Correction(
                [o for o in options if o not in differ], unless=[o for o in options if o in differ]
            )

        edits: list[tuple[frozenset[object], frozenset[object]]] = []
        for toggled in MinimalSets(options).search(
            test, stop_at=lambda size: len(edits) >= self.limits.max_edits
        ):
            chosen = frozenset(toggled)
            edits.append((chosen - base, chosen & base))
        return ListEdits(base, tuple(edits), given=given)

    def answers(self, known: Assignment, fact: str) -> list[tuple[Verdict, ListEdits]]:
        """Per verdict, the smallest answers (subset-minimal values) of the
        unknown list `fact` that give the case that verdict. Every value has a
        verdict, so the answers of some verdict are never empty."""
        g = self.grounding
        found = [
            (
                Verdict.COVERED,
                self.edits(known, {}, fact, -g.covered, g.decision_facts),
            ),
            (
                Verdict.NOT_COVERED,
                self.edits(known, {}, fact, g.covered, g.decision_facts),
            ),
            (Verdict.NEEDS_INFORMATION, self.undecided_answers(known, fact)),
        ]
        return [(verdict, replace(edits, answers=True)) for verdict, edits in found]

    def undecided_answers(self, known: Assignment, fact: str) -> ListEdits:
        """The subset-minimal values of list `fact` under which the case still
        needs information, by hitting sets: a value that decides the verdict
        is refuted, and every answer must differ from it in some option
        (added or left out). When the facts without `fact` already decide the
        verdict, no value leaves it open."""
        g = self.grounding
        options = list(g.literals.of[fact])
        if g.verdict_of(known) is not Verdict.NEEDS_INFORMATION:
            return ListEdits(frozenset(), ())

        def test(chosen: list[object]) -> Correction[object] | None:
            value = frozenset(chosen)
            if g.verdict_of({**known, fact: value}) is Verdict.NEEDS_INFORMATION:  # type: ignore[dict-item]
                return None
            return Correction(
                [o for o in options if o not in value], unless=[o for o in options if o in value]
            )

        edits: list[tuple[frozenset[object], frozenset[object]]] = []
        for chosen in MinimalSets(options).search(
            test, stop_at=lambda size: len(edits) >= self.limits.max_edits
        ):
            edits.append((frozenset(chosen), frozenset()))
        return ListEdits(frozenset(), tuple(edits))
