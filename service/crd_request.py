"""A CRD hook request, checked: its orders, its record (prefetched, and what
the EHR brings later) and its configuration.

Invariant: a HookRequest exists only for a request that fits its Budget (counted
before validation), names the hook of the service it was sent to, and asks for
a CRD version the service serves; its `unread` says exactly which part of the
record the request has not given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from policykb.service.crd_config import Configuration, unserved_version
from policykb.service.crd_discovery import (
    ENCOUNTER_HOOKS,
    HISTORY_PREFETCH,
    HISTORY_TYPES,
    PATIENT,
    RECORD_PREFETCH,
    prefetch,
)
from policykb.service.crd_member import resolve
from policykb.service.crd_orders import ORDER_TYPES
from policykb.service.envelopes.cds_hooks import FHIR_ID, HookCall
from policykb.service.envelopes.fhir import Bundle, entry_count, is_bundle
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.record import patient_urls
from policykb.service.request_budget import UNBOUNDED, Budget
from policykb.service.request_resources import Resources


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


def reference_of(resource: Mapping[str, Any]) -> str:
    """`Type/id` of a resource."""
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
                orders = [r for r in orders if reference_of(r) in chosen]
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
