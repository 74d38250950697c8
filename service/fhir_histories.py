"""How a FHIR R4 resource reads as a record of a policy's history fact.

The rules a policy's `fhir.yaml` states under `histories:` are checked and
compiled by fhir_history_mapping.py; this module holds the compiled rules
(HistoryRule, EntryRule, FieldReader) and reads a request's resources with
them.

What a field can read (`from:`):

- `date`: the day the resource dates the event: Procedure performedDateTime
  or performedPeriod (its start, else its end); Observation
  effectiveDateTime, effectiveInstant or effectivePeriod (start, else end);
  MedicationRequest authoredOn; MedicationDispense whenHandedOver. Only a
  full day (YYYY-MM-DD, a dateTime's own calendar day as written) is read.
- `code`: the code the record was selected by (the coding of `codes`), through
  `map` (code -> field value); without `map`, for a field of type code, the
  code itself. Codings that map to two different values make the record unread.
- `value` (Observation): `valueQuantity` for a number field, in UCUM
  (`system` http://unitsofmeasure.org, no comparator), converted to the
  field's declared unit (field_unit/3, through service/units.py; a ratio
  unit such as % only as itself: 58 mmol/mol is no A1C in %); or a coded
  answer (`valueCodeableConcept`) in `system` through `map`; or
  `valueBoolean` for a bool field (through `map` when given).
- `days_supply` (MedicationRequest: dispenseRequest.expectedSupplyDuration;
  MedicationDispense: daysSupply): a UCUM duration converted to days (`d`),
  a whole number.

Which resources are records (issue 26's rule: the wrong resource, unit,
status or code system never decides):

- Only resources of the entry's type, about the request's patient (record.py).
- Status: a record only in the entry's statuses (by default every usable one
  of its type, fhir_history_mapping.USABLE); a status that says no event
  happened (NO_EVENT: entered-in-error, not-done, cancelled, draft,
  declined) is no record; any other status (in-progress, preliminary,
  on-hold, unknown, none stated) leaves the resource *unread*. A
  MedicationRequest is a record only with an order intent (ORDER_INTENTS)
  and not `doNotPerform`.
- A resource with a coding of the entry's codes is read; every field must
  read (a wrong unit, a comparator, a partial date, an answer not in the map,
  a value the field refuses): otherwise it is *unread*.
- A resource of the type coded in none of the systems the history's entries
  name (or by reference, medicationReference) cannot be told apart from a
  record coded otherwise: it is *unread*. One coded in a named system with
  no listed code is another event, and no record.

Complete or partial: a mapping is `complete: true` only when its source is
the plan's own claims (every such event there is). The default, false,
states the records read as *at least these*: an EHR documents what it
documents, and a request that omits a record must not be denied as if it did
not exist. Even a complete mapping reads a partial history when (a) a
resource was left unread (the unread one might be a record), or (b) the
request does not vouch that it holds every resource of a type the mapping
reads (`Resources.searched`: CRD states the types whose US Core search was
prefetched or fetched). A partial history with no record is left unknown.

Every unread resource is noted with a one-line reason (`HistoryRead.unread`),
and never decides: the history then stays partial, so the rules that turn on
it ask for it (missing facts, the questionnaire, the CRD card's
"Information needed" reasons).

Invariants: the records read are checked like a case's (every declared
field, of its type); a resource is at most one record (the mapping gives no
two entries of one history one code of one resource type).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Fact, FactType
from policykb.service.units import UCUM_SYSTEM, convert

Resource = Mapping[str, Any]

NO_EVENT: dict[str, frozenset[str]] = {
    "Procedure": frozenset({"entered-in-error", "not-done"}),
    "Observation": frozenset({"entered-in-error", "cancelled"}),
    "MedicationRequest": frozenset({"entered-in-error", "cancelled", "draft"}),
    "MedicationDispense": frozenset({"entered-in-error", "cancelled", "declined"}),
}
"""The statuses that say no event happened: no record, and nothing unread."""

ORDER_INTENTS = frozenset(
    {"order", "original-order", "reflex-order", "filler-order", "instance-order"}
)
"""MedicationRequest intents that are prescriptions (a proposal or plan is none)."""

CODE_ELEMENT = {
    "Procedure": "code",
    "Observation": "code",
    "MedicationRequest": "medicationCodeableConcept",
    "MedicationDispense": "medicationCodeableConcept",
}
DATE_ELEMENTS = {
    "Procedure": ("performedDateTime", "performedPeriod"),
    "Observation": ("effectiveDateTime", "effectiveInstant", "effectivePeriod"),
    "MedicationRequest": ("authoredOn",),
    "MedicationDispense": ("whenHandedOver",),
}
DAYS = "d"


@dataclass(frozen=True)
class FieldReader:
    """How one field of a record is read: a constant, or a source (`from`)
    with an optional map and the code system of a coded value."""

    declared: Fact
    """The history's field (its type, options, bounds, unit)."""
    constant: object = None
    source: str | None = None
    mapping: Mapping[str, object] = field(default_factory=dict)
    uris: tuple[str, ...] = ()
    unit: str | None = None
    """The UCUM code of the field's unit (a number read from a Quantity)."""


