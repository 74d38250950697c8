"""Findings about a policy's vocabulary: facts used but not declared,
declared but unused, and criteria used without their quoted text."""

from __future__ import annotations

import clingo
from clingo import ast

from policykb.bridge.analysis.findings import Finding, Kind
from policykb.bridge.loading.files import core_files
from policykb.bridge.loading.rules import ANY_FACT, short_location
from policykb.bridge.solving.evaluator import Evaluator


def vocabulary_findings(evaluator: Evaluator) -> tuple[list[Finding], set[str]]:
    """Findings about the vocabulary, and the facts used but not declared."""
    policy = evaluator.policy
    findings: list[Finding] = []
    core = {str(path) for path in core_files()}
    used: dict[str, str] = {}
    for statement, info in zip(
        (s for s in evaluator.statements if s.ast_type == ast.ASTType.Rule),
        evaluator.rules,
        strict=True,
    ):
        if statement.location.begin.filename in core:
            continue
        for fact in info.facts:
            used.setdefault(fact, short_location(statement))
    for reference in evaluator.references:
        # A date others are compared with is used, even if no rule compares it.
        used.setdefault(reference, "a reference date")
    for use in policy.arithmetic:
        # An operand is used by its product or ratio, which no rule names.
        for operand in use.operands:
            used.setdefault(operand, f"{use.kind}({use.fact}, {use.left}, {use.right})")
    undeclared = {fact for fact in used if fact not in policy.facts and fact != ANY_FACT}
    for fact, location in sorted(used.items()):
        if fact in undeclared:
            findings.append(
                Finding(
                    Kind.VOCABULARY,
                    (),
                    f"{location}: a rule uses the fact {fact!r}, "
                    "which the vocabulary does not declare (fact/2)",
                    location=location,
                )
            )
    for fact in policy.facts:
        if fact not in used and ANY_FACT not in used:
            findings.append(
                Finding(Kind.VOCABULARY, (), f"the fact {fact!r} is declared but no rule uses it")
            )
    ids: set[str] = set()
    for name in ("met", "role", "under", "part_of"):
        for symbol in evaluator.atoms(name, 1 if name == "met" else 2):
            first = symbol.arguments[0]
            if first.type == clingo.SymbolType.String:
                ids.add(first.string)
    for ident in sorted(ids):
        criterion = policy.criteria.get(ident)
        if criterion is None:
            findings.append(
                Finding(
                    Kind.VOCABULARY,
                    (ident,),
                    f"criterion {ident} is used but has no quoted text (criterion/3)",
                )
            )
        elif not criterion.text.strip():
            findings.append(
                Finding(Kind.VOCABULARY, (ident,), f"criterion {ident} has empty quoted text")
            )
    return findings, undeclared
