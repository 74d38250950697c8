"""A policy's facts read from FHIR R4 resources, as its fhir.yaml declares.

Each policy folder may hold a `fhir.yaml`:

    facts:
      bmi:
        path: "%observations.where(code.coding.where(system = 'http://loinc.org'
               and code = '39156-5').exists())"     # FHIRPath (fhirpathpy)
        pick: latest                 # of resources: the most recent one
        value: valueQuantity.value   # FHIRPath on the picked resource
      age:
        path: "%patient.birthDate"
        as: years_to_order           # whole years to the order's date
      pregnant:
        path: ...
        map: {"77386006": true, "60001007": false}

The expressions see the request's resources as variables: %order (the draft
order, or the claim), %patient, %coverage, %conditions, %observations and
%resources (everything). A fact whose expression yields nothing, or several
different values for a fact of one value, stays unknown; the policy's
questionnaire asks for it. Values then pass the case validation of every
other input.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import FactType, Policy

MAPPING_FILE = "fhir.yaml"
RULE_KEYS = ("path", "pick", "value", "as", "map")
PICKS = ("latest",)
CONVERSIONS = ("years_to_order",)
VARIABLES = ("order", "patient", "coverage", "conditions", "observations", "resources")

Resource = dict[str, Any]


@dataclass(frozen=True)
class Resources:
    """What a request carries about the patient, by role."""

    order: Resource
    patient: Resource | None = None
    coverage: Resource | None = None
    conditions: Sequence[Resource] = ()
    observations: Sequence[Resource] = ()
    others: Sequence[Resource] = ()

    def variables(self) -> dict[str, Any]:
        everything = [self.order, *filter(None, (self.patient, self.coverage))]
        everything += [*self.conditions, *self.observations, *self.others]
        return {
            "order": self.order,
            "patient": self.patient or [],
            "coverage": self.coverage or [],
            "conditions": list(self.conditions),
            "observations": list(self.observations),
            "resources": everything,
        }

    def order_date(self, today: date) -> date:
        """The day the order was written (a claim: its service date, else its
        creation); today when it states none."""
        order = self.order
        candidates: list[object] = [order.get("authoredOn")]
        if order.get("resourceType") == "Claim":
            for item in order.get("item") or []:
                if isinstance(item, Mapping):
                    period = item.get("servicedPeriod")
                    start = period.get("start") if isinstance(period, Mapping) else None
                    candidates += [item.get("servicedDate"), start]
            candidates.append(order.get("created"))
        for text in candidates:
            day = _day(text)
            if day is not None:
                return day
        return today


def service_date(resource: Mapping[str, Any]) -> date | None:
    """The date of service an order or a claim item states: when it is to be
    given (occurrenceDateTime, occurrencePeriod.start; an item's servicedDate
    or servicedPeriod.start), else when it was written (authoredOn, created);
    None when it states none."""
    candidates: list[object] = []
    for key in ("occurrence", "serviced"):
        candidates.append(resource.get(f"{key}DateTime") or resource.get(f"{key}Date"))
        period = resource.get(f"{key}Period")
        candidates.append(period.get("start") if isinstance(period, Mapping) else None)
    candidates += [resource.get("authoredOn"), resource.get("created")]
    return next((day for day in map(_day, candidates) if day is not None), None)


def _day(text: object) -> date | None:
    """The day a FHIR date or dateTime starts with (None if it has none)."""
    from policykb.bridge.model.dates import parse_date

    return parse_date(text[:10]) if isinstance(text, str) else None


def _moment(resource: Mapping[str, Any]) -> str:
    """When a resource was observed or recorded, as sortable text ('' if never said)."""
    period = resource.get("effectivePeriod")
    for value in (
        resource.get("effectiveDateTime"),
        resource.get("effectiveInstant"),
        period.get("end") or period.get("start") if isinstance(period, Mapping) else None,
        resource.get("issued"),
        resource.get("recordedDate"),
        resource.get("onsetDateTime"),
    ):
        if isinstance(value, str):
            return value
    return ""


class Expression:
    """A FHIRPath expression: compiled to Python where it keeps to the
    subset of fhirpath.py, else (or on data the subset does not cover)
    evaluated by fhirpathpy."""

    def __init__(self, text: str) -> None:
        import fhirpathpy
        from fhirpathpy.models import models

        from policykb.service.fhirpath import Unsupported, compile_path

        self.text = text
        self._general = fhirpathpy.compile(text, model=models["r4"])
        try:
            self._fast: Callable[[list[Any], Mapping[str, Any]], list[Any]] | None = compile_path(
                text
            )
        except Unsupported:
            self._fast = None
        self._unsupported = Unsupported

    def __call__(self, focus: Mapping[str, Any] | None, variables: Mapping[str, Any]) -> list[Any]:
        if self._fast is not None:
            try:
                return self._fast([focus] if focus is not None else [], variables)
            except self._unsupported:
                pass
        return list(self._general(focus if focus is not None else {}, dict(variables)))


@dataclass(frozen=True)
class FactRule:
    """How one fact is read: an expression, then what is done with its values."""

    fact: str
    type: FactType
    path: Expression
    pick: str | None = None
    value: Expression | None = None
    conversion: str | None = None
    mapping: Mapping[str, object] = field(default_factory=dict)
    expression: str = ""

    def read(self, variables: Mapping[str, Any], order_day: date) -> object | None:
        """The fact's raw value (as a case would write it), or None when unknown."""
        found = self.path(None, variables)
        if self.pick == "latest":
            resources = [r for r in found if isinstance(r, Mapping)]
            if not resources:
                return None
            found = [max(resources, key=_moment)]
        if self.value is not None:
            found = [
                v
                for item in found
                if isinstance(item, Mapping)
                for v in self.value(item, variables)
            ]
        values = [self._converted(v, order_day) for v in found]
        values = [v for v in values if v is not None]
        distinct = list(dict.fromkeys(values))
        if self.type.many:
            return [str(v) for v in distinct] or None
        return distinct[0] if len(distinct) == 1 else None

    def _converted(self, value: object, order_day: date) -> object | None:
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        if self.mapping:
            return self.mapping.get(str(value).lower() if isinstance(value, bool) else str(value))
        if self.conversion == "years_to_order":
            born = _day(value) if isinstance(value, str) else None
            if born is None or born > order_day:
                return None
            before_birthday = (order_day.month, order_day.day) < (born.month, born.day)
            return order_day.year - born.year - before_birthday
        if isinstance(value, bool | int | float | str):
            return value
        return None