@dataclass(frozen=True)
class EntryRule:
    """One way a history's record is read: a resource type, the codes that
    select it, the statuses that make it a record, and its fields."""

    resource: str
    codes: Mapping[str, frozenset[str]]
    """FHIR system URI -> codes."""
    statuses: frozenset[str]
    fields: tuple[tuple[str, FieldReader], ...]

    def matched(self, resource: Resource) -> list[str]:
        """The codes of the resource's codings this entry selects it by."""
        return [
            code
            for system, code in _codings(resource.get(CODE_ELEMENT[self.resource]))
            if code in self.codes.get(system, ())
        ]


@dataclass(frozen=True)
class HistoryRead:
    """A history read from a record: the value as a case states it (None: the
    history is unknown), and each resource left unread with why."""

    value: object | None
    unread: tuple[str, ...] = ()


@dataclass(frozen=True)
class HistoryRule:
    """How one history fact is read (the module's rules)."""

    history: str
    complete: bool
    entries: tuple[EntryRule, ...]

    @property
    def resource_types(self) -> frozenset[str]:
        return frozenset(entry.resource for entry in self.entries)

    def read(self, about: Sequence[Resource], searched: frozenset[str]) -> HistoryRead:
        """The history from the resources about the patient (any status);
        `searched`: the types the request holds every resource of."""
        records: list[dict[str, object]] = []
        unread: list[str] = []
        for kind in sorted(self.resource_types):
            entries = [e for e in self.entries if e.resource == kind]
            named = {uri for e in entries for uri in e.codes}
            for resource in about:
                if resource.get("resourceType") != kind:
                    continue
                record, why = _read_one(resource, entries, named)
                if record is not None:
                    records.append(record)
                elif why is not None:
                    unread.append(f"{_name(resource)}: {why}")
        complete = self.complete and not unread and self.resource_types <= searched
        if not complete and not records:
            return HistoryRead(None, tuple(unread))
        value: object = {"complete": True, "records": records} if complete else records
        return HistoryRead(value, tuple(unread))


def _name(resource: Resource) -> str:
    ident = resource.get("id")
    return f"{resource.get('resourceType')}/{ident if isinstance(ident, str) else '(no id)'}"


def _codings(concept: object) -> list[tuple[str, str]]:
    """(system, code) of each coding of a CodeableConcept with both."""
    codings = concept.get("coding") if isinstance(concept, Mapping) else None
    return [
        (coding["system"], coding["code"].strip())
        for coding in (codings if isinstance(codings, list) else [])
        if isinstance(coding, Mapping)
        and isinstance(coding.get("system"), str)
        and isinstance(coding.get("code"), str)
    ]


def _read_one(
    resource: Resource, entries: Sequence[EntryRule], named: set[str]
) -> tuple[dict[str, object] | None, str | None]:
    """The record a resource is, or None with why it is unread (None: it is
    no record, and nothing is unread)."""
    kind = str(resource.get("resourceType"))
    status = resource.get("status")
    if isinstance(status, str) and status in NO_EVENT[kind]:
        return None, None  # whatever it is coded as, it records no event
    codings = _codings(resource.get(CODE_ELEMENT[kind]))
    entry = next((e for e in entries if e.matched(resource)), None)
    if entry is None:
        if any(system in named for system, _ in codings):
            return None, None  # coded in a system the mapping reads: another event
        if kind.startswith("Medication") and "medicationReference" in resource:
            return None, "the medication is a reference, not a code"
        return None, "no coding in a code system the mapping reads"
    if kind == "MedicationRequest" and (
        resource.get("intent") not in ORDER_INTENTS or resource.get("doNotPerform") is True
    ):
        return None, None
    if not isinstance(status, str) or status not in entry.statuses:
        return None, f"status {str(status)[:40]!r} is not one the mapping reads"
    record: dict[str, object] = {}
    for name, reader in entry.fields:
        value, why = _field_value(resource, entry, reader)
        if why is not None:
            return None, f"field {name!r}: {why}"
        try:
            from policykb.bridge.loading.case import check_value

            check_value(reader.declared, value)
        except CaseError as error:
            return None, f"field {name!r}: {str(error)[:200]}"
        record[name] = value
    return record, None


