"""Policy consistency (`check`), over every scenario.

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
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

import clingo
from clingo import Function, String, ast

from policykb.bridge.analysis.placements import placed_evaluators
from policykb.bridge.analysis.policy_rules import PolicyRule, policy_rules
from policykb.bridge.analysis.witness import case_value
from policykb.bridge.compile.compiled import VERDICTS, Undecided
from policykb.bridge.compile.conditions import condition_circuits
from policykb.bridge.loading.comparisons import passes
from policykb.bridge.loading.files import core_files, meta_file
from policykb.bridge.loading.rules import ANY_FACT, short_location
from policykb.bridge.model.case import Case
from policykb.bridge.model.policy import Policy, Role, Value
from policykb.bridge.model.result import Verdict, json_value
from policykb.bridge.model.version import PolicyVersion, period_problems
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.literals import COVERED
from policykb.bridge.solving.query import QueryProgram
from policykb.bridge.solving.transform import SHOW_TYPES, renamed_copy

WITHOUT = "kb_without_"
GAP = Function("kb_gap")


class Kind(StrEnum):
    OVERLAP = "overlap"
    REDUNDANT = "redundant"
    UNREACHABLE = "unreachable"
    SHADOWED = "shadowed"
    GAP = "gap"
    RANGE_GAP = "range_gap"
    VOCABULARY = "vocabulary"
    UNPROVABLE = "unprovable"
    VERSIONS = "versions"
    """The periods of a policy's versions overlap or leave days uncovered."""


class Level(StrEnum):
    WARNING = "warning"
    ACKNOWLEDGED = "acknowledged"


@dataclass(frozen=True)
class Finding:
    """One thing `check` found, with a witness case where one can exist."""

    kind: Kind
    criteria: tuple[str, ...]
    message: str
    witness: Mapping[str, Value] | None = None
    verdict: Verdict | None = None
    level: Level = Level.WARNING
    reason: str | None = None
    location: str | None = None

    def to_dict(self) -> dict[str, Any]:
        found: dict[str, Any] = {
            "kind": self.kind.value,
            "criteria": list(self.criteria),
            "message": self.message,
            "witness": None
            if self.witness is None
            else {"facts": {f: json_value(v) for f, v in self.witness.items()}},
            "verdict": None if self.verdict is None else self.verdict.value,
            "level": self.level.value,
        }
        if self.reason is not None:
            found["acknowledged"] = self.reason
        if self.location is not None:
            found["location"] = self.location
        return found


@dataclass(frozen=True)
class CheckReport:
    policy: str
    findings: tuple[Finding, ...]
    version: PolicyVersion | None = None

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.WARNING)

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "version": self.version.to_dict() if self.version else None,
            "findings": [f.to_dict() for f in self.findings],
        }


def _numbered(name: str, index: int, location: ast.Location) -> ast.AST:
    """The atom name(index), built with clingo's AST constructors."""
    term = ast.SymbolicTerm(location, clingo.Number(index))
    return ast.SymbolicAtom(ast.Function(location, name, [term], 0))


def _literal(atom: ast.AST, sign: ast.Sign = ast.Sign.NoSign) -> ast.AST:
    return ast.Literal(atom.symbol.location, sign, atom)


