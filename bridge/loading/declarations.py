"""Reading a policy's declarations from its grounded scenario program.

fact/2, option/2, option_text/3, default/2, question/2, meaning/2, clause/2, cites/4,
criterion/3, role/2, under/2, part_of/2, combines/2, heading/2, heading_in/2
policy/2, reading/2 and precedence/2 become the typed Policy of model/policy.py.
The facts are read by fact_declarations.py; this module reads the rest and
assembles the Policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING

import clingo

from policykb.bridge.loading.declaration_atoms import (
    DeclarationError,
    declared_at,
    facts_of,
    python_value,
    symbol_text,
)
from policykb.bridge.loading.fact_declarations import read_facts
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import (
    Criterion,
    Fact,
    OrderCode,
    Policy,
    PolicySource,
    Reading,
    Role,
    Value,
)
from policykb.bridge.model.version import PolicyVersion

if TYPE_CHECKING:
    from policykb.bridge.model.typed import CodeSet


def _read_code_sets(ctl: clingo.Control) -> dict[str, CodeSet]:
    members: dict[str, list[str]] = defaultdict(list)
    for symbol, member in facts_of(ctl, "code_set", 2):
        members[symbol.name].append(symbol_text(member))
    sets: dict[str, CodeSet] = {}
    if members:
        from policykb.bridge.model.typed import CodeSet, parse_span
    for name, texts in members.items():
        spans = []
        for text in texts:
            span = parse_span(text)
            if span is None:
                raise DeclarationError(
                    f"code set {name}: {text!r} is not a code, a range (E08-E13) "
                    "or a prefix (M17.*)",
                    ("code_set", 2, name),
                )
            spans.append(span)
        sets[name] = CodeSet(name, tuple(texts), tuple(spans))
    return sets


def _read_codes(ctl: clingo.Control, facts: dict[str, Fact]) -> tuple[OrderCode, ...]:
    """applicable_code(System, Code, Fact, Value) with its applicable_code_when/4."""
    from policykb.bridge.loading.case import check_value

    def stated(predicate: str, key: tuple[str, str], name: str, raw: clingo.Symbol) -> Value:
        where = (predicate, 4, key[0])
        fact = facts.get(name)
        if fact is None:
            raise DeclarationError(f"{predicate} of code {key[1]}: no fact {name!r}", where)
        try:
            return check_value(fact, python_value(raw))
        except CaseError as error:
            raise DeclarationError(f"{predicate} of code {key[1]}: {error}", where) from None

    requires: dict[tuple[str, str], list[tuple[str, Value]]] = defaultdict(list)
    for system, code, fact, value in facts_of(ctl, "applicable_code_when", 4):
        key = (symbol_text(system), symbol_text(code))
        named = symbol_text(fact)
        requires[key].append((named, stated("applicable_code_when", key, named, value)))
    codes = []
    for system, code, fact, value in facts_of(ctl, "applicable_code", 4):
        key = (symbol_text(system), symbol_text(code))
        codes.append(
            OrderCode(
                *key,
                fact=symbol_text(fact),
                value=stated("applicable_code", key, symbol_text(fact), value),
                requires=tuple(sorted(requires.pop(key, []), key=str)),
            )
        )
    for system_name, code_text in requires:
        raise DeclarationError(
            f"applicable_code_when names code {code_text} of {system_name}, "
            "which no applicable_code declares",
            ("applicable_code_when", 4, system_name),
        )
    return tuple(sorted(codes, key=lambda c: (c.system, c.code)))


def _read_criteria(ctl: clingo.Control) -> dict[str, Criterion]:
    roles = {symbol_text(c): r.name for c, r in facts_of(ctl, "role", 2)}
    sections = {symbol_text(c): symbol_text(s) for c, s in facts_of(ctl, "under", 2)}
    links = [(symbol_text(c), symbol_text(p)) for c, p in facts_of(ctl, "part_of", 2)]
    groups = {symbol_text(c): how for c, how in facts_of(ctl, "combines", 2)}
    criteria: dict[str, Criterion] = {}
    for ident, place, text in facts_of(ctl, "criterion", 3):
        key = symbol_text(ident)
        role = roles.get(key)
        if role is None:
            raise DeclarationError(
                f"criterion {key} has no role/2 declaration", ("criterion", 3, key)
            )
        try:
            parsed_role = Role(role)
        except ValueError:
            raise DeclarationError(
                f"criterion {key}: unknown role {role}", ("role", 2, key)
            ) from None
        parts = tuple(c for c, p in links if p == key)
        combines, needed = _combination(key, groups.get(key), len(parts))
        criteria[key] = Criterion(
            id=key,
            place=symbol_text(place),
            text=symbol_text(text),
            role=parsed_role,
            section=sections.get(key),
            parents=tuple(p for c, p in links if c == key),
            parts=parts,
            combines=combines,
            needed=needed,
        )
    for child, parent in links:
        if child not in criteria or parent not in criteria:
            missing = child if child not in criteria else parent
            raise DeclarationError(
                f"part_of({child}, {parent}): {missing} is not a declared criterion",
                ("part_of", 2, child),
            )
    for key in groups:
        if key not in criteria:
            raise DeclarationError(
                f"combines/2 names {key}, which is not a declared criterion",
                ("combines", 2, key),
            )
    return criteria


def _read_readings(
    ctl: clingo.Control, facts: Mapping[str, Fact], criteria: Mapping[str, Criterion]
) -> tuple[Reading, ...]:
    """reading(Subject, Text): Subject a criterion id ("B1"), a fact (bmi) or
    "*" (the whole policy); anything else is a wrong declaration."""
    from policykb.bridge.model.policy import WHOLE_POLICY

    readings = []
    for subject, text in facts_of(ctl, "reading", 2):
        where = ("reading", 2, symbol_text(subject), symbol_text(text))
        if subject.type == clingo.SymbolType.String:
            known = subject.string == WHOLE_POLICY or subject.string in criteria
            kind = f'criterion {subject.string!r} (or "{WHOLE_POLICY}" for the whole policy)'
        else:
            known = subject.type == clingo.SymbolType.Function and subject.name in facts
            kind = f"fact {subject}"
        if not known:
            raise DeclarationError(f"reading({subject}, ...) names no declared {kind}", where)
        if text.type != clingo.SymbolType.String or not text.string.strip():
            raise DeclarationError(f"reading({subject}, ...): the reading is a quoted text", where)
        readings.append(Reading(symbol_text(subject), text.string))
    return tuple(readings)


def _read_precedence(ctl: clingo.Control, name: str) -> dict[str, str]:
    """precedence("other-policy", Reason): this policy is routed first for the
    codes both claim; the reason is a quoted text."""
    found: dict[str, str] = {}
    for other, reason in facts_of(ctl, "precedence", 2):
        where = ("precedence", 2, symbol_text(other))
        if other.type != clingo.SymbolType.String or reason.type != clingo.SymbolType.String:
            raise DeclarationError(
                f'precedence({other}, ...): write precedence("policy-name", "why")', where
            )
        if other.string == name:
            raise DeclarationError(f"precedence({other}, ...) names this policy itself", where)
        if not reason.string.strip():
            raise DeclarationError(f"precedence({other}, ...) gives no reason", where)
        found[other.string] = reason.string
    return found


def _combination(key: str, how: clingo.Symbol | None, parts: int) -> tuple[str | None, int]:
    """How criterion `key` combines its `parts` parts: (all|any|at_least, K)."""
    if how is None:
        return None, 0
    where = ("combines", 2, key)
    if parts == 0:
        raise DeclarationError(f"combines({key}, {how}): {key} has no parts (part_of/2)", where)
    if how.type == clingo.SymbolType.Function and not how.arguments and how.name in ("all", "any"):
        return how.name, parts if how.name == "all" else 1
    if (
        how.match("at_least", 1)
        and how.arguments[0].type == clingo.SymbolType.Number
        and 1 <= how.arguments[0].number <= parts
    ):
        return "at_least", how.arguments[0].number
    raise DeclarationError(
        f"combines({key}, {how}): use all, any or at_least(K) with K from 1 to its {parts} parts",
        where,
    )


def read_policy(source: PolicySource, ctl: clingo.Control) -> Policy:
    """Read a policy's declarations from its grounded scenario program.

    A wrong declaration is a PolicyError that names its file and line."""
    try:
        return _read_policy(source, ctl)
    except DeclarationError as error:
        where = declared_at(source, *error.declaration) or declared_at(
            source, *error.declaration[:3]
        )
        if where is None:
            raise
        raise PolicyError(f"{where}: {error}") from None


def _read_policy(source: PolicySource, ctl: clingo.Control) -> Policy:
    info: dict[str, list[str]] = defaultdict(list)
    for key, text in facts_of(ctl, "policy", 2):
        info[str(key)].append(symbol_text(text))
    facts = read_facts(ctl)
    if not facts:
        raise PolicyError(f"policy {source.name!r} declares no facts (fact/2)")
    criteria = _read_criteria(ctl)
    return Policy(
        name=source.name,
        source=source,
        info={key: tuple(values) for key, values in info.items()},
        facts=facts,
        criteria=criteria,
        readings=_read_readings(ctl, facts, criteria),
        precedence=_read_precedence(ctl, source.name),
        code_sets=_read_code_sets(ctl),
        headings={symbol_text(s): symbol_text(t) for s, t in facts_of(ctl, "heading", 2)},
        outer_headings={symbol_text(s): symbol_text(o) for s, o in facts_of(ctl, "heading_in", 2)},
        codes=_read_codes(ctl, facts),
        version=_version(source, info),
    )


def _version(source: PolicySource, info: Mapping[str, list[str]]) -> PolicyVersion:
    """The version's declared period (policy(effective/retired, "YYYY-MM-DD"))
    and its content hash."""
    from policykb.bridge.loading.files import content_hash
    from policykb.bridge.model.dates import require_date

    days: dict[str, date | None] = {}
    for key in ("effective", "retired"):
        values = info.get(key, [])
        if len(values) > 1:
            raise DeclarationError(
                f"policy({key}, ...) is declared more than once", ("policy", 2, key)
            )
        days[key] = (
            require_date(
                values[0],
                DeclarationError(
                    f"policy({key}, {values[0]!r}): not a date YYYY-MM-DD", ("policy", 2, key)
                ),
            )
            if values
            else None
        )
    effective, retired = days["effective"], days["retired"]
    if retired is not None and (effective is None or retired <= effective):
        raise DeclarationError(
            "policy(retired, ...) must come after policy(effective, ...)", ("policy", 2, "retired")
        )
    return PolicyVersion(effective, retired, content_hash(source))
