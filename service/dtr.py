"""Da Vinci DTR: a policy's facts as a FHIR R4 Questionnaire, and the answers
of a QuestionnaireResponse as facts.

One item per fact, in the vocabulary's order: linkId is the fact's name,
text its question, the type follows the fact (boolean; choice with its
options, or with the ValueSet the service expands when they are many
(dtr_valuesets); integer and decimal with their bounds and UCUM unit; date; string;
a list or code list repeats). An item the service reads from FHIR carries
SDC's expression-based population (dtr_population): the launch contexts and
US Core searches its expressions need, and an initialExpression of the
item's type, so a DTR client fills it from the record and the clinician
answers only the rest. An item is enabled only while its answer can still
change the verdict given the earlier answers (dtr_enable, DTR spec-17);
the adaptive form (dtr_adaptive) narrows exactly, on every answer.
A history is one repeating group of records, a typed item per field, filled
from the EHR where fhir.yaml maps it (dtr_histories,
dtr_history_population); its internal yes/no facts are not asked.
The Questionnaire claims DTR's Standard Questionnaire profile.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from policykb.bridge.model.policy import Fact, FactType, Policy
from policykb.service.dtr_enable import Conditions, enable_when
from policykb.service.dtr_histories import group_item, level_facts, records, stated
from policykb.service.dtr_history_population import populate_group, questionnaire_variables
from policykb.service.dtr_population import is_launch_context, launch_context, population
from policykb.service.dtr_valuesets import uses_valueset, valueset_url
from policykb.service.errors import ServiceError
from policykb.service.fhir_facts import FactMapping
from policykb.service.units import UCUM_SYSTEM, UnitError, convert, ucum_code

MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
DTR_STANDARD_QUESTIONNAIRE = (
    "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-std-questionnaire"
)

ITEM_TYPES = {
    FactType.BOOL: "boolean",
    FactType.ENUM: "choice",
    FactType.LIST: "choice",
    FactType.STRING: "string",
    FactType.INT: "integer",
    FactType.DECIMAL: "decimal",
    FactType.DATE: "date",
    FactType.CODE: "string",
    FactType.CODE_LIST: "string",
}
VALUE_KEYS = {"integer": "valueInteger", "decimal": "valueDecimal", "date": "valueDate"}


def questionnaire_url(base: str, policy: str) -> str:
    return f"{base}/fhir/Questionnaire/{policy}"


ADAPTIVE_SUFFIX = "-adaptive"
"""A policy's adaptive Questionnaire's id: the policy's name and this (dtr_adaptive)."""


def adaptive_url(base: str, policy: str) -> str:
    """The canonical of the policy's adaptive form, the form CRD and an
    order's package hand out (dtr_package says why)."""
    return questionnaire_url(base, policy) + ADAPTIVE_SUFFIX


def questionnaire_version(version: str) -> str:
    """The Questionnaire's business version: the policy version's first 16 digits."""
    return version[:16]


def unit_coding(declared: str) -> dict[str, str]:
    """A fact's declared unit as a Coding: its UCUM code (units.py) when it
    has one, else the words alone."""
    try:
        return {"system": UCUM_SYSTEM, "code": ucum_code(declared), "display": declared}
    except UnitError:
        return {"display": declared}


def _bound(fact: Fact, shown: str, url: str) -> dict[str, Any]:
    value: object = shown
    if fact.type is FactType.DECIMAL:
        value = float(shown)
    elif fact.type is FactType.INT:
        value = int(shown)
    return {"url": url, VALUE_KEYS[ITEM_TYPES[fact.type]]: value}


def _item(fact: Fact, filled: list[dict[str, Any]], valueset: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": fact.name,
        "text": fact.question or fact.meaning or fact.name,
        "type": ITEM_TYPES[fact.type],
    }
    if fact.type.many:
        item["repeats"] = True
    if uses_valueset(fact):
        item["answerValueSet"] = valueset  # served and expanded (dtr_valuesets)
    elif fact.type in (FactType.ENUM, FactType.LIST):
        item["answerOption"] = [
            {"valueCoding": {"code": option, "display": fact.option_texts.get(option, option)}}
            for option in fact.options
        ]
    extensions: list[dict[str, Any]] = []
    if fact.type.numeric:
        if fact.low is not None:
            extensions.append(_bound(fact, fact.shown(fact.low), MIN_VALUE))
        if fact.high is not None:
            extensions.append(_bound(fact, fact.shown(fact.high), MAX_VALUE))
    if fact.unit and fact.type in (FactType.INT, FactType.DECIMAL):
        extensions.append({"url": UNIT, "valueCoding": unit_coding(fact.unit)})
    extensions += filled
    if extensions:
        item["extension"] = extensions
    return item


