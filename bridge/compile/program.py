"""From a policy's ground program to circuits of its verdict and criteria.

The scenario program chooses each fact's value; every other atom is derived
by rules that, once grounded, never depend on themselves (the policies are
stratified and their ground programs acyclic). So each derived atom is the
disjunction of its rules' bodies, a negated atom is the negation of its
function, and a #count aggregate is a threshold over its elements: the
circuit of an atom is built bottom up from the value atoms, which are the
leaves.

What compiling does not cover raises TooComplex (the caller then evaluates
case by case): a policy's own integrity constraints (they make some
scenarios impossible), a condition that reads whether a fact is known,
a rule that depends on itself, a choice of anything but a fact's value,
and a list fact with more than MAX_LIST_OPTIONS options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import clingo
from clingo import Function, String, ast

from policykb.bridge.compile.circuit import FALSE, TRUE, Circuit, TooComplex
from policykb.bridge.loading.files import show_file
from policykb.bridge.model.policy import Policy
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.literals import COVERED, ValueLiterals
from policykb.bridge.solving.transform import ground_with

MAX_LIST_OPTIONS = 8
"""A list fact is one variable over the subsets of its options (2^8 = 256 values)."""


@dataclass
class _GroundRules:
    """The ground rules clingo reports while grounding (a clingo Observer)."""

    rules: dict[int, list[Sequence[int]]] = field(default_factory=dict)
    counts: dict[int, list[tuple[int, Sequence[tuple[int, int]]]]] = field(default_factory=dict)
    chosen: set[int] = field(default_factory=set)

    def rule(self, choice: bool, head: Sequence[int], body: Sequence[int]) -> None:
        if choice:
            self.chosen.update(head)
            return
        if len(head) > 1:
            self.chosen.update(head)  # a disjunctive head chooses too
        for atom in head:
            self.rules.setdefault(atom, []).append(list(body))

    def weight_rule(
        self, choice: bool, head: Sequence[int], lower_bound: int, body: Sequence[tuple[int, int]]
    ) -> None:
        if choice:
            self.chosen.update(head)
            return
        for atom in head:
            self.counts.setdefault(atom, []).append((lower_bound, list(body)))


@dataclass(frozen=True)
class Domain:
    """The values of each fact, numbered: for a list fact, its subsets (value
    number = the bitmask of its options in `options` order)."""

    facts: tuple[str, ...]
    keys: tuple[tuple[object, ...], ...]
    lists: frozenset[int]

    @property
    def sizes(self) -> list[int]:
        return [
            1 << len(keys) if number in self.lists else len(keys)
            for number, keys in enumerate(self.keys)
        ]


def domain_of(evaluator: Evaluator) -> Domain:
    """The domain of a policy's facts, in rank order, as its evaluator grounds them."""
    return _domain(evaluator.policy, evaluator.value_keys)


def _domain(policy: Policy, keys_of: Callable[[str], Sequence[object]]) -> Domain:
    facts = tuple(policy.facts)  # in rank order
    lists = frozenset(n for n, f in enumerate(facts) if policy.facts[f].type.many)
    keys = tuple(tuple(keys_of(fact)) for fact in facts)
    for number in lists:
        if len(keys[number]) > MAX_LIST_OPTIONS:
            raise TooComplex(f"list fact {facts[number]} has more than {MAX_LIST_OPTIONS} options")
    return Domain(facts, keys, lists)


def has_constraints(statements: Sequence[ast.AST]) -> bool:
    """Whether a program has integrity constraints (compiling does not cover them)."""
    for statement in statements:
        if statement.ast_type == ast.ASTType.Rule:
            head = statement.head
            if head.ast_type == ast.ASTType.Literal and head.atom.ast_type == (
                ast.ASTType.BooleanConstant
            ):
                return True
    return False


@dataclass(frozen=True)
class Roots:
    """The circuit nodes of the verdict (covered) and of each criterion."""

    covered: int
    met: dict[str, int]
    applies: dict[str, int]


