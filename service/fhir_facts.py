"""A policy's facts read from FHIR R4 resources, as its fhir.yaml declares.

Each policy folder may hold a `fhir.yaml`:

    facts:
      bmi:
        path: "%observations.where(code.coding.where(system = 'http://loinc.org'
               and code = '39156-5').exists())"     # FHIRPath (fhirpathpy)
        pick: latest                 # of resources: the most recent one
        value: valueQuantity         # FHIRPath on the picked resource
      age:
        path: "%patient.birthDate"
        as: years_to_order           # whole years to the date of service
      pregnant:
        path: ...
        map: {"77386006": true, "60001007": false}

The expressions see the request's resources as variables: %order (the draft
order, or the claim), %patient, %coverage, %conditions, %observations and
%resources (everything). A fact whose expression yields nothing, or several
different values for a fact of one value, stays unknown; the policy's
questionnaire asks for it. Values then pass the case validation of every
other input.

What counts (each rule a test in tests/service/test_fhir_facts.py):

- Only resources that count: about the patient of the request, in a usable
  status (record.py states the rules).
- `pick: latest` orders by time spans (fhir_time): the candidates are the
  resources no other is surely after. When they agree on the value (equal
  instants, one value), that is the fact; when they disagree (equal
  instants, a partial date beside a full one), the fact is unknown.
- A resource with `dataAbsentReason` states no value: the fact is unknown
  (a latest one is not passed over for an older one).
- A fact with a declared unit takes only Quantities with a UCUM code
  (`system` http://unitsofmeasure.org), converted to that unit (units.py); a
  bare number, another unit system, an incommensurable unit or a
  `comparator` leaves it unknown (`<40` is no number, and a case has no
  range value to carry it: FactRule._quantity).
- A single-valued fact read as several different values, or as one value
  it cannot use beside others, is unknown.

The resources are filtered once per request (request_resources.py), and a
fact whose expressions read neither %order nor %resources (nor the date of
service) is read once per request however many orders it has
(Resources.for_order).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from functools import cached_property
from pathlib import Path
from typing import Any

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import FactType, Policy
from policykb.service.fhir_histories import HistoryRead, HistoryRule
from policykb.service.fhir_history_mapping import load_histories
from policykb.service.fhir_time import latest
from policykb.service.request_resources import Resources, _day
from policykb.service.units import UCUM_SYSTEM, UnitError, convert, ucum_code
from policykb.service.yaml_place import Where

MAPPING_FILE = "fhir.yaml"
RULE_KEYS = ("path", "pick", "value", "as", "map")
PICKS = ("latest",)
CONVERSIONS = ("years_to_order",)
VARIABLES = ("order", "patient", "coverage", "conditions", "observations", "resources")

UNUSABLE = object()
"""A value read that cannot be the fact's (it makes a single-valued fact unknown)."""


class Expression:
    """A FHIRPath expression: compiled to Python where it keeps to the
    subset of fhirpath.py, else (or on data the subset does not cover)
    evaluated by fhirpathpy."""

    def __init__(self, text: str) -> None:
        import fhirpathpy
        from fhirpathpy.models import models

        from policykb.service.fhirpath import Unsupported, compile_path

        self.text = text
        self.variables = _variables(text)
        """The %variables the expression reads."""
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


def _variables(text: str) -> frozenset[str]:
    """The names of the %variables in an expression's parse tree (a name
    written as a string, %'order', counts too)."""
    from fhirpathpy.parser import parse

    found: set[str] = set()
    stack = [parse(text)]  # type: ignore[no-untyped-call]
    while stack:
        node = stack.pop()
        if node.get("type") == "ExternalConstant":
            name = "".join(str(n.get("text", "")) for n in node.get("children", []))
            found.add(name.strip("`'\""))
        stack.extend(node.get("children", []))
    return frozenset(found)


RECORD_VARIABLES = frozenset({"patient", "coverage", "conditions", "observations"})
"""The variables no order of a request changes (%order and %resources do)."""


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

    unit: str | None = None
    """The UCUM code of the fact's declared unit (a number fact that has one)."""

    @cached_property
    def per_order(self) -> bool:
        """Whether the value can differ between two orders of one request
        (asked for every fact of every request: worked out once)."""
        used = self.path.variables | (self.value.variables if self.value else frozenset())
        return not used <= RECORD_VARIABLES or self.conversion == "years_to_order"

    def read(self, variables: Mapping[str, Any], order_day: date) -> object | None:
        """The fact's raw value (as a case would write it), or None when unknown."""
        found = self.path(None, variables)
        if self.pick == "latest":
            resources = [r for r in found if type(r) is dict or isinstance(r, Mapping)]
            if not resources:
                return None
            found = latest(resources)
        values: list[object] = []
        for item in found:
            if isinstance(item, Mapping) and "dataAbsentReason" in item:
                values.append(UNUSABLE)  # the record says the value is absent
            elif self.value is not None:
                if not isinstance(item, Mapping):
                    continue
                read = self.value(item, variables)
                values += read if read else [UNUSABLE] if self.pick else []
            else:
                values.append(item)
        converted = [self._converted(v, order_day) for v in values]
        if self.type.many:
            usable_values = [v for v in converted if v is not UNUSABLE]
            return [str(v) for v in dict.fromkeys(usable_values)] or None
        distinct = list(dict.fromkeys(converted))
        if len(distinct) != 1 or distinct[0] is UNUSABLE:
            return None
        return distinct[0]

    def _converted(self, value: object, order_day: date) -> object:
        """A value read, as the case writes it; UNUSABLE when it cannot be."""
        if isinstance(value, Mapping) and "dataAbsentReason" in value:
            return UNUSABLE
        if self.unit is not None:
            return self._quantity(value)
        if isinstance(value, Decimal):
            value = int(value) if value == value.to_integral_value() else float(value)
        if self.mapping:
            key = str(value).lower() if isinstance(value, bool) else str(value)
            return (
                self.mapping.get(key, UNUSABLE) if isinstance(value, str | bool | int) else UNUSABLE
            )
        if self.conversion == "years_to_order":
            born = _day(value) if isinstance(value, str) else None
            if born is None or born > order_day:
                return UNUSABLE
            before_birthday = (order_day.month, order_day.day) < (born.month, born.day)
            return order_day.year - born.year - before_birthday
        if isinstance(value, bool | int | float | str):
            return value
        return UNUSABLE

    def _quantity(self, value: object) -> object:
        """A FHIR Quantity in the fact's unit; UNUSABLE for anything else: a bare
        number (no unit), a unit not in UCUM, an incommensurable unit, or a
        comparator (`<40` is no number, and a case cannot carry a range)."""
        if not isinstance(value, Mapping) or value.get("comparator") is not None:
            return UNUSABLE
        number, code = value.get("value"), value.get("code")
        if value.get("system") != UCUM_SYSTEM or not isinstance(code, str):
            return UNUSABLE
        if isinstance(number, bool) or not isinstance(number, int | float | Decimal):
            return UNUSABLE
        assert self.unit is not None
        converted = convert(Decimal(str(number)), code, self.unit)
        if converted is None:
            return UNUSABLE
        if self.type is FactType.INT:
            return int(converted) if converted == converted.to_integral_value() else UNUSABLE
        integral = converted == converted.to_integral_value()
        return int(converted) if integral else float(converted)