class _Checker:
    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.policy = evaluator.policy
        self.rules = policy_rules(evaluator)
        firing: list[ast.AST] = []
        generated: list[ast.AST] = []
        for rule in self.rules:
            # kb_fires(i) holds exactly when rule i's body does; kb_rule(i) numbers it.
            where = rule.statement.location
            fires = _literal(_numbered("kb_fires", rule.index, where))
            firing.append(rule.statement.update(head=fires))
            generated.append(ast.Rule(where, _literal(_numbered("kb_rule", rule.index, where)), []))
        copy = renamed_copy(evaluator.statements, WITHOUT)
        targets = {id(r.statement): r.index for r in self.rules}
        for original, renamed in zip(
            (s for s in evaluator.statements if s.ast_type not in SHOW_TYPES), copy, strict=True
        ):
            if id(original) in targets:
                # In the copy, rule i holds only while it is not dropped.
                dropped = _numbered("kb_drop", targets[id(original)], original.location)
                renamed = renamed.update(body=[*renamed.body, _literal(dropped, ast.Sign.Negation)])
            generated.append(renamed)
        self.program = QueryProgram(
            self.policy,
            [*evaluator.statements, *firing, *generated],
            [meta_file("check")],
            "check program",
        )
        # The questions (kb/meta/check.lp) about the policy's criteria and rules.
        criteria = self.policy.criteria.values()
        self.indications = [c.id for c in criteria if c.role is Role.INDICATION]
        blockers = [c.id for c in criteria if c.role in (Role.EXCLUSION, Role.PREREQUISITE)]
        self.fires = {r.index: Function("kb_fires", [clingo.Number(r.index)]) for r in self.rules}
        self.overlap = {
            (i, b): Function("kb_overlap", [String(i), String(b)])
            for i in self.indications
            for b in blockers
        }
        self.indicated = {i: Function("indicated", [String(i)]) for i in self.indications}
        self.effective = {i: Function("kb_effective", [String(i)]) for i in self.indications}
        self.conditions = [
            *self.fires.values(),
            *self.overlap.values(),
            *self.indicated.values(),
            *self.effective.values(),
            GAP,
        ]
        # The same questions on circuits, where the policy compiles (a policy
        # with reference dates: once they are fixed, as for compiling).
        unanchored = bool(evaluator.references) and not evaluator.anchors
        self.circuits = (
            None
            if unanchored
            else condition_circuits(
                self.policy,
                [*evaluator.statements, *firing],
                f"the check circuits of {self.policy.name!r}",
                [meta_file("check")],
                [*self.conditions, COVERED],
            )
        )
        self.drops = {
            r.index: self.program.literal(Function("kb_drop", [clingo.Number(r.index)]))
            for r in self.rules
        }
        self.keep_all = [-lit for lit in self.drops.values()]
        self.facts = evaluator.decision_facts

    def witness(self, condition: clingo.Symbol) -> tuple[dict[str, Value], Verdict] | None:
        """The smallest set of facts forcing `condition`, and the verdict it gets.

        On circuits, the smallest over every scenario (fewest facts, lowest
        ranks, first values); else the smallest part of a scenario clingo finds.
        """
        known: Mapping[str, object] | None = None
        if self.circuits is not None:
            try:
                known = self.circuits.forcing(self.circuits.node(condition))
            except Undecided:
                known = None
            else:
                if known is None:
                    return None
        if known is None:
            literal = self.program.literal(condition)
            scenario = self.program.scenario([*self.keep_all, literal], self.facts)
            if scenario is None:
                return None
            known = {f: v for f, v in scenario.items() if v is not None}
            known = {
                f: known[f]
                for f in next(
                    self.program.implicants(
                        known, -literal, smallest_only=True, extra=self.keep_all
                    ),
                    (),
                )
            }
        smallest = list(known)
        # A policy checked as of a day: its witnesses state their reference dates.
        facts = {
            **self.evaluator.anchor_values(),
            **{f: case_value(self.policy.facts[f], known[f]) for f in smallest},
        }
        filled, _ = self.evaluator.known_facts(Case("witness", self.policy.name, facts))
        if self.circuits is not None:
            keys = {f: self.evaluator.value_key(f, v) for f, v in filled.items()}
            value = self.circuits.value(self.circuits.node(COVERED), keys)
            return facts, VERDICTS[value]
        return facts, self.evaluator.for_known(filled).verdict_of(filled)

    def possible(self, symbols: Iterable[clingo.Symbol]) -> set[clingo.Symbol]:
        """Which of the conditions hold in some scenario."""
        if self.circuits is None:
            return self.program.brave(self.keep_all, symbols)
        circuits = self.circuits
        return {symbol for symbol in symbols if circuits.possible(circuits.node(symbol))}

    def redundant(self, rule: PolicyRule) -> bool:
        assumptions = [lit if i == rule.index else -lit for i, lit in self.drops.items()]
        changed = self.program.literal(Function("kb_changed"))
        return self.program.scenario([*assumptions, changed], []) is None


