"""The JSON API (/v1): the CLI's JSON contracts over HTTP.

    POST /v1/evaluate   a case document -> what `evaluate --format json` prints
    POST /v1/why        a case document -> what `why --format json` prints
    POST /v1/check      {"policy": name} -> what `check --format json` prints
    GET  /v1/policies   the loaded policies: title, version, codes

A case names its policy by name (never a path); an evaluation is a decision
and is audited like CRD's and PAS's.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from policykb.bridge.model.case import DEFAULT_POLICY
from policykb.bridge.model.errors import CaseError
from policykb.service.decisions import Decisions
from policykb.service.errors import ServiceError
from policykb.service.routing import SYSTEM_URIS

MAX_CHANGES = 1000


class CaseDocument(BaseModel):
    """A case, as in a case file: facts by name; absent or null is unknown."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field("case", max_length=200)
    policy: str = Field(DEFAULT_POLICY, max_length=200, description="A policy name (never a path).")
    facts: dict[str, Any] = Field(default_factory=dict)


class CheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    policy: str = Field(DEFAULT_POLICY, max_length=200)


def _known(decisions: Decisions, name: str) -> None:
    if name not in decisions.policies:
        known = ", ".join(decisions.names)
        raise ServiceError(
            404, f"unknown policy {name[:80]!r} (known policies: {known})", where="policy"
        )


def evaluate(decisions: Decisions, document: CaseDocument) -> dict[str, Any]:
    _known(decisions, document.policy)
    try:
        decision = decisions.decide(
            document.policy, document.facts, channel="api", case_id=document.id
        )
    except CaseError as error:
        raise ServiceError(422, str(error), where="facts") from None
    return decision.evaluation.to_dict()


def why(
    decisions: Decisions, document: CaseDocument, max_changes: int, keep: Sequence[str]
) -> dict[str, Any]:
    _known(decisions, document.policy)
    knowledge = decisions.knowledge
    try:
        case = knowledge.case(document.model_dump())
    except CaseError as error:
        raise ServiceError(422, str(error), where="facts") from None
    unknown = [fact for fact in keep if fact not in decisions.policies[document.policy].facts]
    if unknown:
        raise ServiceError(
            422, f"keep names {unknown[0][:80]!r}, not a fact of {document.policy}", where="keep"
        )
    return knowledge.why(case, document.policy, max_changes, keep).to_dict()


class CheckReports:
    """check reports by policy: a policy's report does not change while it is loaded."""

    def __init__(self) -> None:
        self._reports: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def report(self, decisions: Decisions, request: CheckRequest) -> dict[str, Any]:
        _known(decisions, request.policy)
        with self._lock:
            if request.policy not in self._reports:
                knowledge = decisions.knowledge
                found = knowledge.check(knowledge.named_evaluator(request.policy))
                self._reports[request.policy] = found.to_dict()
            return self._reports[request.policy]


def policies(decisions: Decisions) -> dict[str, Any]:
    listed = []
    for name in decisions.names:
        policy = decisions.policies[name]
        listed.append(
            {
                "name": name,
                "title": policy.title,
                "version": decisions.versions[name],
                "codes": [
                    {"system": SYSTEM_URIS.get(code.system, code.system), "code": code.code}
                    for code in policy.codes
                ],
                "facts": [
                    fact.name for fact in sorted(policy.facts.values(), key=lambda f: f.rank)
                ],
            }
        )
    return {"policies": listed}