class ProgramCircuits:
    """The circuit of each atom of a program over a policy's facts, built on
    demand into one circuit (so atoms share their nodes).

    The program is `statements` plus the meta-programs `files`. `domain`
    numbers the facts' values; without it, the values the program grounds,
    in rank order.
    """

    def __init__(
        self,
        statements: Sequence[ast.AST],
        policy: Policy,
        what: str,
        domain: Domain | None = None,
        deadline: float | None = None,
        files: Sequence[Path] = (),
    ) -> None:
        if has_constraints(statements):
            raise TooComplex("the policy has domain constraints")
        self.ground = _GroundRules()
        ctl = ground_with(
            statements,
            [show_file(), *files],
            what,
            ["--models=0"],
            observer=self.ground,  # type: ignore[arg-type]
        )
        self.control = ctl  # the symbolic atoms live as long as their Control
        self.symbols = ctl.symbolic_atoms
        literals = ValueLiterals(ctl, policy)
        if domain is None:
            domain = _domain(policy, lambda fact: list(literals.of[fact]))
        self.domain = domain
        self.circuit = circuit = Circuit(domain.sizes, deadline)
        self.leaves: dict[int, int] = {}
        for number, fact in enumerate(domain.facts):
            for index, key in enumerate(domain.keys[number]):
                atom = literals.of[fact].get(key)
                if atom is None:
                    continue
                if number in domain.lists:
                    mask = sum(1 << s for s in range(circuit.sizes[number]) if s >> index & 1)
                else:
                    mask = 1 << index
                self.leaves[atom] = circuit.leaf(number, mask)
        self.known = set(literals.known.values())
        self._built: dict[int, int] = {}
        self._building: set[int] = set()

    def root(self, symbol: clingo.Symbol) -> int:
        atom = self.symbols[symbol]
        if atom is None:
            return FALSE
        return self.atom(atom.literal)

    def atom(self, atom: int) -> int:
        found = self._built.get(atom)
        if found is not None:
            return found
        if atom in self.leaves:
            return self.leaves[atom]
        if atom in self.known:
            raise TooComplex("a condition reads whether a fact is known")
        if atom in self.ground.chosen:
            raise TooComplex("the policy chooses more than the facts' values")
        if atom in self._building:
            raise TooComplex("a ground rule depends on itself")
        self._building.add(atom)
        circuit = self.circuit
        options = [
            circuit.conjoin([self.literal(lit) for lit in body])
            for body in self.ground.rules.get(atom, [])
        ]
        options += [
            self._at_least(bound, elements) for bound, elements in self.ground.counts.get(atom, [])
        ]
        self._building.discard(atom)
        node = circuit.disjoin(options)
        self._built[atom] = node
        return node

    def literal(self, literal: int) -> int:
        if literal > 0:
            return self.atom(literal)
        return self.circuit.negate(self.atom(-literal))

    def _at_least(self, bound: int, elements: Sequence[tuple[int, int]]) -> int:
        """The sum of the weights of the elements that hold is at least `bound`."""
        if any(weight < 0 for _, weight in elements):
            raise TooComplex("an aggregate has a negative weight")
        circuit = self.circuit
        nodes = [(self.literal(lit), weight) for lit, weight in elements]
        remaining = [sum(weight for _, weight in nodes[i:]) for i in range(len(nodes) + 1)]
        memo: dict[tuple[int, int], int] = {}

        def from_(i: int, need: int) -> int:
            if need <= 0:
                return TRUE
            if remaining[i] < need:
                return FALSE
            key = (i, need)
            if key not in memo:
                node, weight = nodes[i]
                memo[key] = circuit.disjoin(
                    [
                        circuit.conjoin([node, from_(i + 1, need - weight)]),
                        circuit.conjoin([circuit.negate(node), from_(i + 1, need)]),
                    ]
                )
            return memo[key]

        return from_(0, bound)


def build_roots(evaluator: Evaluator, domain: Domain, deadline: float) -> tuple[Circuit, Roots]:
    """The circuits of the verdict and of each criterion's met/1 and applies/1."""
    built = ProgramCircuits(
        evaluator.statements,
        evaluator.policy,
        f"policy {evaluator.source.name!r}",
        domain,
        deadline,
    )
    met, applies = {}, {}
    for key in evaluator.policy.criteria:
        met[key] = built.root(Function("met", [String(key)]))
        applies[key] = built.root(Function("applies", [String(key)]))
    return built.circuit, Roots(built.root(COVERED), met, applies)
