"""Translate a policy's ASP rules into a Prolog module, for the second engine.

The policy keeps one source of truth: the Prolog program is generated from
the parsed ASP statements (core + policy), never written by hand. Normal rules
and facts become Prolog clauses over predicates renamed asp_<name>, with the
positive literals first, then comparisons, then count aggregates, then
negations (`\\+`), so every negated goal is ground when it is called, as ASP's
safety guarantees. A count aggregate (`#count { C : part_of(C, P), met(C) }
>= K`, or `2 { met(C) : part_of(C, P) }`) becomes kb_count(Elements, Guards),
which prove.pl evaluates in three values: the count lies between the tuples
that hold and those that hold or are unknown. Choice
rules, which span the scenario space, are left out: in Prolog the case itself
supplies value/2 and known/1 (see prove.pl), and the prover splits on unknown
facts. Constraints are left out too: they only restrict which scenarios exist.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import clingo
from clingo import ast

from policykb.bridge.loading.rules import RuleInfo, depends_on, location
from policykb.bridge.model.errors import ProofUnsupported

PREFIX = "asp_"
CASE_PREDICATES = {"value", "known"}
_BARE_ATOM = re.compile(r"[a-z][A-Za-z0-9_]*")
_AGGREGATE_GUARD = {
    ast.ComparisonOperator.Equal: "=",
    ast.ComparisonOperator.NotEqual: "\\=",
    ast.ComparisonOperator.LessThan: "<",
    ast.ComparisonOperator.LessEqual: "=<",
    ast.ComparisonOperator.GreaterThan: ">",
    ast.ComparisonOperator.GreaterEqual: ">=",
}
# A left guard `L op count` read as `count op' L`.
_FLIPPED = {"=": "=", "\\=": "\\=", "<": ">", "=<": ">=", ">": "<", ">=": "=<"}
_COMPARISON = {
    ast.ComparisonOperator.Equal: "=",
    ast.ComparisonOperator.NotEqual: "\\==",
    ast.ComparisonOperator.LessThan: "@<",
    ast.ComparisonOperator.LessEqual: "@=<",
    ast.ComparisonOperator.GreaterThan: "@>",
    ast.ComparisonOperator.GreaterEqual: "@>=",
}


def prolog_atom(name: str) -> str:
    """An atom in Prolog syntax, quoted unless it is a plain lower-case name."""
    if _BARE_ATOM.fullmatch(name):
        return name
    return "'" + name.replace("\\", "\\\\").replace("'", "\\'") + "'"


def prolog_string(text: str) -> str:
    """A string in Prolog syntax (double quotes, escaped)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped + '"'


def prolog_symbol(symbol: clingo.Symbol) -> str:
    """A clingo symbol as a Prolog term."""
    if symbol.type == clingo.SymbolType.Number:
        return str(symbol.number)
    if symbol.type == clingo.SymbolType.String:
        return prolog_string(symbol.string)
    if symbol.type == clingo.SymbolType.Function and symbol.name:
        if not symbol.arguments:
            return prolog_atom(symbol.name)
        args = ", ".join(prolog_symbol(a) for a in symbol.arguments)
        return f"{prolog_atom(symbol.name)}({args})"
    raise ProofUnsupported(f"the Prolog translation does not support the term {symbol}")


