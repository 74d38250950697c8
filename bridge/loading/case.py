"""Cases: reading them from JSON or YAML, and validating them against a policy.

A case is `{"id": ..., "policy": ..., "facts": {name: value}}`. A fact that is
absent or null is unknown (unless the policy gives it a default, which the
evaluator fills in). Validation turns raw data into a typed `Case` before any
atom is built, and names exactly what is wrong when it cannot.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.case import DEFAULT_POLICY, Case
from policykb.bridge.model.errors import CaseError, LimitError
from policykb.bridge.model.policy import Fact, FactType, Policy, Value
from policykb.bridge.model.version import SERVICE_DATE

if TYPE_CHECKING:
    from decimal import Decimal

CASE_KEYS = ("id", "policy", "facts")
MAX_CASE_BYTES = 16 << 20  # a case file larger than this is refused
MAX_NAME_SHOWN = 80


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise CaseError(f"duplicate key {key!r}")
        result[key] = value
    return result


def parse_json(text: str, origin: str, *, parse_int: Callable[[str], object] | None = None) -> Any:
    """Parse JSON, naming the line and column of a syntax error; keys may not
    repeat. `parse_int` reads each integer literal (it may raise CaseError)."""
    try:
        return json.loads(text, object_pairs_hook=_reject_duplicates, parse_int=parse_int)
    except json.JSONDecodeError as error:
        raise CaseError(
            f"{origin}:{error.lineno}:{error.colno}: malformed JSON: {error.msg}"
        ) from None
    except CaseError as error:
        raise CaseError(f"{origin}: {error}") from None
    except RecursionError:
        raise LimitError(f"{origin}: the JSON nests too deeply") from None
    except ValueError as error:  # a number of more than 4,300 digits
        raise LimitError(f"{origin}: {error}") from None


def parse_yaml(text: str, origin: str) -> Any:
    """Parse YAML as written (see yaml_reader), naming the line and column of an error."""
    import yaml  # only YAML input pays for it

    from policykb.bridge.loading.yaml_reader import load_yaml

    try:
        return load_yaml(text)
    except (CaseError, LimitError) as error:
        raise type(error)(f"{origin}: {error}") from None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{mark.line + 1}:{mark.column + 1}:" if mark else ""
        problem = error.problem or "syntax error"  # PyYAML always names the problem
        raise CaseError(f"{origin}:{where} malformed YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise CaseError(f"{origin}: malformed YAML: {error}") from None


def parse_case_text(text: str, origin: str) -> Any:
    """Parse a case document: JSON when it is a .json file or starts like JSON, else YAML."""
    if origin.endswith(".json") or text.lstrip().startswith(("{", "[")):
        return parse_json(text, origin)
    return parse_yaml(text, origin)


def read_case_document(path: str) -> tuple[Any, str]:
    """Read and parse a case file (or `-` for stdin); return the data and a default id."""
    if path == "-":
        try:
            text = sys.stdin.buffer.read(MAX_CASE_BYTES + 1).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise CaseError("<stdin>: not UTF-8 text") from None
        if len(text) > MAX_CASE_BYTES:
            raise LimitError(f"<stdin>: larger than {MAX_CASE_BYTES:,} bytes, not a case")
        return parse_case_text(text, "<stdin>"), "stdin"
    file = Path(path)
    try:
        if file.stat().st_size > MAX_CASE_BYTES:
            raise LimitError(f"{path}: larger than {MAX_CASE_BYTES:,} bytes, not a case file")
        text = file.read_text(encoding="utf-8-sig")  # tolerate a byte-order mark
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaseError(f"{path}: is a folder, not a case file") from None
    except UnicodeDecodeError:
        raise CaseError(f"{path}: not UTF-8 text") from None
    except OSError as error:
        raise CaseError(f"{path}: cannot read: {error.strerror}") from None
    return parse_case_text(text, path), file.stem


def _nearest(name: str, known: list[str]) -> str:
    if len(name) > MAX_NAME_SHOWN:
        return ""
    import difflib  # only a misspelt name needs it

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    return f" (did you mean {close[0]!r}?)" if close else ""


def shown_name(name: object) -> str:
    """A name from the input, quoted, and cut short when it is long."""
    text = repr(str(name))
    if len(text) <= MAX_NAME_SHOWN:
        return text
    return f"{text[:MAX_NAME_SHOWN]}...' ({len(str(name)):,} characters)"


def kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return "a value of another kind"


_BOOL, _ENUM = FactType.BOOL, FactType.ENUM  # looked up once, not per value


def check_value(fact: Fact, raw: object) -> Value:
    """The typed value of `raw` for `fact`, or a CaseError naming the expected type."""
    kind = fact.type
    # The common cases first: batch validates every value of every case.
    if kind is _BOOL and type(raw) is bool:
        return raw
    if kind is _ENUM and type(raw) is str and raw in fact.options:
        return raw
    # The message is written only for a value that is refused: a valid one
    # (every value the service reads from a record) spares building it.
    wrong = functools.partial(_wrong_kind, fact, raw)
    if fact.type is FactType.BOOL:
        if not isinstance(raw, bool):
            raise CaseError(wrong())
        return raw
    if fact.type is FactType.ENUM:
        # An option written as a number in the policy (option(score, 1..5)) is
        # the same option when the case writes it as a number.
        if isinstance(raw, int) and not isinstance(raw, bool) and str(raw) in fact.options:
            return str(raw)
        if not isinstance(raw, str):
            raise CaseError(wrong())
        if raw not in fact.options:
            raise CaseError(
                f"fact {fact.name!r} must be {fact.type_label}, not {shown_name(raw)}"
                + _nearest(raw, list(fact.options))
            )
        return raw
    if fact.type is FactType.STRING:
        # A code such as 97124 is often written as a number; it means the same.
        if isinstance(raw, int) and not isinstance(raw, bool):
            return str(raw)
        if not isinstance(raw, str):
            raise CaseError(wrong())
        return raw
    if fact.type.typed:
        return _typed_value(fact, raw, wrong)
    if not isinstance(raw, list):
        raise CaseError(wrong())
    members: set[str] = set()
    for item in raw:
        if not isinstance(item, str) or item not in fact.options:
            shown = shown_name(item) if isinstance(item, str) else kind_of(item)
            hint = _nearest(item, list(fact.options)) if isinstance(item, str) else ""
            raise CaseError(
                f"fact {fact.name!r}: {shown} is not one of {', '.join(fact.options)}{hint}"
            )
        members.add(item)
    return frozenset(members)


def case_policy_name(document: object) -> str:
    """The policy a raw case names (the default policy when it names none)."""
    if isinstance(document, Mapping):
        policy = document.get("policy")
        if isinstance(policy, str):
            return str(policy)
    return DEFAULT_POLICY


def service_date_of(document: object) -> date | None:
    """The date_of_service a raw case states (None when it states none), checked:
    it chooses the version of the policy before the case is validated."""
    if not isinstance(document, Mapping):
        return None
    facts = document.get("facts")
    if not isinstance(facts, Mapping):
        return None
    raw = facts.get(SERVICE_DATE)
    if raw is None:
        return None
    from policykb.bridge.model.dates import require_date

    return require_date(
        raw, CaseError(f"fact {SERVICE_DATE!r} must be a date YYYY-MM-DD, not {raw!r}")
    )


def validate_case(
    document: object, policy: Policy, default_id: str, as_of: date | None = None
) -> Case:
    """Check a parsed case document against `policy` and return the typed case.

    Every case may state date_of_service, which chooses the version in force
    (`as_of` overrides it); it is one of the case's facts only for a policy
    that declares it."""
    if not isinstance(document, Mapping):
        raise CaseError(f"a case must be an object with a 'facts' key, not {kind_of(document)}")
    for key in document:
        if key == SERVICE_DATE:
            raise CaseError(
                f"{SERVICE_DATE!r} goes inside 'facts', not beside it: "
                f'"facts": {{"{SERVICE_DATE}": "YYYY-MM-DD", ...}}'
            )
        if key not in CASE_KEYS:
            raise CaseError(
                f"unknown key {shown_name(key)} in case (expected {', '.join(CASE_KEYS)})"
                + _nearest(str(key), list(CASE_KEYS))
            )
    case_id = document.get("id", default_id)
    if not isinstance(case_id, str):
        raise CaseError(f"'id' must be a string, not {kind_of(case_id)}")
    policy_name = document.get("policy", policy.name)
    if not isinstance(policy_name, str):
        raise CaseError(f"'policy' must be a string, not {kind_of(policy_name)}")
    raw_facts = document.get("facts", {})
    if raw_facts is None:
        raw_facts = {}
    if not isinstance(raw_facts, Mapping):
        raise CaseError(f"'facts' must be an object, not {kind_of(raw_facts)}")
    facts: dict[str, Value] = {}
    declared = policy.facts
    service_date = service_date_of(document)
    histories: dict[str, object] = {}
    for name, raw in raw_facts.items():
        fact = declared.get(name)
        if fact is None and name == SERVICE_DATE:
            continue
        if name in policy.histories:
            if raw is not None:
                histories[name] = raw
            continue
        if fact is None:
            raise CaseError(
                f"unknown fact {shown_name(name)} for policy {policy.name}"
                + _nearest(str(name), list(policy.facts))
            )
        if raw is None:
            continue
        if type(raw) is bool and fact.type is _BOOL:
            facts[name] = raw
        else:
            facts[name] = check_value(fact, raw)
    stated = {}
    if histories:
        from policykb.bridge.loading.case_histories import history_facts, stated_histories

        stated = stated_histories(policy, histories)
        facts.update(history_facts(policy, stated, facts, unanchored=True))
    ordered = {name: facts[name] for name in declared if name in facts}
    return Case(
        id=case_id,
        policy=policy_name,
        facts=ordered,
        as_of=as_of or service_date,
        histories=stated,
    )


# -- CSV rows ------------------------------------------------------------------

TRUE_WORDS = {"true", "yes", "1", "t", "y"}
FALSE_WORDS = {"false", "no", "0", "f", "n"}


def csv_value(fact: Fact, cell: str) -> object:
    """A CSV cell as the raw value of `fact`: words for booleans, `;` between
    list items, text otherwise (validate_case then checks it like any value)."""
    text = cell.strip()
    if fact.type is FactType.BOOL:
        if text.lower() in TRUE_WORDS:
            return True
        if text.lower() in FALSE_WORDS:
            return False
        raise CaseError(f"fact {fact.name!r} must be true or false, not {text!r}")
    if fact.type.many:
        return [item.strip() for item in text.split(";") if item.strip()]
    if fact.type in (FactType.INT, FactType.DECIMAL):
        from policykb.bridge.model.typed import parse_decimal

        number = parse_decimal(text)
        if number is None:
            raise CaseError(f"fact {fact.name!r} must be {fact.type_label}, not {text!r}")
        return int(number) if number == number.to_integral_value() else float(number)
    return text


def csv_document(row: Mapping[str, str | None], policy: Policy) -> dict[str, Any]:
    """A CSV row (without its id) as a case document, cells typed by the vocabulary."""
    facts: dict[str, object] = {}
    for column, cell in row.items():
        if column == "policy" or cell is None or cell == "":
            continue
        if column in policy.histories:
            from policykb.bridge.loading.case_histories import history_cell

            facts[column] = history_cell(column, cell)
            continue
        if column not in policy.facts:
            facts[column] = (
                cell.strip() if column == SERVICE_DATE else cell
            )  # validate_case names it and the nearest known fact
            continue
        facts[column] = csv_value(policy.facts[column], cell)
    document: dict[str, Any] = {"facts": facts}
    if row.get("policy"):
        document["policy"] = row["policy"]
    return document


# -- numbers, dates and codes ----------------------------------------------------


def typed_value(fact: Fact, raw: object) -> Value:
    """A case's value of a number, date or code fact, checked (CaseError)."""
    return _typed_value(
        fact, raw, lambda: f"fact {fact.name!r} must be {fact.type_label}, not {raw!r}"
    )


