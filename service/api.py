"""The JSON API (/v1): the CLI's JSON contracts over HTTP.

    POST /v1/evaluate   a case document -> what `evaluate --format json` prints
    POST /v1/why        a case document -> what `why --format json` prints
    POST /v1/check      {"policy": name} -> what `check --format json` prints
    GET  /v1/policies   the loaded policies: title, version, codes
and for the analyst's page:
    GET  /v1/policies/{name}   its facts (types, options, bounds) and criteria
    POST /v1/prove      a case -> the SWI-Prolog proof tree
    POST /v1/notice     a case -> the notice, as Markdown
    POST /v1/diff       {"old": name, "new": name} -> what `diff --format json` prints
    POST /v1/cases/parse  a case file's text (JSON or YAML) -> the case, checked

A case names its policy by name (never a path); an evaluation is a decision
and is audited like CRD's and PAS's, unless it asks `?audit=false` (an
analyst's what-if on the page is not a decision).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import date
from typing import Any

from policykb.bridge.model.case import Case
from policykb.bridge.model.errors import CaseError, PolicyError, PrologUnavailable, ProofUnsupported
from policykb.bridge.model.policy import Fact, FactType
from policykb.bridge.model.result import Verdict, json_value
from policykb.service.decisions import Decisions
from policykb.service.envelopes.json_api import CaseDocument, CaseText, CheckRequest, DiffRequest
from policykb.service.errors import ServiceError
from policykb.service.routing import SYSTEM_URIS


def _within_policy(text: str) -> str:
    """A message or FILE:LINE with each path cut to the policy folder and file:
    the server's own folders are not the caller's business."""
    import re

    return re.sub(r"(?:/[^/\s:]+)*/([^/\s:]+/[^/\s:]+\.lp)", r"\1", text)


def _known(decisions: Decisions, name: str) -> None:
    if name not in decisions.policies:
        known = ", ".join(decisions.names)
        raise ServiceError(
            404, f"unknown policy {name[:80]!r} (known policies: {known})", where="policy"
        )


def evaluate(decisions: Decisions, document: CaseDocument, audit: bool = True) -> dict[str, Any]:
    _known(decisions, document.policy)
    try:
        decision = decisions.decide(
            document.policy, document.facts, channel="api", case_id=document.id, audit=audit
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
    """check reports by policy and day: a policy's report does not change
    while it is loaded. The most recent `KEPT` are kept (the day is the
    client's to choose)."""

    KEPT = 64

    def __init__(self) -> None:
        from cachetools import LRUCache

        self._reports: LRUCache[tuple[str, date], dict[str, Any]] = LRUCache(self.KEPT)
        self._lock = threading.Lock()

    def report(self, decisions: Decisions, request: CheckRequest) -> dict[str, Any]:
        _known(decisions, request.policy)
        # A policy with reference dates is checked as of the request's day
        # (default today), in the version in force that day.
        key = (request.policy, request.as_of or date.today())
        with self._lock:
            if key not in self._reports:
                knowledge = decisions.knowledge
                evaluator = knowledge.named_evaluator(request.policy, key[1])
                found = knowledge.check(evaluator, key[1]).to_dict()
                found["policy"] = request.policy
                for finding in found["findings"]:
                    if finding.get("location"):
                        finding["location"] = _within_policy(finding["location"])
                self._reports[key] = found
            return self._reports[key]


def policies(decisions: Decisions) -> dict[str, Any]:
    listed = []
    for name in decisions.names:
        policy = decisions.policies[name]
        listed.append(
            {
                "name": name,
                "title": policy.title,
                "payer": policy.payer or None,
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


# -- for the analyst's page ---------------------------------------------------------


def _number(fact: Fact, bound: object) -> object:
    shown = fact.shown(bound)  # type: ignore[arg-type]
    if fact.type is FactType.INT:
        return int(shown)
    if fact.type is FactType.DECIMAL:
        return float(shown)
    return shown


def vocabulary(decisions: Decisions, name: str) -> dict[str, Any]:
    """A policy's facts and criteria, as a form and a criteria tree need them."""
    _known(decisions, name)
    policy = decisions.policies[name]
    facts = []
    for fact in sorted(policy.facts.values(), key=lambda f: f.rank):
        entry: dict[str, Any] = {
            "name": fact.name,
            "type": fact.type.value,
            "question": fact.question,
            "meaning": fact.meaning,
            "clauses": list(fact.clauses),
        }
        if fact.options:
            entry["options"] = [
                {"value": option, "text": fact.option_texts.get(option, option)}
                for option in fact.options
            ]
        if fact.default is not None:
            entry["default"] = json_value(fact.default)
        if fact.low is not None:
            entry["min"] = _number(fact, fact.low)
        if fact.high is not None:
            entry["max"] = _number(fact, fact.high)
        if fact.unit:
            entry["unit"] = fact.unit
        if fact.system:
            entry["system"] = fact.system
        facts.append(entry)
    criteria = [
        {
            "id": c.id,
            "place": c.place,
            "text": c.text,
            "role": c.role.value,
            "section": c.section,
            "parents": list(c.parents),
            "parts": list(c.parts),
            "group": c.group_words,
        }
        for c in policy.criteria.values()
    ]
    headings = [
        {"id": key, "text": text, "path": policy.heading_path(key)}
        for key, text in policy.headings.items()
    ]
    return {
        "name": name,
        "title": policy.title,
        "version": decisions.versions[name],
        "info": {key: list(values) for key, values in policy.info.items()},
        "facts": facts,
        "criteria": criteria,
        "headings": headings,
    }


def _case(decisions: Decisions, document: CaseDocument) -> Case:
    _known(decisions, document.policy)
    try:
        return decisions.knowledge.case(document.model_dump())
    except CaseError as error:
        raise ServiceError(422, str(error), where="facts") from None


def notice(decisions: Decisions, document: CaseDocument) -> dict[str, Any]:
    from policykb.explain.notice import render_notice_markdown

    case = _case(decisions, document)
    evaluation = decisions.knowledge.evaluate(case)
    denied = evaluation.verdict is Verdict.NOT_COVERED
    covered_from = decisions.knowledge.covered_from(case) if denied else None
    markdown = render_notice_markdown(evaluation, decisions.policies[document.policy], covered_from)
    return {"verdict": evaluation.verdict.value, "markdown": markdown}


def prove(decisions: Decisions, document: CaseDocument) -> dict[str, Any]:
    case = _case(decisions, document)
    try:
        verdict, proof = decisions.knowledge.prove(case)
    except ProofUnsupported as error:
        raise ServiceError(422, str(error)) from None
    except PrologUnavailable as error:
        raise ServiceError(503, str(error)) from None
    return {"verdict": verdict.value, "proof": proof}


class DiffReports:
    """diff reports by pair of policies (they do not change while loaded)."""

    def __init__(self) -> None:
        self._reports: dict[tuple[str, str], dict[str, Any]] = {}
        self._lock = threading.Lock()

    def report(self, decisions: Decisions, request: DiffRequest) -> dict[str, Any]:
        from policykb.bridge.analysis.diff import diff_policies

        _known(decisions, request.old)
        _known(decisions, request.new)
        key = (request.old, request.new)
        with self._lock:
            if key not in self._reports:
                knowledge = decisions.knowledge
                old, new = knowledge.named_evaluator(key[0]), knowledge.named_evaluator(key[1])
                try:
                    found = diff_policies(old, new).to_dict()
                except PolicyError as error:
                    raise ServiceError(422, _within_policy(str(error))) from None
                found["old"], found["new"] = key  # names: the server's paths are its own
                self._reports[key] = found
            return self._reports[key]


def parse_case(decisions: Decisions, given: CaseText) -> dict[str, Any]:
    """A case file's text, checked, as a case document."""
    from policykb.bridge.loading.case import case_policy_name, parse_case_text

    try:
        document = parse_case_text(given.text, "case")
        name = (
            given.policy
            if given.policy and not (isinstance(document, dict) and "policy" in document)
            else case_policy_name(document)
        )
        _known(decisions, name)
        case = decisions.knowledge.case(document, policy=name)
    except CaseError as error:
        raise ServiceError(422, str(error), where="text") from None
    facts = {fact: json_value(value) for fact, value in case.facts.items()}
    return {"id": case.id, "policy": name, "facts": facts}
