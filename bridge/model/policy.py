"""A policy's vocabulary and criteria, as the rest of the library sees them.

Everything here is declared in the policy's own `.lp` files (fact/2,
option/2, default/2, question/2, criterion/3, role/2, ...) and read by
loading/declarations.py, so a new policy needs no Python.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

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
class PolicySource:
    """A policy's name and entry file, before it is loaded."""

    name: str
    entry: Path

    @property
    def folder(self) -> Path:
        return self.entry.parent


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
