"""CRD's discovery: the six hooks the service answers (CRD 2.2.1, hook-4),
their service ids, and the prefetch templates each hook's service asks for.

Invariant: every hook's prefetch holds the whole record (RECORD_PREFETCH),
which every hook's decision reads; a hook adds only the keys of the request
resources its context names by id (order-dispatch's orders, appointment-book's
basedOn, the encounter hooks' Encounter).
"""

from __future__ import annotations

from policykb.service.crd_config import discovery_extension
from policykb.service.envelopes.cds_hooks import Discovery, ServiceDescriptor

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
