"""Reading a policy's declarations from its grounded scenario program.

fact/2, option/2, option_text/3, default/2, question/2, meaning/2, clause/2, cites/4,
criterion/3, role/2, under/2, part_of/2, combines/2, heading/2, heading_in/2
policy/2, reading/2 and precedence/2 become the typed Policy of model/policy.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import date
from typing import TYPE_CHECKING

import clingo

from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import (
    Citation,
    Criterion,
    Fact,
    FactType,
    OrderCode,
    Policy,
    PolicySource,
    Reading,
    Role,
    Value,
)
from policykb.bridge.model.version import PolicyVersion

if TYPE_CHECKING:
    from policykb.bridge.model.typed import CodeSet, Number


def python_value(symbol: clingo.Symbol) -> Value:
    """The Python value of a constant or string in the policy program."""
    if symbol.type == clingo.SymbolType.String:
        return symbol.string
    if symbol.type == clingo.SymbolType.Number:
        return str(symbol.number)
    if symbol.name == "true":
        return True
    if symbol.name == "false":
        return False
    return symbol.name


def _facts_of(ctl: clingo.Control, name: str, arity: int) -> Iterator[tuple[clingo.Symbol, ...]]:
    for atom in ctl.symbolic_atoms.by_signature(name, arity):
        if atom.is_fact:
            yield tuple(atom.symbol.arguments)


def _text(symbol: clingo.Symbol) -> str:
    return symbol.string if symbol.type == clingo.SymbolType.String else str(symbol)


def _read_facts(ctl: clingo.Control) -> dict[str, Fact]:
    types: dict[str, FactType] = {}
    for name, kind in _facts_of(ctl, "fact", 2):
        try:
            types[name.name] = FactType(kind.name)
        except ValueError:
            raise DeclarationError(
                f"fact {name}: unknown type {kind} (use bool, enum, list, string, int, "
                "decimal, date, code or code_list)",
                ("fact", 2, str(name)),
            ) from None
    options: dict[str, list[str]] = defaultdict(list)
    for name, option in _facts_of(ctl, "option", 2):
        options[name.name].append(str(python_value(option)))
    option_texts: dict[str, dict[str, str]] = defaultdict(dict)
    for name, option, text in _facts_of(ctl, "option_text", 3):
        option_texts[name.name][str(python_value(option))] = _text(text)
    ranks = {name.name: rank.number for name, rank in _facts_of(ctl, "rank", 2)}
    questions = {name.name: _text(text) for name, text in _facts_of(ctl, "question", 2)}
    meanings = {name.name: _text(text) for name, text in _facts_of(ctl, "meaning", 2)}
    clauses: dict[str, list[str]] = defaultdict(list)
    for name, clause in _facts_of(ctl, "clause", 2):
        clauses[name.name].append(_text(clause))
    citations: dict[str, dict[Value, Citation]] = defaultdict(dict)
    for name, value, clause, text in _facts_of(ctl, "cites", 4):
        citations[name.name][python_value(value)] = Citation(_text(clause), _text(text))
    defaults: dict[str, Value] = {}
    default_symbols: dict[str, clingo.Symbol] = {}
    for name, value in _facts_of(ctl, "default", 2):
        defaults[name.name] = python_value(value)
        default_symbols[name.name] = value

    order = sorted(types, key=lambda n: (ranks.get(n, len(types) + 1), n))
    facts: dict[str, Fact] = {}
    for rank, key in enumerate(order, start=1):
        facts[key] = Fact(
            name=key,
            type=types[key],
            rank=rank,
            options=tuple(options[key]),
            default=defaults.get(key),
            question=questions.get(key, f"What is {key}?"),
            meaning=meanings.get(key, ""),
            clauses=tuple(sorted(clauses[key])),
            citations=citations[key],
            option_texts=option_texts[key],
        )
    for key, texts in option_texts.items():
        unknown = [o for o in texts if key not in facts or o not in facts[key].options]
        if unknown:
            raise DeclarationError(
                f"option_text({key}, {unknown[0]}, ...): {unknown[0]} is not an option of {key}",
                ("option_text", 3, key),
            )
    for key, default in defaults.items():
        if key not in facts:
            raise DeclarationError(
                f"default/2 names {key}, which is not a declared fact", ("default", 2, key)
            )
        fact = facts[key]
        if fact.type is FactType.BOOL and not isinstance(default, bool):
            raise DeclarationError(
                f"default of {key} must be true or false, not {default}", ("default", 2, key)
            )
        if fact.type is FactType.ENUM and default not in fact.options:
            raise DeclarationError(
                f"default of {key} must be {fact.type_label}, not {default}", ("default", 2, key)
            )
        if fact.type.many:
            raise DeclarationError(
                f"{fact.type.value} fact {key} cannot have a default", ("default", 2, key)
            )
    typed = {key: _typed(fact, ctl) for key, fact in facts.items()}
    for key, symbol in default_symbols.items():
        if typed[key].type.typed:
            typed[key] = replace(typed[key], default=_typed_default(typed[key], symbol))
    return typed


def _typed_default(fact: Fact, symbol: clingo.Symbol) -> Value:
    """The default of a number, date or code fact, checked like a case's value."""
    where = ("default", 2, fact.name)
    if fact.type is FactType.CODE:
        from policykb.bridge.loading.case import typed_value

        raw: object = symbol.number if symbol.type == clingo.SymbolType.Number else None
        if symbol.type == clingo.SymbolType.String:
            raw = symbol.string
        try:
            return typed_value(fact, raw)
        except CaseError as error:
            problem = str(error).removeprefix(f"fact {fact.name!r}: ")
            raise DeclarationError(f"default of {fact.name}: {problem}", where) from None
    number = typed_constant(fact, symbol)
    if number is None:
        raise DeclarationError(
            f"default of {fact.name}: {symbol} is not {_constant_kind(fact)}", where
        )
    if (fact.low is not None and number < fact.low) or (
        fact.high is not None and number > fact.high
    ):
        bounds = fact.bounds_words().strip()
        raise DeclarationError(
            f"default of {fact.name}: {symbol} is out of its bounds ({bounds})", where
        )
    if fact.type is FactType.DATE:
        from datetime import date

        return date.fromordinal(int(number))
    return number


