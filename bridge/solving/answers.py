"""Answers: what each possible answer to a missing fact would lead to.

For a number or date, the ranges of answers, neighbours with one verdict
merged; for a list, the smallest answers that give each verdict
(list_edits.py). Large policies ask the compiled policy (forcing.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from policykb.bridge.model.result import Answer, Verdict
from policykb.bridge.solving.display import ValueDisplay
from policykb.bridge.solving.forcing import Forcing
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.list_edits import ListEditSearch

if TYPE_CHECKING:
    from policykb.bridge.model.arithmetic import ArithmeticUse


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
        use = next((u for u in g.policy.arithmetic if fact in u.operands), None)
        if use is not None:
            return self._operand(known, fact, use)
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

    def _operand(self, known: Assignment, fact: str, use: ArithmeticUse) -> list[Answer]:
        """The answers to an operand of a product or ratio: its values cut
        where the derived fact's reachable regions change (given the other
        operand's known value), each piece decided by a value inside it,
        neighbours with one verdict merged."""
        from policykb.bridge.model.arithmetic import excluded_regions, operand_pieces
        from policykb.bridge.model.typed import Interval

        g = self.grounding
        merged: list[tuple[Interval, Verdict]] = []
        # Pieces that leave the derived fact the same regions share a verdict.
        decided: dict[tuple[Interval, ...], Verdict] = {}
        for piece, inside in operand_pieces(g.policy, use, fact, known):
            given = {**known, fact: inside}
            left = tuple(excluded_regions(g.policy, use, given))
            verdict = decided.get(left)
            if verdict is None:
                verdict = decided[left] = g.verdict_of(given)
            if merged and merged[-1][1] is verdict:
                first = merged[-1][0]
                piece = Interval(first.low, first.low_closed, piece.high, piece.high_closed)
                merged[-1] = (piece, verdict)
            else:
                merged.append((piece, verdict))
        return [Answer(self.display.shown(fact, piece), verdict) for piece, verdict in merged]
