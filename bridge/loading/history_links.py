"""The program statements that link a policy's histories to kb/core/history.lp.

The successor facts of counts up to MAX_COUNT, and for each history: its
levels, the conditions each record class meets and the option of each field
counted distinct, its count thresholds, windows and distinct counts, the
statements of its order, sum, pair and run facts, and for each class and
level the boolean fact and the rule reading it. All are
clingo AST built from symbols at LINKS_FILE, where analyses treat them as
the core; nothing here reads case data.
"""

from __future__ import annotations

from collections.abc import Iterable

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.history_orders import order_statements
from policykb.bridge.loading.history_pairs import pair_statements
from policykb.bridge.loading.history_runs import run_statements
from policykb.bridge.loading.history_sums import sum_statements
from policykb.bridge.model.history import MAX_COUNT, History

LINKS_FILE = "<histories>"
"""Where the generated statements say they stand: analyses treat them as the core."""
_PLACE = ast.Position(LINKS_FILE, 1, 1)
_WHERE = ast.Location(_PLACE, _PLACE)


def _atom(name: str, arguments: Iterable[clingo.Symbol]) -> ast.AST:
    terms = [ast.SymbolicTerm(_WHERE, a) for a in arguments]
    return ast.SymbolicAtom(ast.Function(_WHERE, name, terms, 0))


def _literal(name: str, arguments: Iterable[clingo.Symbol]) -> ast.AST:
    return ast.Literal(_WHERE, ast.Sign.NoSign, _atom(name, arguments))


def link_statements(histories: Iterable[History]) -> list[ast.AST]:
    """The facts and rules that link each history's boolean facts to the core."""
    statements: list[ast.AST] = []

    def fact(name: str, *arguments: clingo.Symbol) -> None:
        statements.append(ast.Rule(_WHERE, _literal(name, arguments), []))

    for count in range(MAX_COUNT + 1):
        fact("kb_history_next", Number(count), Number(count + 1))
    for history in histories:
        h = Function(history.name)
        for level in range(1, history.cap + 1):
            fact("kb_history_level", h, Number(level))
        for record_class in history.classes:
            c = Number(record_class.index)
            for condition in sorted(record_class.meets):
                fact("kb_history_matches", h, c, Function(condition))
            for field_name, option in record_class.options:
                fact("kb_history_field", h, c, Function(field_name), _option(option))
        for condition, count in history.thresholds:
            fact("kb_history_count", h, Function(condition), Number(count))
        for condition, window, direction in history.orders:
            fact("kb_history_order", h, Function(condition), Function(window), Function(direction))
            fact("kb_history_pair", h, Function(condition), Function(window))
            for ends, side, made in history.beyond:
                if (ends, side) == (window, direction):
                    fact("kb_history_pair", h, Function(condition), Function(made))
        for window, direction, made in history.beyond:
            fact("kb_history_beyond", h, Function(window), Function(direction), Function(made))
        for condition, field_name, count in history.distinct_counts:
            fact("kb_history_distinct", h, Function(condition), Function(field_name), Number(count))
        order_statements(history, fact, Function)
        sum_statements(history, fact, Function)
        pair_statements(history, fact, Function)
        run_statements(history, fact, Function)
        for use in history.derived:
            head = _literal("kb_history_derived", [Function(use.fact)])
            body = [_literal("value", [Function(use.fact), Function("true")])]
            statements.append(ast.Rule(_WHERE, head, body))
        for record_class, level, name in history.level_facts():
            fact("fact", Function(name), Function("bool"))
            c, k = Number(record_class.index), Number(level)
            head = _literal("kb_history_has", [h, c, k])
            body = [
                _literal("value", [Function(name), Function("true")]),
                _literal("kb_history_possible", [h, c]),
            ]
            statements.append(ast.Rule(_WHERE, head, body))
    return statements


def _option(option: str) -> clingo.Symbol:
    return Number(int(option)) if option.lstrip("-").isdigit() else Function(option)
