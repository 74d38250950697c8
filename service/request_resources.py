"""What a request carries about the patient, by role, and the date of service it states.

Invariants: only the resources that count (about the request's patient, in a
usable status: record.py states the rules) are seen by a mapping's
expressions; they are filtered once per request, when the first Resources of
the request is read, and shared by every Resources made from it
(`for_order`, `on_day`), so that a fact no order changes is read once per
request however many orders it has (fhir_facts: FactMapping.read). Histories
see every resource about the patient, whatever its status (`_Record.about`):
fhir_histories tells a record from one that is no event itself.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from typing import Any

from policykb.service.record import PatientIdentity, order_patient, usable

Resource = dict[str, Any]


class _Record:
    """The request's resources that count (about the patient, in a usable
    status), indexed once, and the facts read from them that no order
    changes (FactMapping.read fills `shared`)."""

    def __init__(self, resources: Resources) -> None:
        urls = resources.patient_urls
        patient_id = resources.patient_id
        if patient_id is None:
            patient_id = order_patient(resources.order, urls, resources.patient)
        identity = PatientIdentity(patient_id, urls)

        def counted(resource: Mapping[str, Any] | None) -> bool:
            return resource is not None and identity.about(resource) and usable(resource)

        self.identity = identity
        self.patient = resources.patient if counted(resources.patient) else None
        self.coverage = resources.coverage if counted(resources.coverage) else None
        self.conditions = [r for r in resources.conditions if counted(r)]
        self.observations = [r for r in resources.observations if counted(r)]
        self.others = [r for r in resources.others if counted(r)]
        everything = [*resources.conditions, *resources.observations, *resources.others]
        self.about = [r for r in everything if identity.about(r)]
        """Every resource about the patient, whatever its status: histories
        (fhir_histories) tell a record from one that is no event themselves."""
        self.shared: dict[tuple[int, str], object | None] = {}
        """Facts and histories read (FactMapping.read), by mapping and name."""
        self.lock = threading.Lock()


@dataclass(frozen=True, eq=False)
class Resources:
    """What a request carries about the patient, by role.

    `patient_id` is the request's patient (CRD: context.patientId); None
    takes it from the order's subject or patient reference. `patient_urls`
    are the fullUrls that name that Patient in the request's Bundles
    (`patient_urls()`). `service_day`: the date of service ages count to
    when the order alone does not say it (PAS: a claim item's; order_date).
    Only the resources that count (the module's rules)
    are seen by the expressions; they are filtered once, when the first
    Resources of a request is made, and shared by `for_order`."""

    order: Resource
    patient: Resource | None = None
    coverage: Resource | None = None
    conditions: Sequence[Resource] = ()
    observations: Sequence[Resource] = ()
    others: Sequence[Resource] = ()
    patient_id: str | None = None
    patient_urls: frozenset[str] = frozenset()
    service_day: date | None = None
    searched: frozenset[str] = frozenset()
    """The resource types the request holds every resource of (a search
    whose answer it carries whole): only these can make a history complete."""
    _record: _Record | None = field(default=None, repr=False, compare=False)

    @property
    def record(self) -> _Record:
        if self._record is None:
            object.__setattr__(self, "_record", _Record(self))
        assert self._record is not None
        return self._record

    def for_order(self, order: Resource) -> Resources:
        """The same record with another order: nothing is filtered or read again
        that does not depend on the order. (The patient must not depend on the
        order: give `patient_id`, as CRD does.)"""
        return replace(self, order=order, _record=self.record)

    def on_day(self, day: date | None) -> Resources:
        """The same record and order with ages counted to `day` (None: the
        order's own date of service); nothing is filtered again."""
        return replace(self, service_day=day, _record=self.record)

    def variables(self) -> dict[str, Any]:
        record = self.record
        everything = [self.order, *filter(None, (record.patient, record.coverage))]
        everything += [*record.conditions, *record.observations, *record.others]
        return {
            "order": self.order,
            "patient": record.patient or [],
            "coverage": record.coverage or [],
            "conditions": record.conditions,
            "observations": record.observations,
            "resources": everything,
        }

    def order_date(self, today: date) -> date:
        """The date of service ages are counted to: `service_day` when the
        caller states it (PAS: the item's), else the one the order states
        (service_date: when it is to be given, else when it was written; a
        claim: its first item's, else its creation), else today. It is the
        day that becomes the decision's date_of_service (Decisions.decide),
        so that an age and the policy version are read on one day: the
        policies' texts count age on the date of service, not on the day
        the order was written."""
        if self.service_day is not None:
            return self.service_day
        order = self.order
        day = service_date(order)
        if order.get("resourceType") == "Claim":
            items = [i for i in order.get("item") or [] if isinstance(i, Mapping)]
            day = next(filter(None, map(service_date, items)), None) or day
        return day or today


def service_date(resource: Mapping[str, Any]) -> date | None:
    """The date of service an order or a claim item states: when it is to be
    given (occurrenceDateTime, occurrencePeriod.start; an item's servicedDate
    or servicedPeriod.start), else when it was written (authoredOn, created);
    None when it states none."""
    candidates: list[object] = []
    for key in ("occurrence", "serviced"):
        candidates.append(resource.get(f"{key}DateTime") or resource.get(f"{key}Date"))
        period = resource.get(f"{key}Period")
        candidates.append(period.get("start") if isinstance(period, Mapping) else None)
    candidates += [resource.get("authoredOn"), resource.get("created")]
    return next((day for day in map(_day, candidates) if day is not None), None)


def _day(text: object) -> date | None:
    """The day a FHIR date or dateTime starts with (None if it has none)."""
    from policykb.bridge.model.dates import parse_date

    return parse_date(text[:10]) if isinstance(text, str) else None


__all__ = ["Resource", "Resources", "service_date"]
