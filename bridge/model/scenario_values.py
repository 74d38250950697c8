"""A case value as the value its fact takes in scenarios (its key), and the
explanation item that cites it: computed from the policy alone.

The grounded program (solving/literals.py) and the stored snapshot of a
policy (compile/snapshot.py) both read case values through these two
functions, so the two ways of answering a case number and cite a value
alike.
"""

from __future__ import annotations

from collections.abc import Container

from policykb.bridge.model.policy import Fact, FactType, Policy, Value
from policykb.bridge.model.result import ExplanationItem


def scenario_key(
    declared: Fact, value: object, options: Container[object], other: object
) -> object:
    """The scenario value of a case value: `other` for a string outside the
    fact's `options` (its scenario values), the region of a number, date or
    code, the cells of a code list. A scenario value is its own key."""
    kind = declared.type
    if kind is FactType.STRING and value not in options:
        return other
    if kind is FactType.CODE_LIST:
        assert isinstance(value, frozenset)
        if all(isinstance(item, str) for item in value):
            return declared.cells_of(value)
        return value
    if kind.typed:
        from policykb.bridge.model.typed import CodeCell, Interval  # typed facts only

        if not isinstance(value, Interval | CodeCell):
            return declared.region_of(value)  # type: ignore[arg-type]
    return value


def explanation_item(
    policy: Policy, fact: str, value: Value, assumed: bool, key: object
) -> ExplanationItem:
    """One known fact of an explanation (`key`: its scenario value), citing
    the criterion it speaks to; a number, date or code with the region of
    values that decides it (a policy with histories words their facts'
    regions itself: solving/explanations.py)."""
    citation = policy.citation(fact, value)
    declared = policy.facts[fact]
    region = declared.span(key) if declared.type.typed else None  # type: ignore[arg-type]
    return ExplanationItem(fact, value, citation.criterion, citation.text, assumed, region)
