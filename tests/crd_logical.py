"""CDS Hooks responses checked against the CRD IG's logical models of them
(CRD 2.2.1 resp-47), offline, by their differentials.

The IG publishes StructureDefinitions (kind logical) of a CRD response:
CRDHooksResponseBase (every CRD response: card uuid 1.., source.topic 1..
bound to the CRD card types, ...), CRDHooksResponse-instructions (an
Instructions card: detail 1.., no suggestions, no links) and
CRDHooksResponse-coverageInformation (an update system action, no
resourceId, a resource of one of CRD's request profiles). Their base,
CDS Hooks' own logical model in the FHIR tools package, is not reachable
offline, so only what each differential states is checked:

- min and max of each path, counted under each instance of its parent;
- pattern[x] and fixed[x] values;
- `type.profile` of a Resource element: the resource's type is the one a
  listed CRD profile constrains;
- a binding to the CRD card types (which includes the whole CDS Hooks
  card-type code system): the Coding's system is that code system.

Files: tests/fixtures/crd/structuredefinition-*.xml, copied unchanged.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.crd_ig import CRD

FHIR = "{http://hl7.org/fhir}"
CARD_TYPE_SYSTEM = "http://terminology.hl7.org/CodeSystem/cdshooks-card-type"
CARD_TYPES = "http://hl7.org/fhir/us/davinci-crd/ValueSet/cardType"
PROFILE_TYPES = {
    f"http://hl7.org/fhir/us/davinci-crd/StructureDefinition/profile-{name.lower()}": name
    for name in (
        "CommunicationRequest",
        "DeviceRequest",
        "Encounter",
        "MedicationRequest",
        "NutritionOrder",
        "ServiceRequest",
        "VisionPrescription",
    )
} | {
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/profile-appointment-no-order": (
        "Appointment"
    ),
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/profile-appointment-with-order": (
        "Appointment"
    ),
}


@dataclass
class Element:
    """One element of a differential: what it constrains."""

    path: list[str]  # without the model's root name
    minimum: int | None = None
    maximum: int | None = None  # None: not constrained ("*" likewise)
    pattern: Any = None
    resource_types: set[str] = field(default_factory=set)
    value_set: str | None = None


@cache
def differential(name: str) -> tuple[Element, ...]:
    """The differential of tests/fixtures/crd/structuredefinition-<name>.xml."""
    root = ElementTree.parse(CRD / f"structuredefinition-{name}.xml").getroot()
    found = []
    for node in root.iter(f"{FHIR}element"):
        path_node = node.find(f"{FHIR}path")
        assert path_node is not None
        element = Element(path_node.get("value", "").split(".")[1:])
        minimum, maximum = node.find(f"{FHIR}min"), node.find(f"{FHIR}max")
        if minimum is not None:
            element.minimum = int(minimum.get("value", "0"))
        if maximum is not None and maximum.get("value") != "*":
            element.maximum = int(maximum.get("value", "0"))
        for child in node:
            tag = child.tag.removeprefix(FHIR)
            if tag.startswith(("pattern", "fixed")):
                element.pattern = child.get("value")
        for profile in node.iterfind(f"{FHIR}type/{FHIR}profile"):
            kind = PROFILE_TYPES.get(profile.get("value", ""))
            if kind is not None:
                element.resource_types.add(kind)
        value_set = node.find(f"{FHIR}binding/{FHIR}valueSet")
        if value_set is not None:
            element.value_set = value_set.get("value")
        found.append(element)
    return tuple(found)


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def _instances(document: Any, path: list[str]) -> list[tuple[str, Any]]:
    """Each instance at `path` (lists flattened), with where it is."""
    found: list[tuple[str, Any]] = [("", document)]
    for step in path:
        found = [
            (f"{where}.{step}[{index}]", item)
            for where, parent in found
            if isinstance(parent, dict)
            for index, item in enumerate(_items(parent.get(step)))
        ]
    return found


def problems(document: Any, model: str) -> list[str]:
    """Every way `document` (a CDS Hooks response) departs from the
    differential of `model` and of the models it is based on in the IG."""
    found = []
    chain = [model] if model == "CRDHooksResponseBase" else ["CRDHooksResponseBase", model]
    for name in chain:
        for element in differential(name):
            found += [f"{name}: {p}" for p in _element_problems(document, element)]
    return found


def _element_problems(document: Any, element: Element) -> list[str]:
    found = []
    label = ".".join(element.path)
    for where, parent in _instances(document, element.path[:-1]):
        count = len(_items(parent.get(element.path[-1]))) if isinstance(parent, dict) else 0
        if element.minimum is not None and count < element.minimum:
            found.append(f"{where or 'response'}: {label} {count} present, min {element.minimum}")
        if element.maximum is not None and count > element.maximum:
            found.append(f"{where or 'response'}: {label} {count} present, max {element.maximum}")
    for where, value in _instances(document, element.path):
        if element.pattern is not None and value != element.pattern:
            found.append(f"{where}: {value!r} is not the pattern {element.pattern!r}")
        if element.resource_types:
            kind = value.get("resourceType") if isinstance(value, dict) else None
            if kind not in element.resource_types:
                found.append(f"{where}: a {kind} is not of CRD's request profiles")
        if element.value_set == CARD_TYPES:
            system = value.get("system") if isinstance(value, dict) else None
            if system != CARD_TYPE_SYSTEM or not value.get("code"):
                found.append(f"{where}: {value!r} is not a CRD card type")
    return found
