"""The check program of one policy, and the questions it answers.

The policy's rules are numbered and each gets two twins: kb_fires(i), which
holds exactly when rule i's body does, and a renamed copy of the policy in
which rule i holds only while kb_drop(i) is not assumed, so that "does
dropping rule i change any verdict?" is one solve. The questions about
criteria and rules (kb/meta/check.lp) are answered on the policy's circuits
where it compiles (compile/conditions.py), else by clingo; a witness is the
smallest set of facts forcing a condition, as a case.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import clingo
from clingo import Function, String, ast

from policykb.bridge.analysis.policy_rules import PolicyRule, policy_rules
from policykb.bridge.analysis.witness import case_value, stated_operands
from policykb.bridge.compile.conditions import condition_circuits
from policykb.bridge.compile.prepared import Undecided
from policykb.bridge.compile.run import VERDICTS
from policykb.bridge.loading.files import meta_file
from policykb.bridge.model.case import Case
from policykb.bridge.model.policy import Role, Value
from policykb.bridge.model.result import Verdict
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.literals import COVERED
from policykb.bridge.solving.query import QueryProgram
from policykb.bridge.solving.transform import SHOW_TYPES, renamed_copy

WITHOUT = "kb_without_"
GAP = Function("kb_gap")


def _numbered(name: str, index: int, location: ast.Location) -> ast.AST:
    """The atom name(index), built with clingo's AST constructors."""
    term = ast.SymbolicTerm(location, clingo.Number(index))
    return ast.SymbolicAtom(ast.Function(location, name, [term], 0))


def _literal(atom: ast.AST, sign: ast.Sign = ast.Sign.NoSign) -> ast.AST:
    return ast.Literal(atom.symbol.location, sign, atom)


class Checker:
    """The check program of one policy (at one placement of its reference
    dates) and its conditions: rule firings, overlaps, indications, the gap."""

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
        stated = stated_operands(self.policy, known)
        # A policy checked as of a day: its witnesses state their reference dates.
        facts = {
            **self.evaluator.anchor_values(),
            **{f: case_value(self.policy.facts[f], v) for f, v in stated.items()},
        }
        filled, _ = self.evaluator.known_facts(Case("witness", self.policy.name, facts))
        if self.circuits is not None and not self.policy.arithmetic:
            # (A derived fact's regions follow from its operands' values in
            # the solver's assumptions only, not in the circuits' keys.)
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
