"""ext-coverage-information checked against its StructureDefinition as the
IG's FSH states it (CRD 2.2.1 resp-47), offline.

No FHIR validator can load the IG here: the IG package and its dependencies
(hl7.fhir.r4.core, US Core, HRex) come only from the FHIR package registry,
which is not reachable, and SUSHI needs them to build the snapshot. So this
is a small checker of the extension's differential, read from the FSH the
IG publishes (tests/fixtures/crd/CoverageInformation.fsh, with its value
sets in CoverageInformationValuesets.fsh), enforcing:

- the sub-extensions `extension contains` declares, each within its
  cardinality (min..max), and no other (every url relative to the slices);
- on each, exactly one value[x], of a type its `value[x] only` allows
  (Reference targets by resource type: CRDCoverage is a Coverage);
- `value[x] from <ValueSet> (required)` bindings: the code is in the value
  set as the FSH lists it; extensible bindings on CodeableConcepts: a coding
  from the value set's code systems is one of its codes, and a concept
  without one has text;
- the primitive formats of code, date, string and canonical (FHIR R4
  regexes), and the extension's url fixed by its Id.

What it does not check: the nested `detail` slices' own contents (the
service never returns `detail`), and invariants (crd_ig.invariant_results
runs those by their published FHIRPath).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from tests.crd_ig import CRD

CANONICAL = "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
SYSTEMS = {
    "CoverageInformationCodes": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes",
    "CRDTempCodes": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/temp",
    "$v3-NullFlavor": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
}
"""The IG's aliases for the code systems its value sets list (aliases.fsh)."""
VALUE_KEYS = {
    # FSH type name: the JSON key of value[x] of that type
    "code": "valueCode",
    "Coding": "valueCoding",
    "CodeableConcept": "valueCodeableConcept",
    "canonical": "valueCanonical",
    "date": "valueDate",
    "string": "valueString",
    "ContactDetail": "valueContactDetail",
    "boolean": "valueBoolean",
    "url": "valueUrl",
    "SimpleQuantity": "valueQuantity",
    "Period": "valuePeriod",
    "Reference": "valueReference",
}
FORMATS = {
    # FHIR R4's regexes for the primitive types the extension uses
    "valueCode": re.compile(r"[^\s]+( [^\s]+)*"),
    "valueDate": re.compile(
        r"([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)"
        r"(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1]))?)?"
    ),
    "valueString": re.compile(r"[ \r\n\t\S]+"),
    "valueCanonical": re.compile(r"\S*"),
}
PROFILE_TARGETS = {
    # The IG's profiles a Reference may target: the resource type each constrains.
    "CRDCoverage": "Coverage",
    "CRDAppointmentWithOrder": "Appointment",
    "CRDAppointmentNoOrder": "Appointment",
    **{
        f"CRD{kind}": kind
        for kind in (
            "CommunicationRequest",
            "DeviceRequest",
            "MedicationRequest",
            "NutritionOrder",
            "ServiceRequest",
            "VisionPrescription",
        )
    },
}


@dataclass
class Slice:
    """One sub-extension as the differential states it."""

    name: str
    minimum: int
    maximum: int | None  # None: *
    types: list[str] = field(default_factory=list)
    targets: list[str] = field(default_factory=list)
    binding: tuple[str, str] | None = None  # (value set name, strength)


@cache
def slices() -> dict[str, Slice]:
    """The top-level slices of the extension, read from the FSH."""
    text = (CRD / "CoverageInformation.fsh").read_text(encoding="utf-8")
    contains = re.search(r"^\* extension contains\n(?P<body>(?:    .*\n)+)", text, re.M)
    assert contains is not None
    found: dict[str, Slice] = {}
    for m in re.finditer(r"([\w-]+) (\d+)\.\.(\d+|\*)", contains["body"]):
        found[m[1]] = Slice(m[1], int(m[2]), None if m[3] == "*" else int(m[3]))
    blocks = re.split(r"^\* extension\[([\w-]+)\] only Extension\n", text, flags=re.M)
    for name, body in zip(blocks[1::2], blocks[2::2], strict=True):
        body = body.split("\n* ", 1)[0]  # up to the next top-level rule
        top = [line for line in body.splitlines() if line.startswith("  * ")]
        for line in top:
            only = re.match(r"  \* value\[x\] only (.+)$", line)
            if only:
                choices = only[1]
                for reference in re.findall(r"Reference\(([^)]*)\)", choices):
                    found[name].types.append("Reference")
                    found[name].targets += [t.strip() for t in reference.split(" or ")]
                choices = re.sub(r"Reference\([^)]*\)", "", choices)
                found[name].types += [t.strip() for t in choices.split(" or ") if t.strip()]
            bound = re.match(r"  \* value(?:\[x\]|CodeableConcept) from (\w+) \((\w+)\)", line)
            if bound:
                found[name].binding = (bound[1], bound[2])
    return found


