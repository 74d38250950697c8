"""Durations as written in a comparison with a reference date
(on_or_after(evaluation_date, date_of_service, months(-6) + month_end)), and
the constants of written terms.

A combined duration (months(3) - days(29)) is rewritten when the policy loads
to the one grounded term the rules and the region facts share
(steps(months(3), days(-29))); one not well formed is refused with its file
and line. Terms are built from clingo symbols, never from text.
"""

from __future__ import annotations

from collections.abc import Sequence

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.typed import (
    CALENDAR_STEPS,
    COMBINED,
    DURATION_UNITS,
    Duration,
    Step,
)

# The comparisons with a reference date (rules.TYPED_TESTS, arity 3).
RELATIVE = frozenset({"on_or_after", "on_or_before", "after", "before"})


def _step(term: ast.AST, sign: int) -> Step | None:
    """days(N), weeks(N) or months(N) with a whole number N (negated when
    `sign` is -1), month_start or month_end (not negated), or None."""
    if term.ast_type == ast.ASTType.SymbolicTerm:
        symbol = term.symbol
        if symbol.type != clingo.SymbolType.Function:
            return None
        if not symbol.arguments and symbol.name in CALENDAR_STEPS and symbol.positive:
            return Step.calendar(symbol.name) if sign == 1 else None
        if len(symbol.arguments) != 1:
            return None
        name, count = symbol.name, symbol.arguments[0]
    elif term.ast_type == ast.ASTType.Function and not term.arguments and not term.external:
        return Step.calendar(term.name) if term.name in CALENDAR_STEPS and sign == 1 else None
    elif term.ast_type == ast.ASTType.Function and len(term.arguments) == 1:
        name, count = term.name, constant_symbol(term.arguments[0])
    else:
        return None
    if name not in DURATION_UNITS or count is None or count.type != clingo.SymbolType.Number:
        return None
    return Step(sign * count.number, name)


def duration_of(term: ast.AST, sign: int = 1) -> Duration | None:
    """A duration as written: one step, or steps joined by + and -, each step
    optionally negated (months(3) - days(29), -weeks(2) + days(1)); the
    grounded form steps(...) too. None for anything else."""
    if term.ast_type == ast.ASTType.BinaryOperation and term.operator_type in (
        ast.BinaryOperator.Plus,
        ast.BinaryOperator.Minus,
    ):
        left = duration_of(term.left, sign)
        right = duration_of(
            term.right, -sign if term.operator_type == ast.BinaryOperator.Minus else sign
        )
        if left is None or right is None:
            return None
        return Duration(left.steps + right.steps)
    if term.ast_type == ast.ASTType.UnaryOperation and (
        term.operator_type == ast.UnaryOperator.Minus
    ):
        return duration_of(term.argument, -sign)
    if (
        term.ast_type == ast.ASTType.SymbolicTerm
        and term.symbol.type == clingo.SymbolType.Function
        and term.symbol.name == COMBINED
    ):
        return Duration.parse(str(term.symbol)) if sign == 1 else None
    step = _step(term, sign)
    return Duration((step,)) if step is not None else None


def duration_symbol(duration: Duration) -> clingo.Symbol:
    """The grounded term of a duration of one step or more (Duration.term)."""
    steps = [
        Function(step.unit)
        if step.unit in CALENDAR_STEPS
        else Function(step.unit, [Number(step.count)])
        for step in duration.steps
    ]
    return steps[0] if len(steps) == 1 else Function(COMBINED, steps)


NOT_A_DURATION = (
    "the duration must be days(N), weeks(N) or months(N) with a whole number N, "
    "month_start or month_end, or such steps joined by + and - (months(3) - days(29), "
    "months(-12) + month_end; month_start and month_end are not negated)"
)


class _Durations(ast.Transformer):
    """Rewrites each combined duration of a comparison with a reference date
    (months(3) - days(29)) to the one term the grounded rules and the region
    facts share (steps(months(3), days(-29))); refuses one not well formed."""

    def __init__(self, where: str) -> None:
        self.where = where

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            return node
        if symbol.name == "condition_test" and len(symbol.arguments) == 3:
            return self._history_test(node)
        if symbol.name not in RELATIVE or len(symbol.arguments) != 3:
            return node
        written = symbol.arguments[2]
        if written.ast_type not in (ast.ASTType.BinaryOperation, ast.ASTType.UnaryOperation):
            return node
        duration = duration_of(written)
        if duration is None or not duration.steps:
            raise PolicyError(
                f"{self.where}: {symbol.name}({symbol.arguments[0]}, {symbol.arguments[1]}, "
                f"{written}): {NOT_A_DURATION}"
            )
        term = ast.SymbolicTerm(written.location, duration_symbol(duration))
        arguments = [*symbol.arguments[:2], term]
        return node.update(symbol=symbol.update(arguments=arguments))

    def _history_test(self, node: ast.AST) -> ast.AST:
        """A record condition's relative date test, condition_test(C, date,
        on_or_before(date_of_service, months(-12) + month_end)): clingo would
        evaluate the sum of two terms as undefined and drop the whole fact
        without a word, so the duration is rewritten here like a rule's."""
        symbol = node.symbol
        test = symbol.arguments[2]
        if (
            test.ast_type != ast.ASTType.Function
            or test.name not in RELATIVE
            or len(test.arguments) != 2
        ):
            return node
        written = test.arguments[1]
        if written.ast_type not in (ast.ASTType.BinaryOperation, ast.ASTType.UnaryOperation):
            return node
        duration = duration_of(written)
        if duration is None or not duration.steps:
            raise PolicyError(
                f"{self.where}: condition_test({symbol.arguments[0]}, {symbol.arguments[1]}, "
                f"{test.name}({test.arguments[0]}, {written})): {NOT_A_DURATION}"
            )
        term = ast.SymbolicTerm(written.location, duration_symbol(duration))
        moved = test.update(arguments=[test.arguments[0], term])
        return node.update(symbol=symbol.update(arguments=[*symbol.arguments[:2], moved]))


def written_durations(statements: Sequence[ast.AST]) -> list[ast.AST]:
    """The statements with every combined duration of the policy's own rules
    in its grounded form (PolicyError with file and line for one not well
    formed); the core's statements as they are."""
    core = {str(path) for path in core_files()}
    rewritten = []
    for statement in statements:
        if statement.ast_type == ast.ASTType.Rule and statement.location.begin.filename not in core:
            statement = _Durations(location(statement))(statement)
        rewritten.append(statement)
    return rewritten


def constant_symbol(term: ast.AST) -> clingo.Symbol | None:
    """The constant a written term stands for (a symbol, a name, a negated
    number), or None for a term that is not constant."""
    if term.ast_type == ast.ASTType.SymbolicTerm:
        symbol: clingo.Symbol = term.symbol
        return symbol
    if term.ast_type == ast.ASTType.Function and not term.arguments:
        return Function(term.name)
    if (
        term.ast_type == ast.ASTType.UnaryOperation
        and term.operator_type == ast.UnaryOperator.Minus
        and term.argument.ast_type == ast.ASTType.SymbolicTerm
        and term.argument.symbol.type == clingo.SymbolType.Number
    ):
        return Number(-term.argument.symbol.number)
    return None
