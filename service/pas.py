"""Da Vinci PAS: `Claim/$submit` with a prior-authorization Bundle, answered
with a response Bundle whose first entry is the ClaimResponse (the PAS
Claim-submit OperationDefinition; PAS Response Bundle and Claim Response
profiles, PAS 2.2).

The request Bundle's first entry is the Claim (use = preauthorization); the
others carry the Patient, Coverage, Conditions, Observations and the
QuestionnaireResponses whose answers fill in what the record does not say
(an answer wins over the record). The Claim's own `diagnosis` codes (ICD-10,
where X12 carries them) count as the patient's conditions. Each item is
routed by its productOrService code and decided on its own; its adjudication
carries PAS's reviewAction with the X12 306 action code and the item's
coverage-assertion-id as its number:

    A1 certified       covered
    A3 not certified   not_covered, the reason citing the criteria
    A4 pended          needs_information, the reason listing the questions;
                       or the item cannot be decided here (no policy decides
                       its code, or its answers contradict each other or are
                       not the policy's), the reason saying which

A QuestionnaireResponse is applied to the items whose policy's Questionnaire
it answers (its `questionnaire` canonical names `.../Questionnaire/<policy>`,
or, for an adaptive form, `#id` a contained Questionnaire derived from
`.../Questionnaire/<policy>-adaptive`; the answer to DTR spec-41's identifier
question is not a fact and is not read);
one that names no Questionnaire is applied to every item; one that names a
Questionnaire the service did not issue is not read (a processNote says so).

`outcome` is from PAS's required binding: complete when every item was
decided (pended for information included), partial when some item could not
be decided; `error` is never an answer: a request the service cannot read at
all (not a Bundle, no Claim first, no items) is a 422 OperationOutcome.
`request` always refers to the Claim: by `Claim/<id>`, else by its entry's
fullUrl, else it states that the reference is unknown (data-absent-reason).

Every item is decided before any is audited, and each decided item leaves
one audit entry; a request answered 422 leaves none.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.result import Verdict
from policykb.explain.wording import item_words
from policykb.service.decisions import Decision, Decisions
from policykb.service.dtr import answers, complete_histories, contradiction
from policykb.service.dtr_adaptive import adaptive_policy
from policykb.service.dtr_determination import without_pa_answer
from policykb.service.envelopes.fhir import Bundle, entry_count
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.record import CONDITION_CLINICAL, patient_urls
from policykb.service.request_budget import UNBOUNDED, Budget
from policykb.service.request_resources import Resources, service_date
from policykb.service.routing import codings

PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition"
RESPONSE_BUNDLE = f"{PAS}/profile-pas-response-bundle"
CLAIM_RESPONSE = f"{PAS}/profile-claimresponse"
REVIEW_ACTION = f"{PAS}/extension-reviewAction"
REVIEW_ACTION_CODE = f"{PAS}/extension-reviewActionCode"
AUTHORIZED_PROVIDER = f"{PAS}/extension-itemAuthorizedProvider"
AUTHORIZED_PROVIDER_TYPE = f"{PAS}/extension-authorizedProviderType"
PRE_AUTH_ISSUE_DATE = f"{PAS}/extension-itemPreAuthIssueDate"
DATA_ABSENT = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
X12_306 = "https://codesystem.x12.org/005010/306"
X12_98 = "https://codesystem.x12.org/005010/98"
ICD10 = ("http://hl7.org/fhir/sid/icd-10-cm", "http://hl7.org/fhir/sid/icd-10")
ACTIONS = {
    Verdict.COVERED: ("A1", "Certified in total"),
    Verdict.NOT_COVERED: ("A3", "Not Certified"),
    Verdict.NEEDS_INFORMATION: ("A4", "Pended"),
}
PENDED = ("A4", "Pended")
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"


@dataclass(frozen=True)
class Undecided:
    """An item the service cannot decide, and why (one line)."""

    reason: str
    where: str


def _reason(decision: Decision) -> str:
    verdict = decision.verdict
    if verdict is Verdict.NEEDS_INFORMATION:
        questions = "; ".join(m.question for m in decision.evaluation.missing)
        return f"Pended: information needed ({questions})"
    cited = " ".join(decision.reasons())
    if verdict is Verdict.NOT_COVERED:
        return f"Not certified under {decision.policy.title}: {cited}"
    return f"Certified under {decision.policy.title}: {cited}"


def _note(decision: Decision) -> str:
    """The decision in plain words, for the requester."""
    evaluation = decision.evaluation
    lines = [_reason(decision)]
    lines += [f"{i.criterion}: {i.fact} = {item_words(i)}" for i in evaluation.explanation]
    return "\n".join(lines)


def _review(action: tuple[str, str], number: str | None) -> dict[str, Any]:
    code, display = action
    parts: list[dict[str, Any]] = [
        {
            "url": REVIEW_ACTION_CODE,
            "valueCodeableConcept": {
                "coding": [{"system": X12_306, "code": code, "display": display}]
            },
        }
    ]
    if number is not None:
        parts.append({"url": "number", "valueString": number})
    return {"url": REVIEW_ACTION, "extension": parts}


def _adjudicated(
    sequence: int,
    outcome: Decision | Undecided,
    note: int,
    provider: Mapping[str, Any] | None,
    today: date,
) -> dict[str, Any]:
    if isinstance(outcome, Decision):
        review = _review(ACTIONS[outcome.verdict], outcome.assertion_id)
        reason = _reason(outcome)
    else:
        review = _review(PENDED, None)
        reason = f"Pended: not decided here ({outcome.reason})"
    authorized: list[dict[str, Any]] = []
    if provider is not None:
        authorized.append({"url": "provider", "valueReference": dict(provider)})
    authorized.append(
        {
            "url": AUTHORIZED_PROVIDER_TYPE,
            "valueCodeableConcept": {
                "coding": [{"system": X12_98, "code": "SJ", "display": "Service Provider"}]
            },
        }
    )
    extensions: list[dict[str, Any]] = [{"url": AUTHORIZED_PROVIDER, "extension": authorized}]
    if isinstance(outcome, Decision) and outcome.verdict is Verdict.COVERED:
        extensions.append({"url": PRE_AUTH_ISSUE_DATE, "valueDate": today.isoformat()})
    return {
        "extension": extensions,
        "itemSequence": sequence,
        "noteNumber": [note],
        "adjudication": [
            {
                "extension": [review],
                "category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]},
                "reason": {"text": reason[:1000]},
            }
        ],
    }


def _diagnoses(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The Claim's ICD-10 diagnosis codes as active Conditions of its patient
    (X12 carries diagnoses in the request, not as Condition resources)."""
    found = []
    diagnoses = claim.get("diagnosis")
    for index, diagnosis in enumerate(diagnoses if isinstance(diagnoses, list) else []):
        if not isinstance(diagnosis, Mapping):
            continue
        concept = diagnosis.get("diagnosisCodeableConcept")
        coded = [c for c in codings(concept) if c.get("system") in ICD10]
        if not coded:
            continue
        found.append(
            {
                "resourceType": "Condition",
                "id": f"claim-diagnosis-{index}",
                "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
                "code": {
                    "coding": [
                        {"system": ICD10[0], "code": str(c.get("code", "")).strip()} for c in coded
                    ]
                },
                "subject": claim.get("patient"),
            }
        )
    return found