def _field_value(
    resource: Resource, entry: EntryRule, reader: FieldReader
) -> tuple[object, str | None]:
    source = reader.source
    if source is None:
        return reader.constant, None
    if source == "date":
        return _date_of(resource)
    if source == "code":
        found = entry.matched(resource)
        if reader.mapping:
            return _one({reader.mapping[c] for c in found if c in reader.mapping}, "code")
        return _one(set(found), "code")
    if source == "days_supply":
        quantity = (
            (resource.get("dispenseRequest") or {}).get("expectedSupplyDuration")
            if resource.get("resourceType") == "MedicationRequest"
            else resource.get("daysSupply")
        )
        return _quantity(quantity, DAYS, reader.declared.type)
    # source == "value": an Observation's value
    if "dataAbsentReason" in resource:
        return None, "the value is absent (dataAbsentReason)"
    if reader.declared.type in (FactType.INT, FactType.DECIMAL):
        assert reader.unit is not None
        return _quantity(resource.get("valueQuantity"), reader.unit, reader.declared.type)
    if reader.declared.type is FactType.BOOL and "valueBoolean" in resource:
        answer = resource["valueBoolean"]
        if reader.mapping:
            key = str(answer).lower()
            return _one({reader.mapping[key]} if key in reader.mapping else set(), "value")
        return answer, None
    codes = [
        code
        for system, code in _codings(resource.get("valueCodeableConcept"))
        if system in reader.uris
    ]
    if reader.mapping:
        return _one({reader.mapping[c] for c in codes if c in reader.mapping}, "value")
    return _one(set(codes), "value")


def _one(values: set[object], what: str) -> tuple[object, str | None]:
    if len(values) == 1:
        return next(iter(values)), None
    if not values:
        return None, f"no {what} the mapping reads"
    return None, f"the {what} reads as several values"


def _date_of(resource: Resource) -> tuple[object, str | None]:
    from policykb.bridge.model.dates import parse_date

    for element in DATE_ELEMENTS[str(resource.get("resourceType"))]:
        stated = resource.get(element)
        if stated is None:
            continue
        if isinstance(stated, Mapping):  # a Period: its start, else its end
            stated = stated.get("start") or stated.get("end")
        day = parse_date(stated[:10]) if isinstance(stated, str) else None
        if day is None:
            return None, f"{element} is not a full date"
        return day.isoformat(), None
    return None, "no date"


def _quantity(value: object, unit: str, kind: FactType) -> tuple[object, str | None]:
    """A UCUM Quantity converted to `unit`; a reason when it cannot be."""
    if not isinstance(value, Mapping):
        return None, "no quantity"
    if value.get("comparator") is not None:
        return None, f"a comparator ({str(value.get('comparator'))[:4]}) is no number"
    number, code = value.get("value"), value.get("code")
    if value.get("system") != UCUM_SYSTEM or not isinstance(code, str):
        return None, "the unit is not a UCUM code"
    if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
        return None, "no number"
    if code != unit and _dimensionless(unit):
        # Two ratios are not one measure: 58 mmol/mol (IFCC A1C) is 5.8 % by
        # UCUM's arithmetic, yet the same blood's NGSP A1C is 7.5 %.
        return None, f"the unit {code[:20]!r} is not the field's own ratio {unit!r}"
    converted = convert(Decimal(str(number)), code, unit)
    if converted is None:
        return None, f"the unit {code[:20]!r} is not commensurable with {unit!r}"
    integral = converted == converted.to_integral_value()
    if kind is FactType.INT and not integral:
        return None, f"{converted} {unit} is not a whole number"
    return (int(converted) if integral else float(converted)), None


def _dimensionless(unit: str) -> bool:
    """A UCUM unit that is a pure ratio (%, mmol/mol, 1)."""
    return unit != DAYS and convert(Decimal(1), unit, "1") is not None


__all__ = ["EntryRule", "FieldReader", "HistoryRead", "HistoryRule"]
