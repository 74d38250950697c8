"""The comparisons a policy's rules make on its typed facts, and the regions
they divide each fact's values into.

Rules compare numbers, dates and codes only through the core predicates of
kb/core/typed.lp (at_least(bmi, 35), has_code_in(diagnoses, diabetes), ...).
A date may also be compared with a *reference date*, another date fact plus or
minus a duration (on_or_after(evaluation_date, date_of_service, months(-6))):
the reference date is a point of the case, so the regions of the compared
date are cut where the reference date, moved by the duration, falls. They
are read here from the parsed rules and checked when the policy loads:
a comparison on a fact of the wrong type, a threshold that is not a constant
of the fact's type, an undeclared code set, or a rule that reads a typed fact
through value/2 or compares fact values natively is refused with its file and
line. The regions become region/2 and satisfies/3 facts, built as clingo AST
from symbols.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import clingo
from clingo import Function, Number, ast

from policykb.bridge.loading.declarations import typed_constant
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.rules import location
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import Fact, FactType, Policy, cell_counts
from policykb.bridge.model.typed import (
    CALENDAR_STEPS,
    COMBINED,
    DURATION_UNITS,
    CodeCell,
    Cut,
    Duration,
    Interval,
    Step,
    code_cells,
    intervals,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from policykb.bridge.model.policy import Region
    from policykb.bridge.model.typed import Number as Limit

# (test name, arity of the rule atom) -> the fact types it applies to; the
# names are rules.TYPED_TESTS.
NUMBER = frozenset({FactType.INT, FactType.DECIMAL})
DATE = frozenset({FactType.DATE})
CODES = frozenset({FactType.CODE, FactType.CODE_LIST})
TESTS: dict[tuple[str, int], frozenset[FactType]] = {
    ("at_least", 2): NUMBER,
    ("at_most", 2): NUMBER,
    ("above", 2): NUMBER,
    ("below", 2): NUMBER,
    ("between", 3): NUMBER | DATE,
    ("on_or_after", 2): DATE,
    ("on_or_before", 2): DATE,
    ("after", 2): DATE,
    ("before", 2): DATE,
    ("has_code_in", 2): CODES,
    # A date against a reference date moved by a duration.
    ("on_or_after", 3): DATE,
    ("on_or_before", 3): DATE,
    ("after", 3): DATE,
    ("before", 3): DATE,
}
RELATIVE = frozenset({"on_or_after", "on_or_before", "after", "before"})
# Where each test puts its constant: values at or above (True) or above it.
CUTS = {
    "at_least": True,
    "on_or_after": True,
    "below": True,
    "before": True,
    "above": False,
    "after": False,
    "at_most": False,
    "on_or_before": False,
}


@dataclass(frozen=True)
class Comparison:
    """One test a rule makes on a typed fact, as satisfies/3 names it; for a
    date compared with a reference date, that date and the duration."""

    fact: str
    test: clingo.Symbol
    reference: str | None = None
    duration: Duration | None = None

    def limits(self, fact: Fact, anchors: Mapping[str, int]) -> list[Limit] | None:
        """The numbers (day numbers for dates) the test compares `fact` with;
        None for a reference date the anchors do not give."""
        if self.reference is None:
            found = [typed_constant(fact, argument) for argument in self.test.arguments]
            return [n for n in found if n is not None]
        if self.reference not in anchors:
            return None
        from datetime import date

        assert self.duration is not None
        return [self.duration.after(date.fromordinal(anchors[self.reference])).toordinal()]


def _step(term: ast.AST, sign: int) -> Step | None:
    """days(N), weeks(N) or months(N) with a whole number N (negated when
    `sign` is -1), month_start or month_end (not negated), or None."""
    if term.ast_type == ast.ASTType.SymbolicTerm:
        symbol = term.symbol
        if symbol.type != clingo.SymbolType.Function:
            return None
        if not symbol.arguments and symbol.name in CALENDAR_STEPS and symbol.positive:
            return Step.calendar(symbol.name) if sign == 1 else None
        if len(symbol.arguments) != 1:
            return None
        name, count = symbol.name, symbol.arguments[0]
    elif term.ast_type == ast.ASTType.Function and not term.arguments and not term.external:
        return Step.calendar(term.name) if term.name in CALENDAR_STEPS and sign == 1 else None
    elif term.ast_type == ast.ASTType.Function and len(term.arguments) == 1:
        name, count = term.name, _constant_symbol(term.arguments[0])
    else:
        return None
    if name not in DURATION_UNITS or count is None or count.type != clingo.SymbolType.Number:
        return None
    return Step(sign * count.number, name)


def _duration(term: ast.AST, sign: int = 1) -> Duration | None:
    """A duration as written: one step, or steps joined by + and -, each step
    optionally negated (months(3) - days(29), -weeks(2) + days(1)); the
    grounded form steps(...) too. None for anything else."""
    if term.ast_type == ast.ASTType.BinaryOperation and term.operator_type in (
        ast.BinaryOperator.Plus,
        ast.BinaryOperator.Minus,
    ):
        left = _duration(term.left, sign)
        right = _duration(
            term.right, -sign if term.operator_type == ast.BinaryOperator.Minus else sign
        )
        if left is None or right is None:
            return None
        return Duration(left.steps + right.steps)
    if term.ast_type == ast.ASTType.UnaryOperation and (
        term.operator_type == ast.UnaryOperator.Minus
    ):
        return _duration(term.argument, -sign)
    if (
        term.ast_type == ast.ASTType.SymbolicTerm
        and term.symbol.type == clingo.SymbolType.Function
        and term.symbol.name == COMBINED
    ):
        return Duration.parse(str(term.symbol)) if sign == 1 else None
    step = _step(term, sign)
    return Duration((step,)) if step is not None else None


def duration_symbol(duration: Duration) -> clingo.Symbol:
    """The grounded term of a duration of one step or more (Duration.term)."""
    steps = [
        Function(step.unit)
        if step.unit in CALENDAR_STEPS
        else Function(step.unit, [Number(step.count)])
        for step in duration.steps
    ]
    return steps[0] if len(steps) == 1 else Function(COMBINED, steps)


NOT_A_DURATION = (
    "the duration must be days(N), weeks(N) or months(N) with a whole number N, "
    "month_start or month_end, or such steps joined by + and - (months(3) - days(29), "
    "months(-12) + month_end; month_start and month_end are not negated)"
)


class _Durations(ast.Transformer):
    """Rewrites each combined duration of a comparison with a reference date
    (months(3) - days(29)) to the one term the grounded rules and the region
    facts share (steps(months(3), days(-29))); refuses one not well formed."""

    def __init__(self, where: str) -> None:
        self.where = where

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            return node
        if symbol.name == "condition_test" and len(symbol.arguments) == 3:
            return self._history_test(node)
        if symbol.name not in RELATIVE or len(symbol.arguments) != 3:
            return node
        written = symbol.arguments[2]
        if written.ast_type not in (ast.ASTType.BinaryOperation, ast.ASTType.UnaryOperation):
            return node
        duration = _duration(written)
        if duration is None or not duration.steps:
            raise PolicyError(
                f"{self.where}: {symbol.name}({symbol.arguments[0]}, {symbol.arguments[1]}, "
                f"{written}): {NOT_A_DURATION}"
            )
        term = ast.SymbolicTerm(written.location, duration_symbol(duration))
        arguments = [*symbol.arguments[:2], term]
        return node.update(symbol=symbol.update(arguments=arguments))

    def _history_test(self, node: ast.AST) -> ast.AST:
        """A record condition's relative date test, condition_test(C, date,
        on_or_before(date_of_service, months(-12) + month_end)): clingo would
        evaluate the sum of two terms as undefined and drop the whole fact
        without a word, so the duration is rewritten here like a rule's."""
        symbol = node.symbol
        test = symbol.arguments[2]
        if (
            test.ast_type != ast.ASTType.Function
            or test.name not in RELATIVE
            or len(test.arguments) != 2
        ):
            return node
        written = test.arguments[1]
        if written.ast_type not in (ast.ASTType.BinaryOperation, ast.ASTType.UnaryOperation):
            return node
        duration = _duration(written)
        if duration is None or not duration.steps:
            raise PolicyError(
                f"{self.where}: condition_test({symbol.arguments[0]}, {symbol.arguments[1]}, "
                f"{test.name}({test.arguments[0]}, {written})): {NOT_A_DURATION}"
            )
        term = ast.SymbolicTerm(written.location, duration_symbol(duration))
        moved = test.update(arguments=[test.arguments[0], term])
        return node.update(symbol=symbol.update(arguments=[*symbol.arguments[:2], moved]))


