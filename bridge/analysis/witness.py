"""Case values for the witnesses of check and diff.

A witness is a case that `policykb evaluate` runs as it is, so every value in
it is a case value: a scenario's stand-in for "any other string" (OTHER)
becomes a string outside the fact's options, regions and code cells become
values inside them, and a product's or ratio's region becomes operand values
that put it there (a case states operands, never the derived fact).
"""

from __future__ import annotations

from collections.abc import Mapping

from policykb.bridge.model.arithmetic import fitting_operands
from policykb.bridge.model.policy import Fact, FactType, Policy, Value
from policykb.bridge.model.typed import CodeCell, Interval
from policykb.bridge.solving.literals import OTHER


def other_string(fact: Fact) -> str:
    """A string outside the options of a string fact: the first of "other",
    "other 2", "other 3", ... that no option spells (options are finitely many)."""
    taken = set(fact.options)
    candidate, number = "other", 1
    while candidate in taken:
        number += 1
        candidate = f"other {number}"
    return candidate


def case_value(fact: Fact, value: object) -> Value:
    """The case value standing for a scenario value of `fact`."""
    if fact.type is FactType.STRING and value == OTHER:
        return other_string(fact)
    if fact.type is FactType.CODE_LIST and isinstance(value, frozenset):
        return frozenset(fact.example(cell) for cell in value)  # type: ignore[misc]
    if fact.type.typed and isinstance(value, Interval | CodeCell):
        return fact.example(value)
    return value  # type: ignore[return-value]


def stated_operands(policy: Policy, scenario: Mapping[str, object]) -> dict[str, object]:
    """A witness scenario with each derived fact (a product or ratio) replaced
    by operand values whose result lies in its region. The scenario space
    holds only regions some operand values within their bounds reach (and
    that the scenario's own operand values reach), so the values exist."""
    found = dict(scenario)
    for use in policy.arithmetic:
        region = found.pop(use.fact, None)
        if not isinstance(region, Interval):
            continue
        values = fitting_operands(policy, use, region, found)
        if values is None:
            raise AssertionError(f"no operand values put {use.fact} in {region}")
        found.update(values)
    return found
