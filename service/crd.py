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
"""

from __future__ import annotations

import re
import uuid
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
from policykb.service.crd_config import Configuration, discovery_extension, unserved_version
from policykb.service.crd_member import Resolution, performed_on, resolve
from policykb.service.crd_orders import ORDER_TYPES, ordered_concept, own_codings
from policykb.service.decisions import Decision, Decisions
from policykb.service.dtr import questionnaire_url
from policykb.service.envelopes.cds_hooks import FHIR_ID, Discovery, HookCall, ServiceDescriptor
from policykb.service.envelopes.fhir import Bundle, entry_count, is_bundle
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.fhir_facts import Resources, service_date
from policykb.service.record import patient_urls

HOOKS = (
    "order-sign",
    "order-select",
    "order-dispatch",
    "appointment-book",
    "encounter-start",
    "encounter-discharge",
)
ENCOUNTER_HOOKS = ("encounter-start", "encounter-discharge")
SECONDARY_HOOKS = ("order-select", *ENCOUNTER_HOOKS)
"""The IG's secondary hooks: coverage information there never asks for
clinical or administrative information (hook-19)."""
CARD_TYPES = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
ASSOCIATED_RESOURCE = "davinci-crd.associated-resource"
DEFAULT_PAYER = "Health plan"
"""Card.source.label when neither the settings nor the Coverage name the payer."""

PATIENT = "{{context.patientId}}"
RECORD_PREFETCH = {
    "patient": f"Patient/{PATIENT}",
    # CRD's own Coverage search (found-29: the standard prefetch).
    "coverage": f"Coverage?patient={PATIENT}&status=active",
    # US Core searches only: Condition by patient and clinical-status,
    # Observation by patient and category (what the policies read: BMI and
    # SpO2 are vital signs, PaO2 a laboratory result, pregnancy status social
    # history). The service filters statuses itself (record.py).
    "conditions": f"Condition?patient={PATIENT}&clinical-status=active,recurrence,relapse",
    "vitalSigns": f"Observation?patient={PATIENT}&category=vital-signs",
    "laboratory": f"Observation?patient={PATIENT}&category=laboratory",
    "socialHistory": f"Observation?patient={PATIENT}&category=social-history",
}
"""The record each hook prefetches (every hook's decision reads it)."""

HISTORY_PREFETCH = {
    # US Core searches for what histories are read from (fhir_histories):
    # Procedure by patient, MedicationRequest by patient and intent,
    # MedicationDispense by patient. Fetched only for the types a served
    # policy's fhir.yaml reads; a key left out never makes an answer
    # indeterminate (the history is then partial, and asked).
    "procedures": f"Procedure?patient={PATIENT}",
    "medicationRequests": f"MedicationRequest?patient={PATIENT}&intent=order",
    "medicationDispenses": f"MedicationDispense?patient={PATIENT}",
}
HISTORY_TYPES = {
    "procedures": "Procedure",
    "medicationRequests": "MedicationRequest",
    "medicationDispenses": "MedicationDispense",
}

DISPATCHED = {
    # The IG's standard order-dispatch prefetch: the dispatched orders by _id.
    f"{kind[0].lower()}{kind[1:]}s": (
        f"{kind}?_id={{{{context.dispatchedOrders.resolve().ofType({kind}).id}}}}"
    )
    for kind in (
        "CommunicationRequest",
        "DeviceRequest",
        "MedicationRequest",
        "NutritionOrder",
        "ServiceRequest",
        "VisionPrescription",
    )
}
BASED_ON = {
    # appointment-book: the orders an appointment is based on (the IG's keys).
    "serviceRequests": "ServiceRequest?_id={{context.appointments.entry.resource.basedOn"
    ".resolve().ofType(ServiceRequest).id}}",
}
ENCOUNTER = {
    # encounter-start, encounter-discharge: the Encounter, read by id (the IG's key).
    "encounter": "Encounter/{{context.encounterId}}",
}


def prefetch(hook: str) -> dict[str, str]:
    """The prefetch templates of a hook's service."""
    extra = {
        "order-dispatch": DISPATCHED,
        "appointment-book": BASED_ON,
        "encounter-start": ENCOUNTER,
        "encounter-discharge": ENCOUNTER,
    }.get(hook, {})
    return {**RECORD_PREFETCH, **HISTORY_PREFETCH, **extra}


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


def discovery(history_types: frozenset[str] = frozenset(HISTORY_TYPES.values())) -> Discovery:
    """The hook services; a history search is listed in their prefetch only
    for the resource types a served policy's fhir.yaml reads."""

    def listed(hook: str) -> dict[str, str]:
        return {
            key: query
            for key, query in prefetch(hook).items()
            if key not in HISTORY_TYPES or HISTORY_TYPES[key] in history_types
        }

    return Discovery(
        services=[
            ServiceDescriptor(
                hook=hook,
                id=service_id(hook),
                title=f"policykb coverage requirements ({hook})",
                description=(
                    "Coverage, prior authorization and documentation requirements of the "
                    "orders, decided by the health plan's written coverage policies "
                    "and citing their criteria (Da Vinci CRD)."
                ),
                prefetch=listed(hook),
                extension=discovery_extension(),
            )
            for hook in HOOKS
        ]
    )


# -- the request ----------------------------------------------------------------


def _carried(body: Mapping[str, Any]) -> tuple[int, int]:
    """The orders and all resources a raw request carries, counted before it
    is validated (the budget refuses before any work)."""
    context = body.get("context")
    context = context if isinstance(context, Mapping) else {}
    orders = entry_count(context.get("draftOrders")) + entry_count(context.get("appointments"))
    dispatched = context.get("dispatchedOrders")
    orders += len(dispatched) if isinstance(dispatched, list) else 0
    prefetched = body.get("prefetch")
    others = sum(map(entry_count, prefetched.values())) if isinstance(prefetched, dict) else 0
    return orders, orders + others


def _reference(resource: Mapping[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id', '')}"


def _names(reference: object, resource: Mapping[str, Any]) -> bool:
    """A reference (string or Reference) names the resource: `Type/id`,
    relative or absolute, with or without its version."""
    text = reference.get("reference") if isinstance(reference, Mapping) else reference
    if not isinstance(text, str):
        return False
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return len(parts) >= 2 and parts[-2:] == [resource.get("resourceType"), resource.get("id")]


@dataclass
class Unread:
    """What of the record the request could not give: prefetch keys missing,
    dispatched orders not found, and why the EHR was not (or could not be) asked."""

    keys: list[str] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    failure: str | None = None

    def reason(self) -> str | None:
        if not (self.keys or self.orders):
            return None
        what = [f"prefetch {', '.join(self.keys)}"] if self.keys else []
        what += [f"the resources {', '.join(self.orders)}"] if self.orders else []
        why = self.failure or "no fhirServer and fhirAuthorization to query"
        return f"The EHR's record could not be read ({'; '.join(what)}): {why}."[:1000]


class HookRequest:
    """A CDS Hooks request, checked: its orders, its record (prefetched, and
    what `add` brings from the EHR), its configuration."""

    def __init__(self, body: object, hook: str, budget: Budget = UNBOUNDED) -> None:
        if not isinstance(body, dict):
            raise ServiceError(400, "a CDS Hooks request must be a JSON object")
        orders, carried = _carried(body)
        budget.check(orders, carried, "context")
        call = validated(HookCall, body, 400)
        if call.hook != hook:
            raise ServiceError(
                400, f"this service answers the {hook} hook, not {call.hook[:40]!r}", where="hook"
            )
        asked = unserved_version(call.extension)
        if asked is not None:
            raise ServiceError(
                400,
                f"CRD version {asked!r} is not served (see davinci-crd.version in discovery)",
                where="extension.davinci-crd.requestedVersion",
            )
        self.hook = hook
        self.instance = call.hookInstance
        self.patient_id = call.context.patientId
        self.configuration = Configuration.of(call.extension)
        self.fhir_server = call.fhirServer
        self.access_token = call.fhirAuthorization.access_token if call.fhirAuthorization else None
        prefetched = call.prefetch or {}
        self.bundles = [
            validated(Bundle, value, 400, f"prefetch.{key}")
            for key, value in prefetched.items()
            if is_bundle(value)
        ]
        # Every prefetch value is read by its resources' types, whatever its
        # key: the IG's keys, the reference implementation's (coverageBundle,
        # deviceRequestBundle, ...) and this service's earlier ones alike.
        self.carried: list[dict[str, Any]] = [r for b in self.bundles for _, r in b.resources()]
        self.carried += [
            dict(value)
            for value in prefetched.values()
            if isinstance(value, Mapping)
            and not is_bundle(value)
            and isinstance(value.get("resourceType"), str)
        ]
        self.unread = Unread(keys=[k for k in RECORD_PREFETCH if prefetched.get(k) is None])
        self.history_keys = [k for k in HISTORY_PREFETCH if prefetched.get(k) is None]
        """History searches neither prefetched nor fetched (see `histories_read`)."""
        self._covered_keys(prefetched)
        self.context_orders = self._context_orders(call)
        self.dispatched = self._dispatched(call)
        self.unread.orders = [ref for ref in self.dispatched if self._find(ref) is None]
        self.coverage: dict[str, Any] | None = None
        self.coverages: list[dict[str, Any]] = []
        self._record: Resources | None = None

    def _covered_keys(self, prefetched: Mapping[str, Any]) -> None:
        """A standard key counts as given when another key brought its
        resources (a client naming its keys otherwise: found-30)."""
        kinds = {str(r.get("resourceType")) for r in self.carried}
        given_by_type = {
            "patient": "Patient" in kinds,
            "coverage": "Coverage" in kinds,
            "conditions": "Condition" in kinds,
        }
        observations_given = "observations" in prefetched and prefetched["observations"] is not None
        self.unread.keys = [
            key
            for key in self.unread.keys
            if not given_by_type.get(key, False)
            and not (observations_given and key in ("vitalSigns", "laboratory", "socialHistory"))
        ]

    def _context_orders(self, call: HookCall) -> list[dict[str, Any]]:
        context = call.context
        if self.hook in ("order-sign", "order-select"):
            if context.draftOrders is None:
                raise ServiceError(
                    400, f"{self.hook} needs 'draftOrders'", where="context.draftOrders"
                )
            drafts = [r for _, r in context.draftOrders.resources()]
            orders = [r for r in drafts if r["resourceType"] in ORDER_TYPES]
            if self.hook == "order-select":
                if context.selections is None:
                    raise ServiceError(
                        400, "order-select needs 'selections'", where="context.selections"
                    )
                chosen = {s for s in context.selections if isinstance(s, str)}
                orders = [r for r in orders if _reference(r) in chosen]
            return orders
        if self.hook == "appointment-book":
            if context.appointments is None:
                raise ServiceError(
                    400, "appointment-book needs 'appointments'", where="context.appointments"
                )
            return [
                r for _, r in context.appointments.resources() if r["resourceType"] == "Appointment"
            ]
        return []

    def _dispatched(self, call: HookCall) -> list[str]:
        """The references of the request resources the context names by id:
        order-dispatch's orders, the encounter hooks' Encounter."""
        if self.hook in ENCOUNTER_HOOKS:
            encounter = call.context.encounterId
            if not encounter or "/" in encounter:
                raise ServiceError(
                    400,
                    f"{self.hook} needs 'encounterId', the id of an Encounter",
                    where="context.encounterId",
                )
            return [f"Encounter/{encounter}"]
        if self.hook != "order-dispatch":
            return []
        references = call.context.dispatchedOrders
        if references is None:
            raise ServiceError(
                400, "order-dispatch needs 'dispatchedOrders'", where="context.dispatchedOrders"
            )
        for index, reference in enumerate(references):
            parts = reference.split("/") if isinstance(reference, str) else []
            if len(parts) < 2 or parts[-2] not in ORDER_TYPES or not re.match(FHIR_ID, parts[-1]):
                raise ServiceError(
                    400,
                    "each dispatched order must be a reference Type/id to a request "
                    f"resource, not {str(reference)[:60]!r}",
                    where=f"context.dispatchedOrders[{index}]",
                )
        return [str(r) for r in references]

    def _find(self, reference: str) -> dict[str, Any] | None:
        return next((r for r in self.carried if _names(reference, r)), None)

    # -- the EHR --------------------------------------------------------------

    def queries(self) -> list[str]:
        """The FHIR queries (relative to fhirServer) that would bring what the
        prefetch lacks: the discovery's own US Core searches, and a read of
        each dispatched order not prefetched."""
        templates = prefetch(self.hook)
        keys = [*self.unread.keys, *self.history_keys]
        found = [templates[key].replace(PATIENT, self.patient_id) for key in keys]
        return found + ["/".join(reference.split("/")[-2:]) for reference in self.unread.orders]

    def can_query(self) -> bool:
        return bool(
            self.fhir_server
            and self.access_token
            and (self.unread.keys or self.unread.orders or self.history_keys)
        )

    def histories_read(self, types: frozenset[str]) -> None:
        """Fetch only the history searches of these resource types (those a
        served policy's fhir.yaml reads)."""
        self.history_keys = [k for k in self.history_keys if HISTORY_TYPES[k] in types]

    def add(self, fetched: Sequence[dict[str, Any]], failure: str | None) -> None:
        """The resources the EHR returned; `failure` (None: every query
        answered) is why the rest could not be read."""
        self.carried += fetched
        if failure is None:
            self.unread = Unread()
            self.history_keys = []
        else:
            self.unread.failure = failure
            self.unread.orders = [ref for ref in self.dispatched if self._find(ref) is None]

    # -- the record -----------------------------------------------------------

    @property
    def orders(self) -> list[dict[str, Any]]:
        """The request resources the hook is about (order-dispatch: those found)."""
        return self.context_orders + [o for ref in self.dispatched if (o := self._find(ref))]

    def resources(self, order: dict[str, Any]) -> Resources:
        """The record for one order (the record is made once: see `record`)."""
        if self._record is None:
            self._record = self.record()
        return self._record.for_order(order)

    def record(self) -> Resources:
        """The record, filtered (about context.patientId, in a usable status) and
        indexed once; each order shares it. Made after the EHR's resources
        are added."""
        of_type = self._of_type
        patients = [p for p in of_type("Patient") if p.get("id") == self.patient_id]
        self.coverages = of_type("Coverage")
        today = resolve(self.coverages, self.patient_id, datetime.now(UTC).date(), None)
        self.coverage = today.coverage if today.reason is None else None
        return Resources(
            {},
            patients[0] if patients else None,
            self.coverage,
            of_type("Condition"),
            of_type("Observation"),
            [r for kind in HISTORY_TYPES.values() for r in of_type(kind)],
            patient_id=self.patient_id,
            patient_urls=patient_urls(self.bundles, self.patient_id),
            searched=frozenset(
                HISTORY_TYPES[k] for k in HISTORY_PREFETCH if k not in self.history_keys
            ),
        )

    def _of_type(self, kind: str) -> list[dict[str, Any]]:
        seen: set[str] = set()
        found = []
        for resource in self.carried:
            if resource.get("resourceType") != kind:
                continue
            key = str(resource.get("id")) if resource.get("id") else str(id(resource))
            if key not in seen:  # prefetched under two keys, or fetched again: once
                seen.add(key)
                found.append(resource)
        return found

    def based_on(self, order: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The request resources an appointment is based on, when given."""
        references = order.get("basedOn")
        return [
            r
            for reference in (references if isinstance(references, list) else [])
            for r in self.carried
            if r.get("resourceType") in ORDER_TYPES and _names(reference, r)
        ]


# -- the answer ----------------------------------------------------------------------


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
    reference = _reference(order)
    lines = [
        f"The {order.get('resourceType')} {reference} cannot be decided under **{title}** "
        "until these are answered:",
        "",
    ]
    lines += [f"- {missing.question}" for missing in decision.evaluation.missing]
    lines += [
        "",
        f"Answer them in the policy's questionnaire "
        f"({questionnaire_url(base, decision.policy.name)}, through DTR), "
        "or record them in the chart and sign again.",
    ]
    return {
        "uuid": str(uuid.uuid4()),
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
    return not_covered_for(coverage, member.reason, member.text, today, uuid.uuid4().hex)


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
        reference = _reference(order)
        if member.reason is not None:
            extension = not_a_member(coverage, member, today)
            if not already_carried(target, extension):
                answer.actions.append(_update(target, extension, label))
            continue
        trace = uuid.uuid4().hex[:16]
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
