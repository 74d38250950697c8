"""What an adaptive form concludes once its clinical questions are answered
(DTR 2.2.0, "Determinations from Adaptive Forms"): the coverage information
on the completed QuestionnaireResponse (spec-33) and, where prior
authorization is needed and met, the final question offering its identifier
(spec-41).

When `$next-question` finds no clinical question left (dtr_needed), the
service decides the case the answers make (`Decisions.decide`, channel
`dtr`, audited) and:

- the verdict is covered and the policy states that prior authorization is
  required (`policy(prior_authorization, "required")`): prior authorization
  is necessary and its requirements are satisfied, so the form's last item
  is the question PA_QUESTION, "issue the prior authorization identifier?",
  a choice of HL7 v2 table 0136 (Y / N), and the response stays
  `in-progress` until it is answered (spec-41). Answered Y: the response is
  `completed` with a coverage-information whose `pa-needed` is `satisfied`
  and whose `satisfied-pa-id` is the identifier issued; answered N: the
  same as any other completion, `pa-needed` `auth-needed`;
- otherwise the response is `completed` with a coverage-information as CRD
  builds it for the decision (coverage_information.py): covered or
  not-covered, `pa-needed` as the policy states it, the cited criteria as
  reasons (spec-33).

One coverage-information per Coverage the response names (DTR's
`qr-coverage`, 1..* in its QuestionnaireResponse profile), placed on the
response's root beside `qr-context`. A response naming no Coverage gets
none: the extension's `coverage` is 1..1 ("if no coverage instance is
available, the coverage-information extension cannot be returned"); nor
does one whose orders (`qr-context`) are not all orders CRD was called for
for the response's patient: DTR spec-43 has adaptive forms return coverage
information only "when CRD has already been called and a
coverage-information extension is already present on the relevant order".
`called_for` says it (the hook log's index of the orders CRD answered:
hook_log.HookLog.called_for; how a reference is matched:
crd_orders_called). Neither is offered an identifier; the form still
completes.

The identifier issued is the decision's coverage-assertion-id with a fresh
trace (audit.TRACE_SEPARATOR): unique per issue, and its audit entry (the
facts it was decided on, the policy version, the verdict) is found under it,
so `policykb replay` re-decides what it certifies. A response carrying the
answer Y again gets a new identifier: DTR spec-45 has a new completion
replace the earlier one. The `intendedUse` `withpa` of a response that
carries an identifier becomes `withorder` (DTR's intendedUse extension:
with a prior authorization number, 'retain-doc' and/or 'withorder').

Coverage-information extensions a request carries are the service's own
earlier answer and are replaced on every call (spec-45); the answer to
PA_QUESTION is kept only while the question is asked.

spec-42 (no satisfied-pa-id for a DTR call a PAS request triggered) holds
because this service's PAS never starts DTR: a pended item's note names the
questions and no Task or context is issued.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from policykb.bridge.model.result import Verdict
from policykb.service.coverage_information import (
    COVERAGE_INFORMATION,
    PRIOR_AUTHORIZATION,
    coverage_information,
)
from policykb.service.crd_orders_called import Key, named_orders
from policykb.service.decisions import Decisions
from policykb.service.errors import ServiceError

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
QR_COVERAGE = f"{DTR}/qr-coverage"
INTENDED_USE = f"{DTR}/intendedUse"
CRD_CODES = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes"
YES_NO = "http://terminology.hl7.org/CodeSystem/v2-0136"
PA_QUESTION = "issue-prior-authorization-identifier"
"""The linkId of spec-41's final question (no fact's name: facts have no hyphen)."""


def pa_question() -> dict[str, Any]:
    """spec-41's final question with its response options."""
    return {
        "linkId": PA_QUESTION,
        "type": "choice",
        "required": True,
        "text": "Prior authorization is required and this form meets its requirements. "
        "Should the health plan issue the prior authorization identifier now?",
        "answerOption": [
            {"valueCoding": {"system": YES_NO, "code": "Y", "display": "Yes"}},
            {"valueCoding": {"system": YES_NO, "code": "N", "display": "No"}},
        ],
    }


def pa_answer(response: Mapping[str, Any]) -> bool | None:
    """The answer to PA_QUESTION (None: not answered); any other answer is
    a 422 naming the item (dtr_adaptive makes it spec-147's 400)."""
    items = response.get("item")
    for index, item in enumerate(items if isinstance(items, list) else []):
        if not isinstance(item, Mapping) or item.get("linkId") != PA_QUESTION:
            continue
        where = f"QuestionnaireResponse.item[{index}]"
        given = item.get("answer") or []
        if not isinstance(given, list) or len(given) > 1:
            raise ServiceError(422, f"answer {PA_QUESTION!r} once, Y or N", where=where)
        if not given:
            return None
        coding = given[0].get("valueCoding") if isinstance(given[0], Mapping) else None
        code = coding.get("code") if isinstance(coding, Mapping) else None
        system = coding.get("system", YES_NO) if isinstance(coding, Mapping) else None
        if system != YES_NO or code not in ("Y", "N"):
            raise ServiceError(
                422, f"{PA_QUESTION!r} is answered with a Coding of {YES_NO}: Y or N", where=where
            )
        return bool(code == "Y")
    return None


