"""A case's histories: records checked field by field, and the boolean facts they pin.

A case states a history as a list of records (the records it documents: at
least these, others may exist) or as {"complete": true, "records": [...]}
(every record there is; "complete": false is the same as the bare list). A
history the case leaves out is unknown. Each record is an object with every
declared field of the history, each checked like a fact of the field's type.
The records become the boolean facts of their classes (model/history.py), as
of the case's reference dates.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

from policykb.bridge.loading.case import _nearest, check_value, kind_of, shown_name
from policykb.bridge.model.case import StatedHistory
from policykb.bridge.model.dates import parse_date
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Fact, FactType

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.policy import Policy, Value

MAX_RECORDS = 10_000
"""The most records one history of one case may state."""
HISTORY_KEYS = ("complete", "records")


def stated_histories(policy: Policy, raw: Mapping[str, object]) -> dict[str, StatedHistory]:
    """The case's stated histories, each record checked (CaseError naming the
    history, the record's index and the field)."""
    stated: dict[str, StatedHistory] = {}
    for name, value in raw.items():
        history = policy.histories[name]
        records, complete = _records(name, value)
        checked = tuple(_record(history, index, record) for index, record in enumerate(records))
        stated[name] = StatedHistory(checked, complete)
    return stated


def history_facts(
    policy: Policy,
    stated: Mapping[str, StatedHistory],
    facts: Mapping[str, Value],
    *,
    unanchored: bool = False,
) -> dict[str, bool]:
    """The boolean facts the stated histories pin as of the reference dates in
    `facts`. A history with records whose windows move from a reference date
    `facts` leave out: with `unanchored`, left unpinned (the solver pins it
    per day class of that date, solving/history_windows.py); else CaseError."""
    pinned: dict[str, bool] = {}
    for name, given in stated.items():
        history = policy.histories[name]
        anchors: dict[str, int] = {}
        if given.records:
            unstated = [r for r in history.references if not isinstance(facts.get(r), date)]
            if unstated and unanchored:
                continue
            if unstated:
                raise CaseError(
                    f"fact {name!r}: the case must state {unstated[0]}: the policy compares "
                    f"{name} records with it"
                )
            anchors = {r: facts[r].toordinal() for r in history.references}  # type: ignore[union-attr]
        pinned.update(history.level_values(given.records, given.complete, anchors))
    return pinned


def _records(name: str, value: object) -> tuple[list[object], bool]:
    if isinstance(value, str):
        # A Parquet or Arrow string column holds the history as JSON text.
        value = history_cell(name, value)
    form = f'a list of records, or {{"complete": true, "records": [...]}}, not {kind_of(value)}'
    if isinstance(value, list):
        records, complete = value, False
    elif isinstance(value, Mapping):
        for key in value:
            if key not in HISTORY_KEYS:
                raise CaseError(
                    f"fact {name!r}: unknown key {shown_name(key)} (expected complete, records)"
                    + _nearest(str(key), list(HISTORY_KEYS))
                )
        complete = value.get("complete", False)
        if not isinstance(complete, bool):
            raise CaseError(
                f"fact {name!r}: 'complete' must be true or false, not {kind_of(complete)}"
            )
        records = value.get("records", [])
        if not isinstance(records, list):
            raise CaseError(f"fact {name!r}: 'records' must be a list, not {kind_of(records)}")
    else:
        raise CaseError(f"fact {name!r} must be {form}")
    if len(records) > MAX_RECORDS:
        raise CaseError(f"fact {name!r}: more than {MAX_RECORDS:,} records")
    return records, complete


def _record(history: History, index: int, record: object) -> dict[str, object]:
    """A record's fields as the classes compare them: options, booleans,
    numbers, day numbers, undotted codes."""
    where = f"fact {history.name!r}, records[{index}]"
    if not isinstance(record, Mapping):
        raise CaseError(f"{where} must be an object, not {kind_of(record)}")
    for key in record:
        if key not in history.fields:
            raise CaseError(
                f"{where}: unknown field {shown_name(key)} (fields: {', '.join(history.fields)})"
                + _nearest(str(key), list(history.fields))
            )
    checked: dict[str, object] = {}
    for field_name, declared in history.fields.items():
        raw = record.get(field_name)
        if raw is None:
            raise CaseError(f"{where}: field {field_name!r} is missing ({declared.type_label})")
        quick = _quick(declared, raw)
        if quick is not None:
            checked[field_name] = quick
            continue
        try:
            value = check_value(declared, raw)
        except CaseError as error:
            problem = str(error).replace(f"fact {declared.name!r}", "").lstrip(": ")
            raise CaseError(f"{where}, field {field_name!r}: {problem}") from None
        if isinstance(value, date):
            checked[field_name] = value.toordinal()
        elif declared.type is FactType.CODE and isinstance(value, str):
            from policykb.bridge.model.typed import normal_code

            checked[field_name] = normal_code(value)
        else:
            checked[field_name] = value
    return checked


def _quick(declared: Fact, raw: object) -> object | None:
    """A well-formed enum, bool, whole number or date as the classes compare
    it, without building an error message; None to check it the long way."""
    kind = declared.type
    if kind is FactType.ENUM and type(raw) is str and raw in declared.options:
        return raw
    if kind is FactType.BOOL and type(raw) is bool:
        return raw
    number: int | None = None
    if kind is FactType.INT and type(raw) is int:
        number = raw
    elif kind is FactType.DATE and type(raw) is str:
        day = parse_date(raw)
        number = day.toordinal() if day is not None else None
    if number is None:
        return None
    low, high = declared.low, declared.high
    if (low is not None and number < low) or (high is not None and number > high):
        return None
    return number


def history_cell(column: str, cell: str) -> object:
    """A CSV cell holding a history: the same JSON as a case's value."""
    try:
        value: object = json.loads(cell)
    except json.JSONDecodeError as error:
        raise CaseError(
            f"column {column!r}: a history is written as JSON in its cell ({error.msg})"
        ) from None
    return value
