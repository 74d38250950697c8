"""A policy's history facts read from FHIR R4 resources, as its fhir.yaml declares.

Beside `facts:`, a policy's `fhir.yaml` may hold `histories:`, one entry per
history fact of the vocabulary (`history/1`):

    histories:
      screenings:
        complete: false          # optional, default false (see "Complete or partial")
        records:                 # one or more ways a record is read
          - resource: Procedure  # Procedure | Observation | MedicationRequest | MedicationDispense
            codes:               # the resource's code: a coding in one of these
              cpt: ["45378", "45380"]          # systems with one of these codes
              snomed: ["73761001"]
            status: [completed]  # optional: a subset of the type's usable statuses
            fields:              # every field of the history, each one of:
              test: colonoscopy           #   a constant (checked against the field)
              date: {from: date}          #   the resource's date
              result: negative            #   (a constant again)
          - resource: Observation
            codes: {loinc: ["29771-3", "57905-2"]}
            fields:
              test: fit
              date: {from: date}
              result:                     #   the value, a coded answer mapped
                from: value               #   to the field's options
                system: snomed
                map: {"10828004": positive, "260385009": negative}

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

Code systems are named `cpt`, `hcpcs`, `icd10pcs`, `loinc`, `snomed` and
`rxnorm`; each stands for its FHIR URIs (SYSTEM_URIS).

Which resources are records (issue 26's rule: the wrong resource, unit,
status or code system never decides):

- Only resources of the entry's type, about the request's patient (record.py).
- Status: a record only in the entry's statuses (by default every usable one
  of its type, USABLE); a status that says no event happened (NO_EVENT:
  entered-in-error, not-done, cancelled, draft, declined) is no record; any
  other status (in-progress, preliminary, on-hold, unknown, none stated)
  leaves the resource *unread*. A MedicationRequest is a record only with an
  order intent (ORDER_INTENTS) and not `doNotPerform`.
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
field, of its type); two entries of one history never claim one code of one
resource type (a resource is at most one record); a wrong mapping is a
PolicyError naming the file, the line and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import Fact, FactType
from policykb.service.routing import ACCEPTED_URIS
from policykb.service.units import UCUM_SYSTEM, UnitError, convert, ucum_code

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.policy import Policy

Resource = Mapping[str, Any]

SYSTEM_URIS: dict[str, tuple[str, ...]] = {
    "cpt": ACCEPTED_URIS["cpt"],
    "hcpcs": ACCEPTED_URIS["hcpcs"],
    "icd10pcs": ("http://www.cms.gov/Medicare/Coding/ICD10", "urn:oid:2.16.840.1.113883.6.4"),
    "loinc": ("http://loinc.org", "urn:oid:2.16.840.1.113883.6.1"),
    "snomed": ("http://snomed.info/sct", "urn:oid:2.16.840.1.113883.6.96"),
    "rxnorm": ("http://www.nlm.nih.gov/research/umls/rxnorm", "urn:oid:2.16.840.1.113883.6.88"),
}
"""The code systems a mapping names, each with the FHIR URIs read as it."""

USABLE: dict[str, frozenset[str]] = {
    "Procedure": frozenset({"completed"}),
    "Observation": frozenset({"final", "amended", "corrected"}),
    "MedicationRequest": frozenset({"active", "completed", "stopped"}),
    "MedicationDispense": frozenset({"completed"}),
}
"""The statuses in which a resource of each type records an event that happened
(a stopped MedicationRequest is a trial that was begun)."""

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
SOURCES = ("date", "code", "value", "days_supply")
SOURCE_TYPES = {
    "value": ("Observation",),
    "days_supply": ("MedicationRequest", "MedicationDispense"),
}
HISTORY_KEYS = ("complete", "records")
ENTRY_KEYS = ("resource", "codes", "status", "fields")
FIELD_KEYS = ("from", "map", "system")
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


# -- loading -------------------------------------------------------------------


class Where:
    """Names a place of a fhir.yaml: the file and the line of a key path."""

    def __init__(self, shown: str, text: str) -> None:
        import yaml

        self.shown = shown
        try:
            self.root: Any = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

    def __call__(self, *path: str | int) -> str:
        """`file:line: a.b[0].c`, the line of the deepest key of `path` the
        file holds (a key's own line; a list item's first line)."""
        node, line = self.root, 1
        for step in path:
            if node is None or not isinstance(node.value, list):
                break
            if isinstance(step, int):
                node = node.value[step] if step < len(node.value) else None
                key = node
            else:
                pair = next(
                    ((k, v) for k, v in node.value if isinstance(k.value, str) and k.value == step),
                    None,
                )
                key, node = pair if pair is not None else (None, None)
            if key is not None:
                line = key.start_mark.line + 1
        named = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
        return f"{self.shown}:{line}: {named.lstrip('.')}"


def load_histories(policy: Policy, entries: object, where: Where) -> tuple[HistoryRule, ...]:
    """The `histories:` section, checked (PolicyError naming the file and line)."""
    if not isinstance(entries, Mapping):
        raise PolicyError(f"{where('histories')}: must map history names to rules")
    return tuple(_history(policy, str(name), entry, where) for name, entry in entries.items())


def _history(policy: Policy, name: str, entry: object, where: Where) -> HistoryRule:
    at = ("histories", name)
    history = policy.histories.get(name)
    if history is None:
        known = ", ".join(policy.histories) or "none"
        raise PolicyError(
            f"{where(*at)}: not a history of policy {policy.name} (its histories: {known})"
        )
    if not isinstance(entry, Mapping):
        raise PolicyError(f"{where(*at)}: expected keys complete and records")
    unknown = set(entry) - set(HISTORY_KEYS)
    if unknown:
        raise PolicyError(
            f"{where(*at)}: unknown key {sorted(map(str, unknown))[0]!r} (expected {HISTORY_KEYS})"
        )
    complete = entry.get("complete", False)
    if not isinstance(complete, bool):
        raise PolicyError(f"{where(*at, 'complete')}: must be true or false")
    records = entry.get("records")
    if not isinstance(records, list) or not records:
        raise PolicyError(f"{where(*at, 'records')}: must be a list of one or more entries")
    rules = tuple(
        _entry(history, item, lambda *more, i=i: where(*at, "records", i, *more))
        for i, item in enumerate(records)
    )
    claimed: dict[tuple[str, str, str], int] = {}
    for index, rule in enumerate(rules):
        for uri, codes in rule.codes.items():
            for code in codes:
                first = claimed.setdefault((rule.resource, uri, code), index)
                if first != index:
                    raise PolicyError(
                        f"{where(*at, 'records', index, 'codes')}: code {code!r} of {uri} is "
                        f"read by records[{first}] too (a resource would be two records)"
                    )
    return HistoryRule(name, complete, rules)


def _entry(history: History, item: object, where: Any) -> EntryRule:
    if not isinstance(item, Mapping):
        raise PolicyError(f"{where()}: an entry needs resource, codes and fields")
    unknown = set(item) - set(ENTRY_KEYS)
    if unknown:
        raise PolicyError(
            f"{where()}: unknown key {sorted(map(str, unknown))[0]!r} (expected {ENTRY_KEYS})"
        )
    kind = item.get("resource")
    if kind not in USABLE:
        raise PolicyError(f"{where('resource')}: must be one of {', '.join(USABLE)}")
    codes = _codes(item.get("codes"), lambda *more: where("codes", *more))
    statuses = item.get("status", sorted(USABLE[kind]))
    if (
        not isinstance(statuses, list)
        or not statuses
        or not all(isinstance(s, str) and s in USABLE[kind] for s in statuses)
    ):
        raise PolicyError(
            f"{where('status')}: must list statuses of {', '.join(sorted(USABLE[kind]))} "
            f"(a {kind} in another status does not record an event that happened)"
        )
    fields = item.get("fields")
    if not isinstance(fields, Mapping):
        raise PolicyError(f"{where('fields')}: must map each field of {history.name} to a reader")
    for name in fields:
        if name not in history.fields:
            raise PolicyError(
                f"{where('fields', str(name))}: {name!r} is not a field of {history.name} "
                f"(fields: {', '.join(history.fields)})"
            )
    missing = [name for name in history.fields if name not in fields]
    if missing:
        raise PolicyError(
            f"{where('fields')}: every record states every field; {missing[0]!r} is not read"
        )
    readers = tuple(
        (
            name,
            _reader(
                history.fields[name], kind, fields[name], lambda *m, n=name: where("fields", n, *m)
            ),
        )
        for name in history.fields
    )
    return EntryRule(kind, codes, frozenset(statuses), readers)


def _codes(raw: object, where: Any) -> dict[str, frozenset[str]]:
    if not isinstance(raw, Mapping) or not raw:
        raise PolicyError(
            f"{where()}: must map code systems ({', '.join(SYSTEM_URIS)}) to lists of codes"
        )
    codes: dict[str, frozenset[str]] = {}
    for system, listed in raw.items():
        if system not in SYSTEM_URIS:
            raise PolicyError(
                f"{where(str(system))}: unknown code system {str(system)[:40]!r} "
                f"(expected one of {', '.join(SYSTEM_URIS)})"
            )
        if (
            not isinstance(listed, list)
            or not listed
            or not all(isinstance(c, str) for c in listed)
        ):
            raise PolicyError(f"{where(system)}: must be a list of codes, each a quoted string")
        for uri in SYSTEM_URIS[system]:
            codes[uri] = frozenset(c.strip() for c in listed)
    return codes


def _reader(declared: Fact, kind: str, raw: object, where: Any) -> FieldReader:
    from policykb.bridge.loading.case import check_value

    if not isinstance(raw, Mapping):
        try:
            check_value(declared, raw)
        except CaseError as error:
            raise PolicyError(f"{where()}: the constant {str(error).split(': ', 1)[-1]}") from None
        return FieldReader(declared, constant=raw)
    unknown = set(raw) - set(FIELD_KEYS)
    if unknown:
        raise PolicyError(
            f"{where()}: unknown key {sorted(map(str, unknown))[0]!r} (expected {FIELD_KEYS})"
        )
    source = raw.get("from")
    if source not in SOURCES:
        raise PolicyError(f"{where('from')}: must be one of {', '.join(SOURCES)}")
    if kind not in SOURCE_TYPES.get(source, (kind,)):
        raise PolicyError(
            f"{where('from')}: a {kind} has no {source} (only {', '.join(SOURCE_TYPES[source])})"
        )
    mapping = raw.get("map", {})
    if not isinstance(mapping, Mapping):
        raise PolicyError(f"{where('map')}: must map codes read to the field's values")
    for key, target in mapping.items():
        try:
            check_value(declared, target)
        except CaseError as error:
            raise PolicyError(
                f"{where('map', str(key))}: {str(error).split(': ', 1)[-1]}"
            ) from None
    system = raw.get("system")
    numeric = declared.type in (FactType.INT, FactType.DECIMAL)
    if source == "date" and (declared.type is not FactType.DATE or mapping):
        raise PolicyError(f"{where('from')}: `from: date` reads a date field, without a map")
    if source == "days_supply" and (not numeric or mapping):
        raise PolicyError(
            f"{where('from')}: `from: days_supply` reads a number field, without a map"
        )
    if source == "code" and not mapping and declared.type is not FactType.CODE:
        raise PolicyError(
            f"{where('from')}: `from: code` needs a map to this {declared.type} field"
        )
    unit = None
    uris: tuple[str, ...] = ()
    if source == "value":
        if numeric and not mapping:
            try:
                unit = ucum_code(declared.unit) if declared.unit else None
            except UnitError as error:
                raise PolicyError(
                    f"{where('from')}: the field's unit has no UCUM code: {error}"
                ) from None
            if unit is None:
                raise PolicyError(
                    f"{where('from')}: a number read from a Quantity needs the field's unit "
                    "(field_unit/3)"
                )
        elif declared.type is not FactType.BOOL or system is not None:
            if system not in SYSTEM_URIS or not mapping:
                raise PolicyError(
                    f"{where('system')}: a coded value needs `system` "
                    f"({', '.join(SYSTEM_URIS)}) and `map`"
                )
            uris = SYSTEM_URIS[str(system)]
    elif system is not None:
        raise PolicyError(f"{where('system')}: only `from: value` takes a system")
    return FieldReader(
        declared,
        source=str(source),
        mapping={str(k).lower() if isinstance(k, bool) else str(k): v for k, v in mapping.items()},
        uris=uris,
        unit=unit,
    )


__all__ = ["SYSTEM_URIS", "HistoryRead", "HistoryRule", "Where", "load_histories"]
