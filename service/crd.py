"""Da Vinci CRD over CDS Hooks 2.0: discovery, and order-sign / order-select.

Each draft order whose code a policy decides is answered with a systemAction
that updates it with CRD's coverage-information extension:

    covered      covered | not-covered | conditional (needs information)
    pa-needed    absent on not-covered; auth-needed or no-auth as the policy
                 states (policy(prior_authorization, ...)), else conditional
    doc-needed   clinical, with the policy's questionnaire, when facts are missing
    reason       each cited criterion with its quoted sentence
    date, coverage-assertion-id (the same for the same policy version and facts)

order-sign also gets one card per decided order with the explanation in plain
words; order-select gets none (CRD: no cards while the order is being chosen).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.result import CoveredFrom, Verdict
from policykb.service.decisions import Decision, Decisions
from policykb.service.dtr import questionnaire_url
from policykb.service.envelopes.cds_hooks import Discovery, HookCall, ServiceDescriptor
from policykb.service.envelopes.fhir import Bundle, entry_count, is_bundle
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.fhir_facts import Resources, service_date
from policykb.service.record import patient_urls

COVERAGE_INFORMATION = (
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
)
COVERED = {
    Verdict.COVERED: "covered",
    Verdict.NOT_COVERED: "not-covered",
    Verdict.NEEDS_INFORMATION: "conditional",
}
PRIOR_AUTHORIZATION = {"required": "auth-needed", "not required": "no-auth"}
ORDER_CODES = {
    "ServiceRequest": "code",
    "DeviceRequest": "codeCodeableConcept",
    "MedicationRequest": "medicationCodeableConcept",
}
HOOKS = ("order-sign", "order-select")
PREFETCH = {
    "patient": "Patient/{{context.patientId}}",
    "coverage": "Coverage?patient={{context.patientId}}&status=active",
    "conditions": "Condition?patient={{context.patientId}}&clinical-status=active",
    "observations": "Observation?patient={{context.patientId}}&status=final,amended,corrected",
}


@dataclass(frozen=True)
class Budget:
    """What one request may ask of the service: 413 past it, before anything
    is decided (the settings max_orders and max_resources)."""

    max_orders: int
    max_resources: int

    def check(self, orders: int, resources: int, where: str) -> None:
        if orders > self.max_orders:
            raise ServiceError(
                413,
                f"the request has {orders} orders; at most {self.max_orders} are decided "
                "in one request (max_orders)",
                where=where,
            )
        if resources > self.max_resources:
            raise ServiceError(
                413,
                f"the request carries {resources} FHIR resources; at most "
                f"{self.max_resources} are read in one request (max_resources)",
            )


UNBOUNDED = Budget(1 << 62, 1 << 62)


def service_id(hook: str) -> str:
    return f"policykb-{hook}"


def discovery() -> Discovery:
    return Discovery(
        services=[
            ServiceDescriptor(
                hook=hook,
                id=service_id(hook),
                title=f"policykb coverage requirements ({hook})",
                description=(
                    "Coverage, prior authorization and documentation requirements of the "
                    "draft orders, decided by the health plan's written coverage policies "
                    "and citing their criteria (Da Vinci CRD)."
                ),
                prefetch=dict(PREFETCH),
            )
            for hook in HOOKS
        ]
    )


# -- the request ----------------------------------------------------------------


def _prefetched(value: object, bundle: Bundle | None) -> list[dict[str, Any]]:
    """A prefetched resource, or the resources of a prefetched search Bundle."""
    if bundle is not None:
        return [resource for _, resource in bundle.resources()]
    if isinstance(value, Mapping) and isinstance(value.get("resourceType"), str):
        return [dict(value)]
    return []  # absent, null, or what CDS Hooks allows for a failed prefetch


def _of_type(resources: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [r for r in resources if r.get("resourceType") == kind]


def _active_coverage(coverages: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    active = [c for c in coverages if c.get("status", "active") == "active"]
    return active[0] if active else None


def _carried(body: Mapping[str, Any]) -> tuple[int, int]:
    """The draft orders and all resources a raw request carries, counted
    before it is validated (the budget refuses before any work)."""
    context = body.get("context")
    draft = context.get("draftOrders") if isinstance(context, Mapping) else None
    prefetched = body.get("prefetch")
    others = sum(map(entry_count, prefetched.values())) if isinstance(prefetched, dict) else 0
    return entry_count(draft), entry_count(draft) + others


class HookRequest:
    """A CDS Hooks request, checked: its draft orders and prefetched record."""

    def __init__(self, body: object, hook: str, budget: Budget = UNBOUNDED) -> None:
        if not isinstance(body, dict):
            raise ServiceError(400, "a CDS Hooks request must be a JSON object")
        orders, carried = _carried(body)
        budget.check(orders, carried, "context.draftOrders")
        call = validated(HookCall, body, 400)
        if call.hook != hook:
            raise ServiceError(
                400, f"this service answers the {hook} hook, not {call.hook[:40]!r}", where="hook"
            )
        self.instance = call.hookInstance
        self.patient_id = call.context.patientId
        drafts = [resource for _, resource in call.context.draftOrders.resources()]
        self.orders = [r for r in drafts if r["resourceType"] in ORDER_CODES]
        if hook == "order-select":
            if call.context.selections is None:
                raise ServiceError(
                    400, "order-select needs 'selections'", where="context.selections"
                )
            chosen = {s for s in call.context.selections if isinstance(s, str)}
            self.orders = [r for r in self.orders if f"{r['resourceType']}/{r.get('id')}" in chosen]
        prefetch = call.prefetch or {}
        bundles = {
            key: validated(Bundle, value, 400, f"prefetch.{key}")
            for key, value in prefetch.items()
            if is_bundle(value)
        }
        read = {key: _prefetched(prefetch.get(key), bundles.get(key)) for key in PREFETCH}
        patients = _of_type(read["patient"], "Patient")
        self.patient = patients[0] if patients else None
        self.coverage = _active_coverage(_of_type(read["coverage"], "Coverage"))
        self.conditions = _of_type(read["conditions"], "Condition")
        self.observations = _of_type(read["observations"], "Observation")
        # The record is filtered (resources about context.patientId, in a usable
        # status) and indexed once; each order shares it.
        self.record = Resources(
            {},
            self.patient,
            self.coverage,
            self.conditions,
            self.observations,
            patient_id=self.patient_id,
            patient_urls=patient_urls(bundles.values(), self.patient_id),
        )

    def resources(self, order: dict[str, Any]) -> Resources:
        return self.record.for_order(order)


# -- the answer ----------------------------------------------------------------------


def _coverage_reference(request: HookRequest, order: Mapping[str, Any]) -> dict[str, Any] | None:
    if request.coverage is not None and request.coverage.get("id"):
        return {"reference": f"Coverage/{request.coverage['id']}"}
    insurance = order.get("insurance")
    if isinstance(insurance, list):
        for reference in insurance:
            if isinstance(reference, Mapping) and isinstance(reference.get("reference"), str):
                return {"reference": reference["reference"]}
    return None


def coverage_information(
    decision: Decision,
    coverage: Mapping[str, Any],
    base: str,
    today: date,
    covered_from: CoveredFrom | None = None,
) -> dict[str, Any]:
    """CRD's ext-coverage-information for a decision; a denial's earliest
    covered date of service (`covered_from`), when given, is one more reason."""
    verdict = decision.verdict
    parts: list[dict[str, Any]] = [
        {"url": "coverage", "valueReference": dict(coverage)},
        {"url": "covered", "valueCode": COVERED[verdict]},
    ]
    if verdict is not Verdict.NOT_COVERED:
        stated = decision.policy.info.get("prior_authorization", ("",))[0]
        parts.append(
            {"url": "pa-needed", "valueCode": PRIOR_AUTHORIZATION.get(stated, "conditional")}
        )
    if verdict is Verdict.NEEDS_INFORMATION:
        parts.append({"url": "doc-needed", "valueCode": "clinical"})
        url = questionnaire_url(base, decision.policy.name)
        parts.append({"url": "questionnaire", "valueCanonical": f"{url}|{decision.version[:16]}"})
    reasons = decision.reasons()
    if covered_from is not None:
        reasons.append(f"Earliest date of service covered: {covered_from.words}")
    parts += [{"url": "reason", "valueCodeableConcept": {"text": reason}} for reason in reasons]
    parts += [
        {"url": "date", "valueDate": today.isoformat()},
        {"url": "coverage-assertion-id", "valueString": decision.assertion_id},
    ]
    return {"url": COVERAGE_INFORMATION, "extension": parts}


def _card(
    decision: Decision, order: Mapping[str, Any], covered_from: CoveredFrom | None = None
) -> dict[str, Any]:
    verdict = decision.verdict
    title = decision.policy.title
    words = {
        Verdict.COVERED: "covered",
        Verdict.NOT_COVERED: "not covered",
        Verdict.NEEDS_INFORMATION: "more information needed",
    }[verdict]
    lines = [f"**{title}**: {words}.", ""]
    lines += [
        f"- {item.fact} = {item.words}: {item.criterion}, \u201c{item.text}\u201d"
        for item in decision.evaluation.explanation
    ]
    if covered_from is not None:
        lines += ["", f"Earliest date of service covered: {covered_from.words}."]
    if decision.evaluation.missing:
        lines += ["", "Still to answer:"]
        lines += [f"- {missing.question}" for missing in decision.evaluation.missing]
    return {
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{decision.assertion_id}/{order.get('id')}")),
        "summary": f"{title[:100]}: {words}"[:140],
        "indicator": "info" if verdict is Verdict.COVERED else "warning",
        "detail": "\n".join(lines),
        "source": {"label": "policykb coverage policies"},
    }


def answer(
    hook: str,
    body: object,
    decisions: Decisions,
    base: str,
    pending: list[int] | None = None,
    budget: Budget = UNBOUNDED,
) -> dict[str, Any]:
    """The CDS Hooks response to an order-sign or order-select request (its
    audit entries' numbers added to `pending` when given: see Decisions.decide).
    `base` is the service's base URL (questionnaire canonicals), never taken
    from the request."""
    request = HookRequest(body, hook, budget)
    today = datetime.now(UTC).date()
    cards, actions = [], []
    for order in request.orders:
        kind = order["resourceType"]
        resources = request.resources(order)
        routed = decisions.route(order.get(ORDER_CODES[kind]), resources, today)
        if routed is None:
            continue
        route, read = routed
        coverage = _coverage_reference(request, order)
        if coverage is None:
            continue  # CRD asserts coverage of a Coverage: none was given
        order_ref = f"{kind}/{order.get('id', '')}"
        try:
            decision = decisions.decide(
                route.policy,
                read,
                channel=hook,
                case_id=order_ref,
                from_record=frozenset(read),
                pending=pending,
                service_date=service_date(order),
                about={"hook_instance": request.instance, "order_id": order_ref},
            )
        except CaseError as error:
            raise ServiceError(422, f"{kind}/{order.get('id', '')}: {error}") from None
        updated = dict(order)  # only its extension list is new
        others = [
            e
            for e in updated.get("extension", [])
            if not (isinstance(e, Mapping) and e.get("url") == COVERAGE_INFORMATION)
        ]
        covered_from = (
            decisions.knowledge.covered_from(decision.case)
            if decision.verdict is Verdict.NOT_COVERED
            else None
        )
        updated["extension"] = [
            *others,
            coverage_information(decision, coverage, base, today, covered_from),
        ]
        actions.append(
            {
                "type": "update",
                "description": f"Coverage information from {decision.policy.title[:80]}",
                "resource": updated,
            }
        )
        if hook == "order-sign":
            cards.append(_card(decision, order, covered_from))
    response: dict[str, Any] = {"cards": cards}
    if actions:
        response["systemActions"] = actions
    return response
