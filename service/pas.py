"""Da Vinci PAS: `Claim/$submit` with a prior-authorization Bundle, answered
with a ClaimResponse.

The Bundle's first entry is the Claim (use = preauthorization); the others
carry the Patient, Coverage, Conditions, Observations and the
QuestionnaireResponses whose answers fill in what the record does not say
(an answer wins over the record). Each item is routed by its
productOrService code and decided; its adjudication carries PAS's
reviewAction with the X12 306 action code:

    A1 certified       covered
    A3 not certified   not_covered, the reason citing the criteria
    A4 pended          needs_information, the reason listing the questions

An item no policy decides is an error of the request (its code is named),
and so is a fact answered twice with different values (the fact is named).
Every item is decided before any is audited: a request answered 422 leaves
no audit entry, and an answered one leaves one per item.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.result import Verdict
from policykb.service.crd import UNBOUNDED, Budget
from policykb.service.decisions import Decision, Decisions
from policykb.service.dtr import answers, contradiction
from policykb.service.envelopes.fhir import Bundle, entry_count
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.fhir_facts import Resources, service_date
from policykb.service.record import patient_urls
from policykb.service.routing import codings

REVIEW_ACTION = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewAction"
REVIEW_ACTION_CODE = (
    "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/extension-reviewActionCode"
)
X12_306 = "https://codesystem.x12.org/005010/306"
ACTIONS = {
    Verdict.COVERED: ("A1", "Certified in total"),
    Verdict.NOT_COVERED: ("A3", "Not Certified"),
    Verdict.NEEDS_INFORMATION: ("A4", "Pended"),
}
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"


def _reason(decision: Decision) -> str:
    verdict = decision.verdict
    if verdict is Verdict.NEEDS_INFORMATION:
        questions = "; ".join(m.question for m in decision.evaluation.missing)
        return f"Pended: information needed ({questions})"
    cited = " ".join(decision.reasons())
    if verdict is Verdict.NOT_COVERED:
        return f"Not certified under {decision.policy.title}: {cited}"
    return f"Certified under {decision.policy.title}: {cited}"


def _adjudicated(sequence: int, decision: Decision, note: int) -> dict[str, Any]:
    code, display = ACTIONS[decision.verdict]
    review = {
        "url": REVIEW_ACTION,
        "extension": [
            {
                "url": REVIEW_ACTION_CODE,
                "valueCodeableConcept": {
                    "coding": [{"system": X12_306, "code": code, "display": display}]
                },
            },
            {"url": "number", "valueString": decision.assertion_id},
        ],
    }
    return {
        "itemSequence": sequence,
        "noteNumber": [note],
        "adjudication": [
            {
                "extension": [review],
                "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
                "reason": {"text": _reason(decision)[:1000]},
            }
        ],
    }


def submit(
    bundle: object,
    decisions: Decisions,
    budget: Budget = UNBOUNDED,
    pending: list[int] | None = None,
) -> dict[str, Any]:
    """The ClaimResponse to a PAS request Bundle. Its audit entries are on
    disk when this returns, unless `pending` is given: then their numbers are
    added there for the caller to settle (see Decisions.decide)."""
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ServiceError(422, "$submit takes a FHIR Bundle")
    budget.check(0, entry_count(bundle), "Bundle.entry")
    request = validated(Bundle, bundle, 422, "Bundle")
    if not request.entry:
        raise ServiceError(
            422, "the Bundle has no entries (the first must be the Claim)", where="Bundle.entry"
        )
    empty = request.first_without_resource()
    if empty is not None:
        raise ServiceError(422, "each entry must hold a resource", where=f"Bundle.entry[{empty}]")
    resources = request.resources()
    claim = resources[0][1]
    if claim.get("resourceType") != "Claim":
        raise ServiceError(
            422, "the Bundle's first entry must be the Claim", where="Bundle.entry[0]"
        )
    if claim.get("use") != "preauthorization":
        raise ServiceError(422, "the Claim's use must be preauthorization", where="Claim.use")
    items = claim.get("item")
    if not isinstance(items, list) or not items:
        raise ServiceError(422, "the Claim has no items", where="Claim.item")
    budget.check(len(items), 0, "Claim.item")
    others = [r for _, r in resources[1:]]
    of = {
        kind: [r for r in others if r["resourceType"] == kind] for kind in ("Patient", "Coverage")
    }
    patient = of["Patient"][0] if of["Patient"] else None
    record = Resources(  # the patient is the Claim's (its reference may be a urn:uuid fullUrl)
        claim,
        patient,
        of["Coverage"][0] if of["Coverage"] else None,
        [r for r in others if r["resourceType"] == "Condition"],
        [r for r in others if r["resourceType"] == "Observation"],
        patient_urls=patient_urls([request], patient.get("id") if patient else None),
    )
    responses = [(i, r) for i, r in resources[1:] if r["resourceType"] == "QuestionnaireResponse"]
    today = datetime.now(UTC).date()
    adjudicated: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    verdicts: list[Verdict] = []
    decided: list[Decision] = []
    for position, item in enumerate(items):
        where = f"Claim.item[{position}]"
        if not isinstance(item, Mapping):
            raise ServiceError(422, "a Claim item must be an object", where=where)
        sequence = item.get("sequence", position + 1)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise ServiceError(
                422, "'sequence' must be a positive integer", where=f"{where}.sequence"
            )
        routed = decisions.route(item.get("productOrService"), record, today)
        if routed is None:
            shown = (
                ", ".join(str(c.get("code"))[:20] for c in codings(item.get("productOrService")))
                or "none"
            )
            raise ServiceError(
                422,
                f"no policy decides the item's code ({shown})",
                where=f"{where}.productOrService",
            )
        route, read = routed
        facts = dict(read)
        answered: dict[str, tuple[object, str]] = {}
        for index, response in responses:
            here = f"Bundle.entry[{index}].resource"
            for fact, value in answers(response, decisions.policies[route.policy], here).items():
                if fact in answered and answered[fact][0] != value:
                    raise ServiceError(
                        422, contradiction(fact, answered[fact][0], value), where=here
                    )
                answered[fact] = (value, here)
                facts[fact] = value
        facts[route.code.fact] = route.code.value  # the code itself decides what is requested
        from_record = frozenset(f for f in read if facts.get(f) == read[f])
        try:
            decision = decisions.decide(
                route.policy,
                facts,
                channel="pas",
                case_id=f"Claim/{claim.get('id', '')}#{sequence}",
                from_record=from_record,
                service_date=service_date(item) or service_date(claim),
                audit=False,  # audited below, once every item is decided
            )
        except CaseError as error:
            raise ServiceError(422, str(error), where=where) from None
        decided.append(decision)
        note = len(notes) + 1
        notes.append({"number": note, "type": "display", "text": _note(decision)})
        adjudicated.append(_adjudicated(sequence, decision, note))
        verdicts.append(decision.verdict)
    if decisions.audit is not None:
        written = [decisions.audit.record(d, "pas", durable=False) for d in decided]
        if pending is None:
            decisions.settle(written)
        else:
            pending += written
    pended = Verdict.NEEDS_INFORMATION in verdicts
    claim_response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": str(uuid.uuid4()),
        "status": "active",
        "type": claim.get("type")
        or {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                    "code": "professional",
                }
            ]
        },
        "use": "preauthorization",
        "patient": claim.get("patient") or {"display": "unknown"},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "insurer": claim.get("insurer") or {"display": "health plan"},
        "outcome": "queued" if pended else "complete",
        "item": adjudicated,
        "processNote": notes,
    }
    if claim.get("id"):
        claim_response["request"] = {"reference": f"Claim/{claim['id']}"}
    if claim.get("identifier"):
        claim_response["identifier"] = claim["identifier"]
    return claim_response


def _note(decision: Decision) -> str:
    """The decision in plain words, for the requester."""
    evaluation = decision.evaluation
    lines = [_reason(decision)]
    lines += [f"{i.criterion}: {i.fact} = {i.words}" for i in evaluation.explanation]
    return "\n".join(lines)
