"""How a DTR client fills a policy's Questionnaire from the EHR: SDC
expression-based population written from the policy's fhir.yaml.

The fhir.yaml expressions read %patient, %coverage, %order, %conditions,
%observations and %resources; a DTR client knows none of them unless the
Questionnaire says where they come from. So the Questionnaire declares:

- `sdc-questionnaire-launchContext` for what the launch hands over: patient
  (Patient), coverage (Coverage) and order (the request being documented),
  each only when an expression reads it;
- `variable`s that fetch the rest with US Core searches (x-fhir-query):
  `Condition?patient=` and, for each code an expression tests,
  `Observation?patient=&code=` (US Core's patient+code combination); FHIRPath
  variables then keep what the service counts (record.py: an Observation
  final, amended or corrected; a Condition active, recurrence or relapse, not
  refuted, entered in error or abated) under the names the expressions use.

Each item the service reads gets an item-level variable holding the values
read (the rule's path, its `pick: latest`, `value`, unit, `as` and `map`, in
FHIRPath) and an `initialExpression` of the item's own type: an integer for
an integer fact (age in whole years today; a quantity only when it is a whole
number in the item's unit), a decimal in the item's UCUM unit, a boolean, a
date (a day, never a date-time), a code matching an answerOption. A
single-valued item is filled only when the values read agree, as the
service reads it.

Limits, stated in each expression's description where they apply: a
Quantity is taken only in the item's own UCUM unit and without a comparator
(the service also converts commensurable units: the clinician answers
those); `latest` keeps the resource whose effective time (else issued,
recorded or onset) FHIRPath orders last, where the service leaves a fact
unknown when two candidates' times overlap and their values differ; age is
counted to today, where the service counts to the date of service the
order states (its occurrence, else when it was written).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from policykb.bridge.model.policy import Fact, FactType
from policykb.service.fhir_facts import FactMapping, FactRule
from policykb.service.record import (
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    UNUSABLE_VERIFICATION,
    USABLE_CLINICAL,
    USABLE_OBSERVATION,
)
from policykb.service.units import UCUM_SYSTEM

LAUNCH_CONTEXT = "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-launchContext"
LAUNCH_CONTEXT_CODES = "http://hl7.org/fhir/uv/sdc/CodeSystem/launchContext"
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
INITIAL_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression"
)
FHIRPATH = "text/fhirpath"
FHIR_QUERY = "application/x-fhir-query"

ORDER_TYPES = (
    "ServiceRequest",
    "DeviceRequest",
    "MedicationRequest",
    "NutritionOrder",
    "VisionPrescription",
    "CommunicationRequest",
    "Appointment",
    "Encounter",
)
"""What DTR launches on (its spec-113: a CRD request or encounter); SDC
clients bind a launch context by its first type, so the commonest is first."""

LAUNCH_CONTEXTS: dict[str, tuple[tuple[str, ...], str, bool]] = {
    "patient": (("Patient",), "The patient the form is about", True),
    "coverage": (("Coverage",), "The coverage the documentation is for", False),
    "order": (ORDER_TYPES, "The order (request or encounter) being documented", False),
}
"""name -> (resource types, description, whether the name is SDC's own code)."""

US_CORE_CATEGORIES = (
    "laboratory",
    "vital-signs",
    "social-history",
    "survey",
    "exam",
    "imaging",
    "procedure",
    "therapy",
    "activity",
)
"""Observation categories US Core searches by (patient+category), used only
for an expression over %observations that tests no code."""

TIME = (
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod.end",
    "effectivePeriod.start",
    "issued",
    "recordedDate",
    "onsetDateTime",
)
"""Where a resource says when, in fhir_time's order of preference."""


def literal(value: object) -> str:
    """A FHIRPath literal for a fact's value (a string quoted and escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value).replace("\\", "\\\\").replace("'", "\\'")
    return f"'{text}'"


def _time(of: str) -> str:
    return "(" + " | ".join(f"{of}.{path}" for path in TIME) + ").first()"


def _any_of(field: str, values: Iterable[str]) -> str:
    return "(" + " or ".join(f"{field} = {literal(v)}" for v in sorted(values)) + ")"


def _balanced(text: str, start: int) -> str:
    """The text inside the parenthesis opened just before `start`."""
    depth = 1
    quoted = False
    for index in range(start, len(text)):
        char = text[index]
        if char == "'" and text[index - 1] != "\\":
            quoted = not quoted
        elif not quoted and char == "(":
            depth += 1
        elif not quoted and char == ")":
            depth -= 1
            if depth == 0:
                return text[start:index]
    return text[start:]


_CODING_TEST = re.compile(r"(?<!component\.where\()code\.coding\.where\(")
_SYSTEM = re.compile(r"system\s*=\s*'([^']*)'")
_CODE = re.compile(r"(?<![.\w])code\s*=\s*'([^']*)'")


def observation_codes(expressions: Iterable[str]) -> list[tuple[str, str]]:
    """The (system, code) pairs the expressions test an Observation's code
    for (`code.coding.where(system = 'S' and code = 'C')`; a component's code
    is not the Observation's), in first-seen order."""
    found: dict[tuple[str, str], None] = {}
    for text in expressions:
        for match in _CODING_TEST.finditer(text):
            inside = _balanced(text, match.end())
            systems = _SYSTEM.findall(inside)
            if len(systems) != 1:
                continue
            for code in _CODE.findall(inside):
                found[(systems[0], code)] = None
    return list(found)


@dataclass(frozen=True)
class Population:
    """The Questionnaire-level extensions, and each read fact's item extensions."""

    questionnaire: list[dict[str, Any]]
    items: dict[str, list[dict[str, Any]]]


def population(facts: Mapping[str, Fact], mapping: FactMapping) -> Population:
    """The SDC population of a policy's Questionnaire."""
    rules = [rule for rule in mapping.rules if rule.fact in facts]
    used: set[str] = set()
    for rule in rules:
        used |= rule.path.variables | (rule.value.variables if rule.value else frozenset())
    if "resources" in used:
        used |= {"order", "patient", "coverage", "conditions", "observations"}
    if used & {"conditions", "observations"}:
        used.add("patient")  # the searches name the patient
    extensions = [_launch_context(name) for name in LAUNCH_CONTEXTS if name in used]
    if "conditions" in used:
        extensions += _conditions()
    if "observations" in used:
        texts = [rule.expression for rule in rules if "observations" in rule.path.variables]
        extensions += _observations(observation_codes(texts))
    if "resources" in used:
        everything = " | ".join(
            f"%{name}" for name in ("order", "patient", "coverage", "conditions", "observations")
        )
        extensions.append(_variable("resources", everything))
    items = {rule.fact: _item_population(facts[rule.fact], rule) for rule in rules}
    return Population(extensions, items)


def is_launch_context(extension: dict[str, Any], name: str) -> bool:
    """Whether an extension declares the launch context `name`."""
    return extension.get("url") == LAUNCH_CONTEXT and any(
        part.get("url") == "name" and part.get("valueCoding", {}).get("code") == name
        for part in extension.get("extension", [])
    )


def launch_context(name: str) -> dict[str, Any]:
    """The launchContext extension of one of LAUNCH_CONTEXTS."""
    return _launch_context(name)


def _launch_context(name: str) -> dict[str, Any]:
    types, description, sdc_code = LAUNCH_CONTEXTS[name]
    coding = {"system": LAUNCH_CONTEXT_CODES, "code": name} if sdc_code else {"code": name}
    return {
        "url": LAUNCH_CONTEXT,
        "extension": [
            {"url": "name", "valueCoding": coding},
            *({"url": "type", "valueCode": kind} for kind in types),
            {"url": "description", "valueString": description},
        ],
    }


def _variable(name: str, expression: str, language: str = FHIRPATH) -> dict[str, Any]:
    return {
        "url": VARIABLE,
        "valueExpression": {"name": name, "language": language, "expression": expression},
    }


def _conditions() -> list[dict[str, Any]]:
    clinical = (
        "clinicalStatus.coding.where(system.empty() or system = "
        f"{literal(CONDITION_CLINICAL)}).code"
    )
    verification = (
        f"verificationStatus.coding.where(system.empty() or system = "
        f"{literal(CONDITION_VERIFICATION)}).code"
    )
    abatement = (
        "(abatementDateTime | abatementAge | abatementPeriod | abatementRange | abatementString)"
    )
    counted = (
        f"resourceType = 'Condition' and {clinical}.exists() "
        f"and {clinical}.all({_any_of('$this', USABLE_CLINICAL)}) "
        f"and {verification}.where({_any_of('$this', UNUSABLE_VERIFICATION)}).empty() "
        f"and {abatement}.empty()"
    )
    return [
        _variable("conditionSearch", "Condition?patient={{%patient.id}}", FHIR_QUERY),
        _variable("conditions", f"%conditionSearch.entry.resource.where({counted})"),
    ]


def _observations(codes: list[tuple[str, str]]) -> list[dict[str, Any]]:
    if codes:
        queries = [f"code={system}|{code}" for system, code in codes]
    else:
        queries = [f"category={category}" for category in US_CORE_CATEGORIES]
    extensions = [
        _variable(
            f"observationSearch{i}", f"Observation?patient={{{{%patient.id}}}}&{query}", FHIR_QUERY
        )
        for i, query in enumerate(queries, 1)
    ]
    counted = f"resourceType = 'Observation' and {_any_of('status', USABLE_OBSERVATION)}"
    union = " | ".join(f"%observationSearch{i}.entry.resource" for i in range(1, len(queries) + 1))
    extensions.append(_variable("observations", f"({union}).where({counted})"))
    return extensions


def read_variable(fact: str) -> str:
    """The name of the item-level variable holding the values read for `fact`:
    an Expression.name is a FHIR id (letters, digits, `-`, `.`; 64 at most)
    and a FHIRPath identifier (no `-` or `.`), so `qualifying_test_date` is
    `readQualifyingTestDate` (fact names are lowercase words joined by `_`,
    so no two give one name); a name too long ends in a digest of the fact."""
    name = "read" + "".join(word.capitalize() for word in fact.split("_"))
    if len(name) > 64 or not name.isalnum():
        digest = hashlib.sha256(fact.encode()).hexdigest()[:12]
        name = "read" + "".join(c for c in name[4:] if c.isalnum())[:40] + digest
    return name


def values_read(fact: Fact, rule: FactRule) -> tuple[str, list[str]]:
    """The FHIRPath of the values the service reads for `fact` (before a
    single-valued fact's agreement check), and the limits it has."""
    limits: list[str] = []
    text = f"({rule.expression})"
    if rule.pick == "latest":
        later = f"{_time('$this')} > {_time('$total')}"
        text += f".aggregate(iif($total.empty() or {later}, $this, $total))"
        limits.append("the latest by effective time")
    if rule.value is not None:
        text += f".select({rule.value.text})"
    if rule.unit is not None:
        text += (
            f".where(system = {literal(UCUM_SYSTEM)} and code = {literal(rule.unit)} "
            "and comparator.empty()).value"
        )
        limits.append(f"a Quantity in {rule.unit} only")
        if fact.type is FactType.INT:
            text += ".where($this = $this.floor()).select($this.floor())"
    if rule.conversion == "years_to_order":
        year = "toString().substring(0, 4).toInteger()"
        day = "toString().substring(5, 5)"
        text += (
            ".where($this.toString().length() = 10)"
            f".select(today().{year} - $this.{year} - iif(today().{day} < $this.{day}, 1, 0))"
            ".where($this >= 0)"
        )
        limits.append("age today (the service counts to the date of service)")
    if rule.mapping:
        mapped = "{}"
        for key, value in reversed(list(rule.mapping.items())):
            mapped = f"iif($this.toString() = {literal(key)}, {literal(value)}, {mapped})"
        text += f".select({mapped})"
    if fact.type is FactType.DATE:
        text += ".where($this.toString().length() = 10)"  # a day: a date-time is no date fact
    return text, limits


def _item_population(fact: Fact, rule: FactRule) -> list[dict[str, Any]]:
    values, limits = values_read(fact, rule)
    name = read_variable(fact.name)
    if fact.type.many:
        initial = f"%{name}.distinct()"
    else:
        initial = f"iif(%{name}.distinct().count() = 1, %{name}.distinct(), {{}})"
    expression: dict[str, Any] = {"language": FHIRPATH, "expression": initial}
    described = "policykb reads it from the record" + (f" ({'; '.join(limits)})" if limits else "")
    expression["description"] = described
    return [
        _variable(name, values),
        {"url": INITIAL_EXPRESSION, "valueExpression": expression},
    ]


__all__ = [
    "INITIAL_EXPRESSION",
    "LAUNCH_CONTEXT",
    "VARIABLE",
    "Population",
    "is_launch_context",
    "launch_context",
    "observation_codes",
    "population",
    "read_variable",
    "values_read",
]
