"""Policy consistency (`check`) and change impact (`diff`), over every scenario.

Both are symbolic: each question is put to clingo over the whole scenario
space (every combination of fact values, under the KB's domain constraints),
never by looping over scenarios in Python. Each finding carries a minimal
witness: the smallest set of facts under which the finding holds in every
scenario, as a case that `policykb evaluate` runs as it is.

What counts as deciding a scenario is defined in the KB (kb/core/verdict.lp,
decided/0): an applicable indication is met, or a criterion blocks. A scenario
no rule decides is a gap: its verdict, not covered, rests on the closed-world
default alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import clingo
from clingo import Function, String, ast

from policykb.bridge.analysis import depends_on
from policykb.bridge.case import Case
from policykb.bridge.engine import Evaluator
from policykb.bridge.errors import PolicyError
from policykb.bridge.kb_files import core_files
from policykb.bridge.policy import Policy, Role, Value
from policykb.bridge.query import QueryProgram
from policykb.bridge.result import Verdict, json_value
from policykb.bridge.transform import SHOW_TYPES, renamed_copy

WITHOUT = "kb_without_"
OLD = "kb_old_"
MAX_REGIONS = 200


class Kind(StrEnum):
    OVERLAP = "overlap"
    REDUNDANT = "redundant"
    UNREACHABLE = "unreachable"
    SHADOWED = "shadowed"
    GAP = "gap"
    VOCABULARY = "vocabulary"


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

    @property
    def warnings(self) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.level is Level.WARNING)

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "findings": [f.to_dict() for f in self.findings]}


@dataclass(frozen=True)
class PolicyRule:
    """A rule of the policy (not of the core) that takes part in the verdict."""

    index: int
    statement: ast.AST
    head: str
    criterion: str | None
    location: str
    facts: frozenset[str]


def _head_criterion(statement: ast.AST) -> tuple[str, str | None]:
    symbol = statement.head.atom.symbol
    criterion = None
    if symbol.arguments and symbol.arguments[0].ast_type == ast.ASTType.SymbolicTerm:
        value = symbol.arguments[0].symbol
        if value.type == clingo.SymbolType.String:
            criterion = value.string
    return str(symbol.name), criterion


def policy_rules(evaluator: Evaluator) -> list[PolicyRule]:
    """The policy's own rules with a body, whose head the verdict depends on."""
    core = {str(path) for path in core_files()}
    verdict_predicates = depends_on(evaluator.rules, ["verdict"])
    found: list[PolicyRule] = []
    infos = iter(evaluator.rules)
    for statement in evaluator.statements:
        if statement.ast_type != ast.ASTType.Rule:
            continue
        info = next(infos)
        begin = statement.location.begin
        if begin.filename in core or info.choice or info.head is None or not statement.body:
            continue
        if info.head not in verdict_predicates:
            continue
        head, criterion = _head_criterion(statement)
        location = f"{Path(begin.filename).name}:{begin.line}"
        found.append(PolicyRule(len(found), statement, head, criterion, location, info.facts))
    return found


def _rule(text: str) -> ast.AST:
    """The one rule in a fixed program text (never case data)."""
    statements: list[ast.AST] = []
    ast.parse_string(text, statements.append)
    rule: ast.AST = statements[-1]
    return rule


CHECK_RULES = """
{ kb_drop(I) : kb_rule(I) }.
kb_changed :- verdict(X), kb_without_verdict(Y), X != Y.
kb_overlap(I, B) :- indicated(I), blocked(B).
kb_effective(I) :- indicated(I), not kb_blocked.
kb_gap :- not decided.
"""


