"""Programs built from parsed statements, with clingo's AST.

- `ground_with`: statements plus meta-programs of kb/meta, grounded.
- `renamed_copy`: a second copy of a program that shares only the scenario
  (value/2, known/1) with the first, for product programs (check, diff).
- `ground_twin`: two copies that agree on every fact but one, to ask which
  unknown facts a verdict still depends on.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import clingo
from clingo import ast

from policykb.bridge.loading.files import meta_file
from policykb.bridge.loading.parsing import parse_program
from policykb.bridge.solving.control import ground_base, new_control

TWIN_PREFIX = "twin_"


def ground_with(
    statements: Sequence[ast.AST],
    extra: Sequence[Path],
    what: str,
    options: Sequence[str] = ("--opt-mode=opt",),
    observer: clingo.Observer | None = None,
) -> clingo.Control:
    """Statements (without #show) plus the program files `extra`, grounded
    (`observer` sees the ground rules)."""
    messages: list[str] = []
    ctl = new_control(messages, options)
    if observer is not None:
        ctl.register_observer(observer)
    with ast.ProgramBuilder(ctl) as builder:
        for statement in statements:
            if statement.ast_type not in SHOW_TYPES:
                builder.add(statement)
        for statement in parse_program(extra):
            builder.add(statement)
    ground_base(ctl, messages, what)
    return ctl


class Rename(ast.Transformer):
    """Prefix predicate names, so a second copy of a program shares no atom with
    the first, except the predicates in `keep` (such as the scenario's value/2)."""

    def __init__(self, prefix: str, keep: frozenset[str] = frozenset()) -> None:
        self.prefix = prefix
        self.keep = keep

    def _renamed(self, function: ast.AST) -> ast.AST:
        if function.name in self.keep:
            return function
        return function.update(name=self.prefix + function.name)

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type == ast.ASTType.Function:
            return node.update(symbol=self._renamed(symbol))
        if symbol.ast_type == ast.ASTType.Pool:
            renamed = [self._renamed(arg) for arg in symbol.arguments]
            return node.update(symbol=symbol.update(arguments=renamed))
        return node


SHOW_TYPES = {ast.ASTType.ShowSignature, ast.ASTType.ShowTerm}
SCENARIO_PREDICATES = frozenset({"value", "known"})


def renamed_copy(
    statements: Sequence[ast.AST], prefix: str, keep: frozenset[str] = SCENARIO_PREDICATES
) -> list[ast.AST]:
    """A copy of `statements` (without #show) whose predicates are prefixed,
    sharing the scenario (value/2, known/1) with the original by default."""
    rename = Rename(prefix, keep)
    return [rename(s) for s in statements if s.ast_type not in SHOW_TYPES]


def ground_twin(statements: Sequence[ast.AST], name: str) -> clingo.Control:
    """The twin program of a policy, grounded: see kb/meta/twin.lp."""
    messages: list[str] = []
    ctl = new_control(messages)
    rename = Rename(TWIN_PREFIX)
    with ast.ProgramBuilder(ctl) as builder:
        for statement in (s for s in statements if s.ast_type not in SHOW_TYPES):
            builder.add(statement)
            builder.add(rename(statement))
        for link in parse_program([meta_file("twin")]):
            builder.add(link)
    ground_base(ctl, messages, f"the twin of policy {name!r}")
    return ctl