def questionnaire(
    policy: Policy,
    version: str,
    mapping: FactMapping,
    base: str,
    leave_out: frozenset[str] = frozenset(),
    narrowing: Conditions | None = None,
) -> dict[str, Any]:
    """The policy's Questionnaire (without the facts in `leave_out`), each
    item enabled only while `narrowing` (dtr_enable) says its answer can
    still matter."""
    facts = sorted(policy.facts.values(), key=lambda fact: fact.rank)
    levels = level_facts(policy)
    kept = {
        fact.name: fact for fact in facts if fact.name not in leave_out and fact.name not in levels
    }
    filled = population(kept, mapping)
    read_histories = {rule.history: rule for rule in mapping.histories}
    history_variables: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for fact in facts:
        if fact.name in kept:
            items.append(
                _item(
                    fact,
                    filled.items.get(fact.name, []),
                    valueset_url(base, policy.name, fact.name),
                )
            )
        elif fact.name in levels and levels[fact.name] not in leave_out:
            history = policy.histories[levels[fact.name]]
            if all(item["linkId"] != history.name for item in items):
                # where its first yes/no fact was: the history asked once, as records
                group = group_item(history, lambda field: _item(field, [], ""))
                rule = read_histories.get(history.name)
                if rule is not None:
                    populate_group(group, rule)
                    history_variables += questionnaire_variables(rule)
                items.append(group)
    for item in items:
        enable_when(item, (narrowing or {}).get(item["linkId"], []), set(kept))
    document: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": policy.name,
        "meta": {"profile": [DTR_STANDARD_QUESTIONNAIRE]},
        "url": questionnaire_url(base, policy.name),
        "version": questionnaire_version(version),
        "name": "".join(part.capitalize() for part in policy.name.replace("_", "-").split("-")),
        "title": policy.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"The facts policykb needs to decide {policy.title}.",
        "item": items,
    }
    period = effective_period(policy)
    if period:
        document["effectivePeriod"] = period  # DTR spec-53: when the rules are valid
    extensions = list(filled.questionnaire)
    if history_variables:
        if not any(is_launch_context(e, "patient") for e in extensions):
            extensions.insert(0, launch_context("patient"))  # the searches name the patient
        extensions += history_variables
    if extensions:
        document["extension"] = extensions
    return document


def effective_period(policy: Policy) -> dict[str, str]:
    """The days the policy version is in force, as a FHIR Period: from its
    effective date to the day before it is retired (a Period's end is
    inclusive, a retirement date is not); empty for an undated version."""
    version = policy.version
    period = {}
    if version.effective is not None:
        period["start"] = version.effective.isoformat()
    if version.retired is not None:
        period["end"] = (version.retired - timedelta(days=1)).isoformat()
    return period


# -- answers -------------------------------------------------------------------


def _answered_items(
    items: object,
    where: str,
    groups: Mapping[str, list[tuple[Mapping[str, Any], str]]] | None = None,
) -> Iterator[tuple[str, list[Any], str]]:
    """Each answered item as (linkId, answers, where); an item whose linkId
    is a key of `groups` (a history's record) is put there instead."""
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        here = f"{where}.item[{index}]"
        if not isinstance(item, Mapping):
            raise ServiceError(422, "a QuestionnaireResponse item must be an object", where=here)
        if groups is not None and item.get("linkId") in groups:
            groups[str(item["linkId"])].append((item, here))
            continue
        answers = item.get("answer")
        if answers:
            if not isinstance(answers, list):
                raise ServiceError(422, "'answer' must be a list", where=here)
            yield str(item.get("linkId", "")), answers, here
            for answer_index, answer in enumerate(answers):
                if isinstance(answer, Mapping):
                    yield from _answered_items(
                        answer.get("item"), f"{here}.answer[{answer_index}]", groups
                    )
        yield from _answered_items(item.get("item"), here, groups)


