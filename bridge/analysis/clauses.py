"""Findings about clause/2 (kind `clause`): a criterion whose rules read a
fact that names neither it nor a criterion it is part of among its clauses.

`clause(Fact, Id)` lists the criteria whose rules ask for Fact: a question
for a missing Fact names them, and an explanation resting on Fact cites the
one that decides the case (bridge/model/citing.py). A criterion left out of
the list is never named for Fact: a denial that turns on it cites another
criterion, or an empty one when Fact has no clause at all. This check reads
the policy's rules as written: each `met(Id)` rule, the facts its body
compares (value/2, holds/1, fails/1, known/1 and the typed tests, every
argument of these that names a declared fact, so both dates of a
comparison of two dates), and the facts read by the policy's own helper
predicates it uses (`_high_risk`, say), followed to any depth; a fact given
as an argument to a helper that compares that argument (`_positive(fobt)`
with `_positive(F) :- holds(F)`) is read too. A derived fact
(product/3, ratio/3) is read through its operands: they are what the
questions ask for, so they too list the criterion. A clause naming a
criterion the reader is part of covers it (`clause(age, "(6)(a)")` for the
rules of (6)(a)(i) and (6)(a)(ii)): the question names the whole. A part's
`met(Other)` is the part's own: its facts are Other's to list; so are a
heading's (`section/1`, the core predicates), whose facts list "heading".

Not read here: facts a rule reaches through a variable (any fact may be
meant), history records, and reference dates (their windows' clauses are
the history's; bridge/loading/history_uses.py).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from clingo import ast

from policykb.bridge.analysis.findings import Finding, Kind
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.history_links import LINKS_FILE
from policykb.bridge.loading.rules import (
    FACT_READERS,
    TYPED_TESTS,
    constant_name,
    short_location,
)
from policykb.bridge.model.policy import Policy
from policykb.bridge.solving.evaluator import Evaluator

Signature = tuple[str, int]
"""A predicate: its name and arity."""


def _variable(term: ast.AST) -> str | None:
    return str(term.name) if term.ast_type == ast.ASTType.Variable else None


def _atom(literal: ast.AST) -> ast.AST | None:
    """The `name(arguments)` term of a positive or negated atom; None otherwise."""
    if literal.ast_type != ast.ASTType.Literal:
        return None
    if literal.atom.ast_type != ast.ASTType.SymbolicAtom:
        return None
    symbol = literal.atom.symbol
    return symbol if symbol.ast_type == ast.ASTType.Function else None


@dataclass
class _Body:
    """What one rule body reads: the declared facts it names as constants,
    the variables it compares as facts, and the other predicates it uses
    with their arguments."""

    facts: set[str] = field(default_factory=set)
    fact_variables: set[str] = field(default_factory=set)
    calls: list[tuple[Signature, tuple[ast.AST, ...]]] = field(default_factory=list)


class _BodyReader(ast.Transformer):
    def __init__(self, declared: set[str]) -> None:
        self.declared = declared
        self.body = _Body()

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            return node
        arguments = tuple(symbol.arguments)
        if symbol.name in FACT_READERS and arguments:
            for argument in arguments if symbol.name in TYPED_TESTS else arguments[:1]:
                name = constant_name(argument)
                if name is not None and name in self.declared:
                    self.body.facts.add(name)
                elif (variable := _variable(argument)) is not None:
                    self.body.fact_variables.add(variable)
        else:
            self.body.calls.append(((str(symbol.name), len(arguments)), arguments))
        return node


def _read_body(statement: ast.AST, declared: set[str]) -> _Body:
    reader = _BodyReader(declared)
    for literal in statement.body:
        reader(literal)
    return reader.body


class _Predicates(ast.Transformer):
    """Every predicate a program names, in heads and bodies."""

    def __init__(self) -> None:
        self.names: set[Signature] = set()

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        if node.symbol.ast_type == ast.ASTType.Function:
            self.names.add((str(node.symbol.name), len(node.symbol.arguments)))
        return node


def _criterion(head: ast.AST) -> str | None:
    """Id of a `met(Id)` head; None for any other head."""
    symbol = _atom(head)
    if symbol is None or symbol.name != "met" or len(symbol.arguments) != 1:
        return None
    argument = symbol.arguments[0]
    if argument.ast_type == ast.ASTType.SymbolicTerm and argument.symbol.type.name == "String":
        return str(argument.symbol.string)
    return None


@dataclass
class _Helper:
    """One rule of a helper predicate: its head's arguments and its body."""

    head: tuple[ast.AST, ...]
    body: _Body