def written_durations(statements: Sequence[ast.AST]) -> list[ast.AST]:
    """The statements with every combined duration of the policy's own rules
    in its grounded form (PolicyError with file and line for one not well
    formed); the core's statements as they are."""
    core = {str(path) for path in core_files()}
    rewritten = []
    for statement in statements:
        if statement.ast_type == ast.ASTType.Rule and statement.location.begin.filename not in core:
            statement = _Durations(location(statement))(statement)
        rewritten.append(statement)
    return rewritten


def _constant_symbol(term: ast.AST) -> clingo.Symbol | None:
    if term.ast_type == ast.ASTType.SymbolicTerm:
        symbol: clingo.Symbol = term.symbol
        return symbol
    if term.ast_type == ast.ASTType.Function and not term.arguments:
        return Function(term.name)
    if (
        term.ast_type == ast.ASTType.UnaryOperation
        and term.operator_type == ast.UnaryOperator.Minus
        and term.argument.ast_type == ast.ASTType.SymbolicTerm
        and term.argument.symbol.type == clingo.SymbolType.Number
    ):
        return Number(-term.argument.symbol.number)
    return None


class _Reader(ast.Transformer):
    """Collects the comparisons of one statement and refuses what is unsound."""

    def __init__(self, policy: Policy, where: str) -> None:
        self.policy = policy
        self.where = where
        self.found: list[Comparison] = []

    def fail(self, message: str) -> PolicyError:
        return PolicyError(f"{self.where}: {message}")

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            return node
        if symbol.name == "value" and len(symbol.arguments) == 2:
            fact = _constant_symbol(symbol.arguments[0])
            declared = self.policy.facts.get(fact.name) if fact is not None else None
            if declared is not None and declared.type.typed:
                raise self.fail(
                    f"value({declared.name}, ...) reads a {declared.type.value} fact; compare "
                    "it with "
                    + ", ".join(sorted({n for (n, _), t in TESTS.items() if declared.type in t}))
                )
        if (symbol.name, len(symbol.arguments)) in TESTS:
            self.found.append(self._comparison(symbol))
        return node

    def _comparison(self, symbol: ast.AST) -> Comparison:
        name = symbol.name
        first = _constant_symbol(symbol.arguments[0])
        fact = (
            self.policy.facts.get(first.name)
            if first is not None and first.type == clingo.SymbolType.Function
            else None
        )
        if fact is None:
            raise self.fail(
                f"{name}/{len(symbol.arguments)}: the first argument must be a declared "
                f"fact, not {symbol.arguments[0]}"
            )
        kinds = TESTS[name, len(symbol.arguments)]
        if fact.type not in kinds:
            allowed = " or ".join(sorted(k.value for k in kinds))
            raise self.fail(f"{name} compares {allowed} facts; {fact.name} is {fact.type.value}")
        if name in RELATIVE:
            relative = self._relative(name, fact, symbol.arguments[1:])
            if relative is not None:
                return relative
        arguments = [_constant_symbol(term) for term in symbol.arguments[1:]]
        for term, constant in zip(symbol.arguments[1:], arguments, strict=True):
            if constant is None:
                raise self.fail(f"{name}({fact.name}, ...): {term} must be a constant")
            if fact.type in CODES:
                if (
                    constant.type != clingo.SymbolType.Function
                    or constant.name not in self.policy.code_sets
                ):
                    raise self.fail(
                        f"{name}({fact.name}, {constant}): no code set {constant} (code_set/2)"
                    )
            elif typed_constant(fact, constant) is None:
                expected = 'a date "YYYY-MM-DD"' if fact.type is FactType.DATE else "a number"
                raise self.fail(f"{name}({fact.name}, ...): {constant} is not {expected}")
        test = Function(name, [a for a in arguments if a is not None])
        return Comparison(fact.name, test)

    def _relative(self, name: str, fact: Fact, terms: Sequence[ast.AST]) -> Comparison | None:
        """A date compared with a reference date (the second argument names a
        date fact), moved by the duration of a third argument; None when the
        second argument is a constant."""
        second = _constant_symbol(terms[0])
        named = (
            second is not None
            and second.type == clingo.SymbolType.Function
            and not second.arguments
            and second.name in self.policy.facts
        )
        if not named:
            if len(terms) == 2:
                raise self.fail(
                    f"{name}({fact.name}, {terms[0]}, {terms[1]}): {terms[0]} must be a "
                    "declared date fact"
                )
            return None
        assert second is not None
        reference = self.policy.facts[second.name]
        if reference.type is not FactType.DATE:
            raise self.fail(
                f"{name}({fact.name}, {reference.name}, ...): {reference.name} is "
                f"{reference.type.value}; a date is compared with a date fact"
            )
        if reference.name == fact.name:
            raise self.fail(f"{name}({fact.name}, {fact.name}, ...) compares a date with itself")
        duration = Duration()
        if len(terms) == 2:
            found = _duration(terms[1])
            if found is None:
                raise self.fail(
                    f"{name}({fact.name}, {reference.name}, {terms[1]}): {NOT_A_DURATION}"
                )
            duration = found
        test = Function(
            name,
            [Function(reference.name)] + ([duration_symbol(duration)] if len(terms) == 2 else []),
        )
        return Comparison(fact.name, test, reference.name, duration)