def _typed(fact: Fact, ctl: clingo.Control) -> Fact:
    """A number, date or code fact with its bounds, unit or code system."""
    name = fact.name
    declared = [args for args in _facts_of(ctl, "bounds", 3) if args[0].name == name]
    unit = [_text(u) for f, u in _facts_of(ctl, "unit", 2) if f.name == name]
    system = [s.name for f, s in _facts_of(ctl, "code_system", 2) if f.name == name]
    if not fact.type.typed:
        for predicate, given in (("bounds", declared), ("unit", unit), ("code_system", system)):
            if given:
                raise DeclarationError(
                    f"{predicate} of {name}: only number, date and code facts have one",
                    (predicate, 3 if predicate == "bounds" else 2, name),
                )
        return fact
    if fact.type.numeric:
        low = high = None
        if declared:
            low = _bound(fact, declared[0][1])
            high = _bound(fact, declared[0][2])
            if low is not None and high is not None and low > high:
                raise DeclarationError(f"bounds of {name}: {low} > {high}", ("bounds", 3, name))
        return replace(fact, unit=unit[0] if unit else "", low=low, high=high)
    from policykb.bridge.model.typed import CODE_FORMATS

    if len(system) != 1 or system[0] not in CODE_FORMATS:
        raise DeclarationError(
            f"code fact {name} needs code_system({name}, S), S one of " + ", ".join(CODE_FORMATS),
            ("fact", 2, name),
        )
    return replace(fact, system=system[0])


def _bound(fact: Fact, symbol: clingo.Symbol) -> Number | None:
    """A bound of a number or date fact (`none`: unbounded on that side)."""
    if symbol.type == clingo.SymbolType.Function and symbol.name == "none" and not symbol.arguments:
        return None
    number = typed_constant(fact, symbol)
    if number is None:
        raise DeclarationError(
            f"bounds of {fact.name}: {symbol} is not {_constant_kind(fact)}",
            ("bounds", 3, fact.name),
        )
    return number


def _constant_kind(fact: Fact) -> str:
    if fact.type is FactType.DATE:
        return 'a date "YYYY-MM-DD"'
    return 'a number (an integer, or a decimal in quotes: "34.5")'


