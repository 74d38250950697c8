"""The ground atoms of a policy's declarations, read as Python values, and the
error that points back at the declaration's file and line.

Invariant: only facts of the grounded program are read (`facts_of` skips atoms
that are not facts), so a declaration is what the policy states, not what a
rule may derive.
"""

from __future__ import annotations

from collections.abc import Iterator

import clingo

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import PolicySource, Value


def python_value(symbol: clingo.Symbol) -> Value:
    """The Python value of a constant or string in the policy program."""
    if symbol.type == clingo.SymbolType.String:
        return symbol.string
    if symbol.type == clingo.SymbolType.Number:
        return str(symbol.number)
    if symbol.name == "true":
        return True
    if symbol.name == "false":
        return False
    return symbol.name


def facts_of(ctl: clingo.Control, name: str, arity: int) -> Iterator[tuple[clingo.Symbol, ...]]:
    """The arguments of each fact name/arity of the grounded program."""
    for atom in ctl.symbolic_atoms.by_signature(name, arity):
        if atom.is_fact:
            yield tuple(atom.symbol.arguments)


def symbol_text(symbol: clingo.Symbol) -> str:
    """A string constant's text, or any other symbol as written."""
    return symbol.string if symbol.type == clingo.SymbolType.String else str(symbol)


class DeclarationError(PolicyError):
    """A declaration is wrong; `declaration` (predicate, arity, first argument)
    lets read_policy name the file and line where it is written."""

    def __init__(self, message: str, declaration: tuple[str, int, str, *tuple[str, ...]]) -> None:
        super().__init__(message)
        self.declaration = declaration


def declared_at(
    source: PolicySource, predicate: str, arity: int, first: str, *rest: str
) -> str | None:
    """FILE:LINE of the statement whose head is predicate(first, *rest, ...) in
    the policy's files (parsed again: only an error message needs it)."""
    from clingo import ast  # parsing is the error's path only

    from policykb.bridge.loading.parsing import policy_statements
    from policykb.bridge.loading.rules import location

    for statement in policy_statements(source):
        if statement.ast_type != ast.ASTType.Rule:
            continue
        atom = statement.head.atom if statement.head.ast_type == ast.ASTType.Literal else None
        if atom is None or atom.ast_type != ast.ASTType.SymbolicAtom:
            continue
        symbol = atom.symbol
        if (
            symbol.ast_type == ast.ASTType.Function
            and symbol.name == predicate
            and len(symbol.arguments) == arity
            and [str(a).strip('"') for a in symbol.arguments[: 1 + len(rest)]] == [first, *rest]
        ):
            return location(statement)
    return None
