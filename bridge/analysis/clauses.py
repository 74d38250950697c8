"""Findings about clause/2: a criterion whose rules read a fact that names
neither it nor a criterion it is part of among its clauses.

`clause(Fact, Id)` lists the criteria whose rules ask for Fact: a question
for a missing Fact names them, and an explanation resting on Fact cites the
one that decides the case (bridge/model/citing.py). A criterion left out of
the list is never named for Fact: a denial that turns on it cites another
criterion, or an empty one when Fact has no clause at all. This check reads
the policy's rules as written: each `met(Id)` rule, the facts its body
compares (value/2, holds/1, fails/1, known/1 and the typed tests, every
argument of these that names a declared fact, so both dates of a
comparison of two dates), and the facts read by the policy's own helper
predicates it uses (`_high_risk`, say), followed to any depth. A clause
naming a criterion the reader is part of covers it (`clause(age, "(6)(a)")`
for the rules of (6)(a)(i) and (6)(a)(ii)): the question names the whole.
A part's `met(Other)` is the part's own: its facts are Other's to list.

Not read here: facts a rule reaches through a variable (any fact may be
meant), history records, and reference dates (their windows' clauses are
the history's; bridge/loading/history_uses.py).
"""

from __future__ import annotations

from collections import defaultdict

from clingo import ast

from policykb.bridge.analysis.findings import Finding, Kind
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.history_links import LINKS_FILE
from policykb.bridge.loading.rules import FACT_READERS, TYPED_TESTS, short_location
from policykb.bridge.solving.evaluator import Evaluator


def _constant(term: ast.AST) -> str | None:
    if term.ast_type == ast.ASTType.SymbolicTerm:
        return str(term.symbol)
    if term.ast_type == ast.ASTType.Function and not term.arguments:
        return str(term.name)
    return None


class _Reads(ast.Transformer):
    """The facts a rule body names, and the predicates it reads."""

    def __init__(self, declared: set[str]) -> None:
        self.declared = declared
        self.facts: set[str] = set()
        self.predicates: set[str] = set()

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            return node
        self.predicates.add(str(symbol.name))
        if symbol.name in FACT_READERS and symbol.arguments:
            arguments = symbol.arguments if symbol.name in TYPED_TESTS else symbol.arguments[:1]
            for argument in arguments:
                name = _constant(argument)
                if name is not None and name in self.declared:
                    self.facts.add(name)
        return node


def _criterion(head: ast.AST) -> str | None:
    """Id of a `met(Id)` head; None for any other head."""
    if head.ast_type != ast.ASTType.Literal or head.atom.ast_type != ast.ASTType.SymbolicAtom:
        return None
    symbol = head.atom.symbol
    if symbol.ast_type != ast.ASTType.Function or symbol.name != "met" or len(symbol.arguments) != 1:
        return None
    argument = symbol.arguments[0]
    if argument.ast_type == ast.ASTType.SymbolicTerm and argument.symbol.type.name == "String":
        return str(argument.symbol.string)
    return None


def _head_name(head: ast.AST) -> str | None:
    if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == ast.ASTType.SymbolicAtom:
        symbol = head.atom.symbol
        if symbol.ast_type == ast.ASTType.Function:
            return str(symbol.name)
    return None


def clause_findings(evaluator: Evaluator) -> list[Finding]:
    """A vocabulary finding for each criterion and fact its rules read that
    `clause(Fact, Criterion)` does not list, at the first rule that reads it."""
    policy = evaluator.policy
    declared = set(policy.facts)
    core = {str(path) for path in core_files()} | {LINKS_FILE}
    helpers: dict[str, list[_Reads]] = defaultdict(list)
    criteria: list[tuple[str, ast.AST, _Reads]] = []
    for statement in evaluator.statements:
        if statement.ast_type != ast.ASTType.Rule:
            continue
        if statement.location.begin.filename in core:
            continue
        reads = _Reads(declared)
        for literal in statement.body:
            reads(literal)
        criterion = _criterion(statement.head)
        if criterion is not None:
            criteria.append((criterion, statement, reads))
        elif (name := _head_name(statement.head)) is not None and name != "met":
            helpers[name].append(reads)

    def through_helpers(reads: _Reads) -> set[str]:
        facts = set(reads.facts)
        seen: set[str] = set()
        waiting = [p for p in reads.predicates if p in helpers]
        while waiting:
            name = waiting.pop()
            if name in seen:
                continue
            seen.add(name)
            for helper in helpers[name]:
                facts |= helper.facts
                waiting += [p for p in helper.predicates if p in helpers]
        return facts

    def covering(criterion: str) -> set[str]:
        """The criterion and every criterion it is part of, to any depth."""
        found, waiting = set(), [criterion]
        while waiting:
            ident = waiting.pop()
            if ident not in found:
                found.add(ident)
                if ident in policy.criteria:
                    waiting += policy.criteria[ident].parents
        return found

    findings: list[Finding] = []
    said: set[tuple[str, str]] = set()
    for criterion, statement, reads in criteria:
        for fact in sorted(through_helpers(reads)):
            if covering(criterion) & set(policy.facts[fact].clauses) or (fact, criterion) in said:
                continue
            said.add((fact, criterion))
            where = short_location(statement)
            listed = ", ".join(policy.facts[fact].clauses) or "none"
            findings.append(
                Finding(
                    Kind.VOCABULARY,
                    (criterion,),
                    f"{where}: the rule for {criterion} reads the fact {fact!r}, but "
                    f"clause({fact}, {criterion!r}) is missing (its clauses: {listed}): a "
                    f"question for {fact} does not name {criterion}, nor does an "
                    "explanation resting on it",
                    location=where,
                )
            )
    return findings
