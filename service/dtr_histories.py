"""A history asked in DTR as a repeating group of records, and read back.

A history fact H (a list of records with typed fields, bridge/model/history.py)
is one Questionnaire item: a `group` that `repeats`, linkId H, its question
the history's; one repetition per record, with one child item per declared
field (linkId `H.field`, typed as a fact of the field's type is: choice with
the field's options, date, integer or decimal with bounds and unit, boolean,
string for a code) and `required` (every record states every field). The
history's internal yes/no facts (`H_cN_nK`, "a K-th record of class N") are
not asked: the records decide them.

Read back, each answered repetition is one record; the history is `complete`
when the policy's fhir.yaml reads H as complete (the mapping says what its
records vouch for), else partial ("at least these records"). A response with
no record leaves H unknown. A record that leaves a field unanswered, or
answers one twice, is an error naming the repetition and the field.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from policykb.bridge.model.history import History
from policykb.bridge.model.policy import Fact, Policy
from policykb.service.errors import ServiceError

ItemOf = Callable[[Fact], dict[str, Any]]
"""How dtr.py makes a fact's item (its type, options, bounds, unit)."""


def level_facts(policy: Policy) -> dict[str, str]:
    """Each history's internal yes/no fact -> the history it belongs to."""
    return {
        fact: history.name
        for history in policy.histories.values()
        for _, _, fact in history.level_facts()
    }


def field_link(history: str, field: str) -> str:
    return f"{history}.{field}"


def group_item(history: History, item_of: ItemOf) -> dict[str, Any]:
    """The history's repeating group, its fields as child items."""
    children = []
    for name, declared in history.fields.items():
        child = item_of(declared)
        child["linkId"] = field_link(history.name, name)
        child["text"] = declared.question or declared.meaning or name.replace("_", " ")
        child["required"] = True
        children.append(child)
    return {
        "linkId": history.name,
        "text": history.question or history.meaning or history.name,
        "type": "group",
        "repeats": True,
        "item": children,
    }


def _value(answer: Mapping[str, Any]) -> object:
    for key, value in answer.items():
        if key == "valueCoding":
            return value.get("code") if isinstance(value, Mapping) else None
        if key.startswith("value"):
            return value
    return None


def records(
    history: History, repetitions: Iterable[tuple[Mapping[str, Any], str]]
) -> list[dict[str, object]]:
    """The records the group's repetitions state (`(item, where)` pairs)."""
    found: list[dict[str, object]] = []
    for item, where in repetitions:
        record: dict[str, object] = {}
        children = item.get("item")
        for index, child in enumerate(children if isinstance(children, list) else []):
            here = f"{where}.item[{index}]"
            if not isinstance(child, Mapping):
                raise ServiceError(
                    422, "a QuestionnaireResponse item must be an object", where=here
                )
            link = str(child.get("linkId", ""))
            field = link.removeprefix(f"{history.name}.")
            if field == link or field not in history.fields:
                raise ServiceError(
                    422, f"{link[:80]!r} is not a field of {history.name!r}", where=here
                )
            answers = child.get("answer")
            values = [
                v
                for v in (
                    _value(a)
                    for a in (answers if isinstance(answers, list) else [])
                    if isinstance(a, Mapping)
                )
                if v is not None
            ]
            if not values:
                continue
            if len(values) > 1 or field in record:
                raise ServiceError(
                    422, f"a record of {history.name!r} answers {field!r} twice", where=here
                )
            record[field] = values[0]
        if not record:
            continue  # an empty repetition states no record
        left = [name for name in history.fields if name not in record]
        if left:
            raise ServiceError(
                422,
                f"a record of {history.name!r} leaves {left[0]!r} unanswered: "
                "every record states every field",
                where=where,
            )
        found.append(record)
    return found


def stated(found: list[dict[str, object]], complete: bool) -> object | None:
    """The history as a case states it (None: unknown)."""
    if not found:
        return None
    return {"complete": complete, "records": found}