def typed_constant(fact: Fact, symbol: clingo.Symbol) -> Number | None:
    """A constant of a policy as a value of number or date fact `fact` (dates as
    day numbers), or None when it is not one."""
    from decimal import Decimal

    from policykb.bridge.model.dates import parse_date
    from policykb.bridge.model.typed import parse_decimal

    if fact.type is FactType.DATE:
        if symbol.type != clingo.SymbolType.String:
            return None
        day = parse_date(symbol.string)
        return None if day is None else day.toordinal()
    if symbol.type == clingo.SymbolType.Number:
        return symbol.number if fact.type is FactType.INT else Decimal(symbol.number)
    if symbol.type == clingo.SymbolType.String:
        return parse_decimal(symbol.string)
    return None


def _read_code_sets(ctl: clingo.Control) -> dict[str, CodeSet]:
    members: dict[str, list[str]] = defaultdict(list)
    for symbol, member in _facts_of(ctl, "code_set", 2):
        members[symbol.name].append(_text(member))
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
    for system, code, fact, value in _facts_of(ctl, "applicable_code_when", 4):
        key = (_text(system), _text(code))
        requires[key].append((_text(fact), stated("applicable_code_when", key, _text(fact), value)))
    codes = []
    for system, code, fact, value in _facts_of(ctl, "applicable_code", 4):
        key = (_text(system), _text(code))
        codes.append(
            OrderCode(
                *key,
                fact=_text(fact),
                value=stated("applicable_code", key, _text(fact), value),
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
    roles = {_text(c): r.name for c, r in _facts_of(ctl, "role", 2)}
    sections = {_text(c): _text(s) for c, s in _facts_of(ctl, "under", 2)}
    links = [(_text(c), _text(p)) for c, p in _facts_of(ctl, "part_of", 2)]
    groups = {_text(c): how for c, how in _facts_of(ctl, "combines", 2)}
    criteria: dict[str, Criterion] = {}
    for ident, place, text in _facts_of(ctl, "criterion", 3):
        key = _text(ident)
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
            place=_text(place),
            text=_text(text),
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
    for subject, text in _facts_of(ctl, "reading", 2):
        where = ("reading", 2, _text(subject), _text(text))
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
        readings.append(Reading(_text(subject), text.string))
    return tuple(readings)


def _read_precedence(ctl: clingo.Control, name: str) -> dict[str, str]:
    """precedence("other-policy", Reason): this policy is routed first for the
    codes both claim; the reason is a quoted text."""
    found: dict[str, str] = {}
    for other, reason in _facts_of(ctl, "precedence", 2):
        where = ("precedence", 2, _text(other))
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


class DeclarationError(PolicyError):
    """A declaration is wrong; `declaration` (predicate, arity, first argument)
    lets read_policy name the file and line where it is written."""

    def __init__(self, message: str, declaration: tuple[str, int, str, *tuple[str, ...]]) -> None:
        super().__init__(message)
        self.declaration = declaration


def declared_at(
    source: PolicySource, predicate: str, arity: int, first: str, *rest: str
) -> str | None:
    """FILE:LINE of the statement whose head is predicate(first, *rest, ...) in
    the policy's files (parsed again: only an error message needs it)."""
    from clingo import ast  # parsing is the error's path only

    from policykb.bridge.loading.parsing import policy_statements
    from policykb.bridge.loading.rules import location

    for statement in policy_statements(source):
        if statement.ast_type != ast.ASTType.Rule:
            continue
        atom = statement.head.atom if statement.head.ast_type == ast.ASTType.Literal else None
        if atom is None or atom.ast_type != ast.ASTType.SymbolicAtom:
            continue
        symbol = atom.symbol
        if (
            symbol.ast_type == ast.ASTType.Function
            and symbol.name == predicate
            and len(symbol.arguments) == arity
            and [str(a).strip('"') for a in symbol.arguments[: 1 + len(rest)]] == [first, *rest]
        ):
            return location(statement)
    return None


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
    for key, text in _facts_of(ctl, "policy", 2):
        info[str(key)].append(_text(text))
    facts = _read_facts(ctl)
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
        headings={_text(s): _text(t) for s, t in _facts_of(ctl, "heading", 2)},
        outer_headings={_text(s): _text(o) for s, o in _facts_of(ctl, "heading_in", 2)},
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
