"""A policy's vocabulary and criteria, read from its grounded ASP program.

Everything here is declared in the policy's own `.lp` files (fact/2,
option/2, default/2, question/2, criterion/3, role/2, ...), so a new policy
needs no Python.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TypeAlias

import clingo

from policykb.bridge.errors import PolicyError
from policykb.bridge.kb_files import PolicySource

Value: TypeAlias = bool | str | frozenset[str]
"""A fact's value: bool, an enum option or string, or a set of list options."""


class FactType(StrEnum):
    BOOL = "bool"
    ENUM = "enum"
    LIST = "list"
    STRING = "string"


class Role(StrEnum):
    INDICATION = "indication"
    EXCLUSION = "exclusion"
    PREREQUISITE = "prerequisite"
    REQUIREMENT = "requirement"


@dataclass(frozen=True)
class Citation:
    """The criterion (and its words) an explanation cites for a fact's value."""

    criterion: str
    text: str


@dataclass(frozen=True)
class Fact:
    """One fact of a policy's vocabulary."""

    name: str
    type: FactType
    rank: int
    options: tuple[str, ...] = ()
    default: Value | None = None
    question: str = ""
    meaning: str = ""
    clauses: tuple[str, ...] = ()
    citations: Mapping[Value, Citation] = field(default_factory=dict)

    @property
    def type_label(self) -> str:
        """The type as a user reads it in an error or a listing."""
        if self.type is FactType.ENUM:
            return "one of " + ", ".join(self.options)
        if self.type is FactType.LIST:
            return "a list of " + ", ".join(self.options)
        return {"bool": "true or false", "string": "a string"}[self.type.value]


@dataclass(frozen=True)
class Criterion:
    """One criterion of a policy, with the policy's own words."""

    id: str
    place: str
    text: str
    role: Role
    section: str | None = None
    parent: str | None = None
    parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class Policy:
    """A policy's declarations: its document, facts and criteria."""

    name: str
    source: PolicySource
    info: Mapping[str, tuple[str, ...]]
    facts: Mapping[str, Fact]
    criteria: Mapping[str, Criterion]
    headings: Mapping[str, str] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.info.get("title", (self.name,))[0]

    def fact(self, name: str) -> Fact:
        return self.facts[name]

    def citation(self, fact: str, value: Value) -> Citation:
        """What an explanation cites when it rests on `fact` having `value`."""
        declared = self.facts[fact]
        if value in declared.citations:
            return declared.citations[value]
        for clause in declared.clauses:
            if clause in self.criteria:
                return Citation(clause, self.criteria[clause].text)
        clause = declared.clauses[0] if declared.clauses else ""
        return Citation(clause, declared.meaning)


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
            raise PolicyError(
                f"fact {name}: unknown type {kind} (use bool, enum, list or string)"
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
            raise PolicyError(f"default/2 names {key}, which is not a declared fact")
        fact = facts[key]
        if fact.type is FactType.BOOL and not isinstance(default, bool):
            raise PolicyError(f"default of {key} must be true or false, not {default}")
        if fact.type is FactType.ENUM and default not in fact.options:
            raise PolicyError(f"default of {key} must be {fact.type_label}, not {default}")
        if fact.type is FactType.LIST:
            raise PolicyError(f"list fact {key} cannot have a default")
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
            raise PolicyError(f"criterion {key} has no role/2 declaration")
        try:
            parsed_role = Role(role)
        except ValueError:
            raise PolicyError(f"criterion {key}: unknown role {role}") from None
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


def read_policy(source: PolicySource, ctl: clingo.Control) -> Policy:
    """Read a policy's declarations from its grounded scenario program."""
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
