"""The solver literal of each value a fact can take in a grounded program.

With them a case (or a part of one) becomes a list of assumptions, and a
model becomes the facts' values again. Case data never becomes program text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import clingo
from clingo import Function

from policykb.bridge.loading.declaration_atoms import python_value
from policykb.bridge.model.policy import Policy
from policykb.bridge.model.scenario_values import scenario_key

COVERED = Function("verdict", [Function("covered")])
OTHER = Function("other_value")


class ValueLiterals:
    """The solver literal and symbol of each value/2 atom of a grounded program."""

    def __init__(self, ctl: clingo.Control, policy: Policy) -> None:
        self.policy = policy
        self.of: dict[str, dict[object, int]] = {name: {} for name in policy.facts}
        self.symbol: dict[str, dict[object, clingo.Symbol]] = {name: {} for name in policy.facts}
        for atom in ctl.symbolic_atoms.by_signature("value", 2):
            fact, value = atom.symbol.arguments
            declared = policy.facts.get(fact.name)
            key: object = OTHER if value == OTHER else python_value(value)
            if declared is not None and declared.type.typed:
                key = declared.regions[value.number]  # region/2 numbers the regions
            if fact.name in self.of:
                self.of[fact.name][key] = atom.literal
                self.symbol[fact.name][key] = value
        self.known = {
            atom.symbol.arguments[0].name: atom.literal
            for atom in ctl.symbolic_atoms.by_signature("known", 1)
        }
        # Whether a stated operand of a product or ratio is given another
        # value (kb/meta/closest.lp); only in a program with those rules, and
        # assumed false only by a closest-counterexample query (query.py).
        self.moved = {
            atom.symbol.arguments[0].name: atom.literal
            for atom in ctl.symbolic_atoms.by_signature("kb_arith_moved", 1)
        }

    def key(self, fact: str, value: object) -> object:
        """The scenario value of a case value: OTHER for a string outside the
        options, the region of a number, date or code, the cells of a code list.
        A scenario value is its own key."""
        return scenario_key(self.policy.facts[fact], value, self.of[fact], OTHER)

    def pin(self, fact: str, value: object) -> list[int]:
        """The assumptions that give `fact` the value `value` (a case value or a
        scenario value)."""
        domain = self.of[fact]
        key = self.key(fact, value)
        if self.policy.facts[fact].type.many:
            assert isinstance(key, frozenset)
            return [lit if option in key else -lit for option, lit in domain.items()]
        return [domain[key]]

    def assumptions(
        self, known: Mapping[str, object], facts: Iterable[str] | None = None
    ) -> list[int]:
        chosen = known if facts is None else {f: known[f] for f in facts}
        pinned = [lit for fact, value in chosen.items() for lit in self.pin(fact, value)]
        for use in self.policy.arithmetic:
            # A derived fact takes only the regions its operands' values reach.
            from policykb.bridge.model.arithmetic import excluded_regions

            domain = self.of[use.fact]
            pinned += [
                -domain[r] for r in excluded_regions(self.policy, use, chosen) if r in domain
            ]
        return pinned

    def known_flags(self, known: Mapping[str, object]) -> list[int]:
        return [lit if fact in known else -lit for fact, lit in self.known.items()]

    def values_in(self, true_literals: set[int], facts: Iterable[str]) -> dict[str, object]:
        """The value of each of `facts` in a scenario, given its true literals."""
        values: dict[str, object] = {}
        for fact in facts:
            held = [key for key, lit in self.of[fact].items() if lit in true_literals]
            if self.policy.facts[fact].type.many:
                values[fact] = frozenset(held)
            else:
                values[fact] = held[0] if held else None
        return values
