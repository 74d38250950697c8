"""Reading a policy's histories (kb/core/history.lp) and what the rules ask of them.

The declarations (history/1, record_field/3, field_option/3, field_bounds/4,
field_unit/3, field_code_system/3, record_condition/3, condition_test/3) are
read from the grounded scenario program; the uses (exists/2, none/2,
count_at_least/3, count_at_most/3, distinct_at_least/4) from the parsed
rules. A wrong declaration or use is refused with its file and line. Each
history then gets its record classes (model/history.py), one boolean fact per
class and level up to its cap, and the program facts and rules that link
them to the core, built as clingo AST from symbols: nothing here reads case
data.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.declarations import declared_at, python_value, typed_constant
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import (
    MAX_COUNT,
    MAX_TESTS_PER_FIELD,
    ORDER_TESTS,
    Condition,
    FieldTest,
    History,
    RecordClass,
)
from policykb.bridge.model.policy import Fact, FactType, Policy, PolicySource

if TYPE_CHECKING:
    from policykb.bridge.model.typed import Number as Limit

FIELD_TYPES = ("enum", "bool", "int", "decimal", "date", "code")
# Each predicate a rule may ask of a history: its arity and the argument
# positions holding the condition, the field and the count.
USES = {
    ("exists", 2): (1, None, None),
    ("none", 2): (1, None, None),
    ("count_at_least", 3): (1, None, 2),
    ("count_at_most", 3): (1, None, 2),
    ("distinct_at_least", 4): (1, 2, 3),
    ("latest_within", 3): (1, None, None),
    ("earliest_within", 3): (1, None, None),
}
ORDERS = {"latest_within": "latest", "earliest_within": "earliest"}
# Sums of a field over unknown records: the extra records of a partial history
# could add any amount, and the amounts of records of one class differ, so a
# class count does not decide a sum; refused rather than answered inexactly.
INEXACT = {"sum_at_least", "sum_at_most", "sum_above", "sum_below"}
# Not in the language yet: a run of consecutive days compares records' dates
# with each other, which record classes do not tell.
UNSUPPORTED = {"run_at_least", "run_at_most"}


def _facts_of(ctl: clingo.Control, name: str, arity: int) -> list[tuple[clingo.Symbol, ...]]:
    return [
        tuple(atom.symbol.arguments)
        for atom in ctl.symbolic_atoms.by_signature(name, arity)
        if atom.is_fact
    ]


def _text(symbol: clingo.Symbol) -> str:
    return symbol.string if symbol.type == clingo.SymbolType.String else str(symbol)


class _Refusal(Exception):
    def __init__(self, message: str, predicate: str, arity: int, first: str) -> None:
        super().__init__(message)
        self.where = (predicate, arity, first)
        self.atom = ""
        """The declaration as written (its ground atom), when one atom is at fault."""


def _declared_line(source: PolicySource, atom: str) -> str | None:
    """FILE:LINE of the fact whose head is `atom` (parsed again: only an error needs it)."""
    from policykb.bridge.loading.parsing import policy_statements

    for statement in policy_statements(source):
        if statement.ast_type != ast.ASTType.Rule or statement.body:
            continue
        if str(statement.head).rstrip(".") == atom:
            return location(statement)
    return None


def read_histories(
    source: PolicySource, ctl: clingo.Control, policy: Policy, parsed: Sequence[ast.AST]
) -> tuple[Policy, list[ast.AST]]:
    """The policy with its histories and their boolean facts, and the program
    statements that link them to kb/core/history.lp. PolicyError with file and
    line for a wrong declaration or use."""
    try:
        histories = _declarations(ctl, policy, _written_tests(parsed))
    except _Refusal as refusal:
        where = (_declared_line(source, refusal.atom) if refusal.atom else None) or declared_at(
            source, *refusal.where
        )
        raise PolicyError(f"{where}: {refusal}" if where else str(refusal)) from None
    uses = _uses(parsed, histories)
    built = {name: _with_classes(history, uses) for name, history in histories.items()}
    facts = dict(policy.facts)
    rank = max((f.rank for f in facts.values()), default=0)
    for history in built.values():
        for record_class, level, name in history.level_facts():
            if name in facts:
                raise PolicyError(
                    f"history {history.name}: its fact {name} is also declared by fact/2"
                )
            rank += 1
            facts[name] = Fact(
                name=name,
                type=FactType.BOOL,
                rank=rank,
                question=history.level_question(record_class, level),
                meaning=f"{history.meaning or history.name}: "
                + history.level_words(record_class, level),
                clauses=history.class_clauses(record_class),
            )
    updated = replace(policy, facts=facts, histories=built)
    return updated, _statements(built.values())


# -- declarations --------------------------------------------------------------------


def _written_tests(parsed: Sequence[ast.AST]) -> list[tuple[clingo.Symbol, ...]]:
    """The condition_test/3 facts of the policy's own files as rewritten by
    written_durations: a combined duration (months(-12) + month_end) is a
    sum clingo leaves undefined, so the grounded program lacks that fact."""
    core = {str(path) for path in core_files()}
    found = []
    for statement in parsed:
        if (
            statement.ast_type != ast.ASTType.Rule
            or statement.body
            or statement.location.begin.filename in core
            or statement.head.ast_type != ast.ASTType.Literal
            or statement.head.atom.ast_type != ast.ASTType.SymbolicAtom
        ):
            continue
        symbol = statement.head.atom.symbol
        if symbol.ast_type != ast.ASTType.Function or symbol.name != "condition_test":
            continue
        try:
            term = clingo.parse_term(str(symbol))
        except RuntimeError:  # not ground: left to the grounded program
            continue
        if len(term.arguments) == 3:
            found.append(tuple(term.arguments))
    return found


def _declarations(
    ctl: clingo.Control, policy: Policy, written: Sequence[tuple[clingo.Symbol, ...]] = ()
) -> dict[str, History]:
    names = [args[0].name for args in _facts_of(ctl, "history", 1)]
    for name in names:
        if name in policy.facts:
            raise _Refusal(f"history {name} is also declared by fact/2", "history", 1, name)
    fields: dict[str, dict[str, Fact]] = {name: {} for name in names}
    for history, field_name, kind in _facts_of(ctl, "record_field", 3):
        if history.name not in fields:
            raise _Refusal(
                f"record_field({history}, ...): {history} is not declared by history/1",
                "record_field",
                3,
                str(history),
            )
        if kind.name not in FIELD_TYPES:
            refusal = _Refusal(
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
            raise _Refusal(
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
            raise _Refusal(
                f"condition_test({condition}, ...): {condition} is not declared by "
                "record_condition/3",
                "condition_test",
                3,
                str(condition),
            )
        owned_by = owner[condition.name]
        declared = fields[owned_by].get(field_name.name)
        if declared is None:
            refusal = _Refusal(
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
            refusal = _Refusal(
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
            raise _Refusal(f"history {name} declares no record_field/3", "history", 1, name)
        found = {c: replace(cond, tests=tuple(tests[c])) for c, cond in conditions[name].items()}
        for c, cond in found.items():
            if not cond.tests:
                raise _Refusal(
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
                raise _Refusal(
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
            raise _Refusal(
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
            raise _Refusal(
                f"field_option({args[0]}, {args[1]}, ...): only an enum field has options",
                "field_option",
                3,
                str(args[0]),
            )
        options[args[0].name, args[1].name].append(str(python_value(args[2])))
    for args in _facts_of(ctl, "field_bounds", 4):
        declared = field_of("field_bounds", 4, args)
        if not declared.type.numeric:
            raise _Refusal(
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
                raise _Refusal(
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
            raise _Refusal(
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
                    raise _Refusal(
                        f"enum field {name} of {history} has no field_option/3",
                        "record_field",
                        3,
                        history,
                    )
                found[name] = replace(declared, options=tuple(chosen))
            if declared.type is FactType.CODE and not declared.system:
                raise _Refusal(
                    f"code field {name} of {history} needs field_code_system/3",
                    "record_field",
                    3,
                    history,
                )


def _test(field_name: str, declared: Fact, test: clingo.Symbol, policy: Policy) -> FieldTest:
    """A condition's test on one field, checked against the field's type (ValueError)."""
    from policykb.bridge.loading.comparisons import NOT_A_DURATION
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


# -- uses in rules --------------------------------------------------------------------


class _Uses:
    """What the rules ask of each history: count thresholds, fields counted
    distinct and the criteria whose rules read it."""

    def __init__(self) -> None:
        self.counts: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self.distinct: dict[str, set[tuple[str, str, int]]] = defaultdict(set)
        self.read: dict[str, set[str]] = defaultdict(set)
        self.clauses: dict[str, set[str]] = defaultdict(set)
        self.condition_clauses: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.orders: dict[str, set[tuple[str, str, str]]] = defaultdict(set)


def _uses(parsed: Sequence[ast.AST], histories: Mapping[str, History]) -> _Uses:
    core = {str(path) for path in core_files()}
    found = _Uses()
    for statement in parsed:
        if statement.ast_type != ast.ASTType.Rule or statement.location.begin.filename in core:
            continue
        where = location(statement)
        collect = _Atoms()
        for literal in statement.body:
            collect(literal)
        atoms = collect.found
        head = _criterion_of(statement)
        for symbol in atoms:
            if symbol.ast_type != ast.ASTType.Function:
                continue
            _one_use(symbol, histories, found, where, head)
    return found


class _Atoms(ast.Transformer):
    """Collects the symbolic atoms of a body literal (inside aggregates too)."""

    def __init__(self) -> None:
        self.found: list[ast.AST] = []

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        self.found.append(node.symbol)
        return node


def _criterion_of(statement: ast.AST) -> str | None:
    head = statement.head
    if head.ast_type != ast.ASTType.Literal or head.atom.ast_type != ast.ASTType.SymbolicAtom:
        return None
    symbol = head.atom.symbol
    if symbol.ast_type == ast.ASTType.Function and symbol.name == "met" and symbol.arguments:
        argument = symbol.arguments[0]
        if argument.ast_type == ast.ASTType.SymbolicTerm:
            return _text(argument.symbol)
    return None


def _constant(term: ast.AST) -> clingo.Symbol | None:
    if term.ast_type == ast.ASTType.SymbolicTerm:
        symbol: clingo.Symbol = term.symbol
        return symbol
    if term.ast_type == ast.ASTType.Function and not term.arguments:
        return Function(term.name)
    return None


def _one_use(
    symbol: ast.AST,
    histories: Mapping[str, History],
    found: _Uses,
    where: str,
    criterion: str | None,
) -> None:
    name, arity = symbol.name, len(symbol.arguments)
    first = _constant(symbol.arguments[0]) if symbol.arguments else None
    is_history = (
        first is not None and first.type == clingo.SymbolType.Function and first.name in histories
    )
    if name in INEXACT and is_history:
        raise PolicyError(
            f"{where}: {name} over a history cannot be made exact: records the case does not "
            "state could add any amount (use count_at_least over a condition on the field)"
        )
    if name in UNSUPPORTED and is_history:
        raise PolicyError(
            f"{where}: {name}: runs of consecutive days over a history are not in the "
            "language yet (a record's date compared with another record's)"
        )
    if (name, arity) not in USES or not histories:
        return
    if not is_history:
        raise PolicyError(
            f"{where}: {name}/{arity}: the first argument must be a declared history "
            f"({', '.join(histories)}), not {symbol.arguments[0]}"
        )
    assert first is not None
    history = histories[first.name]
    arguments = [_constant(a) for a in symbol.arguments]
    for term, constant in zip(symbol.arguments, arguments, strict=True):
        if constant is None:
            raise PolicyError(f"{where}: {name}({history.name}, ...): {term} must be a constant")
    condition_at, field_at, count_at = USES[name, arity]
    condition = arguments[condition_at]
    assert condition is not None
    if condition.type != clingo.SymbolType.Function or condition.name not in history.conditions:
        raise PolicyError(
            f"{where}: {name}({history.name}, {condition}, ...): {condition} is not a "
            f"record_condition/3 of {history.name}"
        )
    found.read[history.name].add(condition.name)
    if criterion is not None:
        found.clauses[history.name].add(criterion)
        found.condition_clauses[history.name, condition.name].add(criterion)
    if name in ORDERS:
        _order_use(symbol, history, arguments, found, where, criterion)
    count = 1
    if count_at is not None:
        given = arguments[count_at]
        assert given is not None
        low = 0 if name == "count_at_most" else 1
        high = MAX_COUNT - 1 if name == "count_at_most" else MAX_COUNT
        if given.type != clingo.SymbolType.Number or not low <= given.number <= high:
            raise PolicyError(
                f"{where}: {name}({history.name}, {condition}, {given}): the count must be a "
                f"whole number from {low} to {high}"
            )
        count = given.number
    if name in ("count_at_least", "count_at_most"):
        found.counts[history.name].add((condition.name, count))
        if name == "count_at_most":
            found.counts[history.name].add((condition.name, count + 1))
    if field_at is not None:
        field_name = arguments[field_at]
        assert field_name is not None
        declared = (
            history.fields.get(field_name.name)
            if field_name.type == clingo.SymbolType.Function
            else None
        )
        if declared is None or declared.type is not FactType.ENUM:
            raise PolicyError(
                f"{where}: {name}({history.name}, {condition}, {field_name}, ...): "
                f"{field_name} is not an enum field of {history.name} (only an enum field "
                "is counted distinct exactly)"
            )
        found.distinct[history.name].add((condition.name, field_name.name, count))


def _order_use(
    symbol: ast.AST,
    history: History,
    arguments: Sequence[clingo.Symbol | None],
    found: _Uses,
    where: str,
    criterion: str | None,
) -> None:
    """latest_within(H, M, W) or earliest_within(H, M, W): W must test one date field only."""
    name = symbol.name
    window = arguments[2]
    assert window is not None and arguments[1] is not None
    condition = (
        history.conditions.get(window.name) if window.type == clingo.SymbolType.Function else None
    )
    fields = {t.field for t in condition.tests} if condition is not None else set()
    dated = len(fields) == 1 and history.fields[next(iter(fields))].type is FactType.DATE
    if condition is None or not dated:
        raise PolicyError(
            f"{where}: {name}({history.name}, {arguments[1]}, {window}): {window} must be a "
            f"record_condition/3 of {history.name} that tests one date field only (the window)"
        )
    found.read[history.name].add(window.name)
    if criterion is not None:
        found.condition_clauses[history.name, window.name].add(criterion)
    found.orders[history.name].add((arguments[1].name, window.name, ORDERS[name]))


def _with_orders(history: History, orders: set[tuple[str, str, str]]) -> History:
    """The history with a made condition for each end of each window that
    latest_within or earliest_within reads: records past that end."""
    conditions = dict(history.conditions)
    beyond: list[tuple[str, str, str]] = []
    for window, direction in sorted({(w, d) for _, w, d in orders}):
        declared = history.conditions[window]
        for number, test in enumerate(declared.tests, 1):
            past = test.past(direction == "latest")
            if past is None:
                continue
            made = f"kb_{direction}_{window}_{number}"
            side = "later" if direction == "latest" else "earlier"
            conditions[made] = Condition(
                made, history.name, f"{side} than {declared.text}", (past,)
            )
            beyond.append((window, direction, made))
    return replace(
        history, conditions=conditions, orders=tuple(sorted(orders)), beyond=tuple(beyond)
    )


def _with_classes(history: History, uses: _Uses) -> History:
    """The history with its cap, fields counted distinct and record classes."""
    history = _with_orders(history, uses.orders.get(history.name, set()))
    counts = [n for _, n in uses.counts.get(history.name, ())]
    distinct = tuple(sorted({f for _, f, _ in uses.distinct.get(history.name, ())}))
    cap = max([1, *counts])
    shaped = replace(
        history,
        cap=cap,
        distinct=distinct,
        thresholds=tuple(sorted(uses.counts.get(history.name, ()))),
        distinct_counts=tuple(sorted(uses.distinct.get(history.name, ()))),
        clauses=tuple(sorted(uses.clauses.get(history.name, ()))),
        condition_clauses={
            m: tuple(sorted(uses.condition_clauses.get((history.name, m), ())))
            for m in history.conditions
        },
    )
    keys = sorted(shaped.keys({}), key=lambda k: (sorted(k[0]), k[1]))
    classes = tuple(RecordClass(i, meets, options) for i, (meets, options) in enumerate(keys, 1))
    return replace(shaped, classes=classes)


# -- program --------------------------------------------------------------------------

LINKS_FILE = "<histories>"
"""Where the generated statements say they stand: analyses treat them as the core."""
_PLACE = ast.Position(LINKS_FILE, 1, 1)
_WHERE = ast.Location(_PLACE, _PLACE)


def _atom(name: str, arguments: Iterable[clingo.Symbol]) -> ast.AST:
    terms = [ast.SymbolicTerm(_WHERE, a) for a in arguments]
    return ast.SymbolicAtom(ast.Function(_WHERE, name, terms, 0))


def _literal(name: str, arguments: Iterable[clingo.Symbol]) -> ast.AST:
    return ast.Literal(_WHERE, ast.Sign.NoSign, _atom(name, arguments))


def _statements(histories: Iterable[History]) -> list[ast.AST]:
    """The facts and rules that link each history's boolean facts to the core."""
    statements: list[ast.AST] = []

    def fact(name: str, *arguments: clingo.Symbol) -> None:
        statements.append(ast.Rule(_WHERE, _literal(name, arguments), []))

    for count in range(MAX_COUNT + 1):
        fact("kb_history_next", Number(count), Number(count + 1))
    for history in histories:
        h = Function(history.name)
        for level in range(1, history.cap + 1):
            fact("kb_history_level", h, Number(level))
        for record_class in history.classes:
            c = Number(record_class.index)
            for condition in sorted(record_class.meets):
                fact("kb_history_matches", h, c, Function(condition))
            for field_name, option in record_class.options:
                fact("kb_history_field", h, c, Function(field_name), _option(option))
        for condition, count in history.thresholds:
            fact("kb_history_count", h, Function(condition), Number(count))
        for condition, window, direction in history.orders:
            fact("kb_history_order", h, Function(condition), Function(window), Function(direction))
            fact("kb_history_pair", h, Function(condition), Function(window))
            for ends, side, made in history.beyond:
                if (ends, side) == (window, direction):
                    fact("kb_history_pair", h, Function(condition), Function(made))
        for window, direction, made in history.beyond:
            fact("kb_history_beyond", h, Function(window), Function(direction), Function(made))
        for condition, field_name, count in history.distinct_counts:
            fact("kb_history_distinct", h, Function(condition), Function(field_name), Number(count))
        for record_class, level, name in history.level_facts():
            fact("fact", Function(name), Function("bool"))
            c, k = Number(record_class.index), Number(level)
            head = _literal("kb_history_has", [h, c, k])
            body = [
                _literal("value", [Function(name), Function("true")]),
                _literal("kb_history_possible", [h, c]),
            ]
            statements.append(ast.Rule(_WHERE, head, body))
    return statements


def _option(option: str) -> clingo.Symbol:
    return Number(int(option)) if option.lstrip("-").isdigit() else Function(option)


def history_symbols(policy: Policy, anchors: Mapping[str, int]) -> list[clingo.Symbol]:
    """kb_history_possible/2: the classes some record falls in at `anchors`
    (every class a record may fall in at some day, when `anchors` lack a
    reference date the history's tests move from)."""
    return [
        Function("kb_history_possible", [Function(h.name), Number(c.index)])
        for h in policy.histories.values()
        for c in h.possible(anchors)
    ]


def history_references(policy: Policy) -> dict[str, list[str]]:
    """Each reference date the histories' tests move from, and the histories."""
    found: dict[str, list[str]] = {}
    for history in policy.histories.values():
        for reference in history.references:
            found.setdefault(reference, []).append(history.name)
    return found
