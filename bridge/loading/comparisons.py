"""The comparisons a policy's rules make on its typed facts, and the regions
they divide each fact's values into.

Rules compare numbers, dates and codes only through the core predicates of
kb/core/typed.lp (at_least(bmi, 35), has_code_in(diagnoses, diabetes), ...).
A date may also be compared with a *reference date*, another date fact plus or
minus a duration (on_or_after(evaluation_date, date_of_service, months(-6))):
the reference date is a point of the case, so the regions of the compared
date are cut where the reference date, moved by the duration, falls. They
are read here from the parsed rules and checked when the policy loads:
a comparison on a fact of the wrong type, a threshold that is not a constant
of the fact's type, an undeclared code set, or a rule that reads a typed fact
through value/2 or compares fact values natively is refused with its file and
line. The durations are read by durations.py; the regions and their
region/2 and satisfies/3 facts are built by region_facts.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import clingo
from clingo import Function, ast

from policykb.bridge.loading.durations import (
    NOT_A_DURATION,
    RELATIVE,
    constant_symbol,
    duration_of,
    duration_symbol,
)
from policykb.bridge.loading.fact_declarations import typed_constant
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import Fact, FactType, Policy
from policykb.bridge.model.typed import Duration

if TYPE_CHECKING:
    from collections.abc import Mapping

    from policykb.bridge.model.typed import Number as Limit

# (test name, arity of the rule atom) -> the fact types it applies to; the
# names are rules.TYPED_TESTS.
NUMBER = frozenset({FactType.INT, FactType.DECIMAL})
DATE = frozenset({FactType.DATE})
CODES = frozenset({FactType.CODE, FactType.CODE_LIST})
TESTS: dict[tuple[str, int], frozenset[FactType]] = {
    ("at_least", 2): NUMBER,
    ("at_most", 2): NUMBER,
    ("above", 2): NUMBER,
    ("below", 2): NUMBER,
    ("between", 3): NUMBER | DATE,
    ("on_or_after", 2): DATE,
    ("on_or_before", 2): DATE,
    ("after", 2): DATE,
    ("before", 2): DATE,
    ("has_code_in", 2): CODES,
    # A date against a reference date moved by a duration.
    ("on_or_after", 3): DATE,
    ("on_or_before", 3): DATE,
    ("after", 3): DATE,
    ("before", 3): DATE,
}
# Where each test puts its constant: values at or above (True) or above it.
CUTS = {
    "at_least": True,
    "on_or_after": True,
    "below": True,
    "before": True,
    "above": False,
    "after": False,
    "at_most": False,
    "on_or_before": False,
}


@dataclass(frozen=True)
class Comparison:
    """One test a rule makes on a typed fact, as satisfies/3 names it; for a
    date compared with a reference date, that date and the duration."""

    fact: str
    test: clingo.Symbol
    reference: str | None = None
    duration: Duration | None = None

    def limits(self, fact: Fact, anchors: Mapping[str, int]) -> list[Limit] | None:
        """The numbers (day numbers for dates) the test compares `fact` with;
        None for a reference date the anchors do not give."""
        if self.reference is None:
            found = [typed_constant(fact, argument) for argument in self.test.arguments]
            return [n for n in found if n is not None]
        if self.reference not in anchors:
            return None
        from datetime import date

        assert self.duration is not None
        return [self.duration.after(date.fromordinal(anchors[self.reference])).toordinal()]


class _Reader(ast.Transformer):
    """Collects the comparisons of one statement and refuses what is unsound."""

    def __init__(self, policy: Policy, where: str) -> None:
        self.policy = policy
        self.where = where
        self.found: list[Comparison] = []

    def fail(self, message: str) -> PolicyError:
        return PolicyError(f"{self.where}: {message}")

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            return node
        if symbol.name == "value" and len(symbol.arguments) == 2:
            fact = constant_symbol(symbol.arguments[0])
            declared = self.policy.facts.get(fact.name) if fact is not None else None
            if declared is not None and declared.type.typed:
                raise self.fail(
                    f"value({declared.name}, ...) reads a {declared.type.value} fact; compare "
                    "it with "
                    + ", ".join(sorted({n for (n, _), t in TESTS.items() if declared.type in t}))
                )
        if (symbol.name, len(symbol.arguments)) in TESTS:
            self.found.append(self._comparison(symbol))
        return node

    def _comparison(self, symbol: ast.AST) -> Comparison:
        name = symbol.name
        first = constant_symbol(symbol.arguments[0])
        fact = (
            self.policy.facts.get(first.name)
            if first is not None and first.type == clingo.SymbolType.Function
            else None
        )
        if fact is None:
            raise self.fail(
                f"{name}/{len(symbol.arguments)}: the first argument must be a declared "
                f"fact, not {symbol.arguments[0]}"
            )
        kinds = TESTS[name, len(symbol.arguments)]
        if fact.type not in kinds:
            allowed = " or ".join(sorted(k.value for k in kinds))
            raise self.fail(f"{name} compares {allowed} facts; {fact.name} is {fact.type.value}")
        if name in RELATIVE:
            relative = self._relative(name, fact, symbol.arguments[1:])
            if relative is not None:
                return relative
        arguments = [constant_symbol(term) for term in symbol.arguments[1:]]
        for term, constant in zip(symbol.arguments[1:], arguments, strict=True):
            if constant is None:
                raise self.fail(f"{name}({fact.name}, ...): {term} must be a constant")
            if fact.type in CODES:
                if (
                    constant.type != clingo.SymbolType.Function
                    or constant.name not in self.policy.code_sets
                ):
                    raise self.fail(
                        f"{name}({fact.name}, {constant}): no code set {constant} (code_set/2)"
                    )
            elif typed_constant(fact, constant) is None:
                expected = 'a date "YYYY-MM-DD"' if fact.type is FactType.DATE else "a number"
                raise self.fail(f"{name}({fact.name}, ...): {constant} is not {expected}")
        test = Function(name, [a for a in arguments if a is not None])
        return Comparison(fact.name, test)

    def _relative(self, name: str, fact: Fact, terms: Sequence[ast.AST]) -> Comparison | None:
        """A date compared with a reference date (the second argument names a
        date fact), moved by the duration of a third argument; None when the
        second argument is a constant."""
        second = constant_symbol(terms[0])
        named = (
            second is not None
            and second.type == clingo.SymbolType.Function
            and not second.arguments
            and second.name in self.policy.facts
        )
        if not named:
            if len(terms) == 2:
                raise self.fail(
                    f"{name}({fact.name}, {terms[0]}, {terms[1]}): {terms[0]} must be a "
                    "declared date fact"
                )
            return None
        assert second is not None
        reference = self.policy.facts[second.name]
        if reference.type is not FactType.DATE:
            raise self.fail(
                f"{name}({fact.name}, {reference.name}, ...): {reference.name} is "
                f"{reference.type.value}; a date is compared with a date fact"
            )
        if reference.name == fact.name:
            raise self.fail(f"{name}({fact.name}, {fact.name}, ...) compares a date with itself")
        duration = Duration()
        if len(terms) == 2:
            found = duration_of(terms[1])
            if found is None:
                raise self.fail(
                    f"{name}({fact.name}, {reference.name}, {terms[1]}): {NOT_A_DURATION}"
                )
            duration = found
        test = Function(
            name,
            [Function(reference.name)] + ([duration_symbol(duration)] if len(terms) == 2 else []),
        )
        return Comparison(fact.name, test, reference.name, duration)


def _native_comparisons(statement: ast.AST, policy: Policy, where: str) -> None:
    """Refuse a rule that orders a fact's value natively (V >= 35 after value(F, V)):
    fact values are names, so such a comparison is not arithmetic."""
    bound: dict[str, str] = {}
    for literal in statement.body:
        if (
            literal.ast_type != ast.ASTType.Literal
            or literal.atom.ast_type != ast.ASTType.SymbolicAtom
        ):
            continue
        symbol = literal.atom.symbol
        if (
            symbol.ast_type == ast.ASTType.Function
            and symbol.name == "value"
            and len(symbol.arguments) == 2
        ):
            fact = constant_symbol(symbol.arguments[0])
            value = symbol.arguments[1]
            if (
                fact is not None
                and value.ast_type == ast.ASTType.Variable
                and fact.name in policy.facts
            ):
                bound[value.name] = fact.name
    ordering = {
        ast.ComparisonOperator.LessThan,
        ast.ComparisonOperator.LessEqual,
        ast.ComparisonOperator.GreaterThan,
        ast.ComparisonOperator.GreaterEqual,
    }
    for literal in statement.body:
        if (
            literal.ast_type == ast.ASTType.Literal
            and literal.atom.ast_type == ast.ASTType.Comparison
            # = and != compare names as names: only an order is misleading.
            and any(guard.comparison in ordering for guard in literal.atom.guards)
        ):
            names = {str(v) for v in _variables(literal.atom)}
            for variable in sorted(names & bound.keys()):
                raise PolicyError(
                    f"{where}: {literal} compares the value of fact {bound[variable]} as a "
                    "term; declare it int, decimal or date and use at_least, below, between, ..."
                )


def _variables(node: ast.AST) -> Iterable[str]:
    found: list[str] = []

    class Collect(ast.Transformer):
        def visit_Variable(self, variable: ast.AST) -> ast.AST:
            found.append(variable.name)
            return variable

    Collect()(node)
    return found


def comparisons_of(statements: Sequence[ast.AST], policy: Policy) -> list[Comparison]:
    """Every comparison the policy's own rules make, each checked (PolicyError
    with file and line otherwise)."""
    core = {str(path) for path in core_files()}
    found: dict[Comparison, None] = {}
    for statement in statements:
        if statement.ast_type != ast.ASTType.Rule:
            continue
        if statement.location.begin.filename in core:
            continue
        where = location(statement)
        reader = _Reader(policy, where)
        for literal in statement.body:
            reader(literal)
        _native_comparisons(statement, policy, where)
        found.update(dict.fromkeys(reader.found))
    return list(found)


def references(comparisons: Iterable[Comparison]) -> dict[str, list[str]]:
    """Each reference date and the dates the rules compare with it."""
    found: dict[str, list[str]] = {}
    for comparison in comparisons:
        if comparison.reference is not None:
            compared = found.setdefault(comparison.reference, [])
            if comparison.fact not in compared:
                compared.append(comparison.fact)
    return found