def _questionnaire_policy(response: Mapping[str, Any], decisions: Decisions) -> str | None:
    """The policy whose Questionnaire a QuestionnaireResponse answers; "" when
    it names none; None when it names one the service did not issue."""
    canonical = response.get("questionnaire")
    if not isinstance(canonical, str) or not canonical:
        return ""
    if canonical.startswith("#"):  # an adaptive form's, contained (DTR spec-25)
        return adaptive_policy(response, canonical[1:], decisions.policies)
    url = canonical.partition("|")[0].rstrip("/")
    name = url.rsplit("/", 1)[-1]
    if url.endswith(f"/Questionnaire/{name}") and name in decisions.policies:
        return name
    return None


def _resolve(reference: object, entries: list[tuple[str | None, dict[str, Any]]]) -> int | None:
    """The index of the request entry a Reference names (by fullUrl, or by
    Type/id at the end of a fullUrl or of the resource itself)."""
    text = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(text, str) or not text:
        return None
    for index, (full_url, resource) in enumerate(entries):
        if full_url == text or (full_url or "").endswith(f"/{text}"):
            return index
        if f"{resource['resourceType']}/{resource.get('id')}" == text:
            return index
    return None


def submit(
    bundle: object,
    decisions: Decisions,
    budget: Budget = UNBOUNDED,
    pending: list[int] | None = None,
) -> dict[str, Any]:
    """The response Bundle to a PAS request Bundle. Its audit entries are on
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
    sequences = []
    for position, item in enumerate(items):
        where = f"Claim.item[{position}]"
        if not isinstance(item, Mapping):
            raise ServiceError(422, "a Claim item must be an object", where=where)
        sequence = item.get("sequence", position + 1)
        if not isinstance(sequence, int) or isinstance(sequence, bool) or sequence < 1:
            raise ServiceError(
                422, "'sequence' must be a positive integer", where=f"{where}.sequence"
            )
        sequences.append(sequence)
    others = [r for _, r in resources[1:]]
    patients = [r for r in others if r["resourceType"] == "Patient"]
    coverages = [r for r in others if r["resourceType"] == "Coverage"]
    patient = patients[0] if patients else None
    record = Resources(  # the patient is the Claim's (its reference may be a urn:uuid fullUrl)
        claim,
        patient,
        coverages[0] if coverages else None,
        [r for r in others if r["resourceType"] == "Condition"] + _diagnoses(claim),
        [r for r in others if r["resourceType"] == "Observation"],
        patient_urls=patient_urls([request], patient.get("id") if patient else None),
    )
    responses: list[tuple[str, str, Mapping[str, Any]]] = []
    notes: list[dict[str, Any]] = []
    for index, resource in resources[1:]:
        if resource["resourceType"] != "QuestionnaireResponse":
            continue
        here = f"Bundle.entry[{index}].resource"
        answered = _questionnaire_policy(resource, decisions)
        if answered is None:
            shown = str(resource.get("questionnaire"))[:200]
            notes.append(
                {
                    "number": len(notes) + 1,
                    "type": "display",
                    "text": f"The QuestionnaireResponse at {here} answers {shown}, "
                    "not a Questionnaire of this service: it was not read.",
                }
            )
            continue
        responses.append((answered, here, without_pa_answer(resource)))
    today = datetime.now(UTC).date()
    outcomes: list[Decision | Undecided] = []
    for position, item in enumerate(items):
        where = f"Claim.item[{position}]"
        sequence = sequences[position]
        outcomes.append(_decide(item, where, sequence, claim, record, responses, decisions, today))
    decided = [o for o in outcomes if isinstance(o, Decision)]
    if decisions.audit is not None:
        written = [decisions.audit.record(d, "pas", durable=False) for d in decided]
        if pending is None:
            decisions.settle(written)
        else:
            pending += written
    entries = [(e.fullUrl, e.held) for e in request.entry if e.held is not None]
    provider = claim.get("provider") if isinstance(claim.get("provider"), Mapping) else None
    adjudicated = []
    for sequence, outcome in zip(sequences, outcomes, strict=True):
        note = len(notes) + 1
        if isinstance(outcome, Decision):
            text = _note(outcome)
        else:
            text = f"Not decided: {outcome.reason} ({outcome.where})"
        notes.append({"number": note, "type": "display", "text": text})
        adjudicated.append(_adjudicated(sequence, outcome, note, provider, today))
    claim_response = _claim_response(claim, request.entry[0].fullUrl, adjudicated, notes, outcomes)
    return _response_bundle(bundle, claim_response, claim, entries)


def _decide(
    item: Mapping[str, Any],
    where: str,
    sequence: int,
    claim: Mapping[str, Any],
    record: Resources,
    responses: list[tuple[str, str, Mapping[str, Any]]],
    decisions: Decisions,
    today: date,
) -> Decision | Undecided:
    """One item's decision, or why it cannot be decided here."""
    day = service_date(item) or service_date(claim)
    record = record.on_day(day)  # ages counted to this item's date of service
    routed = decisions.route(item.get("productOrService"), record, today)
    if routed is None:
        shown = (
            ", ".join(str(c.get("code"))[:20] for c in codings(item.get("productOrService")))
            or "none"
        )
        return Undecided(
            f"no policy decides the item's code ({shown})", f"{where}.productOrService"
        )
    route, read = routed
    facts = dict(read)
    answered: dict[str, object] = {}
    try:
        for policy, here, response in responses:
            if policy not in ("", route.policy):
                continue  # another item's Questionnaire
            complete = complete_histories(decisions.mappings[route.policy])
            given = answers(response, decisions.policies[route.policy], here, complete)
            for fact, value in given.items():
                if fact in answered and answered[fact] != value:
                    raise ServiceError(422, contradiction(fact, answered[fact], value), where=here)
                answered[fact] = value
                facts[fact] = value
    except ServiceError as error:
        return Undecided(error.detail, error.where or where)
    facts[route.code.fact] = route.code.value  # the code itself decides what is requested
    from_record = frozenset(f for f in read if facts.get(f) == read[f])
    try:
        return decisions.decide(
            route.policy,
            facts,
            channel="pas",
            case_id=f"Claim/{claim.get('id', '')}#{sequence}",
            from_record=from_record,
            service_date=day,
            audit=False,  # audited by submit, once every item is decided
        )
    except CaseError as error:
        return Undecided(str(error), where)