class _HelperReads:
    """The facts the policy's own helper predicates read."""

    def __init__(self, helpers: dict[Signature, list[_Helper]], declared: set[str]) -> None:
        self.helpers = helpers
        self.declared = declared
        self.fact_positions = self._fact_positions()

    def _fact_positions(self) -> dict[Signature, set[int]]:
        """For each helper, the argument positions it compares as a fact,
        itself or through the helpers it passes them to (a fixpoint)."""
        positions: dict[Signature, set[int]] = defaultdict(set)
        changed = True
        while changed:
            changed = False
            for signature, rules in self.helpers.items():
                for rule in rules:
                    compared = set(rule.body.fact_variables)
                    for called, arguments in rule.body.calls:
                        for index in positions.get(called, ()):
                            if (variable := _variable(arguments[index])) is not None:
                                compared.add(variable)
                    for index, argument in enumerate(rule.head):
                        variable = _variable(argument)
                        if variable in compared and index not in positions[signature]:
                            positions[signature].add(index)
                            changed = True
        return positions

    def _given(self, body: _Body) -> set[str]:
        """The declared facts a body gives as arguments to helpers that compare them."""
        facts = set()
        for called, arguments in body.calls:
            for index in self.fact_positions.get(called, ()):
                name = constant_name(arguments[index])
                if name is not None and name in self.declared:
                    facts.add(name)
        return facts

    def facts_of(self, body: _Body) -> set[str]:
        """The facts a body reads, itself or through helpers, to any depth."""
        facts = body.facts | self._given(body)
        seen: set[Signature] = set()
        waiting = [called for called, _ in body.calls if called in self.helpers]
        while waiting:
            signature = waiting.pop()
            if signature in seen:
                continue
            seen.add(signature)
            for helper in self.helpers[signature]:
                facts |= helper.body.facts | self._given(helper.body)
                waiting += [called for called, _ in helper.body.calls if called in self.helpers]
        return facts


def _with_operands(policy: Policy, facts: set[str]) -> dict[str, str | None]:
    """Each fact read -> None, and each operand of a derived fact read -> that fact."""
    read: dict[str, str | None] = dict.fromkeys(facts)
    for use in policy.arithmetic:
        if use.fact in facts:
            for operand in use.operands:
                read.setdefault(operand, use.fact)
    return read


def _covering(policy: Policy, criterion: str) -> set[str]:
    """The criterion and every criterion it is part of, to any depth."""
    found, waiting = set(), [criterion]
    while waiting:
        ident = waiting.pop()
        if ident not in found:
            found.add(ident)
            if ident in policy.criteria:
                waiting += policy.criteria[ident].parents
    return found


def clause_findings(evaluator: Evaluator) -> list[Finding]:
    """A vocabulary finding for each criterion and fact its rules read that
    `clause(Fact, Criterion)` does not list, at the first rule that reads it."""
    policy = evaluator.policy
    declared = set(policy.facts)
    core = {str(path) for path in core_files()} | {LINKS_FILE}
    core_predicates = _Predicates()
    helpers: dict[Signature, list[_Helper]] = defaultdict(list)
    criteria: list[tuple[str, ast.AST, _Body]] = []
    for statement in evaluator.statements:
        if statement.location.begin.filename in core:
            core_predicates(statement)
            continue
        if statement.ast_type != ast.ASTType.Rule:
            continue
        body = _read_body(statement, declared)
        criterion = _criterion(statement.head)
        if criterion is not None:
            criteria.append((criterion, statement, body))
        elif (symbol := _atom(statement.head)) is not None:
            signature = (str(symbol.name), len(symbol.arguments))
            helpers[signature].append(_Helper(tuple(symbol.arguments), body))
    for signature in core_predicates.names | {("met", 1)}:
        helpers.pop(signature, None)
    reads = _HelperReads(dict(helpers), declared)

    findings: list[Finding] = []
    said: set[tuple[str, str]] = set()
    for criterion, statement, body in criteria:
        covering = _covering(policy, criterion)
        read = _with_operands(policy, reads.facts_of(body))
        for fact in sorted(read):
            if covering & set(policy.facts[fact].clauses) or (fact, criterion) in said:
                continue
            said.add((fact, criterion))
            where = short_location(statement)
            listed = ", ".join(policy.facts[fact].clauses) or "none"
            derived = read[fact]
            how = f" (an operand of {derived!r}, which it compares)" if derived else ""
            findings.append(
                Finding(
                    Kind.CLAUSE,
                    (criterion,),
                    f"{where}: the rule for {criterion} reads the fact {fact!r}{how}, but "
                    f"clause({fact}, {criterion!r}) is missing (its clauses: {listed}): a "
                    f"question for {fact} does not name {criterion}, nor does an "
                    "explanation resting on it",
                    location=where,
                )
            )
    return findings
