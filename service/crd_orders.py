"""The request resources CRD gives coverage information on, and the codes
each one orders.

CRD 2.2.1 puts ext-coverage-information on Appointment, CommunicationRequest,
DeviceRequest, Encounter, MedicationRequest, NutritionOrder, ServiceRequest
and VisionPrescription. Each names what it orders in its own elements, and
each may carry CRD's ext-billing-options (the likely billing codes, on the
element the extension's context names): a server SHALL consider those codes
(billopt-3) and SHALL NOT depend on them (billopt-2). `ordered_concept`
gathers both into one CodeableConcept, the order's own codings first.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

BILLING_OPTIONS = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-billing-options"
COMMUNICATION_CONTENT = (
    "http://hl7.org/fhir/5.0/StructureDefinition/extension-CommunicationRequest.payload.content"
)
"""R5's CodeableConcept payload content, as CRD's CommunicationRequest profile carries it."""

ORDER_TYPES = (
    "Appointment",
    "CommunicationRequest",
    "DeviceRequest",
    "Encounter",
    "MedicationRequest",
    "NutritionOrder",
    "ServiceRequest",
    "VisionPrescription",
)
"""The resource types ext-coverage-information is defined on (but
QuestionnaireResponse, which no hook orders)."""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _concepts(resource: Mapping[str, Any]) -> Iterator[object]:
    """The CodeableConcepts naming what the resource orders, by type."""
    kind = resource.get("resourceType")
    if kind == "ServiceRequest":
        yield resource.get("code")
    elif kind == "DeviceRequest":
        yield resource.get("codeCodeableConcept")
    elif kind == "MedicationRequest":
        yield resource.get("medicationCodeableConcept")
    elif kind == "Appointment":
        yield from _list(resource.get("serviceType"))
    elif kind == "Encounter":
        # R4's Encounter.type is a list, its serviceType one concept.
        yield from _list(resource.get("type"))
        yield from _list(resource.get("serviceType"))
    elif kind == "VisionPrescription":
        for lens in _list(resource.get("lensSpecification")):
            if isinstance(lens, Mapping):
                yield lens.get("product")
    elif kind == "NutritionOrder":
        yield resource  # ext-billing-options' context is the NutritionOrder itself
        diet = resource.get("oralDiet")
        if isinstance(diet, Mapping):
            yield from _list(diet.get("type"))
        for supplement in _list(resource.get("supplement")):
            if isinstance(supplement, Mapping):
                yield supplement.get("type")
        formula = resource.get("enteralFormula")
        if isinstance(formula, Mapping):
            yield formula.get("baseFormulaType")
            yield formula.get("additiveType")
    elif kind == "CommunicationRequest":
        # R4's payload.content[x] is a string, Attachment or Reference; the
        # R5 extension carrying a CodeableConcept sits on it (`_contentString`
        # for the string).
        for payload in _list(resource.get("payload")):
            if not isinstance(payload, Mapping):
                continue
            for key in ("_contentString", "contentAttachment", "contentReference"):
                content = payload.get(key)
                extensions = content.get("extension") if isinstance(content, Mapping) else None
                for extension in _list(extensions):
                    if (
                        isinstance(extension, Mapping)
                        and extension.get("url") == COMMUNICATION_CONTENT
                    ):
                        yield extension.get("valueCodeableConcept")


def _codings(concept: object) -> list[Mapping[str, Any]]:
    found = concept.get("coding") if isinstance(concept, Mapping) else None
    return [c for c in _list(found) if isinstance(c, Mapping)]


def billing_options(element: object) -> list[Mapping[str, Any]]:
    """The codings of the ext-billing-options extensions on an element."""
    extensions = element.get("extension") if isinstance(element, Mapping) else None
    return [
        coding
        for extension in _list(extensions)
        if isinstance(extension, Mapping) and extension.get("url") == BILLING_OPTIONS
        for coding in _codings(extension.get("valueCodeableConcept"))
    ]


def ordered_concept(resource: Mapping[str, Any]) -> dict[str, Any]:
    """One CodeableConcept holding every coding the resource orders by: its
    own codings, then the billing options on them (each coding once)."""
    concepts = [c for c in _concepts(resource) if isinstance(c, Mapping)]
    found: list[Mapping[str, Any]] = []
    for concept in concepts:
        if concept is not resource:
            found += _codings(concept)
    for concept in concepts:
        found += billing_options(concept)
    seen: set[tuple[str, str]] = set()
    unique = []
    for coding in found:
        key = (str(coding.get("system")), str(coding.get("code")))
        if key not in seen:
            seen.add(key)
            unique.append(dict(coding))
    return {"coding": unique}


def own_codings(resource: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The (system, code) pairs of the resource's own codings (not its billing
    options): a coding routed that is not among them was a billing option."""
    return [
        (str(c.get("system")), str(c.get("code")))
        for concept in _concepts(resource)
        if concept is not resource
        for c in _codings(concept)
    ]
