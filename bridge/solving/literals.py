"""The solver literal of each value a fact can take in a grounded program.

With them a case (or a part of one) becomes a list of assumptions, and a
model becomes the facts' values again. Case data never becomes program text.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import clingo
from clingo import Function

from policykb.bridge.loading.declarations import python_value
from policykb.bridge.model.policy import FactType, Policy

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
            key: object = OTHER if value == OTHER else python_value(value)
            if fact.name in self.of:
                self.of[fact.name][key] = atom.literal
                self.symbol[fact.name][key] = value
        self.known = {
            atom.symbol.arguments[0].name: atom.literal
            for atom in ctl.symbolic_atoms.by_signature("known", 1)
        }

    def pin(self, fact: str, value: object) -> list[int]:
        """The assumptions that give `fact` the value `value` (a Value, or OTHER)."""
        domain = self.of[fact]
        kind = self.policy.facts[fact].type
        if kind is FactType.LIST:
            assert isinstance(value, frozenset)
            return [lit if option in value else -lit for option, lit in domain.items()]
        if kind is FactType.STRING and value not in domain:
            return [domain[OTHER]]
        return [domain[value]]

    def assumptions(
        self, known: Mapping[str, object], facts: Iterable[str] | None = None
    ) -> list[int]:
        chosen = known if facts is None else {f: known[f] for f in facts}
        return [lit for fact, value in chosen.items() for lit in self.pin(fact, value)]

    def known_flags(self, known: Mapping[str, object]) -> list[int]:
        return [lit if fact in known else -lit for fact, lit in self.known.items()]

    def values_in(self, true_literals: set[int], facts: Iterable[str]) -> dict[str, object]:
        """The value of each of `facts` in a scenario, given its true literals."""
        values: dict[str, object] = {}
        for fact in facts:
            held = [key for key, lit in self.of[fact].items() if lit in true_literals]
            if self.policy.facts[fact].type is FactType.LIST:
                values[fact] = frozenset(held)
            else:
                values[fact] = held[0] if held else None
        return values
