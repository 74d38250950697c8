"""DTR's `Questionnaire/$questionnaire-package`: the Questionnaires a
coverage and its orders need, each in a package Bundle with its draft
QuestionnaireResponse (DTR 2.2 OperationDefinition questionnaire-package).

Input: a Parameters resource (dtr-qpackage-input-parameters): one `coverage`
(a Coverage resource), and at least one of `order` (request or encounter
resources), `questionnaire` (canonicals, possibly `|version`) and `context`
(a CRD or PAS context id); `changedsince` is accepted.

Output: a Parameters resource (dtr-qpackage-output-parameters) with one
`packagebundle` per Questionnaire, each Questionnaire once: a collection
Bundle whose first entry is the Questionnaire (DTR Standard Questionnaire)
and second a draft QuestionnaireResponse (DTR QuestionnaireResponse,
in-progress) naming the Questionnaire version-specifically, the member
(`subject`), the Coverage (qr-coverage), the orders it documents
(qr-context; each by id, else by identifier) and its intended use (withpa:
the policies decide prior authorization). The payer pre-populates what it
reads from the coverage and orders it was sent (information-origin
auto-server); the DTR client fills the rest from the EHR. After them come
the ValueSets the Questionnaire's items name (answerValueSet, DTR oper-14),
unexpanded: an item names one only above dtr_valuesets.OPTION_LIMIT options,
which the client expands with `$expand` (oper-15 asks expansions only
under 40 codes).
A warning goes in `outcome` for an order no policy decides, a canonical that
is not one of the service's Questionnaires (or not in the version asked for),
and a context id alone (which the service keeps no record of).

An order gets its policy's adaptive form (dtr_adaptive), as does a
`questionnaire` canonical naming it (`.../Questionnaire/<policy>-adaptive`);
only a canonical naming the standard form gets that one. Why: DTR spec-17
asks for exactly the questions and answer choices the answers so far leave
needed; the standard form's enableWhen is exact one answer at a time only
(dtr_enable: an exact condition on several answers is a conjunction of
"not all of these answers" clauses, one per smallest answer set that
settles the item, which one item's enableWhen cannot state and whose number
grows exponentially with the facts), while the adaptive form is exact on
every call; DTR lets a payer choose the form by its needs (spec-15) and
requires clients to support both (spec-16). The adaptive form's bundle
starts with the AdaptiveQuestionnaire-Search, and the draft
response contains the adaptive Questionnaire already asking what the payer's
pre-filled answers leave needed (spec-25: `questionnaire` is `#adaptive`).

An input that is not such a Parameters resource is a 422 OperationOutcome
naming the parameter (spec-130).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

from policykb.bridge.loading.case import check_value
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Fact, FactType
from policykb.service.decisions import Decisions
from policykb.service.dtr import questionnaire, questionnaire_url, questionnaire_version
from policykb.service.dtr_adaptive import SUFFIX, draft, policy_of_id, search_questionnaire
from policykb.service.dtr_determination import CalledFor
from policykb.service.dtr_enable import conditions
from policykb.service.dtr_valuesets import valueset
from policykb.service.errors import ServiceError
from policykb.service.request_resources import Resources

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
PACKAGE_BUNDLE = f"{DTR}/DTR-QPackageBundle"
OUTPUT_PARAMETERS = f"{DTR}/dtr-qpackage-output-parameters"
QUESTIONNAIRE_RESPONSE = f"{DTR}/dtr-questionnaireresponse"
QR_COVERAGE = f"{DTR}/qr-coverage"
QR_CONTEXT = f"{DTR}/qr-context"
INTENDED_USE = f"{DTR}/intendedUse"
INFORMATION_ORIGIN = f"{DTR}/information-origin"
CRD_CODES = "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes"

ORDER_CODES = {
    "ServiceRequest": "code",
    "DeviceRequest": "codeCodeableConcept",
    "MedicationRequest": "medicationCodeableConcept",
}
"""Where an order names what is ordered (the code routing reads)."""
ORDER_TYPES = frozenset(
    {
        "Appointment",
        "Encounter",
        "CommunicationRequest",
        "DeviceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "ServiceRequest",
        "SupplyRequest",
        "VisionPrescription",
    }
)
"""The `order` parameter's allowed types (the OperationDefinition's)."""


def _is_order_type(kind: object) -> bool:
    """A resourceType of ORDER_TYPES (a list or an object is none: unhashable)."""
    return isinstance(kind, str) and kind in ORDER_TYPES


def _parameters(document: object) -> list[tuple[int, Mapping[str, Any]]]:
    if not isinstance(document, Mapping) or document.get("resourceType") != "Parameters":
        raise ServiceError(422, "$questionnaire-package takes a FHIR Parameters resource")
    found = document.get("parameter")
    if not isinstance(found, list):
        raise ServiceError(422, "the Parameters have no 'parameter' list", where="Parameters")
    for index, parameter in enumerate(found):
        if not isinstance(parameter, Mapping) or not isinstance(parameter.get("name"), str):
            raise ServiceError(
                422,
                "a parameter must be an object with a name",
                where=f"Parameters.parameter[{index}]",
            )
    return list(enumerate(found))


def _warning(text: str, where: str | None = None) -> dict[str, Any]:
    issue: dict[str, Any] = {"severity": "warning", "code": "not-found", "diagnostics": text}
    if where:
        issue["expression"] = [where]
    return issue


def _reference(resource: Mapping[str, Any]) -> dict[str, Any]:
    """A reference to a resource the client sent: `Type/id` (the client's
    server holds it, spec-139); without an id (which no profile requires), by
    its first identifier, else by its type alone."""
    kind = str(resource.get("resourceType"))
    ident = resource.get("id")
    if isinstance(ident, str) and ident:
        return {"reference": f"{kind}/{ident}"}
    identifiers = resource.get("identifier")
    if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], Mapping):
        return {"type": kind, "identifier": dict(identifiers[0])}
    return {"type": kind, "display": f"the {kind} sent with the request (it has no id)"}


def package(
    document: object, decisions: Decisions, base: str, today: date, called_for: CalledFor
) -> dict[str, Any]:
    """The operation's output Parameters for an input Parameters resource
    (`called_for`: the orders CRD was called for, dtr_determination)."""
    coverage: Mapping[str, Any] | None = None
    orders: list[tuple[str, Mapping[str, Any]]] = []
    canonicals: list[tuple[str, str]] = []
    context: str | None = None
    for index, parameter in _parameters(document):
        where = f"Parameters.parameter[{index}]"
        name = parameter["name"]
        resource = parameter.get("resource")
        if name == "coverage":
            if coverage is not None:
                raise ServiceError(
                    422, "give one 'coverage' (the operation takes one)", where=where
                )
            if not isinstance(resource, Mapping) or resource.get("resourceType") != "Coverage":
                raise ServiceError(422, "'coverage' must hold a Coverage resource", where=where)
            coverage = resource
        elif name == "order":
            if not isinstance(resource, Mapping) or not _is_order_type(
                resource.get("resourceType")
            ):
                raise ServiceError(
                    422,
                    "'order' must hold a request or encounter resource "
                    f"({', '.join(sorted(ORDER_TYPES))})",
                    where=where,
                )
            orders.append((f"{where}.resource", resource))
        elif name == "questionnaire":
            value = parameter.get("valueCanonical")
            if not isinstance(value, str) or not value:
                raise ServiceError(422, "'questionnaire' must be a valueCanonical", where=where)
            canonicals.append((where, value))
        elif name == "context":
            value = parameter.get("valueString")
            if not isinstance(value, str):
                raise ServiceError(422, "'context' must be a valueString", where=where)
            context = value
        elif name == "changedsince" and not isinstance(parameter.get("valueInstant"), str):
            raise ServiceError(422, "'changedsince' must be a valueInstant", where=where)
    if coverage is None:
        raise ServiceError(
            422, "the Parameters need a 'coverage' (the member's Coverage)", where="Parameters"
        )
    if not orders and not canonicals and context is None:
        raise ServiceError(
            422,
            "give at least one 'order', 'questionnaire' or 'context' (dtr-1)",
            where="Parameters",
        )
    coverage_reference = _reference(coverage)
    subject = coverage.get("beneficiary")
    issues: list[dict[str, Any]] = []
    wanted: dict[str, list[Mapping[str, Any]]] = {}
    """policy -> the orders it documents (in the order first asked for)."""
    for where, order in orders:
        if not isinstance(subject, Mapping):
            subject = order.get("subject") or order.get("patient")
        key = ORDER_CODES.get(str(order["resourceType"]))
        record = Resources(dict(order), coverage=dict(coverage), patient_id=_patient_id(subject))
        routed = decisions.route(order.get(key), record, today) if key else None
        if routed is None:
            issues.append(
                _warning("no Questionnaire documents this order: no policy decides its code", where)
            )
            continue
        wanted.setdefault(routed[0].policy, []).append(order)
    adaptive: set[str] = set(wanted)
    """Policies given in their adaptive form (dtr_adaptive): those asked for
    by an order (the standard form is exact one answer at a time only) or by
    their adaptive canonical."""
    standard: set[str] = set()
    """Policies asked for by their standard canonical."""
    for where, canonical in canonicals:
        url, _, version = canonical.partition("|")
        name = url.rstrip("/").rsplit("/", 1)[-1]
        adaptive_of = policy_of_id(name, decisions.policies)
        if adaptive_of is not None and name not in decisions.policies:
            adaptive.add(adaptive_of)
            name = adaptive_of
            url = url[: -len(SUFFIX)]
        else:
            standard.add(name)
        if not url.endswith(f"/Questionnaire/{name}") or name not in decisions.policies:
            issues.append(_warning(f"no Questionnaire {canonical[:200]!r} here", where))
            continue
        current = questionnaire_version(decisions.versions[name])
        if version and version != current:
            issues.append(
                _warning(
                    f"Questionnaire {name!r} is at version {current}, not {version[:40]!r}: "
                    "ask again without a version for the current one",
                    where,
                )
            )
            continue
        wanted.setdefault(name, [])
    if context is not None and not wanted:
        issues.append(
            _warning(
                "this service keeps no record of context ids: send the order(s) the context "
                "was about, or the Questionnaire canonicals, to get the Questionnaires",
                "Parameters.parameter.context",
            )
        )
    if not isinstance(subject, Mapping) or not isinstance(subject.get("reference"), str):
        raise ServiceError(
            422,
            "the member is not named: the Coverage needs a 'beneficiary' reference",
            where="Parameters.parameter.coverage",
        )
    output: list[dict[str, Any]] = []
    for policy, documented in wanted.items():
        output.append(
            {
                "name": "packagebundle",
                "resource": _bundle(
                    decisions,
                    policy,
                    base,
                    coverage,
                    coverage_reference,
                    subject,
                    documented,
                    today,
                    called_for,
                    adaptive=policy in adaptive and policy not in standard,
                ),
            }
        )
    if issues:
        output.append(
            {"name": "outcome", "resource": {"resourceType": "OperationOutcome", "issue": issues}}
        )
    result: dict[str, Any] = {
        "resourceType": "Parameters",
        "meta": {"profile": [OUTPUT_PARAMETERS]},
    }
    if output:
        result["parameter"] = output
    return result


def _patient_id(subject: object) -> str | None:
    from policykb.service.record import reference_id

    text = subject.get("reference") if isinstance(subject, Mapping) else None
    return reference_id(text) if isinstance(text, str) else None


def _bundle(
    decisions: Decisions,
    policy: str,
    base: str,
    coverage: Mapping[str, Any],
    coverage_reference: dict[str, Any],
    subject: Mapping[str, Any],
    orders: list[Mapping[str, Any]],
    today: date,
    called_for: CalledFor,
    *,
    adaptive: bool = False,
) -> dict[str, Any]:
    """One package Bundle: the Questionnaire, the draft response, the
    ValueSets its items name. Adaptive: the AdaptiveQuestionnaire-Search
    form, and a draft whose contained Questionnaire asks what the payer's
    pre-filled answers leave needed (dtr_adaptive, spec-23, spec-25)."""
    form = questionnaire(
        decisions.policies[policy],
        decisions.versions[policy],
        decisions.mappings[policy],
        base,
        narrowing=conditions(decisions.knowledge, policy, today),
    )
    extensions: list[dict[str, Any]] = [{"url": QR_COVERAGE, "valueReference": coverage_reference}]
    extensions += [{"url": QR_CONTEXT, "valueReference": _reference(order)} for order in orders]
    extensions.append(
        {
            "url": INTENDED_USE,
            "valueCodeableConcept": {
                "coding": [{"system": CRD_CODES, "code": "withpa", "display": "Include with PA"}]
            },
        }
    )
    now = datetime.now(UTC).isoformat(timespec="seconds")
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [QUESTIONNAIRE_RESPONSE], "lastUpdated": now},
        "extension": extensions,
        "questionnaire": f"{form['url']}|{form['version']}",
        "status": "in-progress",
        "subject": dict(subject),
        "authored": now,
    }
    items = _prefilled(decisions, policy, coverage, orders, subject, today)
    if items:
        response["item"] = items
    named = {item["linkId"] for item in form["item"] if "answerValueSet" in item}
    if adaptive:
        form = search_questionnaire(decisions, policy, base)
        response = draft(response, policy, decisions, base, called_for)
    questionnaire_entry = (
        form["url"] if form["url"].startswith("http") else f"urn:uuid:{uuid.uuid4()}"
    )
    valuesets = [
        valueset(decisions.policies[policy], decisions.versions[policy], fact, base)
        for fact in decisions.policies[policy].facts.values()
        if fact.name in named
    ]
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [PACKAGE_BUNDLE]},
        "type": "collection",
        "timestamp": now,
        "entry": [
            {"fullUrl": questionnaire_entry, "resource": form},
            {"fullUrl": f"urn:uuid:{response['id']}", "resource": response},
            *(
                {
                    "fullUrl": found["url"]
                    if found["url"].startswith("http")
                    else f"urn:uuid:{uuid.uuid4()}",
                    "resource": found,
                }
                for found in valuesets
            ),
        ],
    }


def _prefilled(
    decisions: Decisions,
    policy: str,
    coverage: Mapping[str, Any],
    orders: list[Mapping[str, Any]],
    subject: Mapping[str, Any],
    today: date,
) -> list[dict[str, Any]]:
    """The answers the payer reads from what it was sent (the coverage; the
    order, when one order is documented): origin auto-server. Only facts the
    policy accepts, one value each; the code's own fact is not asked."""
    order: Mapping[str, Any] = orders[0] if len(orders) == 1 else {"resourceType": "None"}
    record = Resources(dict(order), coverage=dict(coverage), patient_id=_patient_id(subject))
    read = decisions.mappings[policy].read(record, today)
    facts = decisions.policies[policy].facts
    items = []
    for fact in sorted(facts.values(), key=lambda f: f.rank):
        if fact.name not in read:
            continue
        try:
            check_value(fact, read[fact.name])
        except CaseError:
            continue
        values = read[fact.name]
        answers = [_answer(fact, v) for v in (values if isinstance(values, list) else [values])]
        items.append({"linkId": fact.name, "text": fact.question or fact.name, "answer": answers})
    return items


def _answer(fact: Fact, value: object) -> dict[str, Any]:
    """A fact's value as a QuestionnaireResponse answer of the item's type."""
    origin = {
        "url": INFORMATION_ORIGIN,
        "extension": [{"url": "source", "valueCode": "auto-server"}],
    }
    if fact.type in (FactType.ENUM, FactType.LIST):
        typed: dict[str, Any] = {
            "valueCoding": {
                "code": str(value),
                "display": fact.option_texts.get(str(value), str(value)),
            }
        }
    elif fact.type is FactType.BOOL:
        typed = {"valueBoolean": value}
    elif fact.type is FactType.INT:
        typed = {"valueInteger": value}
    elif fact.type is FactType.DECIMAL:
        typed = {"valueDecimal": value}
    elif fact.type is FactType.DATE:
        typed = {"valueDate": str(value)}
    else:
        typed = {"valueString": str(value)}
    return {"extension": [origin], **typed}


__all__ = ["package", "questionnaire_url"]
