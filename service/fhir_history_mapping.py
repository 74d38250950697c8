"""The `histories:` section of a policy's fhir.yaml, checked and compiled.

Beside `facts:`, a policy's `fhir.yaml` may hold `histories:`, one entry per
history fact of the vocabulary (`history/1`):

    histories:
      screenings:
        complete: false          # optional, default false (fhir_histories: "Complete or partial")
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

Code systems are named `cpt`, `hcpcs`, `icd10pcs`, `loinc`, `snomed` and
`rxnorm`; each stands for its FHIR URIs (SYSTEM_URIS).

How the compiled rules read a request's resources (which are records, which
are left unread, complete or partial) is fhir_histories.py.

Invariants: two entries of one history never claim one code of one resource
type (a resource is at most one record); a wrong mapping is a PolicyError
naming the file, the line and what is wrong.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import Fact, FactType
from policykb.service.fhir_histories import EntryRule, FieldReader, HistoryRule
from policykb.service.routing import ACCEPTED_URIS
from policykb.service.units import UnitError, ucum_code
from policykb.service.yaml_place import Where

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.policy import Policy

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

SOURCES = ("date", "code", "value", "days_supply")
SOURCE_TYPES = {
    "value": ("Observation",),
    "days_supply": ("MedicationRequest", "MedicationDispense"),
}
HISTORY_KEYS = ("complete", "records")
ENTRY_KEYS = ("resource", "codes", "status", "fields")
FIELD_KEYS = ("from", "map", "system")


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


__all__ = ["SYSTEM_URIS", "USABLE", "load_histories"]