def _answer_value(answer: Mapping[str, Any], fact: Fact, where: str) -> object:
    """The value an answer gives the fact (None: it leaves the fact unknown)."""
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding":
            return value.get("code") if isinstance(value, Mapping) else None
        if key == "valueQuantity":
            return _quantity(value, fact, where) if isinstance(value, Mapping) else None
        return value
    return None


def _quantity(quantity: Mapping[str, Any], fact: Fact, where: str) -> object:
    """A Quantity answer in the fact's unit: converted by UCUM (units.py) from
    the answer's own; a comparator (`<40` is no number) leaves the fact
    unknown, as a record's Quantity does (fhir_facts). A unit that is not
    UCUM or measures something else is an error naming both."""
    if quantity.get("comparator") is not None:
        return None
    number = quantity.get("value")
    if isinstance(number, bool) or not isinstance(number, int | float | str):
        return None
    try:
        value = Decimal(str(number))
    except InvalidOperation:
        raise ServiceError(
            422, f"{number!r} is not a number", where=f"{where}.valueQuantity"
        ) from None
    code, system = quantity.get("code"), quantity.get("system", UCUM_SYSTEM)
    if not fact.unit:
        if code is None and quantity.get("unit") is None:
            return _plain(value)
        given = code or quantity.get("unit")
        raise ServiceError(
            422,
            f"{fact.name!r} has no unit: answer a number, not a Quantity in {str(given)[:40]!r}",
            where=f"{where}.valueQuantity",
        )
    target = ucum_code(fact.unit)
    converted = (
        convert(value, code, target) if system == UCUM_SYSTEM and isinstance(code, str) else None
    )
    if converted is None:
        shown = code if isinstance(code, str) else quantity.get("unit")
        raise ServiceError(
            422,
            f"{fact.name!r} is in {target}: the answer's unit {str(shown)[:40]!r} "
            f"(system {str(system)[:60]!r}) is not a UCUM unit of the same kind",
            where=f"{where}.valueQuantity",
        )
    if fact.type is FactType.INT and converted != converted.to_integral_value():
        raise ServiceError(
            422,
            f"{fact.name!r} is a whole number of {target}: {number} {code} is {converted:.4f}",
            where=f"{where}.valueQuantity",
        )
    return _plain(converted)


def _plain(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _shown(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)[:80]


def contradiction(fact: str, first: object, second: object) -> str:
    """The one line that names a fact answered two different ways."""
    return (
        f"the answers give {fact[:80]!r} two values, {_shown(first)} and {_shown(second)}: "
        "answer it once"
    )


def answers(
    response: Mapping[str, Any],
    policy: Policy,
    where: str,
    complete: frozenset[str] = frozenset(),
) -> dict[str, object]:
    """The facts a QuestionnaireResponse answers, as a case writes them.
    An item that answers no fact of the policy is an error naming it, and so
    is a fact answered with two different values (a single-valued fact with
    two answers, or two items of one fact that disagree). A history's
    repeating group gives its records (dtr_histories), complete when the
    history is in `complete` (its fhir.yaml reads it so), else partial."""
    facts: dict[str, object] = {}
    groups: dict[str, list[tuple[Mapping[str, Any], str]]] = {name: [] for name in policy.histories}
    for link, given, here in _answered_items(response.get("item"), where, groups):
        fact = policy.facts.get(link)
        if fact is None:
            raise ServiceError(
                422,
                f"QuestionnaireResponse answers {link[:80]!r}, not a fact of {policy.name}",
                where=here,
            )
        values = [_answer_value(a, fact, here) for a in given if isinstance(a, Mapping)]
        values = [v for v in values if v is not None]
        if not values:
            continue
        if not fact.type.many and any(v != values[0] for v in values[1:]):
            different = next(v for v in values[1:] if v != values[0])
            raise ServiceError(422, contradiction(link, values[0], different), where=here)
        value: object = values if fact.type.many else values[0]
        if link in facts and facts[link] != value:
            raise ServiceError(422, contradiction(link, facts[link], value), where=here)
        facts[link] = value
    for name, repetitions in groups.items():
        history = stated(records(policy.histories[name], repetitions), name in complete)
        if history is not None:
            facts[name] = history
    return facts


def complete_histories(mapping: FactMapping) -> frozenset[str]:
    """The histories a policy's fhir.yaml reads as complete."""
    return frozenset(rule.history for rule in mapping.histories if rule.complete)