def _claim_response(
    claim: Mapping[str, Any],
    full_url: str | None,
    adjudicated: list[dict[str, Any]],
    notes: list[dict[str, Any]],
    outcomes: list[Decision | Undecided],
) -> dict[str, Any]:
    if isinstance(claim.get("id"), str) and claim["id"]:
        request: dict[str, Any] = {"reference": f"Claim/{claim['id']}"}
    elif full_url:
        request = {"reference": full_url}
    else:
        request = {"extension": [{"url": DATA_ABSENT, "valueCode": "unknown"}]}
    undecided = any(isinstance(o, Undecided) for o in outcomes)
    claim_response: dict[str, Any] = {
        "resourceType": "ClaimResponse",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [CLAIM_RESPONSE]},
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
        "request": request,
        "outcome": "partial" if undecided else "complete",
        "item": adjudicated,
        "processNote": notes,
    }
    if isinstance(claim.get("provider"), Mapping):
        claim_response["requestor"] = claim["provider"]
    if claim.get("identifier"):
        claim_response["identifier"] = claim["identifier"]
    return claim_response


def _response_bundle(
    bundle: Mapping[str, Any],
    claim_response: dict[str, Any],
    claim: Mapping[str, Any],
    entries: list[tuple[str | None, dict[str, Any]]],
) -> dict[str, Any]:
    """The PAS Response Bundle: the ClaimResponse first, then the request's
    resources it refers to (patient, insurer, requestor), with their fullUrls,
    so that each reference resolves inside the Bundle."""
    identifier = bundle.get("identifier")
    if not isinstance(identifier, Mapping):
        identifier = {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"}
    referred: list[int] = []
    for key in ("patient", "insurer", "provider"):
        index = _resolve(claim.get(key), entries)
        if index is not None and index != 0 and index not in referred:
            referred.append(index)
    response_entries = [{"fullUrl": f"urn:uuid:{claim_response['id']}", "resource": claim_response}]
    for index in referred:
        full_url, resource = entries[index]
        response_entries.append(
            {"fullUrl": full_url or f"urn:uuid:{uuid.uuid4()}", "resource": resource}
        )
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [RESPONSE_BUNDLE]},
        "identifier": dict(identifier),
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "entry": response_entries,
    }


def claim_response(response_bundle: Mapping[str, Any]) -> dict[str, Any]:
    """The ClaimResponse of a response Bundle (its first entry)."""
    return response_bundle["entry"][0]["resource"]  # type: ignore[no-any-return]