@cache
def value_set(name: str) -> frozenset[tuple[str, str]]:
    """The (system, code) pairs a value set of the FSH lists, by its name."""
    text = (CRD / "CoverageInformationValuesets.fsh").read_text(encoding="utf-8")
    block = re.search(rf"^ValueSet: {re.escape(name)}\n(?P<body>(?:.*\n)*?)(?:\n|\Z)", text, re.M)
    assert block is not None, name
    return frozenset(
        (SYSTEMS[m[1]], m[2]) for m in re.finditer(r"^\* ([\w$-]+)#([\w-]+)", block["body"], re.M)
    )


def problems(extension: Any) -> list[str]:
    """Every way `extension` departs from the differential (empty: conforms)."""
    if not isinstance(extension, dict):
        return ["not an object"]
    found: list[str] = []
    if extension.get("url") != CANONICAL:
        found.append(f"url {extension.get('url')!r} is not {CANONICAL}")
    if any(k.startswith("value") for k in extension):
        found.append("a complex extension has no value[x]")
    parts = extension.get("extension")
    if not isinstance(parts, list):
        return [*found, "no sub-extensions"]
    declared = slices()
    counts: dict[str, int] = {}
    for index, part in enumerate(parts):
        where = f"extension[{index}]"
        url = part.get("url") if isinstance(part, dict) else None
        if url not in declared:
            found.append(f"{where}: url {url!r} is not a slice of the extension")
            continue
        counts[url] = counts.get(url, 0) + 1
        found += [f"{where} ({url}): {p}" for p in _value_problems(part, declared[url])]
    for name, item in declared.items():
        count = counts.get(name, 0)
        if count < item.minimum or (item.maximum is not None and count > item.maximum):
            bound = "*" if item.maximum is None else item.maximum
            found.append(f"{name}: {count} present, cardinality {item.minimum}..{bound}")
    return found


def _value_problems(part: dict[str, Any], item: Slice) -> list[str]:
    values = {k: v for k, v in part.items() if k.startswith("value")}
    if item.name == "detail":
        return [] if not values else ["detail is complex: no value[x]"]
    if len(values) != 1:
        return [f"{len(values)} value[x] present, exactly one wanted"]
    ((key, value),) = values.items()
    allowed = {VALUE_KEYS[t] for t in item.types}
    if key not in allowed:
        return [f"{key} is not among {sorted(allowed)}"]
    found: list[str] = []
    pattern = FORMATS.get(key)
    if pattern is not None and not (isinstance(value, str) and pattern.fullmatch(value)):
        found.append(f"{key} {value!r} is not a valid {key.removeprefix('value').lower()}")
    if key == "valueReference":
        target = value.get("reference") if isinstance(value, dict) else None
        kinds = {PROFILE_TARGETS.get(t, t) for t in item.targets}
        path = target.split("/") if isinstance(target, str) else []
        if len(path) >= 4 and path[-2] == "_history":
            path = path[:-2]
        if len(path) < 2 or path[-2] not in kinds or not path[-1]:
            found.append(f"reference {target!r} is not to a {' or '.join(sorted(kinds))}")
    if item.binding is not None and item.binding[1] in ("required", "extensible"):
        found += _binding_problems(key, value, *item.binding)  # example bindings bind nothing
    return found


def _binding_problems(key: str, value: Any, name: str, strength: str) -> list[str]:
    codes = value_set(name)
    if key == "valueCode":
        # A code's system is implied by the binding: any system of the set.
        if strength == "required" and value not in {code for _, code in codes}:
            return [f"code {value!r} is not in {name} (required)"]
        return []
    if key == "valueCodeableConcept" and isinstance(value, dict):
        systems = {system for system, _ in codes}
        codings = [c for c in value.get("coding", []) if isinstance(c, dict)]
        ours = [(c.get("system"), c.get("code")) for c in codings if c.get("system") in systems]
        if any(pair not in codes for pair in ours):
            return [f"a coding {ours} is from {name}'s systems but not in it ({strength})"]
        if strength == "required" and not ours:
            return [f"no coding from {name} (required)"]
        if strength == "extensible" and not ours and not value.get("text"):
            return [f"no coding from {name} and no text ({strength})"]
    return []
