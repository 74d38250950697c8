"""Which of a request's resources count: those about its patient, in a
usable status. Only these are seen by a policy's fhir.yaml expressions
(fhir_facts); each rule is a test in tests/service/test_fhir_facts.py.

- Only resources about the patient of the request: its `subject` (a
  Coverage: `beneficiary`; else `patient`) refers to the patient as
  `Patient/<id>`, an absolute URL ending in `/Patient/<id>` (with or without
  `/_history/<v>`), or a fullUrl (`urn:uuid:...`) of a Bundle entry holding
  that Patient. The patient is `context.patientId` (CRD), else the order's
  own subject or patient reference. A resource with no such reference, or
  about another patient, is left out; so is a Patient resource of another id.
- Only resources in a usable status: a Condition whose clinicalStatus is
  active, recurrence or relapse (none stated: left out; FHIR's con-3 requires
  one of a problem-list item, and without it nothing says the condition is
  active), whose verificationStatus is not refuted or entered-in-error, and
  that is not also abated (con-4: it contradicts itself); an Observation
  whose status is final, amended or corrected; any other resource not
  entered-in-error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policykb.service.envelopes.fhir import Bundle

CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
USABLE_CLINICAL = frozenset({"active", "recurrence", "relapse"})
UNUSABLE_VERIFICATION = frozenset({"refuted", "entered-in-error"})
USABLE_OBSERVATION = frozenset({"final", "amended", "corrected"})
SUBJECT_KEYS = {"Coverage": ("beneficiary",)}
"""The element naming whom a resource is about, by type (else subject, patient)."""


def _codes(concept: object, system: str) -> set[str]:
    """The codes of a CodeableConcept in `system` (a coding with no system counts)."""
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return {
        coding["code"]
        for coding in (codings if isinstance(codings, list) else [])
        if isinstance(coding, Mapping)
        and isinstance(coding.get("code"), str)
        and coding.get("system", system) == system
    }


def usable(resource: Mapping[str, Any]) -> bool:
    """A resource in a status whose content may decide (the module's rule)."""
    kind = resource.get("resourceType")
    if kind == "Condition":
        clinical = _codes(resource.get("clinicalStatus"), CONDITION_CLINICAL)
        verification = _codes(resource.get("verificationStatus"), CONDITION_VERIFICATION)
        # con-4: an abated condition is inactive, resolved or in remission, so
        # one stated both abated and active contradicts itself: left out.
        abated = any(key.startswith("abatement") for key in resource)
        return (
            bool(clinical)
            and clinical <= USABLE_CLINICAL
            and not (verification & UNUSABLE_VERIFICATION)
            and not abated
        )
    status = resource.get("status")
    if kind == "Observation":
        return isinstance(status, str) and status in USABLE_OBSERVATION
    return status != "entered-in-error"


def reference_id(reference: str) -> str | None:
    """The Patient id a literal reference names (relative or absolute URL)."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


@dataclass(frozen=True)
class PatientIdentity:
    """Who the request is about: the Patient's id and the fullUrls naming it."""

    id: str | None
    urls: frozenset[str] = frozenset()

    def named_by(self, reference: object) -> bool:
        """A Reference (the JSON object) names this patient."""
        if self.id is None or not isinstance(reference, Mapping):
            return False
        text = reference.get("reference")
        if not isinstance(text, str):
            return False
        return text in self.urls or reference_id(text) == self.id

    def about(self, resource: Mapping[str, Any]) -> bool:
        """The resource is about this patient (a Patient: is this patient)."""
        kind = resource.get("resourceType")
        if kind == "Patient":
            return self.id is not None and resource.get("id") == self.id
        for key in SUBJECT_KEYS.get(str(kind), ("subject", "patient")):
            if key in resource:
                return self.named_by(resource[key])
        return False  # about no one it says: it cannot be shown to be about the patient


def patient_urls(bundles: Iterable[Bundle], patient_id: str | None) -> frozenset[str]:
    """The fullUrls of Bundle entries (in `bundles`, at any depth of nested
    Bundles) that hold the Patient `patient_id`."""
    if patient_id is None:
        return frozenset()
    return frozenset(
        entry.fullUrl
        for bundle in bundles
        for entry in bundle.nested_entries()
        if entry.fullUrl is not None
        and entry.held is not None
        and entry.held["resourceType"] == "Patient"
        and entry.held.get("id") == patient_id
    )


def order_patient(order: Mapping[str, Any], urls: frozenset[str], patient: object) -> str | None:
    """The patient an order (a claim) names, by its subject or patient reference."""
    for key in ("subject", "patient"):
        reference = order.get(key)
        text = reference.get("reference") if isinstance(reference, Mapping) else None
        if not isinstance(text, str):
            continue
        if text in urls and isinstance(patient, Mapping):
            named = patient.get("id")
            return named if isinstance(named, str) else None
        return reference_id(text)
    return None
