"""Da Vinci DTR: a policy's facts as a FHIR R4 Questionnaire, and the answers
of a QuestionnaireResponse as facts.

One item per fact, in the vocabulary's order: linkId is the fact's name,
text its question, the type follows the fact (boolean; choice with its
options; integer and decimal with their bounds; date; string; a list or code
list repeats). An item the service reads from FHIR carries SDC's
initialExpression with the FHIRPath of the policy's fhir.yaml: a DTR client
fills it from the record, and the clinician answers only the rest.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policykb.bridge.model.policy import Fact, FactType, Policy
from policykb.service.errors import ServiceError
from policykb.service.fhir_facts import FactMapping

INITIAL_EXPRESSION = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-initialExpression"
)
MIN_VALUE = "http://hl7.org/fhir/StructureDefinition/minValue"
MAX_VALUE = "http://hl7.org/fhir/StructureDefinition/maxValue"
UNIT = "http://hl7.org/fhir/StructureDefinition/questionnaire-unit"
UCUM = "http://unitsofmeasure.org"
UCUM_UNITS = {"years": "a", "kg/m2": "kg/m2", "days": "d", "visits": "{visits}"}

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


def _bound(fact: Fact, shown: str, url: str) -> dict[str, Any]:
    value: object = shown
    if fact.type is FactType.DECIMAL:
        value = float(shown)
    elif fact.type is FactType.INT:
        value = int(shown)
    return {"url": url, VALUE_KEYS[ITEM_TYPES[fact.type]]: value}


def _item(fact: Fact, mapping: FactMapping) -> dict[str, Any]:
    item: dict[str, Any] = {
        "linkId": fact.name,
        "text": fact.question or fact.meaning or fact.name,
        "type": ITEM_TYPES[fact.type],
    }
    if fact.type.many:
        item["repeats"] = True
    if fact.type in (FactType.ENUM, FactType.LIST):
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
        code = UCUM_UNITS.get(fact.unit)
        unit = (
            {"system": UCUM, "code": code, "display": fact.unit} if code else {"display": fact.unit}
        )
        extensions.append({"url": UNIT, "valueCoding": unit})
    rule = mapping.rule(fact.name)
    if rule is not None:
        expression = {"language": "text/fhirpath", "expression": rule.expression}
        how = [
            f"pick: {rule.pick}" if rule.pick else "",
            f"as: {rule.conversion}" if rule.conversion else "",
        ]
        if any(how):
            expression["description"] = (
                "policykb reads it so (" + ", ".join(filter(None, how)) + ")"
            )
        extensions.append({"url": INITIAL_EXPRESSION, "valueExpression": expression})
    if extensions:
        item["extension"] = extensions
    return item


def questionnaire(
    policy: Policy,
    version: str,
    mapping: FactMapping,
    base: str,
    leave_out: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """The policy's Questionnaire (without the facts in `leave_out`)."""
    facts = sorted(policy.facts.values(), key=lambda fact: fact.rank)
    return {
        "resourceType": "Questionnaire",
        "id": policy.name,
        "url": questionnaire_url(base, policy.name),
        "version": version[:16],
        "name": "".join(part.capitalize() for part in policy.name.replace("_", "-").split("-")),
        "title": policy.title,
        "status": "active",
        "subjectType": ["Patient"],
        "description": f"The facts policykb needs to decide {policy.title}.",
        "item": [_item(fact, mapping) for fact in facts if fact.name not in leave_out],
    }


# -- answers -------------------------------------------------------------------


def _answered_items(items: object, where: str) -> Iterator[tuple[str, list[Any], str]]:
    if not isinstance(items, list):
        return
    for index, item in enumerate(items):
        here = f"{where}.item[{index}]"
        if not isinstance(item, Mapping):
            raise ServiceError(422, "a QuestionnaireResponse item must be an object", where=here)
        answers = item.get("answer")
        if answers:
            if not isinstance(answers, list):
                raise ServiceError(422, "'answer' must be a list", where=here)
            yield str(item.get("linkId", "")), answers, here
            for answer_index, answer in enumerate(answers):
                if isinstance(answer, Mapping):
                    yield from _answered_items(answer.get("item"), f"{here}.answer[{answer_index}]")
        yield from _answered_items(item.get("item"), here)


def _answer_value(answer: Mapping[str, Any]) -> object:
    for key, value in answer.items():
        if not key.startswith("value"):
            continue
        if key == "valueCoding":
            return value.get("code") if isinstance(value, Mapping) else None
        if key == "valueQuantity":
            return value.get("value") if isinstance(value, Mapping) else None
        return value
    return None


def _shown(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)[:80]


def contradiction(fact: str, first: object, second: object) -> str:
    """The one line that names a fact answered two different ways."""
    return (
        f"the answers give {fact[:80]!r} two values, {_shown(first)} and {_shown(second)}: "
        "answer it once"
    )


def answers(response: Mapping[str, Any], policy: Policy, where: str) -> dict[str, object]:
    """The facts a QuestionnaireResponse answers, as a case writes them.
    An item that answers no fact of the policy is an error naming it, and so
    is a fact answered with two different values (a single-valued fact with
    two answers, or two items of one fact that disagree)."""
    facts: dict[str, object] = {}
    for link, given, here in _answered_items(response.get("item"), where):
        fact = policy.facts.get(link)
        if fact is None:
            raise ServiceError(
                422,
                f"QuestionnaireResponse answers {link[:80]!r}, not a fact of {policy.name}",
                where=here,
            )
        values = [_answer_value(a) for a in given if isinstance(a, Mapping)]
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
    return facts
