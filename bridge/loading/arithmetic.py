"""Reading product/3 and ratio/3: a policy's derived number facts, checked.

`ratio(ahi, apnea_events, sleep_hours).` declares that the decimal fact ahi
is apnea_events / sleep_hours; `product(D, X, Y)` that D is X * Y. The rules
compare D like any number fact (at_least(ahi, 15)); a case states the
operands, never D. A declaration is admitted only where
model/arithmetic.py answers exactly, and only when the derived fact's
declared unit is its operands' units multiplied or divided by UCUM (a fact
without a unit counts as 1; ucum.py); anything else is refused with its
file and line, saying what to change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import clingo
from clingo import ast

from policykb.bridge.loading.durations import constant_symbol
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.rules import location
from policykb.bridge.model.arithmetic import KINDS, WHOLE_LIMIT, ArithmeticUse
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import FactType, Policy

NUMBER = (FactType.INT, FactType.DECIMAL)


def declared_uses(statements: Sequence[ast.AST]) -> list[tuple[ast.AST, str, list[ast.AST]]]:
    """Each product/3 or ratio/3 the policy's own files state: the statement,
    its kind and its argument terms."""
    core = {str(path) for path in core_files()}
    found = []
    for statement in statements:
        if statement.ast_type != ast.ASTType.Rule or statement.location.begin.filename in core:
            continue
        head = statement.head
        if head.ast_type != ast.ASTType.Literal or head.atom.ast_type != ast.ASTType.SymbolicAtom:
            continue
        symbol = head.atom.symbol
        if (
            symbol.ast_type == ast.ASTType.Function
            and symbol.name in KINDS
            and len(symbol.arguments) == 3
        ):
            if statement.body:
                raise PolicyError(
                    f"{location(statement)}: {symbol.name}/3 is a declaration; state it as a fact"
                )
            found.append((statement, symbol.name, list(symbol.arguments)))
    return found


def with_arithmetic(statements: Sequence[ast.AST], policy: Policy, compared: set[str]) -> Policy:
    """The policy with its checked derived facts; `compared` names the facts
    the rules compare directly. PolicyError with file and line otherwise."""
    uses: list[ArithmeticUse] = []
    for statement, kind, terms in declared_uses(statements):
        uses.append(_checked(policy, kind, terms, location(statement), compared))
    seen: dict[str, str] = {}
    for use in uses:
        for name in (use.fact, *use.operands):
            if name in seen:
                raise PolicyError(
                    f"{use.where}: {name} also appears in the {kind_of(uses, name)} declared "
                    f"at {seen[name]}; each fact may take part in one product or ratio "
                    "(shared operands would tie the derived facts together)"
                )
        for name in (use.fact, *use.operands):
            seen[name] = use.where
    return replace(policy, arithmetic=tuple(uses))


def kind_of(uses: Sequence[ArithmeticUse], name: str) -> str:
    use = next(u for u in uses if name in (u.fact, *u.operands))
    return use.kind


def _checked(
    policy: Policy, kind: str, terms: Sequence[ast.AST], where: str, compared: set[str]
) -> ArithmeticUse:
    shown = f"{kind}({', '.join(str(t) for t in terms)})"
    names = []
    for term in terms:
        constant = constant_symbol(term)
        if (
            constant is None
            or constant.type != clingo.SymbolType.Function
            or constant.arguments
            or constant.name not in policy.facts
        ):
            raise PolicyError(f"{where}: {shown}: {term} is not a declared fact")
        names.append(constant.name)
    fact, left, right = names
    if len(set(names)) < 3:
        raise PolicyError(f"{where}: {shown}: the derived fact and its two operands must differ")
    derived = policy.facts[fact]
    if derived.type is not FactType.DECIMAL:
        raise PolicyError(
            f"{where}: {shown}: {fact} is {derived.type.value}; a derived fact is decimal"
        )
    if derived.low is not None or derived.high is not None or derived.default is not None:
        raise PolicyError(
            f"{where}: {shown}: {fact} takes its values from {left} and {right}; declare "
            "no bounds and no default for it"
        )
    for name in (left, right):
        operand = policy.facts[name]
        if operand.type not in NUMBER:
            raise PolicyError(
                f"{where}: {shown}: {name} is {operand.type.value}; an operand is int or decimal"
            )
        if operand.low is None or operand.high is None:
            raise PolicyError(
                f"{where}: {shown}: {name} needs both bounds (bounds/3) for an exact answer"
            )
        if operand.type is FactType.INT and operand.high - operand.low >= WHOLE_LIMIT:
            raise PolicyError(
                f"{where}: {shown}: {name} allows more than {WHOLE_LIMIT} whole values; "
                "narrow its bounds or declare it decimal"
            )
        if name in compared:
            raise PolicyError(
                f"{where}: {shown}: the rules compare {name} itself; compare it only "
                f"through {fact} (or declare a second fact for it)"
            )
    if kind == "ratio":
        divisor = policy.facts[right]
        assert divisor.low is not None and divisor.high is not None
        if divisor.low <= 0 <= divisor.high:
            raise PolicyError(
                f"{where}: {shown}: the bounds of the divisor {right} include 0; "
                "declare bounds above 0 (or below 0)"
            )
    units = [policy.facts[name].unit for name in (left, right, fact)]
    if any(units):
        from policykb.bridge.loading.ucum import derived_unit

        differs = derived_unit(kind, *units)
        if differs is not None:
            raise PolicyError(f"{where}: {shown}: the units do not agree: {differs}")
    return ArithmeticUse(kind, fact, left, right, where)