def _criterion_words(policy: Policy, ident: str) -> str:
    criterion = policy.criteria.get(ident)
    return f'{ident} ("{criterion.text}")' if criterion else ident


def _vocabulary_findings(evaluator: Evaluator) -> tuple[list[Finding], set[str]]:
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
    findings, undeclared = _vocabulary_findings(evaluator)
    checkers = [_Checker(placed) for placed in placed_evaluators(evaluator, as_of)]
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
        for found in _range_gaps(placed):
            if found.message not in said:
                said.add(found.message)
                findings.append(found)
    findings += extra
    findings = _acknowledge(findings, _acknowledgements(evaluator))
    findings.sort(key=lambda f: (f.level is not Level.WARNING, list(Kind).index(f.kind)))
    return CheckReport(policy.name, tuple(findings), policy.version)


def version_findings(versions: Sequence[Evaluator]) -> list[Finding]:
    """Overlaps and gaps between the periods of a policy's versions (given by
    effective date), and versions that declare no effective date among several."""
    if len(versions) < 2:
        return []
    entries = [v.source.entry.name for v in versions]
    found = []
    undated = [
        entry
        for v, entry in zip(versions, entries, strict=True)
        if v.policy.version.effective is None
    ]
    for entry in undated:
        found.append(
            Finding(
                Kind.VERSIONS,
                (),
                f"{entry} declares no policy(effective, ...) but the policy has "
                f"{len(versions)} versions: each needs its effective date",
                location=entry,
            )
        )
    if undated:
        return found
    for problem in period_problems([v.policy.version for v in versions]):
        first, second = entries[problem.first], entries[problem.second]
        if problem.kind == "overlap":
            message = f"versions {first} and {second} are both in force {problem.days_words}"
        else:
            message = f"no version is in force {problem.days_words}, between {first} and {second}"
        found.append(Finding(Kind.VERSIONS, (), message, location=second))
    return found


def _range_gaps(checker: _Checker) -> list[Finding]:
    """Ranges of a number or date that no comparison of the policy speaks to,
    between ranges that some do: 5-14 and 15 or more leave 14 < AHI < 15 out.
    Only for facts compared with constants alone (not with reference dates)."""
    policy = checker.policy
    found: list[Finding] = []
    for name, fact in policy.facts.items():
        if not fact.type.numeric:
            continue
        anchors = checker.evaluator.anchors
        tests = [c for c in checker.evaluator.comparisons if c.fact == name]
        if name in anchors or any(c.reference is not None for c in tests):
            # Its regions move with the reference dates: values no comparison
            # passes at one placement are decided (failed) by the comparisons
            # that pass at another, so a gap here would be the placement's.
            continue
        tested = [
            any(passes(fact, region, test, anchors) for test in tests) for region in fact.regions
        ]
        for index in range(1, len(fact.regions) - 1):
            if tested[index] or not (tested[index - 1] and tested[index + 1]):
                continue
            region = fact.regions[index]
            span = fact.span(region)
            condition = Function("value", [Function(name), clingo.Number(index)])
            witnessed = checker.witness(condition)
            facts, verdict = witnessed if witnessed else (None, None)
            found.append(
                Finding(
                    Kind.RANGE_GAP,
                    (),
                    f"{name} {span.words}: no comparison of the policy speaks to these "
                    "values, though values on both sides are compared; no criterion "
                    "decides them",
                    facts,
                    verdict,
                )
            )
    return found
