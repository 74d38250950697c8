"""What `check` reports: findings, each with its kind, level and witness case.

A finding is the model of one thing check found (kb/meta/check.lp's
questions, the vocabulary, the versions' periods, the second engine); the
report is a policy's findings, warnings first. Standard data only: the
wording of a finding for people is explain/findings.py's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from policykb.bridge.model.policy import Value
from policykb.bridge.model.result import Verdict, json_value
from policykb.bridge.model.version import PolicyVersion


class Kind(StrEnum):
    OVERLAP = "overlap"
    REDUNDANT = "redundant"
    UNREACHABLE = "unreachable"
    SHADOWED = "shadowed"
    GAP = "gap"
    RANGE_GAP = "range_gap"
    VOCABULARY = "vocabulary"
    CLAUSE = "clause"
    """A criterion's rules read a fact whose clause/2 lines name neither it
    nor a criterion it is part of (clauses.py). Its own kind, so that an
    `acknowledge(vocabulary, "*", ...)` written for facts no rule reads
    does not also acknowledge it."""
    UNPROVABLE = "unprovable"
    VERSIONS = "versions"
    """The periods of a policy's versions overlap or leave days uncovered."""


class Level(StrEnum):
    WARNING = "warning"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class Finding:
    """One thing `check` found, with a witness case where one can exist."""

    kind: Kind
    criteria: tuple[str, ...]
    message: str
    witness: Mapping[str, Value] | None = None
    verdict: Verdict | None = None
    level: Level = Level.WARNING
    reason: str | None = None
    location: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind.value,
            "criteria": list(self.criteria),
            "message": self.message,
            "witness": None
            if self.witness is None
            else {"facts": {f: json_value(v) for f, v in self.witness.items()}},
            "verdict": None if self.verdict is None else self.verdict.value,
            "level": self.level.value,
        }
        if self.reason is not None:
            found["acknowledged"] = self.reason
        if self.location is not None:
            found["location"] = self.location
        return found


@dataclass(frozen=True)
class CheckReport:
    policy: str
    findings: tuple[Finding, ...]
    version: PolicyVersion | None = None

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.WARNING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "version": self.version.to_dict() if self.version else None,
            "findings": [f.to_dict() for f in self.findings],
        }
