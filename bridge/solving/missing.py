"""Missing facts: the unknown facts a case's verdict still depends on.

Fact F is missing when some way of filling in the other unknowns makes
coverage turn on F's value (two scenarios differing only in F differ in
verdict). They are the brave consequences of the twin program
(solving/transform.py): two copies of the scenario program that agree on
every fact but the flipped one. The twin is grounded on first use.
"""

from __future__ import annotations

import clingo
from clingo import Function

from policykb.bridge.model.policy import FactType
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.literals import ValueLiterals


class MissingFacts:
    """The missing facts of cases over one grounding."""

    def __init__(self, grounding: Grounding) -> None:
        self.grounding = grounding
        self._twin: clingo.Control | None = None
        self._twin_literals: ValueLiterals | None = None
        self._flip: dict[str, int] = {}
        self._pairs: frozenset[clingo.Symbol] = frozenset()

    def _ensure_twin(self) -> tuple[clingo.Control, ValueLiterals]:
        if self._twin is None or self._twin_literals is None:
            from policykb.bridge.solving.transform import ground_twin

            grounding = self.grounding
            self._twin = ground_twin(grounding.statements, grounding.source.name)
            self._twin.configuration.solve.enum_mode = "brave"  # type: ignore[union-attr]
            self._twin_literals = ValueLiterals(self._twin, grounding.policy)
            self._flip = {
                atom.symbol.arguments[0].name: atom.literal
                for atom in self._twin.symbolic_atoms.by_signature("flip", 1)
            }
        return self._twin, self._twin_literals

    def of(self, known: Assignment) -> list[str]:
        """The unknown facts the verdict on `known` still depends on, in
        vocabulary order."""
        self.grounding.require_anchored()
        twin, literals = self._ensure_twin()
        assumptions = literals.assumptions(known)
        assumptions += [-lit for fact, lit in self._flip.items() if fact in known]
        if self.grounding.policy.arithmetic:
            from policykb.bridge.solving.arithmetic import set_flip_pairs

            self._pairs = set_flip_pairs(twin, self.grounding.policy, literals, known, self._pairs)
        last: list[clingo.Symbol] = []
        with twin.solve(assumptions=assumptions, yield_=True) as handle:
            for model in handle:
                last = model.symbols(shown=True)
        flipped = {symbol.arguments[0].name for symbol in last}
        return [name for name in self.grounding.policy.facts if name in flipped]

    def relevant_options(self, known: Assignment, fact: str) -> list[str]:
        """The options of the unknown list fact `fact` whose membership the
        verdict on `known` can still turn on: for some filling of the other
        unknowns (the fact's other options included), adding or removing that
        option alone changes coverage. An option not among them never
        matters, nor do all of them together (toggling them one at a time
        never changes the verdict), in vocabulary order."""
        self.grounding.require_anchored()
        declared = self.grounding.policy.facts[fact]
        if declared.type is not FactType.LIST or fact in known:
            raise ValueError(f"{fact!r} is not an unknown list fact")
        twin, literals = self._ensure_twin()
        assumptions = literals.assumptions(known)
        assumptions += [-lit for name, lit in self._flip.items() if name in known]
        assumptions.append(self._flip[fact])
        relevant = []
        for option in declared.options:
            one = Function("kb_one_option", [Function(fact), literals.symbol[fact][option]])
            twin.assign_external(one, True)
            try:
                if twin.solve(assumptions=assumptions).satisfiable:
                    relevant.append(option)
            finally:
                twin.assign_external(one, False)
        return relevant