@dataclass(frozen=True)
class FactMapping:
    """A policy's fhir.yaml, compiled: its facts and its histories."""

    rules: tuple[FactRule, ...] = ()
    histories: tuple[HistoryRule, ...] = ()

    @property
    def facts(self) -> tuple[str, ...]:
        return tuple(rule.fact for rule in self.rules) + tuple(h.history for h in self.histories)

    def rule(self, fact: str) -> FactRule | None:
        return next((rule for rule in self.rules if rule.fact == fact), None)

    def read(
        self, resources: Resources, today: date, only: Collection[str] | None = None
    ) -> dict[str, object]:
        """Every fact this mapping can read from the resources (`only`: just
        these facts). A fact no order changes is read once per request
        (Resources.for_order shares it)."""
        variables = resources.variables()
        order_day = resources.order_date(today)
        record = resources.record
        facts: dict[str, object] = {}
        for rule in self.rules:
            if only is not None and rule.fact not in only:
                continue
            if rule.per_order:
                value = _read(rule, variables, order_day)
            else:
                key = (id(self), rule.fact)
                with record.lock:
                    if key not in record.shared:
                        record.shared[key] = _read(rule, variables, order_day)
                    value = record.shared[key]
            if value is not None:
                facts[rule.fact] = value
        for history in self.histories:
            if only is not None and history.history not in only:
                continue
            read = self._history(history, resources)
            if read.value is not None:
                facts[history.history] = read.value
        return facts

    def unread(self, resources: Resources) -> list[str]:
        """Each resource a history of this mapping left unread, with why
        (fhir_histories): it decided nothing, and the history stays partial."""
        return [
            f"{history.history}: {note}"
            for history in self.histories
            for note in self._history(history, resources).unread
        ]

    def _history(self, history: HistoryRule, resources: Resources) -> HistoryRead:
        """A history read once per request (no order changes it)."""
        record = resources.record
        key = (id(self), history.history)
        with record.lock:
            if key not in record.shared:
                record.shared[key] = history.read(record.about, resources.searched)
            read = record.shared[key]
        assert isinstance(read, HistoryRead)
        return read


def _read(rule: FactRule, variables: Mapping[str, Any], order_day: date) -> object | None:
    try:
        return rule.read(variables, order_day)
    except Exception:  # a record the expression cannot walk: the fact stays unknown
        return None


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
    if not isinstance(document, Mapping) or not document or set(document) - {"facts", "histories"}:
        raise PolicyError(f"{_shown(path)}: expected the keys 'facts' and/or 'histories'")
    entries = document.get("facts", {})
    if not isinstance(entries, Mapping):
        raise PolicyError(f"{_shown(path)}: 'facts' must map fact names to rules")
    histories: tuple[HistoryRule, ...] = ()
    if "histories" in document:
        where = Where(_shown(path), path.read_text(encoding="utf-8"))
        histories = load_histories(policy, document["histories"], where)
    return FactMapping(
        tuple(_rule(path, policy, name, entry) for name, entry in entries.items()), histories
    )


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
    fact = policy.facts[name]
    unit = None
    if fact.unit and fact.type in (FactType.INT, FactType.DECIMAL) and entry.get("as") is None:
        try:
            unit = ucum_code(fact.unit)
        except UnitError as error:
            raise PolicyError(
                f"{where}: the fact's unit {fact.unit!r} has no UCUM code: {error} "
                "(add it to DECLARED_UNITS in bridge/loading/ucum.py)"
            ) from None
    return FactRule(
        fact=name,
        type=policy.facts[name].type,
        path=compiled(entry["path"]),
        pick=entry.get("pick"),
        value=compiled(value) if value is not None else None,
        conversion=entry.get("as"),
        mapping={str(key): target for key, target in mapping.items()},
        expression=str(entry["path"]),
        unit=unit,
    )


__all__ = ["VARIABLES", "FactMapping", "FactRule", "load_mapping"]