def _wrong_kind(fact: Fact, raw: object) -> str:
    return f"fact {fact.name!r} must be {fact.type_label}, not {kind_of(raw)}"


def _typed_value(fact: Fact, raw: object, wrong: Callable[[], str]) -> Value:
    from decimal import Decimal

    from policykb.bridge.model.dates import ISO_DATE, require_date

    name = fact.name
    if fact.type is FactType.CODE_LIST:
        if not isinstance(raw, list):
            raise CaseError(wrong())
        return frozenset(_code(fact, item) for item in raw)
    if fact.type is FactType.CODE:
        return _code(fact, raw)
    if fact.type is FactType.DATE:
        if not isinstance(raw, str):
            raise CaseError(wrong())
        problem = "not a real day" if ISO_DATE.fullmatch(raw) else "not a date YYYY-MM-DD"
        day = require_date(raw, CaseError(f"fact {name!r}: {shown_name(raw)} is {problem}"))
        _within_bounds(fact, day.toordinal(), raw)
        return day
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise CaseError(wrong())
    if isinstance(raw, float) and not math.isfinite(raw):
        raise CaseError(f"fact {name!r} must be {fact.type_label}, not {raw}")
    number: int | Decimal
    if fact.type is FactType.INT:
        if isinstance(raw, float) and not raw.is_integer():
            raise CaseError(f"fact {name!r} must be a whole number, not {raw} (it has a fraction)")
        number = int(raw)
    else:
        number = Decimal(str(raw)) if isinstance(raw, float) else Decimal(raw)
    _within_bounds(fact, number, raw)
    return number


