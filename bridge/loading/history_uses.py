"""Reading what a policy's rules ask of its histories (kb/core/history.lp).

The uses (exists/2, none/2, count_at_least/3, count_at_most/3,
distinct_at_least/4, latest_within/3, earliest_within/3, latest_meets/3,
earliest_meets/3, sum_at_least/4, follows_within/5, run_at_least/4) are read
from the parsed rules outside the core. A use whose first argument is not a
declared history, whose arguments are not constants or name no condition of
the history, or that cannot be answered exactly, is refused with a
PolicyError giving the rule's file and line. `Uses` gathers, per history,
what its record classes must tell apart (loading/histories.py builds them).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.declaration_atoms import symbol_text
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.history_orders import MEETS, Written, written_use
from policykb.bridge.loading.history_pairs import PAIRS, WrittenPair, written_pair
from policykb.bridge.loading.history_runs import RUNS, WrittenRun, written_run
from policykb.bridge.loading.history_sums import SUMS, WrittenSum, written_sum
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import MAX_COUNT, History
from policykb.bridge.model.policy import FactType

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
    ("latest_meets", 3): (1, None, None),
    ("earliest_meets", 3): (1, None, None),
    ("sum_at_least", 4): (1, None, None),
    ("follows_within", 5): (1, None, None),
    ("run_at_least", 4): (1, None, None),
}
ORDERS = {"latest_within": "latest", "earliest_within": "earliest"}
# Sums bounded above: the extra records of a partial history could add any
# amount, so only a complete history decides them; refused rather than
# answered inexactly (sum_at_least is exact: loading/history_sums.py).
INEXACT = {"sum_at_most", "sum_above", "sum_below"}
# Not in the language yet: a run of consecutive days compares records' dates
# with each other, which record classes do not tell.
UNSUPPORTED = {"run_at_most"}


class Uses:
    """What the rules ask of each history: count thresholds, fields counted
    distinct and the criteria whose rules read it."""

    def __init__(self) -> None:
        self.counts: dict[str, set[tuple[str, int]]] = defaultdict(set)
        self.distinct: dict[str, set[tuple[str, str, int]]] = defaultdict(set)
        self.read: dict[str, set[str]] = defaultdict(set)
        self.clauses: dict[str, set[str]] = defaultdict(set)
        self.condition_clauses: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.orders: dict[str, set[tuple[str, str, str]]] = defaultdict(set)
        self.meets: dict[str, set[Written]] = defaultdict(set)
        self.sums: dict[str, set[WrittenSum]] = defaultdict(set)
        self.pairs: dict[str, set[WrittenPair]] = defaultdict(set)
        self.runs: dict[str, set[WrittenRun]] = defaultdict(set)


def read_uses(parsed: Sequence[ast.AST], histories: Mapping[str, History]) -> Uses:
    """What the rules outside the core ask of `histories`; PolicyError with
    the rule's file and line for a use that is wrong or cannot be exact."""
    core = {str(path) for path in core_files()}
    found = Uses()
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
            return symbol_text(argument.symbol)
    return None


def _constant(term: ast.AST) -> clingo.Symbol | None:
    if term.ast_type == ast.ASTType.SymbolicTerm:
        symbol: clingo.Symbol = term.symbol
        return symbol
    if term.ast_type == ast.ASTType.Function and not term.arguments:
        return Function(term.name)
    if term.ast_type == ast.ASTType.Function and not term.external:
        # A duration such as days(30) or months(-6): constant arguments only.
        arguments = [_constant(a) for a in term.arguments]
        if all(a is not None for a in arguments):
            return Function(term.name, [a for a in arguments if a is not None])
        return None
    if (
        term.ast_type == ast.ASTType.UnaryOperation
        and term.operator_type == ast.UnaryOperator.Minus
        and term.argument.ast_type == ast.ASTType.SymbolicTerm
        and term.argument.symbol.type == clingo.SymbolType.Number
    ):
        return Number(-term.argument.symbol.number)
    return None


def _one_use(
    symbol: ast.AST,
    histories: Mapping[str, History],
    found: Uses,
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
            "state could add any amount (use sum_at_least, or not sum_at_least)"
        )
    if name in UNSUPPORTED and is_history:
        raise PolicyError(
            f"{where}: {name}: a run bounded above over a history cannot be made exact: "
            "records the case does not state could lengthen it (use not run_at_least)"
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
    if name in SUMS:
        found.sums[history.name].add(written_sum(history, arguments, where, criterion))
    if name in RUNS:
        found.runs[history.name].add(written_run(history, arguments, where, criterion))
    if name in PAIRS:
        pair = written_pair(history, arguments, where, criterion)
        found.pairs[history.name].add(pair)
        found.read[history.name].add(pair.then)
        if criterion is not None:
            found.condition_clauses[history.name, pair.then].add(criterion)
    if name in MEETS:
        written = written_use(name, history, arguments, where, criterion)
        found.meets[history.name].add(written)
        found.read[history.name].add(written.test)
        if criterion is not None:
            found.condition_clauses[history.name, written.test].add(criterion)
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
    found: Uses,
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
