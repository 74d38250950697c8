"""Reading a policy's history declarations from the grounded scenario program.

history/1, record_field/3, field_option/3, field_bounds/4, field_unit/3,
field_code_system/3, record_condition/3 and condition_test/3 become
History objects (model/history.py) with their fields and conditions, not
yet their record classes (loading/histories.py adds those from the rules'
uses). Every declaration is checked against the others: a wrong one raises
DeclarationRefusal naming the predicate (and the atom, when one is at
fault), which loading/histories.py turns into a PolicyError with file and
line. Nothing here reads case data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import clingo

from policykb.bridge.loading.declaration_atoms import python_value
from policykb.bridge.loading.fact_declarations import typed_constant
from policykb.bridge.model.history import MAX_TESTS_PER_FIELD, History
from policykb.bridge.model.history_condition import ORDER_TESTS, Condition, FieldTest
from policykb.bridge.model.policy import Fact, FactType, Policy

if TYPE_CHECKING:
    from policykb.bridge.model.typed import Number as Limit

FIELD_TYPES = ("enum", "bool", "int", "decimal", "date", "code")


def _facts_of(ctl: clingo.Control, name: str, arity: int) -> list[tuple[clingo.Symbol, ...]]:
    return [
        tuple(atom.symbol.arguments)
        for atom in ctl.symbolic_atoms.by_signature(name, arity)
        if atom.is_fact
    ]


def _text(symbol: clingo.Symbol) -> str:
    return symbol.string if symbol.type == clingo.SymbolType.String else str(symbol)


class DeclarationRefusal(Exception):
    """A wrong history declaration: `where` is (predicate, arity, first
    argument) for declared_at; `atom`, when set, the one ground atom at fault."""

    def __init__(self, message: str, predicate: str, arity: int, first: str) -> None:
        super().__init__(message)
        self.where = (predicate, arity, first)
        self.atom = ""
        """The declaration as written (its ground atom), when one atom is at fault."""


def declared_histories(
    ctl: clingo.Control, policy: Policy, written: Sequence[tuple[clingo.Symbol, ...]] = ()
) -> dict[str, History]:
    """Each declared history with its checked fields and conditions (no record
    classes yet); DeclarationRefusal for the first wrong declaration."""
    names = [args[0].name for args in _facts_of(ctl, "history", 1)]
    for name in names:
        if name in policy.facts:
            raise DeclarationRefusal(
                f"history {name} is also declared by fact/2", "history", 1, name
            )
    fields: dict[str, dict[str, Fact]] = {name: {} for name in names}
    for history, field_name, kind in _facts_of(ctl, "record_field", 3):
        if history.name not in fields:
            raise DeclarationRefusal(
                f"record_field({history}, ...): {history} is not declared by history/1",
                "record_field",
                3,
                str(history),
            )
        if kind.name not in FIELD_TYPES:
            refusal = DeclarationRefusal(
                f"record_field({history}, {field_name}, {kind}): the type must be one of "
                + ", ".join(FIELD_TYPES),
                "record_field",
                3,
                str(history),
            )
            refusal.atom = f"record_field({history},{field_name},{kind})"
            raise refusal
        fields[history.name][field_name.name] = Fact(
            name=f"{history.name}.{field_name.name}", type=FactType(kind.name), rank=0
        )
    _field_details(ctl, fields)
    questions = {n.name: _text(t) for n, t in _facts_of(ctl, "question", 2)}
    meanings = {n.name: _text(t) for n, t in _facts_of(ctl, "meaning", 2)}
    conditions: dict[str, dict[str, Condition]] = {name: {} for name in names}
    for condition, history, text in _facts_of(ctl, "record_condition", 3):
        if history.name not in fields:
            raise DeclarationRefusal(
                f"record_condition({condition}, {history}, ...): {history} is not a history",
                "record_condition",
                3,
                str(condition),
            )
        conditions[history.name][condition.name] = Condition(
            condition.name, history.name, _text(text), ()
        )
    owner = {c: h for h, found in conditions.items() for c in found}
    tests: dict[str, list[FieldTest]] = defaultdict(list)
    grounded = [tuple(args) for args in _facts_of(ctl, "condition_test", 3)]
    extra = [args for args in written if args not in grounded]
    for condition, field_name, test in [*grounded, *extra]:
        if condition.name not in owner:
            raise DeclarationRefusal(
                f"condition_test({condition}, ...): {condition} is not declared by "
                "record_condition/3",
                "condition_test",
                3,
                str(condition),
            )
        owned_by = owner[condition.name]
        declared = fields[owned_by].get(field_name.name)
        if declared is None:
            refusal = DeclarationRefusal(
                f"condition_test({condition}, {field_name}, ...): {owned_by} records have no "
                f"field {field_name}",
                "condition_test",
                3,
                str(condition),
            )
            refusal.atom = f"condition_test({condition},{field_name},{test})"
            raise refusal
        try:
            tests[condition.name].append(_test(field_name.name, declared, test, policy))
        except ValueError as error:
            refusal = DeclarationRefusal(
                f"condition_test({condition}, {field_name}, {test}): {error}",
                "condition_test",
                3,
                str(condition),
            )
            refusal.atom = f"condition_test({condition},{field_name},{test})"
            raise refusal from None
    histories: dict[str, History] = {}
    for name in names:
        if not fields[name]:
            raise DeclarationRefusal(
                f"history {name} declares no record_field/3", "history", 1, name
            )
        found = {c: replace(cond, tests=tuple(tests[c])) for c, cond in conditions[name].items()}
        for c, cond in found.items():
            if not cond.tests:
                raise DeclarationRefusal(
                    f"record_condition {c} has no condition_test/3", "record_condition", 3, c
                )
        histories[name] = History(
            name=name,
            fields=fields[name],
            conditions=found,
            code_sets=policy.code_sets,
            question=questions.get(name, ""),
            meaning=meanings.get(name, ""),
        )
        for field_key in fields[name]:
            if len(histories[name].tests_of(field_key)) > MAX_TESTS_PER_FIELD:
                raise DeclarationRefusal(
                    f"history {name}: more than {MAX_TESTS_PER_FIELD} different tests on "
                    f"field {field_key}",
                    "history",
                    1,
                    name,
                )
    return histories


def _field_details(ctl: clingo.Control, fields: dict[str, dict[str, Fact]]) -> None:
    """Options, bounds, units and code systems of the record fields, checked."""

    def field_of(predicate: str, arity: int, args: tuple[clingo.Symbol, ...]) -> Fact:
        history, name = args[0].name, args[1].name
        if history not in fields or name not in fields[history]:
            raise DeclarationRefusal(
                f"{predicate}({args[0]}, {args[1]}, ...): no such record field (record_field/3)",
                predicate,
                arity,
                str(args[0]),
            )
        return fields[history][name]

    options: dict[tuple[str, str], list[str]] = defaultdict(list)
    for args in _facts_of(ctl, "field_option", 3):
        declared = field_of("field_option", 3, args)
        if declared.type is not FactType.ENUM:
            raise DeclarationRefusal(
                f"field_option({args[0]}, {args[1]}, ...): only an enum field has options",
                "field_option",
                3,
                str(args[0]),
            )
        options[args[0].name, args[1].name].append(str(python_value(args[2])))
    for args in _facts_of(ctl, "field_bounds", 4):
        declared = field_of("field_bounds", 4, args)
        if not declared.type.numeric:
            raise DeclarationRefusal(
                f"field_bounds({args[0]}, {args[1]}, ...): only number and date fields have bounds",
                "field_bounds",
                4,
                str(args[0]),
            )
        ends: list[Limit | None] = []
        for end in args[2:]:
            if end.type == clingo.SymbolType.Function and end.name == "none":
                ends.append(None)
                continue
            number = typed_constant(declared, end)
            if number is None:
                raise DeclarationRefusal(
                    f"field_bounds({args[0]}, {args[1]}, ...): {end} is not a "
                    + ("date" if declared.type is FactType.DATE else "number"),
                    "field_bounds",
                    4,
                    str(args[0]),
                )
            ends.append(number)
        fields[args[0].name][args[1].name] = replace(declared, low=ends[0], high=ends[1])
    for args in _facts_of(ctl, "field_unit", 3):
        declared = field_of("field_unit", 3, args)
        fields[args[0].name][args[1].name] = replace(declared, unit=_text(args[2]))
    from policykb.bridge.model.typed import CODE_FORMATS

    for args in _facts_of(ctl, "field_code_system", 3):
        declared = field_of("field_code_system", 3, args)
        if declared.type is not FactType.CODE or args[2].name not in CODE_FORMATS:
            raise DeclarationRefusal(
                f"field_code_system({args[0]}, {args[1]}, {args[2]}): a code field's system, "
                "one of " + ", ".join(CODE_FORMATS),
                "field_code_system",
                3,
                str(args[0]),
            )
        fields[args[0].name][args[1].name] = replace(declared, system=args[2].name)
    for history, found in fields.items():
        for name, declared in found.items():
            if declared.type is FactType.ENUM:
                chosen = options.get((history, name), [])
                if not chosen:
                    raise DeclarationRefusal(
                        f"enum field {name} of {history} has no field_option/3",
                        "record_field",
                        3,
                        history,
                    )
                found[name] = replace(declared, options=tuple(chosen))
            if declared.type is FactType.CODE and not declared.system:
                raise DeclarationRefusal(
                    f"code field {name} of {history} needs field_code_system/3",
                    "record_field",
                    3,
                    history,
                )


def _test(field_name: str, declared: Fact, test: clingo.Symbol, policy: Policy) -> FieldTest:
    """A condition's test on one field, checked against the field's type (ValueError)."""
    from policykb.bridge.loading.durations import NOT_A_DURATION
    from policykb.bridge.model.typed import Duration

    if test.type != clingo.SymbolType.Function:
        raise ValueError("a test is a term such as is(colonoscopy) or at_least(90)")
    name, args = test.name, test.arguments
    kind = declared.type
    if name == "is" and len(args) == 1:
        option = str(python_value(args[0]))
        if kind is not FactType.ENUM or option not in declared.options:
            raise ValueError(f"is/1 takes an option of an enum field ({declared.type_label})")
        return FieldTest(field_name, "is", (option,))
    if name in ("holds", "fails") and not args:
        if kind is not FactType.BOOL:
            raise ValueError(f"{name} tests a bool field")
        return FieldTest(field_name, name)
    if name == "has_code_in" and len(args) == 1:
        if kind is not FactType.CODE or args[0].name not in policy.code_sets:
            raise ValueError("has_code_in/1 takes a declared code set, on a code field")
        return FieldTest(field_name, name, (args[0].name,))
    if name == "in_year_of" and len(args) == 2:
        reference = _reference(args[0], kind, policy)
        if args[1].type != clingo.SymbolType.Number:
            raise ValueError("in_year_of(Reference, N) takes a whole number of years N")
        return FieldTest(field_name, name, reference=reference, years=args[1].number)
    if name in ORDER_TESTS and len(args) == 2:
        reference = _reference(args[0], kind, policy)
        # One step (days(N), weeks(N), months(N), month_start, month_end) or
        # a combined duration, which written_durations has already rewritten
        # to its grounded term steps(...), as it does for the rules'
        # comparisons.
        duration = (
            Duration.parse(str(args[1])) if args[1].type == clingo.SymbolType.Function else None
        )
        if duration is None or not duration.steps:
            raise ValueError(NOT_A_DURATION)
        return FieldTest(field_name, name, reference=reference, duration=duration)
    if (name in ORDER_TESTS and len(args) == 1) or (name == "between" and len(args) == 2):
        if not kind.numeric:
            raise ValueError(f"{name} compares a number or date field")
        dates = name in ("on_or_after", "on_or_before", "after", "before")
        if dates != (kind is FactType.DATE) and name != "between":
            raise ValueError(f"{name} does not compare a {kind.value} field")
        numbers = [typed_constant(declared, a) for a in args]
        if any(n is None for n in numbers):
            raise ValueError(
                "the constants must be " + ('dates "YYYY-MM-DD"' if dates else "numbers")
            )
        return FieldTest(field_name, name, tuple(numbers))
    raise ValueError("not a test this field's type has (see kb/REFERENCE.md, condition_test/3)")


def _reference(symbol: clingo.Symbol, kind: FactType, policy: Policy) -> str:
    if kind is not FactType.DATE:
        raise ValueError("only a date field is compared with a date fact")
    declared = policy.facts.get(symbol.name) if symbol.type == clingo.SymbolType.Function else None
    if declared is None or declared.type is not FactType.DATE:
        raise ValueError(f"{symbol} is not a declared date fact")
    return declared.name
