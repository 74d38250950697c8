"""How a DTR client fills a history's repeating group from the EHR: SDC
expression-based population written from the history's fhir.yaml mapping
(fhir_history_mapping), as dtr_population does for single facts.

For a history H the service reads from FHIR, the Questionnaire declares
one x-fhir-query `variable` per resource type its entries read, with the
US Core searches the service also uses (`Procedure?patient=`,
`Observation?patient=&code=` with the entries' codes,
`MedicationRequest?patient=&intent=order`, `MedicationDispense?patient=`),
and the group carries an `sdc-questionnaire-itemPopulationContext` naming
one resource per repetition: those an entry selects (its codes, a usable
status; for a MedicationRequest an order not marked doNotPerform). Each
field's item gets an `initialExpression` over that resource: the first
entry that selects it gives the field (a constant, the date, the selecting
code, the value, the days' supply), as the service reads it.

Limits, stated in the expressions' descriptions: a Quantity is read only in
the field's own UCUM unit and without a comparator, a days' supply only in
days (`d`) (the service converts commensurable units: the clinician answers
those); a date is the first ten characters of the resource's date, so a
date-time is read as the day it names in its own zone. A resource the
service leaves unread (a field it cannot read) may give a repetition with
that field empty: the clinician completes or removes it.
"""

from __future__ import annotations

from typing import Any

from policykb.bridge.model.policy import FactType
from policykb.service.dtr_population import FHIR_QUERY, FHIRPATH, literal
from policykb.service.fhir_histories import (
    CODE_ELEMENT,
    ORDER_INTENTS,
    EntryRule,
    FieldReader,
    HistoryRule,
)
from policykb.service.units import UCUM_SYSTEM

ITEM_POPULATION_CONTEXT = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-itemPopulationContext"
)
INITIAL_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression"
)
VARIABLE = "http://hl7.org/fhir/StructureDefinition/variable"
SEARCHES = {
    "Procedure": "Procedure?patient={{%patient.id}}",
    "MedicationRequest": "MedicationRequest?patient={{%patient.id}}&intent=order",
    "MedicationDispense": "MedicationDispense?patient={{%patient.id}}",
}
DATES = {
    "Procedure": ("performedDateTime", "performedPeriod.start", "performedPeriod.end"),
    "Observation": (
        "effectiveDateTime",
        "effectiveInstant",
        "effectivePeriod.start",
        "effectivePeriod.end",
    ),
    "MedicationRequest": ("authoredOn",),
    "MedicationDispense": ("whenHandedOver",),
}
"""Where each type states its date, in the service's order (fhir_histories)."""


def _camel(name: str) -> str:
    return "".join(word.capitalize() for word in name.split("_"))


def record_variable(history: str) -> str:
    """The name a repetition's resource has in its items' expressions."""
    return "record" + _camel(history)


def search_variable(history: str, resource: str) -> str:
    return f"search{_camel(history)}{resource}"


def _any(field: str, values: list[str]) -> str:
    return "(" + " or ".join(f"{field} = {literal(v)}" for v in values) + ")"


def _selects(entry: EntryRule, record: str) -> str:
    """FHIRPath: the entry selects the resource %record."""
    codings = " or ".join(
        f"(system = {literal(system)} and {_any('code', sorted(codes))})"
        for system, codes in sorted(entry.codes.items())
    )
    test = (
        f"%{record}.resourceType = {literal(entry.resource)} "
        f"and %{record}.{CODE_ELEMENT[entry.resource]}.coding.where({codings}).exists() "
        f"and {_any(f'%{record}.status', sorted(entry.statuses))}"
    )
    if entry.resource == "MedicationRequest":
        test += (
            f" and {_any(f'%{record}.intent', sorted(ORDER_INTENTS))}"
            f" and %{record}.doNotPerform.where($this = true).empty()"
        )
    return test


def _mapped(text: str, mapping: dict[str, object] | Any) -> str:
    if not mapping:
        return text
    chosen = "{}"
    for key, value in reversed(list(mapping.items())):
        chosen = f"iif($this.toString() = {literal(key)}, {literal(value)}, {chosen})"
    return f"{text}.select({chosen})"


def _one(text: str) -> str:
    return f"iif(({text}).distinct().count() = 1, ({text}).distinct(), {{}})"


