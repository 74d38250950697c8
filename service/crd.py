"""Da Vinci CRD 2.2.1 over CDS Hooks 2.0: discovery, and the six hooks the
IG names (hook-4): order-sign, order-select, order-dispatch, appointment-book,
encounter-start and encounter-discharge.

The encounter hooks name their Encounter by id (context.encounterId); it is
read from prefetch (`encounter`, the IG's key) or from the EHR by
`Encounter/{id}`, like a dispatched order, and gets the coverage information
itself (the IG's hooks carry no orders in their context). Its codes are its
`type` and `serviceType`, with those of the ServiceRequests it is `basedOn`
when they are prefetched (as an Appointment's). An Appointment based on a
ServiceRequest the request carries has the coverage information put on that
ServiceRequest instead (the IG's one exception to annotating the resource
passed).

Each request resource whose code a policy decides (its own codes, then its
ext-billing-options) gets a systemAction updating it with CRD's
coverage-information extension (coverage_information.py), unless:

- the call's configuration sets `coverage-info` to false (resp-28);
- the resource already carries the same information (resp-35, resp-29);
- there is no Coverage to assert about (the extension's coverage is 1..1).

A decision that needs information while part of the record could not be
read (prefetch missing and the EHR not queried, or its query failed) is
answered `indeterminate` with the reason (resp-43); a decision the record
read so far settles is answered as decided (unknown facts are unknown, so a
settled verdict holds whatever the missing part says: found-34).

No card repeats the coverage information (resp-25). On order-sign a decision
that needs information also gets an Instructions card listing the questions
still to answer (`instructions` option), with source.topic (resp-5), the
payer's name as label (resp-4), and the order it is about (dev-24, dev-25).
Card uuids and coverage-assertion-ids are new for every request (resp-31/32).

Discovery and the prefetch templates are in crd_discovery.py, the checked
request in crd_request.py; this module decides a request and writes the answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from typing import Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.result import Verdict
from policykb.service.coverage_information import (
    already_carried,
    coverage_information,
    indeterminate,
    not_covered_for,
)
from policykb.service.crd_discovery import SECONDARY_HOOKS
from policykb.service.crd_member import Resolution, performed_on, resolve
from policykb.service.crd_orders import ordered_concept, own_codings
from policykb.service.crd_request import HookRequest, reference_of
from policykb.service.decisions import Decision, Decisions
from policykb.service.dtr import adaptive_url
from policykb.service.errors import ServiceError
from policykb.service.random_ids import uuid4_hex, uuid4_str
from policykb.service.request_budget import UNBOUNDED, Budget
from policykb.service.request_resources import service_date

CARD_TYPES = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
ASSOCIATED_RESOURCE = "davinci-crd.associated-resource"
DEFAULT_PAYER = "Health plan"
"""Card.source.label when neither the settings nor the Coverage name the payer."""


def _coverage_reference(
    coverage: Mapping[str, Any] | None, order: Mapping[str, Any]
) -> dict[str, Any] | None:
    if coverage is not None and coverage.get("id"):
        return {"reference": f"Coverage/{coverage['id']}"}
    insurance = order.get("insurance")
    if isinstance(insurance, list):
        for reference in insurance:
            if isinstance(reference, Mapping) and isinstance(reference.get("reference"), str):
                return {"reference": reference["reference"]}
    return None


def payer_name(configured: str | None, coverage: Mapping[str, Any] | None) -> str:
    """Card.source.label (resp-4): the configured payer name, else the
    Coverage's first payor display, else DEFAULT_PAYER."""
    if configured:
        return configured
    payors = coverage.get("payor") if isinstance(coverage, Mapping) else None
    for payor in payors if isinstance(payors, list) else []:
        display = payor.get("display") if isinstance(payor, Mapping) else None
        if isinstance(display, str) and display.strip():
            return display.strip()[:100]
    return DEFAULT_PAYER


def instructions_card(
    decision: Decision, order: Mapping[str, Any], label: str, base: str
) -> dict[str, Any]:
    """The card listing what is still to be answered (CRD's Instructions type)."""
    title = decision.policy.title
    reference = reference_of(order)
    lines = [
        f"The {order.get('resourceType')} {reference} cannot be decided under **{title}** "
        "until these are answered:",
        "",
    ]
    lines += [f"- {missing.question}" for missing in decision.evaluation.missing]
    lines += [
        "",
        f"Answer them in the policy's questionnaire "
        f"({adaptive_url(base, decision.policy.name)}, through DTR), "
        "or record them in the chart and sign again.",
    ]
    return {
        "uuid": uuid4_str(),
        "summary": f"{title[:90]}: answers needed to decide"[:140],
        "indicator": "info",
        "detail": "\n".join(lines),
        "source": {
            "label": label,
            "topic": {"system": CARD_TYPES, "code": "instructions", "display": "Instructions"},
        },
        "extension": {ASSOCIATED_RESOURCE: [{"reference": reference}]},
    }


@dataclass
class Answer:
    """What the answer to a request is built from."""

    cards: list[dict[str, Any]] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)

    def document(self) -> dict[str, Any]:
        response: dict[str, Any] = {"cards": self.cards}
        if self.actions:
            response["systemActions"] = self.actions
        return response


