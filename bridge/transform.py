"""Programs built from parsed statements, with clingo's AST.

- `policy_statements`: a policy's statements (core + policy), parsed once.
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

from policykb.bridge.errors import PolicyError
from policykb.bridge.kb_files import PolicySource
from policykb.bridge.program import collect_messages, ground_base, new_control, policy_files

TWIN_PREFIX = "twin_"

# Two copies of the policy that agree on every fact except the one flipped,
# and whose verdicts differ. Built from fixed text, never from case data.
TWIN_LINK = """
1 { flip(F) : fact(F, _) } 1.
:- value(F, V), not twin_value(F, V), not flip(F).
:- twin_value(F, V), not value(F, V), not flip(F).
kb_same(F) :- flip(F), twin_value(F, V) : value(F, V); value(F, V) : twin_value(F, V).
:- flip(F), kb_same(F).
kb_changes :- verdict(X), twin_verdict(Y), X != Y.
:- not kb_changes.
#show flip/1.
"""


def parse_program(files: Sequence[Path]) -> list[ast.AST]:
    """Parse program files (following their #include directives) into statements."""
    statements: list[ast.AST] = []
    messages: list[str] = []
    try:
        ast.parse_files(
            [str(f) for f in files], statements.append, logger=collect_messages(messages)
        )
    except RuntimeError as error:
        detail = "; ".join(messages) or str(error)
        raise PolicyError(f"cannot parse the policy: {detail}") from None
    return statements


def policy_statements(source: PolicySource) -> list[ast.AST]:
    """The parsed statements of a policy with the core, without #show."""
    return parse_program(policy_files(source))


def ground_with(statements: Sequence[ast.AST], extra: str, what: str) -> clingo.Control:
    """Statements (without #show) plus the fixed program text `extra`, grounded."""
    messages: list[str] = []
    ctl = clingo.Control(["--opt-mode=opt"], logger=collect_messages(messages), message_limit=20)
    with ast.ProgramBuilder(ctl) as builder:
        for statement in statements:
            if statement.ast_type not in SHOW_TYPES:
                builder.add(statement)
        ast.parse_string(extra, builder.add)
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
    """The twin program of a policy, grounded: see TWIN_LINK."""
    messages: list[str] = []
    ctl = new_control(messages)
    rename = Rename(TWIN_PREFIX)
    with ast.ProgramBuilder(ctl) as builder:
        for statement in (s for s in statements if s.ast_type not in SHOW_TYPES):
            builder.add(statement)
            builder.add(rename(statement))
        ast.parse_string(TWIN_LINK, builder.add)
    ground_base(ctl, messages, f"the twin of policy {name!r}")
    return ctl