def _quantity(path: str, unit: str, kind: FactType) -> str:
    value = (
        f"{path}.where(system = {literal(UCUM_SYSTEM)} and code = {literal(unit)} "
        "and comparator.empty()).value"
    )
    if kind is FactType.INT:
        value += ".where($this = $this.floor()).select($this.floor())"
    return value


def _field(entry: EntryRule, reader: FieldReader, record: str) -> str:
    """FHIRPath: the field's value when `entry` selects %record."""
    if reader.source is None:
        return literal(reader.constant)
    if reader.source == "date":
        first = "{}"
        for path in reversed(DATES[entry.resource]):
            first = f"iif(%{record}.{path}.exists(), %{record}.{path}, {first})"
        return f"({first}).toString().where(length() >= 10).substring(0, 10)"
    if reader.source == "code":
        codings = " or ".join(
            f"(system = {literal(system)} and {_any('code', sorted(codes))})"
            for system, codes in sorted(entry.codes.items())
        )
        found = f"%{record}.{CODE_ELEMENT[entry.resource]}.coding.where({codings}).code"
        return _one(_mapped(found, reader.mapping))
    if reader.source == "days_supply":
        path = (
            f"%{record}.dispenseRequest.expectedSupplyDuration"
            if entry.resource == "MedicationRequest"
            else f"%{record}.daysSupply"
        )
        return _quantity(path, "d", reader.declared.type)
    kind = reader.declared.type
    if kind in (FactType.INT, FactType.DECIMAL):
        assert reader.unit is not None
        return _quantity(f"%{record}.valueQuantity", reader.unit, kind)
    if kind is FactType.BOOL and not reader.uris:
        return _mapped(f"%{record}.valueBoolean", reader.mapping)
    found = f"%{record}.valueCodeableConcept.coding.where({_any('system', list(reader.uris))}).code"
    return _one(_mapped(found, reader.mapping))


def _search(rule: HistoryRule, resource: str) -> str:
    if resource != "Observation":
        return SEARCHES[resource]
    codes = sorted(
        f"{system}|{code}"
        for entry in rule.entries
        if entry.resource == resource
        for system, found in entry.codes.items()
        for code in found
    )
    return f"Observation?patient={{{{%patient.id}}}}&code={','.join(codes)}"


def questionnaire_variables(rule: HistoryRule) -> list[dict[str, Any]]:
    """The searches the history's group reads, as root `variable`s."""
    return [
        {
            "url": VARIABLE,
            "valueExpression": {
                "name": search_variable(rule.history, resource),
                "language": FHIR_QUERY,
                "expression": _search(rule, resource),
            },
        }
        for resource in sorted(rule.resource_types)
    ]


def group_population(rule: HistoryRule) -> list[dict[str, Any]]:
    """The group's itemPopulationContext: one resource per record."""
    record = record_variable(rule.history)
    union = " | ".join(
        f"%{search_variable(rule.history, resource)}.entry.resource"
        for resource in sorted(rule.resource_types)
    )
    selected = " or ".join(
        f"({_selects(entry, 'this').replace('%this', '$this')})" for entry in rule.entries
    )
    return [
        {
            "url": ITEM_POPULATION_CONTEXT,
            "valueExpression": {
                "name": record,
                "language": FHIRPATH,
                "expression": f"({union}).where({selected})",
                "description": "the resources policykb reads as this history's records",
            },
        }
    ]


def field_population(rule: HistoryRule, field: str) -> list[dict[str, Any]]:
    """The field's initialExpression over the repetition's resource."""
    record = record_variable(rule.history)
    chosen = "{}"
    for entry in reversed(rule.entries):
        reader = dict(entry.fields)[field]
        chosen = f"iif({_selects(entry, record)}, {_field(entry, reader, record)}, {chosen})"
    limits = "a Quantity only in the field's own UCUM unit, a days' supply only in days"
    return [
        {
            "url": INITIAL_EXPRESSION,
            "valueExpression": {
                "language": FHIRPATH,
                "expression": chosen,
                "description": f"policykb reads it from the record ({limits})",
            },
        }
    ]


def populate_group(group: dict[str, Any], rule: HistoryRule) -> None:
    """Give a history's group (dtr_histories.group_item) its population."""
    group.setdefault("extension", []).extend(group_population(rule))
    for child in group["item"]:
        field = child["linkId"].split(".", 1)[1]
        child.setdefault("extension", []).extend(field_population(rule, field))