def _within_bounds(fact: Fact, number: int | Decimal, raw: object) -> None:
    low, high = fact.low, fact.high
    if (low is not None and number < low) or (high is not None and number > high):
        raise CaseError(
            f"fact {fact.name!r}: {shown_name(raw) if isinstance(raw, str) else raw} is out of "
            f"its bounds ({fact.bounds_words().strip()})"
        )


def _code(fact: Fact, raw: object) -> str:
    from policykb.bridge.model.typed import CODE_EXAMPLES, normal_code, shown_code, valid_code

    # A CPT code such as 43775 is often written as a number; it means the same.
    if isinstance(raw, int) and not isinstance(raw, bool) and fact.system == "cpt":
        raw = f"{raw:05d}" if raw >= 0 else str(raw)
    if not isinstance(raw, str):
        raise CaseError(
            f"fact {fact.name!r}: {kind_of(raw)} is not {fact.system_article} "
            f"{fact.system_name} code"
        )
    code = normal_code(raw)
    if not valid_code(fact.system, code):
        raise CaseError(
            f"fact {fact.name!r}: {shown_name(raw)} is not {fact.system_article} "
            f"{fact.system_name} code "
            f"(such as {fact.code_example or CODE_EXAMPLES[fact.system]})"
        )
    return shown_code(fact.system, code)