@dataclass
class _Translator:
    where: str = ""

    def unsupported(self, what: str) -> ProofUnsupported:
        return ProofUnsupported(f"{self.where}: the Prolog translation does not support {what}")

    def term(self, node: ast.AST) -> str:
        kind = node.ast_type
        if kind == ast.ASTType.SymbolicTerm:
            return prolog_symbol(node.symbol)
        if kind == ast.ASTType.Variable:
            return str(node.name)
        if (
            kind == ast.ASTType.UnaryOperation
            and node.operator_type == ast.UnaryOperator.Minus
            and node.argument.ast_type == ast.ASTType.SymbolicTerm
            and node.argument.symbol.type == clingo.SymbolType.Number
        ):
            return str(-node.argument.symbol.number)  # a negative number, as in months(-6)
        if kind == ast.ASTType.Function and node.name and not node.external:
            if not node.arguments:
                return prolog_atom(node.name)
            args = ", ".join(self.term(a) for a in node.arguments)
            return f"{prolog_atom(node.name)}({args})"
        raise self.unsupported(f"the term {node}")

    def atom(self, node: ast.AST) -> str:
        symbol = node.symbol
        if symbol.ast_type != ast.ASTType.Function:
            raise self.unsupported(f"the atom {node}")
        name = prolog_atom(PREFIX + symbol.name)
        if not symbol.arguments:
            return name
        return f"{name}({', '.join(self.term(a) for a in symbol.arguments)})"

    def literal(self, node: ast.AST) -> tuple[int, str]:
        """A body literal with its place: 0 positive, 1 comparison, 2 count
        aggregate, 3 negated."""
        if node.ast_type != ast.ASTType.Literal:
            raise self.unsupported(f"the body element {node}")
        atom = node.atom
        if atom.ast_type == ast.ASTType.SymbolicAtom:
            if node.sign == ast.Sign.NoSign:
                return 0, self.atom(atom)
            if node.sign == ast.Sign.Negation:
                return 3, f"\\+ {self.atom(atom)}"
            raise self.unsupported(f"double negation in {node}")
        if atom.ast_type in (ast.ASTType.BodyAggregate, ast.ASTType.Aggregate):
            count = self.count(atom)
            if node.sign == ast.Sign.NoSign:
                return 2, count
            if node.sign == ast.Sign.Negation:
                return 3, f"\\+ {count}"
            raise self.unsupported(f"double negation in {node}")
        if atom.ast_type == ast.ASTType.Comparison and node.sign == ast.Sign.NoSign:
            interval = self.interval_test(atom)
            if interval is not None:
                return 1, interval
            left = self.term(atom.term)
            tests = []
            for guard in atom.guards:
                right = self.term(guard.term)
                tests.append(f"kb_cmp({left} {_COMPARISON[guard.comparison]} {right})")
                left = right
            return 1, ", ".join(tests)
        if atom.ast_type == ast.ASTType.BooleanConstant and node.sign == ast.Sign.NoSign:
            return 1, "true" if atom.value else "fail"
        raise self.unsupported(f"the literal {node}")

    def interval_test(self, atom: ast.AST) -> str | None:
        """`X = L..H` in a body: between(L, H, X), which binds X to each value."""
        if len(atom.guards) != 1:
            return None
        guard = atom.guards[0]
        if (
            guard.comparison != ast.ComparisonOperator.Equal
            or guard.term.ast_type != ast.ASTType.Interval
        ):
            return None
        low, high = self.term(guard.term.left), self.term(guard.term.right)
        return f"kb_cmp(between({low}, {high}, {self.term(atom.term)}))"

    def count(self, atom: ast.AST) -> str:
        """kb_count([el(Tuple, Condition), ...], [g(Op, Bound), ...]) for a count
        aggregate: #count { Tuple : Condition; ... } or { Literal : Condition; ... }."""
        elements = []
        if atom.ast_type == ast.ASTType.BodyAggregate:
            if atom.function != ast.AggregateFunction.Count:
                raise self.unsupported(f"the aggregate {atom} (only #count)")
            for element in atom.elements:
                tuple_text = "t(" + ", ".join(self.term(t) for t in element.terms) + ")"
                elements.append((tuple_text, list(element.condition)))
        else:
            for element in atom.elements:
                literal = element.literal
                if literal.ast_type != ast.ASTType.Literal or (
                    literal.atom.ast_type != ast.ASTType.SymbolicAtom
                ):
                    raise self.unsupported(f"the aggregate element {literal}")
                tuple_text = f"t({self.literal(literal)[1]})"
                elements.append((tuple_text, [*element.condition, literal]))
        parts = []
        for tuple_text, condition in elements:
            goals = sorted((self.literal(lit) for lit in condition), key=lambda item: item[0])
            body = ", ".join(text for _, text in goals) or "true"
            parts.append(f"el({tuple_text}, ({body}))")
        guards = []
        if atom.left_guard is not None:
            operator = _FLIPPED[_AGGREGATE_GUARD[atom.left_guard.comparison]]
            guards.append(f"g({operator}, {self.term(atom.left_guard.term)})")
        if atom.right_guard is not None:
            operator = _AGGREGATE_GUARD[atom.right_guard.comparison]
            guards.append(f"g({operator}, {self.term(atom.right_guard.term)})")
        return f"kb_count([{', '.join(parts)}], [{', '.join(guards)}])"

    def rule(self, statement: ast.AST) -> str | None:
        self.where = location(statement)
        head = statement.head
        if head.ast_type != ast.ASTType.Literal:
            return None  # a choice rule: the scenario space
        if head.atom.ast_type == ast.ASTType.BooleanConstant and not head.atom.value:
            # An integrity constraint: the prover drops the scenarios it rules out.
            head_text = prolog_atom(PREFIX + VIOLATED)
        elif head.atom.ast_type != ast.ASTType.SymbolicAtom:
            raise self.unsupported(f"the head {head}")
        elif head.atom.symbol.ast_type == ast.ASTType.Function and (
            head.atom.symbol.name in CASE_PREDICATES
        ):
            raise self.unsupported("a rule defining value/2 or known/1 (the case supplies them)")
        elif not statement.body and _intervals(head.atom):
            head_text = ""  # a fact with intervals: expanded below
        else:
            head_text = self.atom(head.atom)
        body = sorted((self.literal(lit) for lit in statement.body), key=lambda item: item[0])
        if not body:
            return "\n".join(f"{fact}." for fact in self.expanded(head.atom, head_text))
        return f"{head_text} :-\n    " + ",\n    ".join(text for _, text in body) + "."

    def expanded(self, atom: ast.AST, text: str) -> list[str]:
        """A fact with intervals (level(1..3)) as one fact per value."""
        if text:
            return [text]
        symbol = atom.symbol
        choices: list[list[str]] = []
        for argument in symbol.arguments:
            if argument.ast_type != ast.ASTType.Interval:
                choices.append([self.term(argument)])
                continue
            ends = [_constant_number(argument.left), _constant_number(argument.right)]
            if ends[0] is None or ends[1] is None:
                raise self.unsupported(f"the interval {argument} (its ends must be numbers)")
            choices.append([str(n) for n in range(ends[0], ends[1] + 1)])
        name = prolog_atom(PREFIX + symbol.name)
        return [f"{name}({', '.join(values)})" for values in itertools.product(*choices)]