class _Checker:
    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.policy = evaluator.policy
        self.rules = policy_rules(evaluator)
        generated: list[ast.AST] = []
        for rule in self.rules:
            # kb_fires(i) holds exactly when rule i's body does.
            fires = _rule(f"kb_fires({rule.index}).").head
            generated.append(rule.statement.update(head=fires))
            generated.append(_rule(f"kb_rule({rule.index})."))
        copy = renamed_copy(evaluator.statements, WITHOUT)
        targets = {id(r.statement): r.index for r in self.rules}
        for original, renamed in zip(
            (s for s in evaluator.statements if s.ast_type not in SHOW_TYPES), copy, strict=True
        ):
            if id(original) in targets:
                # In the copy, rule i holds only while it is not dropped.
                drop = _rule(f"kb_holder :- not kb_drop({targets[id(original)]}).").body[0]
                renamed = renamed.update(body=[*renamed.body, drop])
            generated.append(renamed)
        self.program = QueryProgram(
            self.policy, [*evaluator.statements, *generated], CHECK_RULES, "check program"
        )
        self.drops = {
            r.index: self.program.literal(Function("kb_drop", [clingo.Number(r.index)]))
            for r in self.rules
        }
        self.keep_all = [-lit for lit in self.drops.values()]
        self.facts = evaluator.decision_facts

    def witness(self, condition: clingo.Symbol) -> tuple[dict[str, Value], Verdict] | None:
        """The smallest set of facts forcing `condition`, and the verdict it gets."""
        literal = self.program.literal(condition)
        scenario = self.program.scenario([*self.keep_all, literal], self.facts)
        if scenario is None:
            return None
        known = {f: v for f, v in scenario.items() if v is not None}
        smallest = next(
            self.program.implicants(known, -literal, smallest_only=True, extra=self.keep_all), ()
        )
        facts: dict[str, Value] = {f: known[f] for f in smallest}  # type: ignore[misc]
        filled, _ = self.evaluator.known_facts(Case("witness", self.policy.name, facts))
        return facts, self.evaluator.verdict_of(filled)

    def possible(self, symbols: Iterable[clingo.Symbol]) -> set[clingo.Symbol]:
        return self.program.brave(self.keep_all, symbols)

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
        begin = statement.location.begin
        if begin.filename in core:
            continue
        for fact in info.facts:
            used.setdefault(fact, f"{Path(begin.filename).name}:{begin.line}")
    undeclared = {fact for fact in used if fact not in policy.facts}
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
        if fact not in used:
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


def check_policy(evaluator: Evaluator) -> CheckReport:
    """Every finding of the policy, warnings first, each with its witness."""
    policy = evaluator.policy
    findings, undeclared = _vocabulary_findings(evaluator)
    checker = _Checker(evaluator)
    indications = [c.id for c in policy.criteria.values() if c.role is Role.INDICATION]
    blockers = [
        c.id for c in policy.criteria.values() if c.role in (Role.EXCLUSION, Role.PREREQUISITE)
    ]
    fires = {r.index: Function("kb_fires", [clingo.Number(r.index)]) for r in checker.rules}
    overlap = {
        (i, b): Function("kb_overlap", [String(i), String(b)])
        for i in indications
        for b in blockers
    }
    indicated = {i: Function("indicated", [String(i)]) for i in indications}
    effective = {i: Function("kb_effective", [String(i)]) for i in indications}
    gap = Function("kb_gap")
    possible = checker.possible(
        [*fires.values(), *overlap.values(), *indicated.values(), *effective.values(), gap]
    )

    def witnessed(
        kind: Kind,
        criteria: tuple[str, ...],
        message: str,
        condition: clingo.Symbol | None,
        location: str | None = None,
    ) -> Finding:
        found = checker.witness(condition) if condition is not None else None
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
        if checker.redundant(rule):
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
    findings = _acknowledge(findings, _acknowledgements(evaluator))
    findings.sort(key=lambda f: (f.level is not Level.WARNING, list(Kind).index(f.kind)))
    return CheckReport(policy.name, tuple(findings))


# -- diff ----------------------------------------------------------------------

DIFF_RULES = """
kb_change(X, Y) :- kb_old_verdict(X), verdict(Y), X != Y.
"""


@dataclass(frozen=True)
class VerdictChange:
    """A region of scenarios whose verdict changes, as a minimal condition."""

    conditions: Mapping[str, Value]
    old: Verdict
    new: Verdict

    @property
    def summary(self) -> str:
        from policykb.bridge.result import value_words

        condition = " and ".join(f"{f}={value_words(v)}" for f, v in self.conditions.items())
        return f"{condition or 'every scenario'}: {self.old.value} -> {self.new.value}"

    def to_dict(self) -> dict[str, Any]:
        facts = {f: json_value(v) for f, v in self.conditions.items()}
        return {
            "summary": self.summary,
            "conditions": facts,
            "old": self.old.value,
            "new": self.new.value,
            "witness": {"facts": facts},
        }


@dataclass(frozen=True)
class CriterionChange:
    id: str
    change: str
    detail: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "change": self.change, "detail": self.detail}


@dataclass(frozen=True)
class DiffReport:
    old: str
    new: str
    changes: tuple[VerdictChange, ...]
    criteria: tuple[CriterionChange, ...]
    facts: tuple[CriterionChange, ...] = ()
    capped: bool = False

    @property
    def empty(self) -> bool:
        return not (self.changes or self.criteria or self.facts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "changes": [c.to_dict() for c in self.changes],
            "criteria": [c.to_dict() for c in self.criteria],
            "facts": [c.to_dict() for c in self.facts],
            "capped": self.capped,
        }


