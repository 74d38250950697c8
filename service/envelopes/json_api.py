"""The JSON API's (/v1) requests and answers.

Requests are closed (an unknown field is a 422 naming it). An answer that is
one of the CLI's JSON contracts (evaluate, why, check, diff) is described by
its top-level fields; its items are the CLI's, documented with it, and are
open objects here so that the contract has one definition (bridge's to_dict).
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from policykb.bridge.model.case import DEFAULT_POLICY

MAX_CHANGES = 1000
NAME = Field(max_length=200)
VerdictName = Literal["covered", "not_covered", "needs_information"]

# -- requests ----------------------------------------------------------------------


class CaseDocument(BaseModel):
    """A case, as in a case file: facts by name; absent or null is unknown."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field("case", max_length=200)
    policy: str = Field(DEFAULT_POLICY, max_length=200, description="A policy name (never a path).")
    facts: dict[str, Any] = Field(default_factory=dict)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(DEFAULT_POLICY, max_length=200)
    as_of: date | None = Field(
        None,
        description="The day to check as of (YYYY-MM-DD): the version in force that day, "
        "and the day a policy's reference dates are grounded at (the CLI's --as-of). "
        "Default: today.",
    )


class DiffRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    old: str = Field(max_length=200, description="The old version: a policy name.")
    new: str = Field(max_length=200, description="The new version: a policy name.")


class CaseText(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=1 << 20, description="A case file's text: JSON or YAML.")
    policy: str | None = Field(
        None, max_length=200, description="The policy, if the case names none."
    )


# -- answers: the CLI's contracts ----------------------------------------------------------


class Open(BaseModel):
    """An answer whose further fields are the CLI's (kept as they are)."""

    model_config = ConfigDict(extra="allow")


class EvaluationAnswer(Open):
    """What `policykb evaluate --format json` prints."""

    id: str
    policy: str
    verdict: VerdictName
    criteria: dict[str, str]
    explanation: list[dict[str, Any]]
    missing: list[dict[str, Any]]
    warnings: list[dict[str, Any]]
    version: dict[str, Any] | None


class WhyAnswer(Open):
    """What `policykb why --format json` prints."""

    id: str
    policy: str
    verdict: VerdictName
    explanations: list[list[dict[str, Any]]]
    target: VerdictName
    changes: list[list[dict[str, Any]]]
    changes_capped: bool
    missing: list[dict[str, Any]]


class CheckAnswer(Open):
    """What `policykb check --format json` prints (locations within the policy folder)."""

    policy: str
    findings: list[dict[str, Any]]


class DiffAnswer(Open):
    """What `policykb diff --format json` prints, with the two policies by name."""

    old: str
    new: str
    changes: list[dict[str, Any]]
    criteria: list[dict[str, Any]]


# -- answers of the service's own ------------------------------------------------------------


class Coding(BaseModel):
    system: str
    code: str


class PolicySummary(BaseModel):
    name: str
    title: str
    payer: str | None = Field(
        description="Who applies the policy (its policy(payer, ...)); null when undeclared."
    )
    version: str = Field(description="The content hash of the version in force today.")
    codes: list[Coding]
    facts: list[str]


class PolicyList(BaseModel):
    policies: list[PolicySummary]


class Option(BaseModel):
    value: str
    text: str


class FactEntry(BaseModel):
    """A fact as the page's form needs it (bounds in the fact's own type)."""

    name: str
    type: str
    question: str
    meaning: str
    clauses: list[str]
    options: list[Option] | None = None
    default: Any = None
    min: Any = None
    max: Any = None
    unit: str | None = None
    system: str | None = None


class CriterionEntry(BaseModel):
    id: str
    place: str
    text: str
    role: str
    section: str | None
    parents: list[str]
    parts: list[str]
    group: str


class Heading(BaseModel):
    id: str
    text: str
    path: list[str]


class Vocabulary(BaseModel):
    """A policy's facts and criteria, as a form and a criteria tree need them."""

    name: str
    title: str
    version: str
    info: dict[str, list[Any]]
    facts: list[FactEntry]
    criteria: list[CriterionEntry]
    headings: list[Heading]


class NoticeAnswer(BaseModel):
    verdict: VerdictName
    markdown: str


class ProofAnswer(BaseModel):
    verdict: VerdictName
    proof: Any = Field(description="The SWI-Prolog proof tree.")


class ParsedCase(BaseModel):
    id: str
    policy: str
    facts: dict[str, Any]


class Health(BaseModel):
    status: Literal["ok"]
