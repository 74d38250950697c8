"""Answers: what each possible answer to a missing fact would lead to.

For a number or date, the ranges of answers, neighbours with one verdict
merged; for a list, the smallest answers that give each verdict
(list_edits.py). Large policies ask the compiled policy (forcing.py).
"""

from __future__ import annotations

from policykb.bridge.model.result import Answer, Verdict
from policykb.bridge.solving.display import ValueDisplay
from policykb.bridge.solving.forcing import Forcing
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.list_edits import ListEditSearch


class Answers:
    """The answers to missing facts of cases over one grounding."""

    def __init__(
        self,
        grounding: Grounding,
        forcing: Forcing,
        lists: ListEditSearch,
        display: ValueDisplay,
    ) -> None:
        self.grounding = grounding
        self.forcing = forcing
        self.lists = lists
        self.display = display

    def of(self, known: Assignment, fact: str) -> list[Answer]:
        """What each possible answer for a missing fact would lead to; for a
        number or date, the ranges of answers, neighbours with one verdict
        merged; for a list, the smallest answers that give each verdict."""
        g = self.grounding
        g.require_anchored()
        if g.policy.facts[fact].type.many:
            return [
                Answer(self.display.shown(fact, edits), verdict)
                for verdict, edits in self.lists.answers(known, fact)
                if edits.edits
            ]
        compiled = self.forcing.compiled_tests(len(g.policy.facts))
        if compiled is not None:
            keys = {f: g.value_key(f, v) for f, v in known.items()}
            found = [
                (value, compiled.verdict({**keys, fact: value}))
                for value in g.candidate_values(fact)
            ]
        else:
            found = [
                (value, g.verdict_of({**known, fact: value}))  # type: ignore[dict-item]
                for value in g.candidate_values(fact)
            ]
        declared = g.policy.facts[fact]
        if declared.type.numeric:
            from policykb.bridge.model.typed import Interval

            merged: list[tuple[Interval, Verdict]] = []
            for region, verdict in found:
                assert isinstance(region, Interval)
                if merged and merged[-1][1] is verdict:
                    first = merged[-1][0]
                    region = Interval(first.low, first.low_closed, region.high, region.high_closed)
                    merged[-1] = (region, verdict)
                else:
                    merged.append((region, verdict))
            found = list(merged)
        return [Answer(self.display.shown(fact, value), verdict) for value, verdict in found]
