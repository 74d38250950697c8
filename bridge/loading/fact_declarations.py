"""The fact declarations of a policy: fact/2 with its options, defaults,
questions, meanings, clauses and citations, and the bounds, unit or code system
of number, date and code facts.

Invariant: every Fact returned is checked -- a default is a value of its type
within its bounds, an option text names a declared option -- or a
DeclarationError names the declaration that is wrong.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import replace
from typing import TYPE_CHECKING

import clingo

from policykb.bridge.loading.declaration_atoms import (
    DeclarationError,
    facts_of,
    python_value,
    symbol_text,
)
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Citation, Fact, FactType, Value

if TYPE_CHECKING:
    from policykb.bridge.model.typed import Number


def read_facts(ctl: clingo.Control) -> dict[str, Fact]:
    """The declared facts by name, ranked by rank/2 (then by name)."""
    types: dict[str, FactType] = {}
    for name, kind in facts_of(ctl, "fact", 2):
        try:
            types[name.name] = FactType(kind.name)
        except ValueError:
            raise DeclarationError(
                f"fact {name}: unknown type {kind} (use bool, enum, list, string, int, "
                "decimal, date, code or code_list)",
                ("fact", 2, str(name)),
            ) from None
    options: dict[str, list[str]] = defaultdict(list)
    for name, option in facts_of(ctl, "option", 2):
        options[name.name].append(str(python_value(option)))
    option_texts: dict[str, dict[str, str]] = defaultdict(dict)
    for name, option, text in facts_of(ctl, "option_text", 3):
        option_texts[name.name][str(python_value(option))] = symbol_text(text)
    ranks = {name.name: rank.number for name, rank in facts_of(ctl, "rank", 2)}
    questions = {name.name: symbol_text(text) for name, text in facts_of(ctl, "question", 2)}
    meanings = {name.name: symbol_text(text) for name, text in facts_of(ctl, "meaning", 2)}
    clauses: dict[str, list[str]] = defaultdict(list)
    for name, clause in facts_of(ctl, "clause", 2):
        clauses[name.name].append(symbol_text(clause))
    citations: dict[str, dict[Value, Citation]] = defaultdict(dict)
    for name, value, clause, text in facts_of(ctl, "cites", 4):
        citations[name.name][python_value(value)] = Citation(symbol_text(clause), symbol_text(text))
    defaults: dict[str, Value] = {}
    default_symbols: dict[str, clingo.Symbol] = {}
    for name, value in facts_of(ctl, "default", 2):
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
    declared = [args for args in facts_of(ctl, "bounds", 3) if args[0].name == name]
    unit = [symbol_text(u) for f, u in facts_of(ctl, "unit", 2) if f.name == name]
    system = [s.name for f, s in facts_of(ctl, "code_system", 2) if f.name == name]
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
