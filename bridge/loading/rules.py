"""Static analysis of a policy program: which rules read which facts.

Works on the parsed (non-ground) program, so it sees the rules as the analyst
wrote them: the predicate each rule defines, the predicates it reads, and the
facts it names (value/2, holds/1, fails/1, known/1 with a constant first
argument).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from clingo import ast

TYPED_TESTS = frozenset(
    {
        "at_least",
        "at_most",
        "above",
        "below",
        "between",
        "on_or_after",
        "on_or_before",
        "after",
        "before",
        "has_code_in",
    }
)
"""The core predicates that compare a number, date or code fact (kb/core/typed.lp)."""
FACT_READERS = {"value", "holds", "fails", "known", *TYPED_TESTS}
ANY_FACT = "*"
"""In RuleInfo.facts: a policy rule reads a fact through a variable
(#count { F : holds(F) }), so it may read any fact."""


@dataclass(frozen=True)
class RuleInfo:
    """One rule: what it defines, what it reads, where it stands."""

    head: str | None
    head_args: tuple[str, ...]
    body: frozenset[str]
    facts: frozenset[str]
    choice: bool
    location: str


def _atom_of(literal: ast.AST) -> ast.AST | None:
    if (
        literal.ast_type == ast.ASTType.Literal
        and literal.atom.ast_type == ast.ASTType.SymbolicAtom
    ):
        symbol: ast.AST = literal.atom.symbol
        return symbol
    return None


def constant_name(term: ast.AST) -> str | None:
    """The name a term states as a constant (`bmi`, `"A1"` as clingo prints
    it); None for a variable, number or compound term."""
    if term.ast_type == ast.ASTType.SymbolicTerm:
        return str(term.symbol)
    if term.ast_type == ast.ASTType.Function and not term.arguments:
        return str(term.name)
    return None


class _BodyCollector(ast.Transformer):
    def __init__(self, core: bool = False) -> None:
        self.predicates: set[str] = set()
        self.facts: set[str] = set()
        self.core = core  # the core's own rules read facts through variables by design

    def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
        symbol = node.symbol
        if symbol.ast_type == ast.ASTType.Function:
            self.predicates.add(symbol.name)
            if symbol.name in FACT_READERS and symbol.arguments:
                fact = constant_name(symbol.arguments[0])
                if fact is not None:
                    self.facts.add(fact)
                elif not self.core:
                    self.facts.add(ANY_FACT)
        return node


def rules_of(statements: Iterable[ast.AST]) -> list[RuleInfo]:
    """The rules of a parsed program, each with what it defines and reads."""
    from policykb.bridge.loading.files import core_files

    core = {str(path) for path in core_files()}
    rules: list[RuleInfo] = []
    for statement in statements:
        if statement.ast_type != ast.ASTType.Rule:
            continue
        collector = _BodyCollector(core=statement.location.begin.filename in core)
        for literal in statement.body:
            collector(literal)
        head = statement.head
        name: str | None = None
        args: tuple[str, ...] = ()
        choice = head.ast_type != ast.ASTType.Literal
        atom = _atom_of(head) if not choice else None
        if atom is not None and atom.ast_type == ast.ASTType.Function:
            name = atom.name
            args = tuple(str(a) for a in atom.arguments)
        elif choice:
            inner = _BodyCollector()
            inner(head)
            name = next(iter(sorted(inner.predicates)), None)
        rules.append(
            RuleInfo(
                head=name,
                head_args=args,
                body=frozenset(collector.predicates),
                facts=frozenset(collector.facts),
                choice=choice,
                location=location(statement),
            )
        )
    return rules


def location(statement: ast.AST) -> str:
    """Where a statement is written: FILE:LINE, the file as clingo loaded it."""
    begin = statement.location.begin
    return f"{begin.filename}:{begin.line}"


def short_location(statement: ast.AST) -> str:
    """Where a statement is written, by the file's name only: NAME:LINE."""
    begin = statement.location.begin
    return f"{Path(begin.filename).name}:{begin.line}"


def depends_on(rules: Sequence[RuleInfo], roots: Iterable[str]) -> set[str]:
    """The predicates that `roots` depend on, through rule bodies (roots included)."""
    reads: dict[str, set[str]] = {}
    for rule in rules:
        if rule.head is not None:
            reads.setdefault(rule.head, set()).update(rule.body)
    seen: set[str] = set()
    stack = list(roots)
    while stack:
        predicate = stack.pop()
        if predicate not in seen:
            seen.add(predicate)
            stack.extend(reads.get(predicate, ()))
    return seen


def decision_facts(rules: Sequence[RuleInfo]) -> set[str]:
    """The facts named by the rules that the verdict depends on (ANY_FACT
    among them when such a rule reads a fact through a variable)."""
    relevant = depends_on(rules, ["verdict", "covered"])
    return {fact for rule in rules if rule.head in relevant for fact in rule.facts}
