"""Policy consistency (`check`), over every scenario: the findings of one
policy, gathered.

Symbolic: each question is asked over the whole scenario space (every
combination of fact values, under the KB's domain constraints), never by
looping over scenarios in Python; the questions are kb/meta/check.lp. Where
the policy compiles, they are answered on its circuits (compile/conditions.py:
one pass per question, whatever the policy's size); else clingo answers them.
Each finding carries a minimal witness: the smallest set of facts under which
the finding holds in every scenario (on circuits the smallest of all, fewest
facts, then lowest ranks, then first values; with clingo the smallest part of
a scenario it finds), as a case that `policykb evaluate` runs as it is.

What counts as deciding a scenario is defined in the KB (kb/core/verdict.lp,
decided/0): an applicable indication is met, or a criterion blocks. A scenario
no rule decides is a gap: its verdict, not covered, rests on the closed-world
default alone.

The parts: findings.py (what a finding is), checker.py (the check program
and its questions), vocabulary.py, range_gaps.py and versions.py (findings of
their own kind); acknowledgements (acknowledge/3 in the policy) are applied
here, last.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import date

import clingo

from policykb.bridge.analysis.checker import GAP, Checker
from policykb.bridge.analysis.clauses import clause_findings
from policykb.bridge.analysis.findings import CheckReport, Finding, Kind, Level
from policykb.bridge.analysis.placements import placed_evaluators
from policykb.bridge.analysis.range_gaps import range_gaps
from policykb.bridge.analysis.vocabulary import vocabulary_findings
from policykb.bridge.model.policy import Policy, Role
from policykb.bridge.solving.evaluator import Evaluator


def _criterion_words(policy: Policy, ident: str) -> str:
    criterion = policy.criteria.get(ident)
    return f'{ident} ("{criterion.text}")' if criterion else ident


def _acknowledgements(evaluator: Evaluator) -> list[tuple[str, str, str]]:
    found = []
    for symbol in evaluator.atoms("acknowledge", 3):
        kind, ident, reason = symbol.arguments
        text = ident.string if ident.type == clingo.SymbolType.String else str(ident)
        found.append(
            (
                str(kind),
                text,
                reason.string if reason.type == clingo.SymbolType.String else str(reason),
            )
        )
    return found


def _acknowledge(findings: list[Finding], acks: Sequence[tuple[str, str, str]]) -> list[Finding]:
    result = []
    for finding in findings:
        for kind, ident, reason in acks:
            if kind == finding.kind.value and (ident == "*" or ident in finding.criteria):
                finding = dataclasses.replace(finding, level=Level.ACKNOWLEDGED, reason=reason)
                break
        result.append(finding)
    return result


def acknowledged(evaluator: Evaluator, findings: list[Finding]) -> list[Finding]:
    """The findings, each the policy acknowledges (acknowledge/3) marked so
    with its reason."""
    return _acknowledge(findings, _acknowledgements(evaluator))


def check_policy(
    evaluator: Evaluator, extra: Sequence[Finding] = (), as_of: date | None = None
) -> CheckReport:
    """Every finding of the policy, warnings first, each with its witness
    (`extra`: findings of other parts, such as the second engine's).

    A policy with reference dates is checked as of `as_of` (placements.py):
    over every placement of its reference dates relative to each other, as
    one scenario space. A finding that some scenario shows (an overlap, a
    gap, a firing) holds when some placement shows it, with that placement's
    reference dates in its witness; one that no scenario shows (an
    unreachable rule, a redundant one) holds when no placement shows
    otherwise."""
    policy = evaluator.policy
    findings, undeclared = vocabulary_findings(evaluator)
    findings += clause_findings(evaluator)
    checkers = [Checker(placed) for placed in placed_evaluators(evaluator, as_of)]
    checker = checkers[0]
    indications = checker.indications
    fires, overlap = checker.fires, checker.overlap
    indicated, effective, gap = checker.indicated, checker.effective, GAP
    possible_in = [c.possible(c.conditions) for c in checkers]
    possible = set().union(*possible_in)

    def witnessed(
        kind: Kind,
        criteria: tuple[str, ...],
        message: str,
        condition: clingo.Symbol | None,
        location: str | None = None,
    ) -> Finding:
        found = None
        if condition is not None:
            # The first placement where the condition holds in some scenario.
            placed = next(
                (c for c, shown in zip(checkers, possible_in, strict=True) if condition in shown),
                checker,
            )
            found = placed.witness(condition)
        facts, verdict = found if found else (None, None)
        return Finding(kind, criteria, message, facts, verdict, location=location)

    shadowed = {i for i in indications if indicated[i] in possible and effective[i] not in possible}
    unreachable_rules = set()
    for rule in checker.rules:
        label = rule.criterion or rule.head
        if fires[rule.index] not in possible:
            unreachable_rules.add(rule.index)
            if rule.facts & undeclared:
                continue  # the vocabulary finding names the cause
            findings.append(
                Finding(
                    Kind.UNREACHABLE,
                    (rule.criterion,) if rule.criterion else (),
                    f"{rule.location}: the rule for {label} can never fire: no scenario "
                    "satisfies its body",
                    location=rule.location,
                )
            )
    for ident in indications:
        rules_of_it = [r for r in checker.rules if r.criterion == ident and r.head == "met"]
        if indicated[ident] not in possible and all(
            r.index not in unreachable_rules for r in rules_of_it
        ):
            findings.append(
                Finding(
                    Kind.UNREACHABLE,
                    (ident,),
                    f"indication {_criterion_words(policy, ident)} never applies with its "
                    "conditions met",
                )
            )
    for ident in sorted(shadowed):
        findings.append(
            witnessed(
                Kind.SHADOWED,
                (ident,),
                f"indication {_criterion_words(policy, ident)} is overridden in every scenario "
                "where it holds: it can never lead to coverage",
                indicated[ident],
            )
        )
    for rule in checker.rules:
        if rule.index in unreachable_rules or rule.criterion in shadowed:
            continue
        if all(placed.redundant(placed.rules[rule.index]) for placed in checkers):
            label = rule.criterion or rule.head
            findings.append(
                witnessed(
                    Kind.REDUNDANT,
                    (rule.criterion,) if rule.criterion else (),
                    f"{rule.location}: a rule for {label} is redundant: removing it changes "
                    "the verdict of no scenario (the witness shows it firing)",
                    fires[rule.index],
                    rule.location,
                )
            )
    for (ident, blocker), symbol in overlap.items():
        if symbol in possible:
            role = policy.criteria[blocker].role
            blocks = "is not met" if role is Role.PREREQUISITE else "holds"
            findings.append(
                witnessed(
                    Kind.OVERLAP,
                    (ident, blocker),
                    f"indication {ident} holds while {blocker} {blocks}; {blocker} wins: "
                    "a blocking criterion overrides an indication, so the case is not covered",
                    symbol,
                )
            )
    if gap in possible:
        findings.append(
            witnessed(
                Kind.GAP,
                (),
                "some scenarios are decided by no rule: no indication holds and nothing "
                "blocks, so not_covered rests on the closed-world default alone",
                gap,
            )
        )
    said: set[str] = set()
    for placed in checkers:
        for found in range_gaps(placed):
            if found.message not in said:
                said.add(found.message)
                findings.append(found)
    findings += extra
    findings = acknowledged(evaluator, findings)
    findings.sort(key=lambda f: (f.level is not Level.WARNING, list(Kind).index(f.kind)))
    return CheckReport(policy.name, tuple(findings), policy.version)