def without_pa_answer(response: Mapping[str, Any]) -> dict[str, Any]:
    """The response without its answer to PA_QUESTION (not a fact)."""
    stripped = dict(response)
    items = response.get("item")
    if isinstance(items, list):
        stripped["item"] = [
            i for i in items if not (isinstance(i, Mapping) and i.get("linkId") == PA_QUESTION)
        ]
        if not stripped["item"]:
            del stripped["item"]
    return stripped


def coverages(response: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The References of the Coverages the response names (qr-coverage)."""
    extensions = response.get("extension")
    return [
        dict(extension["valueReference"])
        for extension in (extensions if isinstance(extensions, list) else [])
        if isinstance(extension, Mapping)
        and extension.get("url") == QR_COVERAGE
        and isinstance(extension.get("valueReference"), Mapping)
    ]


CalledFor = Callable[[str, list[list[Key]]], bool]
"""Whether every order (its keys) is one CRD was called for, for a patient."""


def _orders_crd_was_called_for(response: Mapping[str, Any], called_for: CalledFor) -> bool:
    """The response names its patient and order(s) (qr-context), each one CRD
    was called for, for that patient (spec-43)."""
    named = named_orders(response)
    return named is not None and called_for(*named)


@dataclass(frozen=True)
class Conclusion:
    """What a form with no clinical question left ends with: complete once
    it offers no identifier or its question is answered."""

    offers_pa: bool
    """spec-41's question is the form's last item."""
    coverage_information: list[dict[str, Any]] = field(default_factory=list)
    issued: bool = False
    """An identifier was issued (satisfied-pa-id)."""


def conclude(
    response: Mapping[str, Any],
    name: str,
    facts: Mapping[str, object],
    decisions: Decisions,
    base: str,
    wants_id: bool | None,
    called_for: CalledFor,
) -> Conclusion:
    """Decide the answered case and conclude the form (see the module)."""
    covered_by = coverages(response)
    if not covered_by or not _orders_crd_was_called_for(response, called_for):
        return Conclusion(offers_pa=False)
    probe = decisions.decide(name, facts, channel="dtr", audit=False)
    stated = probe.policy.info.get("prior_authorization", ("",))[0]
    pa_met = probe.verdict is Verdict.COVERED and PRIOR_AUTHORIZATION.get(stated) == "auth-needed"
    if pa_met and wants_id is None:
        return Conclusion(offers_pa=True)
    issue = pa_met and wants_id is True
    today = datetime.now(UTC).date()
    extensions = []
    for coverage in covered_by:
        decision = decisions.decide(
            name, facts, channel="dtr", trace=uuid.uuid4().hex if issue else None
        )
        extension = coverage_information(decision, coverage, base, today)
        if issue:
            extension = _satisfied(extension, decision.assertion_id)
        extensions.append(extension)
    return Conclusion(offers_pa=pa_met, coverage_information=extensions, issued=issue)


def _satisfied(extension: Mapping[str, Any], identifier: str) -> dict[str, Any]:
    """The coverage-information with `pa-needed` `satisfied` and its
    `satisfied-pa-id` (crd-ci-q5: the one exists if and only if the other)."""
    parts: list[dict[str, Any]] = []
    for part in extension["extension"]:
        if part.get("url") == "pa-needed":
            parts.append({"url": "pa-needed", "valueCode": "satisfied"})
            parts.append({"url": "satisfied-pa-id", "valueString": identifier})
        else:
            parts.append(part)
    return {"url": COVERAGE_INFORMATION, "extension": parts}


def with_conclusion(extensions: Sequence[object], conclusion: Conclusion | None) -> list[object]:
    """The response's root extensions: the earlier coverage-information
    dropped (spec-45: a new completion replaces it), the conclusion's added
    after `qr-context`, and `intendedUse` `withpa` as `withorder` when an
    identifier was issued."""
    kept: list[object] = [
        e
        for e in extensions
        if not (isinstance(e, Mapping) and e.get("url") == COVERAGE_INFORMATION)
    ]
    if conclusion is None:
        return kept
    if conclusion.issued:
        kept = [_without_pa_use(e) for e in kept]
    return kept + list(conclusion.coverage_information)


def _without_pa_use(extension: object) -> object:
    if not isinstance(extension, Mapping) or extension.get("url") != INTENDED_USE:
        return extension
    concept = extension.get("valueCodeableConcept")
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    if not isinstance(codings, list) or not any(
        isinstance(c, Mapping) and c.get("code") == "withpa" for c in codings
    ):
        return extension
    order = {"system": CRD_CODES, "code": "withorder", "display": "Include with order"}
    return {"url": INTENDED_USE, "valueCodeableConcept": {"coding": [order]}}