def _rules_by_criterion(evaluator: Evaluator) -> dict[str, set[str]]:
    grouped: dict[str, set[str]] = {}
    for rule in policy_rules(evaluator):
        if rule.criterion is not None:
            text = str(rule.statement)
            grouped.setdefault(rule.criterion, set()).add(text)
    return grouped


def _criteria_changes(old: Evaluator, new: Evaluator) -> list[CriterionChange]:
    changes: list[CriterionChange] = []
    before, after = old.policy.criteria, new.policy.criteria
    old_rules, new_rules = _rules_by_criterion(old), _rules_by_criterion(new)
    for ident in [*before, *(i for i in after if i not in before)]:
        if ident not in after:
            changes.append(CriterionChange(ident, "removed", before[ident].text))
        elif ident not in before:
            changes.append(CriterionChange(ident, "added", after[ident].text))
        else:
            details = [
                f"{name} changed"
                for name in ("text", "place", "role", "section", "parent", "parts")
                if getattr(before[ident], name) != getattr(after[ident], name)
            ]
            if old_rules.get(ident, set()) != new_rules.get(ident, set()):
                details.append("its rules changed")
            if details:
                changes.append(CriterionChange(ident, "changed", "; ".join(details)))
    return changes


def _fact_changes(old: Policy, new: Policy) -> list[CriterionChange]:
    changes = [CriterionChange(f, "removed") for f in old.facts if f not in new.facts]
    changes += [CriterionChange(f, "added") for f in new.facts if f not in old.facts]
    for name in old.facts.keys() & new.facts.keys():
        a, b = old.facts[name], new.facts[name]
        details = [
            f"{attr} changed"
            for attr in ("type", "options", "default")
            if getattr(a, attr) != getattr(b, attr)
        ]
        if details:
            changes.append(CriterionChange(name, "changed", "; ".join(details)))
    return changes


def diff_policies(old: Evaluator, new: Evaluator) -> DiffReport:
    """The scenarios whose verdict changes between two versions, as minimal
    conditions, and the criteria and facts added, removed or changed."""
    shared = set(old.policy.facts) & set(new.policy.facts)
    if not shared:
        raise PolicyError(
            f"{old.policy.name} and {new.policy.name} share no fact: "
            "they are not two versions of one policy"
        )
    for name in sorted(shared):
        was, now = old.policy.facts[name], new.policy.facts[name]
        if was.type is not now.type:
            raise PolicyError(
                f"fact {name!r} is {was.type_label} in {old.policy.name} but "
                f"{now.type_label} in {new.policy.name}: rename it in one version"
            )
    facts = {**old.policy.facts, **new.policy.facts}
    merged = dataclasses.replace(new.policy, facts=facts)
    statements = [*new.statements, *renamed_copy(old.statements, OLD)]
    program = QueryProgram(merged, statements, DIFF_RULES, "diff program")
    decision = [f for f in facts if f in set(old.decision_facts) | set(new.decision_facts)]
    changes: list[VerdictChange] = []
    capped = False
    for before, after in (
        (Verdict.COVERED, Verdict.NOT_COVERED),
        (Verdict.NOT_COVERED, Verdict.COVERED),
    ):
        symbol = Function("kb_change", [Function(before.value), Function(after.value)])
        if not program.has(symbol):
            continue
        changed = program.literal(symbol)
        outside: list[int] = []
        while True:
            scenario = program.scenario([changed, *(-r for r in outside)], decision)
            if scenario is None:
                break
            if len(changes) >= MAX_REGIONS:
                capped = True
                break
            known = {f: v for f, v in scenario.items() if v is not None}
            smallest = next(program.implicants(known, -changed, smallest_only=True))
            region = {f: known[f] for f in smallest}
            changes.append(VerdictChange(region, before, after))  # type: ignore[arg-type]
            with program.ctl.backend() as backend:
                atom = backend.add_atom()
                backend.add_rule([atom], program.literals.assumptions(region))
            outside.append(atom)
    return DiffReport(
        old=str(old.source.entry),
        new=str(new.source.entry),
        changes=tuple(changes),
        criteria=tuple(_criteria_changes(old, new)),
        facts=tuple(_fact_changes(old.policy, new.policy)),
        capped=capped,
    )