def _intervals(atom: ast.AST) -> bool:
    return atom.ast_type == ast.ASTType.SymbolicAtom and any(
        argument.ast_type == ast.ASTType.Interval
        for argument in getattr(atom.symbol, "arguments", ())
    )


def _constant_number(term: ast.AST) -> int | None:
    if term.ast_type == ast.ASTType.SymbolicTerm and term.symbol.type == clingo.SymbolType.Number:
        number: int = term.symbol.number
        return number
    return None


VIOLATED = "kb_violated"
"""The predicate an integrity constraint's body derives in the Prolog translation."""


def static_predicates(rules: Sequence[RuleInfo]) -> set[str]:
    """Predicates whose truth does not depend on the case (declarations)."""
    defined = {rule.head for rule in rules if rule.head is not None}
    dynamic = {
        head for head in defined if depends_on(rules, [head]) & CASE_PREDICATES
    } | CASE_PREDICATES
    return defined - dynamic


def _signatures(statements: Iterable[ast.AST]) -> set[tuple[str, int]]:
    found: set[tuple[str, int]] = set()

    class Collect(ast.Transformer):
        def visit_SymbolicAtom(self, node: ast.AST) -> ast.AST:
            if node.symbol.ast_type == ast.ASTType.Function:
                found.add((node.symbol.name, len(node.symbol.arguments)))
            return node

    collect = Collect()
    for statement in statements:
        if statement.ast_type == ast.ASTType.Rule:
            collect(statement)
    return found


def translate(
    statements: Sequence[ast.AST], rules: Sequence[RuleInfo], module: str, prover: str
) -> str:
    """The Prolog module text for a policy, including the prover file."""
    translator = _Translator()
    clauses = [
        c for c in (translator.rule(s) for s in statements if s.ast_type == ast.ASTType.Rule) if c
    ]
    used = _signatures(statements) | {(VIOLATED, 0)}
    # A predicate no rule defines (combines/2 in a policy without groups) is
    # static too: always false, whatever the case.
    defined = {rule.head for rule in rules if rule.head is not None}
    static = static_predicates(rules) | {
        name for name, _ in used if name not in defined and name not in CASE_PREDICATES
    }
    signatures = sorted(s for s in used if s[0] not in CASE_PREDICATES)
    lines = [
        "% Generated by policykb from the policy's ASP rules. Do not edit.",
        f":- module({prolog_atom(module)}, []).",
        ":- set_prolog_flag(double_quotes, string).",
        ":- discontiguous kb_static/2.",
    ]
    for name, arity in signatures:
        indicator = f"{prolog_atom(PREFIX + name)}/{arity}"
        lines += [f":- dynamic {indicator}.", f":- discontiguous {indicator}."]
    lines += [
        f"kb_static({prolog_atom(PREFIX + name)}, {arity})."
        for name, arity in signatures
        if name in static
    ]
    lines.append(f":- include({prolog_atom(prover)}).")
    lines += clauses
    return "\n".join(lines) + "\n"
