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

History windows moved from B (history_windows.py). The boolean facts of such
a history say where records fall as of a day, so each copy holds its own:
the copies after the first share nothing by name, every other fact is tied
to the first copy's value by constraints, and each copy is pinned with its
class's pins. The records a filling adds are one choice per copy pair (0,
i) of counts per joint class (joint_records.py), which ties copy 0's levels
and copy i's to one set of records: exact. A history whose rules also order,
sum, pair or run its records (derived facts, which the joint counts do not
carry) keeps its facts free per copy: a product that finds no filling with
two verdicts is still exact (no record filling has one); one that finds one
over such a history not stated complete is refused (CaseError naming the
date and the histories).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from clingo import Function

from policykb.bridge.model.errors import CaseError
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
        self.split = split
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
        window = split.window
        self.windowed: frozenset[str] = frozenset() if window is None else window.facts
        keep: frozenset[str] | None = frozenset() if self.windowed else None
        self.histories = (
            {} if window is None else {h: base.policy.histories[h] for h in window.windowed}
        )
        self.joint = bool(self.histories) and not any(h.derived for h in self.histories.values())
        statements = []
        assert base.parsed is not None
        for index, anchors in enumerate(anchored):
            facts = dict(base.policy.facts)
            own_days = {reference: anchors[reference] for reference in references}
            for reference, day in own_days.items():
                facts[reference] = replace(facts[reference], low=day, high=day)
            policy = with_regions(replace(base.policy, facts=facts), refined, {**others, **aliases})
            symbols = region_symbols(policy, base.comparisons, {**others, **own_days})
            if base.policy.histories:
                # The record classes possible as of the copy's day (as the
                # class's own grounding has them: Grounding._ground_regions).
                from policykb.bridge.loading.histories import history_symbols

                symbols += history_symbols(base.policy, {**others, **own_days})
            own = [*base.parsed, *fact_statements(symbols)]
            if index == 0:
                statements += own
            elif keep is None:
                statements += renamed_copy(own, _COPY.format(index))
            else:
                statements += renamed_copy(own, _COPY.format(index), keep)
                statements += _tied(_COPY.format(index))
                if self.joint:
                    statements += self._joint(index, anchored[0], anchors)
            if index == 0:
                self.policy = policy
        if self.windowed:
            # The unknown dates are each copy's own day (one region each).
            linked = [
                f for f in base.policy.facts if f not in self.windowed and f not in references
            ]
            statements += fact_statements(Function("kb_tied", [Function(f)]) for f in linked)
        self.ctl: clingo.Control = ground_with(
            statements, [], f"the day product of policy {base.policy.name!r}"
        )
        self.literals = ValueLiterals(self.ctl, self.policy)
        self.chosen = list(chosen)
        self.covered: list[int | None] = []
        for index in range(len(anchored)):
            name = COVERED.name if index == 0 else _COPY.format(index) + COVERED.name
            atom = self.ctl.symbolic_atoms[Function(name, COVERED.arguments)]
            self.covered.append(None if atom is None else atom.literal)

    def turns(self, known: Assignment) -> bool:
        """Whether some scenario of `known` has two classes with two verdicts."""
        if self.windowed:
            own = self.split.class_known(self.chosen[0], known)
            case = [*self.literals.assumptions(own), *self.literals.known_flags(own)]
        else:
            case = [*self.literals.assumptions(known), *self.literals.known_flags(known)]
        first = self.covered[0]
        for copy, other in enumerate(self.covered[1:], 1):
            own_case = case
            if self.windowed:
                index = self.chosen[copy]
                pins = self._copy_pins(_COPY.format(copy), self.split.class_known(index, known))
                if pins is None:
                    continue
                own_case = [*case, *pins]
            for assumptions in _differing(first, other):
                if assumptions is None:
                    continue
                if self._satisfiable([*own_case, *assumptions]):
                    self._refuse_unless_exact()
                    return True
        return False

    def _joint(
        self, copy: int, first: Mapping[str, int], anchors: Mapping[str, int]
    ) -> list[clingo.ast.AST]:
        """The joint record counts of copies 0 and `copy` (joint_records.py)."""
        from policykb.bridge.loading.region_facts import fact_statements
        from policykb.bridge.solving.joint_records import joint_facts, joint_rules

        assert self.split.window is not None
        stated = self.split.window.stated
        facts = joint_facts(copy, self.histories, stated, first, anchors)
        return [*fact_statements(facts), *joint_rules(copy, _COPY.format(copy))]

    def _refuse_unless_exact(self) -> None:
        """CaseError when a history whose windows move from the date is not
        stated complete and the product does not tie its copies' records
        (see the module docstring)."""
        window = self.split.window
        if window is None or self.joint:
            return
        open_histories = [
            name
            for name in window.windowed
            if name not in window.stated or not window.stated[name].complete
        ]
        if open_histories:
            reference = " and ".join(self.split.references)
            raise CaseError(
                f"the case leaves {reference} unknown and {', '.join(open_histories)} "
                f"not complete: whether the verdict turns on {reference} is not decided "
                f"over the records it may add (state {reference}, or the history complete)"
            )

    def _copy_pins(self, prefix: str, own: Assignment) -> list[int] | None:
        """The assumptions that pin a later copy's own history facts as of its
        class (the other facts are tied to the first copy's)."""
        found: list[int] = []
        atoms = self.ctl.symbolic_atoms
        for fact in sorted(self.windowed):
            flag = atoms[Function(prefix + "known", [Function(fact)])]
            if flag is not None:
                found.append(flag.literal if fact in own else -flag.literal)
            if fact not in own:
                continue
            value = Function("true" if own[fact] is True else "false")
            atom = atoms[Function(prefix + "value", [Function(fact), value])]
            if atom is None:
                return None  # no scenario of the copy gives it that value
            found.append(atom.literal)
        return found

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


def _tied(prefix: str) -> list[clingo.ast.AST]:
    """Constraints that give a copy's tied facts (kb_tied/1) the first copy's
    values and known flags. The text is this module's own: no case data."""
    from clingo import ast

    rules = f"""
    :- kb_tied(F), value(F, V), not {prefix}value(F, V).
    :- kb_tied(F), {prefix}value(F, V), not value(F, V).
    :- kb_tied(F), known(F), not {prefix}known(F).
    :- kb_tied(F), {prefix}known(F), not known(F).
    """
    found: list[clingo.ast.AST] = []
    ast.parse_string(rules, found.append)
    return [s for s in found if s.ast_type != ast.ASTType.Program]