def _native_comparisons(statement: ast.AST, policy: Policy, where: str) -> None:
    """Refuse a rule that orders a fact's value natively (V >= 35 after value(F, V)):
    fact values are names, so such a comparison is not arithmetic."""
    bound: dict[str, str] = {}
    for literal in statement.body:
        if (
            literal.ast_type != ast.ASTType.Literal
            or literal.atom.ast_type != ast.ASTType.SymbolicAtom
        ):
            continue
        symbol = literal.atom.symbol
        if (
            symbol.ast_type == ast.ASTType.Function
            and symbol.name == "value"
            and len(symbol.arguments) == 2
        ):
            fact = _constant_symbol(symbol.arguments[0])
            value = symbol.arguments[1]
            if (
                fact is not None
                and value.ast_type == ast.ASTType.Variable
                and fact.name in policy.facts
            ):
                bound[value.name] = fact.name
    ordering = {
        ast.ComparisonOperator.LessThan,
        ast.ComparisonOperator.LessEqual,
        ast.ComparisonOperator.GreaterThan,
        ast.ComparisonOperator.GreaterEqual,
    }
    for literal in statement.body:
        if (
            literal.ast_type == ast.ASTType.Literal
            and literal.atom.ast_type == ast.ASTType.Comparison
            # = and != compare names as names: only an order is misleading.
            and any(guard.comparison in ordering for guard in literal.atom.guards)
        ):
            names = {str(v) for v in _variables(literal.atom)}
            for variable in sorted(names & bound.keys()):
                raise PolicyError(
                    f"{where}: {literal} compares the value of fact {bound[variable]} as a "
                    "term; declare it int, decimal or date and use at_least, below, between, ..."
                )


