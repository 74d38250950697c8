"""Whether a verdict turns on a reference date the case leaves unknown.

The reference date B is missing when some filling of the other unknowns
gives two days of B two verdicts. With the day classes of unknown_dates.py,
that is two classes i and j and one scenario of the other facts, covered as
of class i and not as of class j.

The product program asks it in one grounding: one copy of the policy per
class, sharing the scenario (value/2, known/1; transform.renamed_copy). So
that a shared region of a date compared with B means the same days in every
copy, the regions of such dates are cut at the boundaries of every class's
day (the common refinement); B itself has one region in each copy, its
class's day, so its shared value names that day in each. Copy i's region
facts test the relative comparisons as of its own day.

A filling gives B two verdicts exactly when some class's verdict differs
from class 0's in it (if classes i and j differ, one of them differs from
class 0): at most two solves per class.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from clingo import Function

from policykb.bridge.solving.grounding import Assignment
from policykb.bridge.solving.literals import COVERED, ValueLiterals

if TYPE_CHECKING:
    import clingo

    from policykb.bridge.solving.unknown_dates import UnknownDate

_COPY = "day{}_"


class DayProduct:
    """The product program of one case's day classes."""

    def __init__(self, split: UnknownDate, indices: Sequence[int] | None = None) -> None:
        """The copies of the classes `indices` of `split` (default: all). For
        a pair of unknown dates each copy fixes both dates at its class's
        first pair, and the shared dates are cut at both dates' boundaries."""
        from policykb.bridge.loading.region_facts import (
            fact_statements,
            region_symbols,
            with_regions,
        )
        from policykb.bridge.solving.transform import ground_with, renamed_copy

        base = split.base
        references = split.references
        chosen = range(len(split.cases)) if indices is None else indices
        anchored = [split.cases[i][1].anchors for i in chosen]
        others = {
            name: evaluator_day
            for name, evaluator_day in anchored[0].items()
            if name not in references
        }
        # Every class's boundaries, under a name of their own per class.
        aliases: dict[str, int] = {}
        refined = list(base.comparisons)
        for i, anchors in enumerate(anchored):
            for reference in references:
                alias = f"{reference}#{i}"
                aliases[alias] = anchors[reference]
                moved = [c for c in base.comparisons if c.reference == reference]
                refined += [replace(c, reference=alias) for c in moved]
        statements = []
        assert base.parsed is not None
        for index, anchors in enumerate(anchored):
            facts = dict(base.policy.facts)
            own_days = {reference: anchors[reference] for reference in references}
            for reference, day in own_days.items():
                facts[reference] = replace(facts[reference], low=day, high=day)
            policy = with_regions(replace(base.policy, facts=facts), refined, {**others, **aliases})
            symbols = region_symbols(policy, base.comparisons, {**others, **own_days})
            own = [*base.parsed, *fact_statements(symbols)]
            statements += own if index == 0 else renamed_copy(own, _COPY.format(index))
            if index == 0:
                self.policy = policy
        self.ctl: clingo.Control = ground_with(
            statements, [], f"the day product of policy {base.policy.name!r}"
        )
        self.literals = ValueLiterals(self.ctl, self.policy)
        self.covered: list[int | None] = []
        for index in range(len(anchored)):
            name = COVERED.name if index == 0 else _COPY.format(index) + COVERED.name
            atom = self.ctl.symbolic_atoms[Function(name, COVERED.arguments)]
            self.covered.append(None if atom is None else atom.literal)

    def turns(self, known: Assignment) -> bool:
        """Whether some scenario of `known` has two classes with two verdicts."""
        case = [*self.literals.assumptions(known), *self.literals.known_flags(known)]
        first = self.covered[0]
        for other in self.covered[1:]:
            for assumptions in _differing(first, other):
                if assumptions is None:
                    continue
                if self._satisfiable([*case, *assumptions]):
                    return True
        return False

    def _satisfiable(self, assumptions: list[int]) -> bool:
        with self.ctl.solve(assumptions=assumptions, yield_=True) as handle:
            return any(True for _ in handle)


def _differing(first: int | None, other: int | None) -> list[list[int] | None]:
    """The assumptions under which the two copies' covered atoms differ (a copy
    without the atom is never covered); None where they cannot."""
    if first is None and other is None:
        return [None]
    if first is None:
        return [[other]]  # type: ignore[list-item]
    if other is None:
        return [[first]]
    return [[first, -other], [-first, other]]
