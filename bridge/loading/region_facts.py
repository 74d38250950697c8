"""The regions the comparisons of a policy's rules divide each typed fact's
values into, and the region/2 and satisfies/3 facts that give them to the
grounded program (kb/core/typed.lp).

Invariant: every value of one region passes or fails each comparison alike,
so one representative value decides a region (`passes`). The facts are built
as clingo AST from symbols, never from text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.comparisons import CUTS, Comparison
from policykb.bridge.model.policy import Fact, FactType, Policy, cell_counts
from policykb.bridge.model.typed import CodeCell, Cut, Interval, code_cells, intervals

if TYPE_CHECKING:
    from collections.abc import Mapping

    from policykb.bridge.model.policy import Region


def passes(fact: Fact, region: Region, comparison: Comparison, anchors: Mapping[str, int]) -> bool:
    """Whether every value of `region` passes the comparison (one value decides:
    regions agree), the reference dates at `anchors`."""
    test = comparison.test
    if isinstance(region, CodeCell):
        return test.arguments[0].name in region.inside
    assert isinstance(region, Interval)
    sample = region.representative(whole=fact.type is not FactType.DECIMAL)
    numbers = comparison.limits(fact, anchors)
    assert numbers is not None
    name = test.name
    if name == "between":
        low, high = numbers
        return low <= sample <= high
    limit = numbers[0]
    if name in ("at_least", "on_or_after"):
        return sample >= limit
    if name in ("at_most", "on_or_before"):
        return sample <= limit
    if name in ("above", "after"):
        return sample > limit
    return sample < limit


def with_regions(
    policy: Policy, comparisons: Sequence[Comparison], anchors: Mapping[str, int]
) -> Policy:
    """The policy with the regions of each typed fact, from the comparisons
    (those with a reference date only where `anchors` give its day)."""
    facts = dict(policy.facts)
    for name, fact in policy.facts.items():
        if not fact.type.typed:
            continue
        tests = [c for c in comparisons if c.fact == name]
        if fact.type.numeric:
            cuts = []
            for comparison in tests:
                numbers = comparison.limits(fact, anchors)
                if numbers is None:
                    continue
                if comparison.test.name == "between":
                    low, high = numbers
                    cuts += [Cut(low, True), Cut(high, False)]
                else:
                    cuts.append(Cut(numbers[0], CUTS[comparison.test.name]))
            whole = fact.type is not FactType.DECIMAL
            regions: tuple[Region, ...] = tuple(intervals(fact.low, fact.high, cuts, whole))
            facts[name] = replace(fact, regions=regions)
        else:
            names = sorted({c.test.arguments[0].name for c in tests})
            sets = tuple(policy.code_sets[n] for n in names)
            cells = tuple(code_cells(fact.system, sets))
            facts[name] = replace(fact, code_sets=sets, regions=cells)
    return replace(policy, facts=facts)


def domain_of(fact: Fact) -> list[tuple[int, Region]]:
    """The regions a scenario may give `fact`, numbered as region/2 numbers them
    (a code list's value is a set of cells in some compared code set)."""
    return [
        (index, region)
        for index, region in enumerate(fact.regions)
        if fact.type is not FactType.CODE_LIST or cell_counts(region)
    ]


def region_symbols(
    policy: Policy, comparisons: Sequence[Comparison], anchors: Mapping[str, int]
) -> list[clingo.Symbol]:
    """region/2 and satisfies/3 facts for every typed fact of `policy` (a test
    against a reference date only where `anchors` give its day)."""
    symbols: list[clingo.Symbol] = []
    for name, fact in policy.facts.items():
        if not fact.type.typed:
            continue
        tests = [
            c
            for c in comparisons
            if c.fact == name and (c.reference is None or c.reference in anchors)
        ]
        for index, region in domain_of(fact):
            symbols.append(Function("region", [Function(name), Number(index)]))
            symbols += [
                Function("satisfies", [Function(name), Number(index), c.test])
                for c in tests
                if passes(fact, region, c, anchors)
            ]
    return symbols


_PLACE = ast.Position("<regions>", 1, 1)
_WHERE = ast.Location(_PLACE, _PLACE)


def fact_statements(symbols: Iterable[clingo.Symbol]) -> list[ast.AST]:
    """Facts as program statements, built from symbols with clingo's AST
    constructors (so renamed copies of the program rename them too)."""
    statements = []
    for symbol in symbols:
        arguments = [ast.SymbolicTerm(_WHERE, argument) for argument in symbol.arguments]
        atom = ast.SymbolicAtom(ast.Function(_WHERE, symbol.name, arguments, 0))
        statements.append(ast.Rule(_WHERE, ast.Literal(_WHERE, ast.Sign.NoSign, atom), []))
    return statements