def _variables(node: ast.AST) -> Iterable[str]:
    found: list[str] = []

    class Collect(ast.Transformer):
        def visit_Variable(self, variable: ast.AST) -> ast.AST:
            found.append(variable.name)
            return variable

    Collect()(node)
    return found


def comparisons_of(statements: Sequence[ast.AST], policy: Policy) -> list[Comparison]:
    """Every comparison the policy's own rules make, each checked (PolicyError
    with file and line otherwise)."""
    core = {str(path) for path in core_files()}
    found: dict[Comparison, None] = {}
    for statement in statements:
        if statement.ast_type != ast.ASTType.Rule:
            continue
        if statement.location.begin.filename in core:
            continue
        where = location(statement)
        reader = _Reader(policy, where)
        for literal in statement.body:
            reader(literal)
        _native_comparisons(statement, policy, where)
        found.update(dict.fromkeys(reader.found))
    return list(found)


def passes(fact: Fact, region: Region, comparison: Comparison, anchors: Mapping[str, int]) -> bool:
    """Whether every value of `region` passes the comparison (one value decides:
    regions agree), the reference dates at `anchors`."""
    test = comparison.test
    if isinstance(region, CodeCell):
        return test.arguments[0].name in region.inside
    assert isinstance(region, Interval)
    sample = region.representative(whole=fact.type is not FactType.DECIMAL)
    numbers = comparison.limits(fact, anchors)
    assert numbers is not None
    name = test.name
    if name == "between":
        low, high = numbers
        return low <= sample <= high
    limit = numbers[0]
    if name in ("at_least", "on_or_after"):
        return sample >= limit
    if name in ("at_most", "on_or_before"):
        return sample <= limit
    if name in ("above", "after"):
        return sample > limit
    return sample < limit


