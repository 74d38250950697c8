"""Reading a policy's declarations from its grounded scenario program.

fact/2, option/2, default/2, question/2, meaning/2, clause/2, cites/4,
criterion/3, role/2, under/2, part_of/2, heading/2 and policy/2 become the
typed Policy of model/policy.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import clingo
from clingo import ast

from policykb.bridge.loading.parsing import policy_statements
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import (
    Citation,
    Criterion,
    Fact,
    FactType,
    Policy,
    PolicySource,
    Role,
    Value,
)


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


def _facts_of(ctl: clingo.Control, name: str, arity: int) -> Iterator[tuple[clingo.Symbol, ...]]:
    for atom in ctl.symbolic_atoms.by_signature(name, arity):
        if atom.is_fact:
            yield tuple(atom.symbol.arguments)


def _text(symbol: clingo.Symbol) -> str:
    return symbol.string if symbol.type == clingo.SymbolType.String else str(symbol)


def _read_facts(ctl: clingo.Control) -> dict[str, Fact]:
    types: dict[str, FactType] = {}
    for name, kind in _facts_of(ctl, "fact", 2):
        try:
            types[name.name] = FactType(kind.name)
        except ValueError:
            raise DeclarationError(
                f"fact {name}: unknown type {kind} (use bool, enum, list or string)",
                ("fact", 2, str(name)),
            ) from None
    options: dict[str, list[str]] = defaultdict(list)
    for name, option in _facts_of(ctl, "option", 2):
        options[name.name].append(str(python_value(option)))
    ranks = {name.name: rank.number for name, rank in _facts_of(ctl, "rank", 2)}
    questions = {name.name: _text(text) for name, text in _facts_of(ctl, "question", 2)}
    meanings = {name.name: _text(text) for name, text in _facts_of(ctl, "meaning", 2)}
    clauses: dict[str, list[str]] = defaultdict(list)
    for name, clause in _facts_of(ctl, "clause", 2):
        clauses[name.name].append(_text(clause))
    citations: dict[str, dict[Value, Citation]] = defaultdict(dict)
    for name, value, clause, text in _facts_of(ctl, "cites", 4):
        citations[name.name][python_value(value)] = Citation(_text(clause), _text(text))
    defaults: dict[str, Value] = {}
    for name, value in _facts_of(ctl, "default", 2):
        defaults[name.name] = python_value(value)

    order = sorted(types, key=lambda n: (ranks.get(n, len(types) + 1), n))
    facts: dict[str, Fact] = {}
    for rank, key in enumerate(order, start=1):
        facts[key] = Fact(
            name=key,
            type=types[key],
            rank=rank,
            options=tuple(options[key]),
            default=defaults.get(key),
            question=questions.get(key, f"What is {key}?"),
            meaning=meanings.get(key, ""),
            clauses=tuple(sorted(clauses[key])),
            citations=citations[key],
        )
    for key, default in defaults.items():
        if key not in facts:
            raise DeclarationError(
                f"default/2 names {key}, which is not a declared fact", ("default", 2, key)
            )
        fact = facts[key]
        if fact.type is FactType.BOOL and not isinstance(default, bool):
            raise DeclarationError(
                f"default of {key} must be true or false, not {default}", ("default", 2, key)
            )
        if fact.type is FactType.ENUM and default not in fact.options:
            raise DeclarationError(
                f"default of {key} must be {fact.type_label}, not {default}", ("default", 2, key)
            )
        if fact.type is FactType.LIST:
            raise DeclarationError(f"list fact {key} cannot have a default", ("default", 2, key))
    return facts


def _read_criteria(ctl: clingo.Control) -> dict[str, Criterion]:
    roles = {_text(c): r.name for c, r in _facts_of(ctl, "role", 2)}
    sections = {_text(c): _text(s) for c, s in _facts_of(ctl, "under", 2)}
    parents = {_text(c): _text(p) for c, p in _facts_of(ctl, "part_of", 2)}
    criteria: dict[str, Criterion] = {}
    for ident, place, text in _facts_of(ctl, "criterion", 3):
        key = _text(ident)
        role = roles.get(key)
        if role is None:
            raise DeclarationError(
                f"criterion {key} has no role/2 declaration", ("criterion", 3, key)
            )
        try:
            parsed_role = Role(role)
        except ValueError:
            raise DeclarationError(
                f"criterion {key}: unknown role {role}", ("role", 2, key)
            ) from None
        criteria[key] = Criterion(
            id=key,
            place=_text(place),
            text=_text(text),
            role=parsed_role,
            section=sections.get(key),
            parent=parents.get(key),
            parts=tuple(c for c, p in parents.items() if p == key),
        )
    return criteria


class DeclarationError(PolicyError):
    """A declaration is wrong; `declaration` (predicate, arity, first argument)
    lets read_policy name the file and line where it is written."""

    def __init__(self, message: str, declaration: tuple[str, int, str]) -> None:
        super().__init__(message)
        self.declaration = declaration


def declared_at(source: PolicySource, predicate: str, arity: int, first: str) -> str | None:
    """FILE:LINE of the statement whose head is predicate(first, ...) in the
    policy's files (parsed again: only an error message needs it)."""
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
            and str(symbol.arguments[0]).strip('"') == first
        ):
            return location(statement)
    return None


def read_policy(source: PolicySource, ctl: clingo.Control) -> Policy:
    """Read a policy's declarations from its grounded scenario program.

    A wrong declaration is a PolicyError that names its file and line."""
    try:
        return _read_policy(source, ctl)
    except DeclarationError as error:
        where = declared_at(source, *error.declaration)
        if where is None:
            raise
        raise PolicyError(f"{where}: {error}") from None


def _read_policy(source: PolicySource, ctl: clingo.Control) -> Policy:
    info: dict[str, list[str]] = defaultdict(list)
    for key, text in _facts_of(ctl, "policy", 2):
        info[str(key)].append(_text(text))
    facts = _read_facts(ctl)
    if not facts:
        raise PolicyError(f"policy {source.name!r} declares no facts (fact/2)")
    return Policy(
        name=source.name,
        source=source,
        info={key: tuple(values) for key, values in info.items()},
        facts=facts,
        criteria=_read_criteria(ctl),
        headings={_text(s): _text(t) for s, t in _facts_of(ctl, "heading", 2)},
    )
