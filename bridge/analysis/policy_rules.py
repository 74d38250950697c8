"""The policy's own rules that take part in the verdict, numbered for check and diff."""

from __future__ import annotations

from dataclasses import dataclass

import clingo
from clingo import ast

from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.history_links import LINKS_FILE
from policykb.bridge.loading.rules import depends_on, short_location
from policykb.bridge.solving.evaluator import Evaluator


@dataclass(frozen=True)
class PolicyRule:
    """A rule of the policy (not of the core) that takes part in the verdict."""

    index: int
    statement: ast.AST
    head: str
    criterion: str | None
    location: str
    facts: frozenset[str]


def _head_criterion(statement: ast.AST) -> tuple[str, str | None]:
    symbol = statement.head.atom.symbol
    criterion = None
    if symbol.arguments and symbol.arguments[0].ast_type == ast.ASTType.SymbolicTerm:
        value = symbol.arguments[0].symbol
        if value.type == clingo.SymbolType.String:
            criterion = value.string
    return str(symbol.name), criterion


def policy_rules(evaluator: Evaluator) -> list[PolicyRule]:
    """The policy's own rules with a body, whose head the verdict depends on."""
    # The rules that link a history's facts to the core are the core's own.
    core = {str(path) for path in core_files()} | {LINKS_FILE}
    verdict_predicates = depends_on(evaluator.rules, ["verdict"])
    found: list[PolicyRule] = []
    infos = iter(evaluator.rules)
    for statement in evaluator.statements:
        if statement.ast_type != ast.ASTType.Rule:
            continue
        info = next(infos)
        begin = statement.location.begin
        if begin.filename in core or info.choice or info.head is None or not statement.body:
            continue
        if info.head not in verdict_predicates:
            continue
        head, criterion = _head_criterion(statement)
        found.append(
            PolicyRule(
                len(found), statement, head, criterion, short_location(statement), info.facts
            )
        )
    return found