def _annotated(
    order: dict[str, Any], based_on: Sequence[dict[str, Any]], routed: Mapping[str, Any]
) -> dict[str, Any]:
    """The resource the coverage information is put on: the order itself,
    but for an Appointment based on a ServiceRequest the request carries,
    which gets it instead (CRD 2.2.1, the coverage-information response
    type: FHIR-50318): the one whose own code was routed, else the first."""
    requests = [r for r in based_on if r.get("resourceType") == "ServiceRequest"]
    if order.get("resourceType") != "Appointment" or not requests:
        return order
    key = (str(routed.get("system")), str(routed.get("code")))
    return next((r for r in requests if key in own_codings(r)), requests[0])


def not_a_member(coverage: Mapping[str, Any], member: Resolution, today: date) -> dict[str, Any]:
    """The coverage information when the patient is not resolved to a member
    with one coverage in force (resp-44, resp-45): not-covered with the
    reason code; its assertion id is new (no policy was decided)."""
    assert member.reason is not None
    return not_covered_for(coverage, member.reason, member.text, today, uuid4_hex())


def _update(order: Mapping[str, Any], extension: dict[str, Any], title: str) -> dict[str, Any]:
    """The system action that adds (or replaces) the order's coverage
    information, changing nothing else (resp-37)."""
    updated = dict(order)
    others = [
        e
        for e in updated.get("extension", [])
        if not (isinstance(e, Mapping) and e.get("url") == extension["url"])
    ]
    updated["extension"] = [*others, extension]
    return {
        "type": "update",
        "description": f"Coverage information from {title[:80]}",
        "resource": updated,
    }


def decide(
    request: HookRequest,
    decisions: Decisions,
    base: str,
    pending: list[int] | None = None,
    payer: str | None = None,
) -> dict[str, Any]:
    """The CDS Hooks response to a checked request (its audit entries'
    numbers added to `pending` when given: see Decisions.decide). `base` is
    the service's base URL (questionnaire canonicals), never taken from the
    request."""
    today = datetime.now(UTC).date()
    record = request.resources({})
    unread = request.unread.reason()
    label = payer_name(payer, request.coverage)
    answer = Answer()
    if not request.configuration.coverage_info:
        return answer.document()  # the only response type that does not depend on it is none
    for order in request.orders:
        concept = ordered_concept(order)
        kind = order.get("resourceType")
        based_on = request.based_on(order) if kind in ("Appointment", "Encounter") else []
        for based in based_on:
            concept["coding"] += ordered_concept(based)["coding"]
        on = performed_on(order, today)
        member = resolve(request.coverages, request.patient_id, on, payer)
        resources = record.for_order(order)
        if member.coverage is not None and member.coverage is not request.coverage:
            resources = replace(resources, coverage=member.coverage, _record=None)
        routed = decisions.route(concept, resources, today)
        if routed is None:
            continue
        route, read = routed
        target = _annotated(order, based_on, route.coding)
        coverage = _coverage_reference(member.coverage, order)
        if coverage is None:
            continue  # CRD asserts coverage of a Coverage: none was given
        reference = reference_of(order)
        if member.reason is not None:
            extension = not_a_member(coverage, member, today)
            if not already_carried(target, extension):
                answer.actions.append(_update(target, extension, label))
            continue
        trace = uuid4_hex()[:16]
        try:
            decision = decisions.decide(
                route.policy,
                read,
                channel=request.hook,
                case_id=reference,
                from_record=frozenset(read),
                pending=pending,
                service_date=service_date(order),
                about={"hook_instance": request.instance, "order_id": reference},
                trace=trace,
            )
        except CaseError as error:
            raise ServiceError(422, f"{reference}: {error}") from None
        if unread is not None and decision.verdict is Verdict.NEEDS_INFORMATION:
            extension = indeterminate(coverage, unread, today, decision.assertion_id)
        else:
            billed = (
                []
                if (str(route.coding.get("system")), str(route.coding.get("code")))
                in own_codings(target)
                else [route.coding]
            )
            covered_from = (
                decisions.knowledge.covered_from(decision.case)
                if decision.verdict is Verdict.NOT_COVERED
                else None
            )
            extension = coverage_information(
                decision,
                coverage,
                base,
                today,
                billed,
                secondary=request.hook in SECONDARY_HOOKS,
                covered_from=covered_from,
                unread=decisions.mappings[route.policy].unread(resources),
            )
        if already_carried(target, extension):
            continue
        answer.actions.append(_update(target, extension, decision.policy.title))
        if (
            request.hook == "order-sign"
            and request.configuration.instructions
            and decision.verdict is Verdict.NEEDS_INFORMATION
            and unread is None
        ):
            answer.cards.append(instructions_card(decision, order, label, base))
    return answer.document()


def answer(
    hook: str,
    body: object,
    decisions: Decisions,
    base: str,
    pending: list[int] | None = None,
    budget: Budget = UNBOUNDED,
    payer: str | None = None,
) -> dict[str, Any]:
    """The response to a request decided from what it carries (no EHR query)."""
    return decide(HookRequest(body, hook, budget), decisions, base, pending, payer)
