"""A policy compiled to prime implicants, for evaluating many cases fast.

Every condition the evaluation reads (the verdict, and each criterion's met/1
and applies/1) is a boolean function of the facts it depends on. Compiling
enumerates, with clingo, all prime implicants of each condition and of its
negation. Then, for a case with known facts K (a partial assignment):

- the condition holds in every completion of K iff some prime implicant of it
  is contained in K (any implicant contained in K shrinks to a prime one);
- the minimal explanations of a verdict are exactly the prime implicants of
  that verdict contained in K;
- an unknown fact F is missing iff a prime implicant of covered and one of
  not covered are both consistent with K and conflict on F alone.

Each test is a bitmask operation, so evaluating a case costs microseconds.
The compiled policy gives the same answers as the Evaluator (a test checks
it); notes (warnings, cautions) are still computed by the Evaluator, once per
distinct combination of the facts they read. Compiling falls back (returns
None) for policies it does not cover: reference dates, list-valued decision facts, domain
constraints, more prime implicants than MAX_IMPLICANTS, or a compilation that
takes longer than MAX_SECONDS (the massage policy compiles in about 0.1 s).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import clingo
from clingo import Function, String, ast

from policykb.bridge.loading.rules import depends_on
from policykb.bridge.model.case import Case
from policykb.bridge.model.policy import Value
from policykb.bridge.model.result import Evaluation, Note, Status, Verdict
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.hitting_sets import Correction, MinimalSets
from policykb.bridge.solving.literals import COVERED

MAX_IMPLICANTS = 20_000
MAX_SECONDS = 2.0  # compiling pays off for policies that compile fast; others fall back


class TooComplex(Exception):
    """The policy has too many prime implicants to compile."""


@dataclass(frozen=True)
class Literal:
    fact: str
    value: object


@dataclass(frozen=True)
class Implicants:
    """The prime implicants of a condition and of its negation, as bitmasks."""

    true: tuple[int, ...]
    false: tuple[int, ...]


def _has_constraints(statements: Iterable[ast.AST]) -> bool:
    for statement in statements:
        if statement.ast_type == ast.ASTType.Rule:
            head = statement.head
            if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == (
                ast.ASTType.BooleanConstant
            ):
                return True
    return False


class CompiledPolicy:
    """Prime implicants of a policy's conditions, and evaluation by bitmasks."""

    def __init__(self, evaluator: Evaluator) -> None:
        self.evaluator = evaluator
        self.policy = evaluator.policy
        relevant = depends_on(evaluator.rules, ["verdict", "met", "applies"])
        used = {f for rule in evaluator.rules if rule.head in relevant for f in rule.facts}
        self.facts = [f for f in self.policy.facts if f in used]
        if _has_constraints(evaluator.statements):
            raise TooComplex("the policy has domain constraints")
        if any(self.policy.facts[f].type.many for f in self.facts):
            raise TooComplex("a list-valued fact decides the verdict")
        self.literals = [
            Literal(fact, key) for fact in self.facts for key in evaluator.value_keys(fact)
        ]
        self.bit = {(lit.fact, lit.value): 1 << i for i, lit in enumerate(self.literals)}
        self.fact_bits = {
            fact: sum(b for (f, _), b in self.bit.items() if f == fact) for fact in self.facts
        }
        self._count = 0
        self._deadline = time.monotonic() + MAX_SECONDS
        self.verdict = self._compile(COVERED)
        self.criteria: dict[str, tuple[Implicants, Implicants]] = {}
        for key in self.policy.criteria:
            ident = String(key)
            self.criteria[key] = (
                self._compile(Function("met", [ident])),
                self._compile(Function("applies", [ident])),
            )
        note_predicates = depends_on(evaluator.rules, ["warning", "caution"])
        self.note_facts = sorted(
            {f for rule in evaluator.rules if rule.head in note_predicates for f in rule.facts}
        )
        self._notes: dict[tuple[object, ...], tuple[Note, ...]] = {}
        self._rank = {fact: self.policy.facts[fact].rank for fact in self.policy.facts}

    # -- compiling ---------------------------------------------------------------

    def _compile(self, condition: clingo.Symbol) -> Implicants:
        if not self.evaluator.derivable(condition):
            return Implicants(true=(), false=(0,))
        return Implicants(
            true=tuple(self._prime_implicants(condition, True)),
            false=tuple(self._prime_implicants(condition, False)),
        )

    def _prime_implicants(self, condition: clingo.Symbol, truth: bool) -> list[int]:
        """Every prime implicant of `condition` (or of its negation), smallest first."""
        literal = self.evaluator.literal(condition)
        holds, refute = (literal, -literal) if truth else (-literal, literal)
        items = list(self.literals)
        groups = [[lit for lit in items if lit.fact == fact] for fact in self.facts]

        def test(candidate: list[Literal]) -> Correction[Literal] | None:
            if time.monotonic() > self._deadline:
                raise TooComplex(f"compiling takes more than {MAX_SECONDS} s")
            chosen = {lit.fact: lit.value for lit in candidate}
            scenario = self.evaluator.scenario_of(chosen, refute, self.facts)
            if scenario is None:
                return None
            # The counterexample, cut down to a part under which the condition
            # can never hold; every implicant must contradict that part.
            core = self.evaluator.minimal_implicant(scenario, holds)
            return Correction(
                [lit for lit in items if lit.fact in core and scenario[lit.fact] != lit.value]
            )

        found: list[int] = []
        for implicant in MinimalSets(items, groups).search(test):
            found.append(sum(self.bit[(lit.fact, lit.value)] for lit in implicant))
            self._count += 1
            if self._count > MAX_IMPLICANTS:
                raise TooComplex(f"more than {MAX_IMPLICANTS} prime implicants")
        return found

    # -- evaluating --------------------------------------------------------------

    def masks(self, known: Mapping[str, Value]) -> tuple[int, int]:
        """The case's literals, and the literals it rules out, as bitmasks."""
        have = ruled_out = 0
        for fact in self.facts:
            if fact in known:
                value = self.evaluator.value_key(fact, known[fact])
                bit = self.bit[(fact, value)]
                have |= bit
                ruled_out |= self.fact_bits[fact] & ~bit
        return have, ruled_out

    @staticmethod
    def _contains(implicants: Sequence[int], have: int) -> bool:
        return any(p & ~have == 0 for p in implicants)

    def _status(self, met: Implicants, applies: Implicants, have: int) -> Status:
        if self._contains(applies.false, have):
            return Status.NOT_APPLICABLE
        if self._contains(met.true, have):
            return Status.MET
        if self._contains(met.false, have):
            return Status.NOT_MET
        return Status.UNKNOWN

    def _facts_of(self, mask: int) -> list[str]:
        return [lit.fact for i, lit in enumerate(self.literals) if mask >> i & 1]

    def _missing(self, ruled_out: int) -> list[str]:
        consistent_true = [p for p in self.verdict.true if p & ruled_out == 0]
        consistent_false = [q for q in self.verdict.false if q & ruled_out == 0]
        missing: set[str] = set()
        for p in consistent_true:
            for q in consistent_false:
                conflict = [
                    fact
                    for fact, bits in self.fact_bits.items()
                    if p & bits and q & bits and p & bits != q & bits
                ]
                if len(conflict) == 1:
                    missing.add(conflict[0])
        return [fact for fact in self.facts if fact in missing]

    def _explanation(self, implicants: Sequence[int], have: int) -> tuple[str, ...]:
        inside = [p for p in implicants if p & ~have == 0]
        best = min(
            inside,
            key=lambda p: (bin(p).count("1"), sorted(self._rank[f] for f in self._facts_of(p))),
        )
        return tuple(sorted(self._facts_of(best), key=self._rank.__getitem__))

    def _notes_of(self, known: Mapping[str, Value]) -> tuple[Note, ...]:
        key = tuple((f, known.get(f)) for f in self.note_facts)
        if key not in self._notes:
            part = {f: known[f] for f in self.note_facts if f in known}
            self._notes[key] = self.evaluator.notes_of(part)
        return self._notes[key]

    def evaluate(self, case: Case) -> Evaluation:
        """The same evaluation as Evaluator.evaluate, from the compiled implicants."""
        known, assumed = self.evaluator.known_facts(case)
        have, ruled_out = self.masks(known)
        if self._contains(self.verdict.true, have):
            verdict, explanation = Verdict.COVERED, self._explanation(self.verdict.true, have)
        elif self._contains(self.verdict.false, have):
            verdict = Verdict.NOT_COVERED
            explanation = self._explanation(self.verdict.false, have)
        else:
            verdict, explanation = Verdict.NEEDS_INFORMATION, ()
        missing = self._missing(ruled_out) if verdict is Verdict.NEEDS_INFORMATION else []
        evaluator = self.evaluator
        return Evaluation(
            id=case.id,
            policy=self.policy.name,
            verdict=verdict,
            criteria={
                key: self._status(met, applies, have)
                for key, (met, applies) in self.criteria.items()
            },
            explanation=tuple(
                evaluator.explain_item(f, known[f], f in assumed) for f in explanation
            ),
            missing=tuple(evaluator.missing_item(f) for f in missing),
            warnings=self._notes_of(known),
        )


def compile_policy(evaluator: Evaluator) -> CompiledPolicy | None:
    """The compiled policy, or None when the policy is outside what compiling covers
    (a policy with reference dates is grounded anew for each day of them)."""
    if evaluator.references:
        return None
    try:
        return CompiledPolicy(evaluator)
    except TooComplex:
        return None
