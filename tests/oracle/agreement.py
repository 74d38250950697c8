"""The comparisons every independent-oracle test module makes, written once.

`oracle` is one of the oracle modules (tests/oracle/ncd_*.py,
ohio_immunomodulators.py): it has `covered`, `domain`, `FACTS` and the
`verdict`, `missing` and `explanations` of tests/oracle/completions.py.

Invariants: each helper only asserts; it never relaxes a comparison (sets are
compared for equality, not inclusion).
"""

from __future__ import annotations

from datetime import date
from itertools import product
from types import ModuleType
from typing import Any

from policykb.bridge.model.result import WhyAnswer


def assert_why_agrees(
    answer: WhyAnswer, oracle: ModuleType, known: dict[str, Any], day: date
) -> set[frozenset[str]]:
    """The encoding's verdict, missing facts and set of minimal explanations
    equal the oracle's for the known facts; returns the explanations found."""
    assert answer.verdict.value == oracle.verdict(known, day)
    assert {m.fact for m in answer.missing} == oracle.missing(known, day)
    found = {frozenset(item.fact for item in e) for e in answer.explanations}
    assert found == oracle.explanations(known, day)
    return found


def assert_enumeration_equals_product(
    oracle: ModuleType, facts: dict[str, Any], unknown: set[str], day: date
) -> None:
    """The oracle's decision-tree enumeration (which branches on a fact only
    where it is read) gives the verdict and missing facts that the plain
    product over every unknown fact's regions gives. `facts` is completed with
    each fact's first stand-in, then the `unknown` facts are forgotten."""
    full = {f: oracle.domain(f, day)[0] for f in oracle.FACTS} | facts
    known = {f: v for f, v in full.items() if f not in unknown}
    free = sorted(unknown)

    def outcome(values: tuple[Any, ...]) -> bool:
        return bool(oracle.covered({**known, **dict(zip(free, values, strict=True))}, day))

    completions = list(product(*(oracle.domain(f, day) for f in free)))
    outcomes = {outcome(values) for values in completions}
    expected = {frozenset({True}): "covered", frozenset({False}): "not_covered"}.get(
        frozenset(outcomes), "needs_information"
    )
    assert oracle.verdict(known, day) == expected
    turns = {
        fact
        for i, fact in enumerate(free)
        for values in completions
        for other in oracle.domain(fact, day)
        if outcome((*values[:i], other, *values[i + 1 :])) != outcome(values)
    }
    assert oracle.missing(known, day) == (turns if expected == "needs_information" else set())