def with_regions(
    policy: Policy, comparisons: Sequence[Comparison], anchors: Mapping[str, int]
) -> Policy:
    """The policy with the regions of each typed fact, from the comparisons
    (those with a reference date only where `anchors` give its day)."""
    facts = dict(policy.facts)
    for name, fact in policy.facts.items():
        if not fact.type.typed:
            continue
        tests = [c for c in comparisons if c.fact == name]
        if fact.type.numeric:
            cuts = []
            for comparison in tests:
                numbers = comparison.limits(fact, anchors)
                if numbers is None:
                    continue
                if comparison.test.name == "between":
                    low, high = numbers
                    cuts += [Cut(low, True), Cut(high, False)]
                else:
                    cuts.append(Cut(numbers[0], CUTS[comparison.test.name]))
            whole = fact.type is not FactType.DECIMAL
            regions: tuple[Region, ...] = tuple(intervals(fact.low, fact.high, cuts, whole))
            facts[name] = replace(fact, regions=regions)
        else:
            names = sorted({c.test.arguments[0].name for c in tests})
            sets = tuple(policy.code_sets[n] for n in names)
            cells = tuple(code_cells(fact.system, sets))
            facts[name] = replace(fact, code_sets=sets, regions=cells)
    return replace(policy, facts=facts)


def domain_of(fact: Fact) -> list[tuple[int, Region]]:
    """The regions a scenario may give `fact`, numbered as region/2 numbers them
    (a code list's value is a set of cells in some compared code set)."""
    return [
        (index, region)
        for index, region in enumerate(fact.regions)
        if fact.type is not FactType.CODE_LIST or cell_counts(region)
    ]


def region_symbols(
    policy: Policy, comparisons: Sequence[Comparison], anchors: Mapping[str, int]
) -> list[clingo.Symbol]:
    """region/2 and satisfies/3 facts for every typed fact of `policy` (a test
    against a reference date only where `anchors` give its day)."""
    symbols: list[clingo.Symbol] = []
    for name, fact in policy.facts.items():
        if not fact.type.typed:
            continue
        tests = [
            c
            for c in comparisons
            if c.fact == name and (c.reference is None or c.reference in anchors)
        ]
        for index, region in domain_of(fact):
            symbols.append(Function("region", [Function(name), Number(index)]))
            symbols += [
                Function("satisfies", [Function(name), Number(index), c.test])
                for c in tests
                if passes(fact, region, c, anchors)
            ]
    return symbols


def references(comparisons: Iterable[Comparison]) -> dict[str, list[str]]:
    """Each reference date and the dates the rules compare with it."""
    found: dict[str, list[str]] = {}
    for comparison in comparisons:
        if comparison.reference is not None:
            compared = found.setdefault(comparison.reference, [])
            if comparison.fact not in compared:
                compared.append(comparison.fact)
    return found


_PLACE = ast.Position("<regions>", 1, 1)
_WHERE = ast.Location(_PLACE, _PLACE)


def fact_statements(symbols: Iterable[clingo.Symbol]) -> list[ast.AST]:
    """Facts as program statements, built from symbols with clingo's AST
    constructors (so renamed copies of the program rename them too)."""
    statements = []
    for symbol in symbols:
        arguments = [ast.SymbolicTerm(_WHERE, argument) for argument in symbol.arguments]
        atom = ast.SymbolicAtom(ast.Function(_WHERE, symbol.name, arguments, 0))
        statements.append(ast.Rule(_WHERE, ast.Literal(_WHERE, ast.Sign.NoSign, atom), []))
    return statements