@dataclass(frozen=True)
class FactMapping:
    """A policy's fhir.yaml, compiled."""

    rules: tuple[FactRule, ...] = ()

    @property
    def facts(self) -> tuple[str, ...]:
        return tuple(rule.fact for rule in self.rules)

    def rule(self, fact: str) -> FactRule | None:
        return next((rule for rule in self.rules if rule.fact == fact), None)

    def read(self, resources: Resources, today: date) -> dict[str, object]:
        """Every fact this mapping can read from the resources."""
        variables = resources.variables()
        order_day = resources.order_date(today)
        facts: dict[str, object] = {}
        for rule in self.rules:
            try:
                value = rule.read(variables, order_day)
            except Exception:  # a record the expression cannot walk: the fact stays unknown
                value = None
            if value is not None:
                facts[rule.fact] = value
        return facts


def load_mapping(policy: Policy) -> FactMapping:
    """The policy's fhir.yaml, checked and compiled (PolicyError naming the
    file and fact when it is wrong); an empty mapping when there is none."""
    path = policy.source.folder / MAPPING_FILE
    if not path.is_file():
        return FactMapping()
    from policykb.bridge.loading.yaml_reader import load_yaml
    from policykb.bridge.model.errors import CaseError

    try:
        document = load_yaml(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, CaseError) as error:
        raise PolicyError(f"{_shown(path)}: {error}") from None
    if not isinstance(document, Mapping) or set(document) != {"facts"}:
        raise PolicyError(f"{_shown(path)}: expected one key, 'facts'")
    entries = document["facts"]
    if not isinstance(entries, Mapping):
        raise PolicyError(f"{_shown(path)}: 'facts' must map fact names to rules")
    return FactMapping(tuple(_rule(path, policy, name, entry) for name, entry in entries.items()))


def _shown(path: Path) -> str:
    return f"{path.parent.name}/{path.name}"


def _rule(path: Path, policy: Policy, name: object, entry: object) -> FactRule:
    where = f"{_shown(path)}: fact {name!r}"
    if not isinstance(name, str) or name not in policy.facts:
        raise PolicyError(f"{where}: not a fact of policy {policy.name}")
    if not isinstance(entry, Mapping) or not isinstance(entry.get("path"), str):
        raise PolicyError(f"{where}: needs a 'path' (a FHIRPath expression)")
    unknown = set(entry) - set(RULE_KEYS)
    if unknown:
        raise PolicyError(f"{where}: unknown key {sorted(unknown)[0]!r} (expected {RULE_KEYS})")
    if entry.get("pick") not in (None, *PICKS):
        raise PolicyError(f"{where}: 'pick' must be one of {PICKS}")
    if entry.get("as") not in (None, *CONVERSIONS):
        raise PolicyError(f"{where}: 'as' must be one of {CONVERSIONS}")
    mapping = entry.get("map", {})
    if not isinstance(mapping, Mapping):
        raise PolicyError(f"{where}: 'map' must map values read to the fact's values")

    def compiled(expression: object) -> Expression:
        if not isinstance(expression, str):
            raise PolicyError(f"{where}: an expression must be text")
        try:
            return Expression(expression)
        except Exception as error:
            raise PolicyError(f"{where}: FHIRPath {expression!r} does not parse: {error}") from None

    value = entry.get("value")
    return FactRule(
        fact=name,
        type=policy.facts[name].type,
        path=compiled(entry["path"]),
        pick=entry.get("pick"),
        value=compiled(value) if value is not None else None,
        conversion=entry.get("as"),
        mapping={str(key): target for key, target in mapping.items()},
        expression=str(entry["path"]),
    )


__all__ = ["VARIABLES", "FactMapping", "FactRule", "Resources", "load_mapping"]
