"""Circuits of the conditions check and diff ask about, over every scenario.

An analysis asks two things of a condition (an atom of its program: a rule
firing, an indication overridden, a verdict changing between versions):
can it hold in some scenario, and what is the smallest part of a scenario
that forces it. On a program that compiles (program.py), both are answered
on circuits instead of by clingo's search:

- a condition can hold exactly when its circuit is not the false node (in
  the normal form of circuit.py every other node has a model: an AND node's
  children read disjoint facts, a DECIDE node has a branch that is not false);
- the smallest set of facts forcing it over every scenario (check's
  witnesses: `forcing`) is composed bottom up, like an explanation, over
  the choices of values too;
- the smallest part of one scenario under which it holds in every
  completion (diff's regions: `smallest`) is the explanation of one pass
  over the circuit (run.py), with the same order among equals as the
  clingo search: fewest facts, then the lowest ranks.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import clingo
from clingo import ast

from policykb.bridge.compile.circuit import AND, FALSE, LEAF, OR, TRUE, TooComplex
from policykb.bridge.compile.compiled import MAX_SECONDS
from policykb.bridge.compile.prepared import HOLDS, Prepared, Undecided
from policykb.bridge.compile.program import ProgramCircuits
from policykb.bridge.compile.run import Run
from policykb.bridge.model.policy import Policy


class ConditionCircuits:
    """A program's atoms as circuits over its policy's facts: `conditions`
    built at once, others on demand.

    Raises TooComplex when the program is outside what compiling covers or
    its conditions take longer than compiling a policy may (MAX_SECONDS).
    """

    def __init__(
        self,
        policy: Policy,
        statements: Sequence[ast.AST],
        what: str,
        files: Sequence[Path] = (),
        conditions: Iterable[clingo.Symbol] = (),
    ) -> None:
        deadline = time.monotonic() + MAX_SECONDS
        self.built = ProgramCircuits(statements, policy, what, deadline=deadline, files=files)
        self.circuit = self.built.circuit
        self.domain = self.built.domain
        self.number = {fact: n for n, fact in enumerate(self.domain.facts)}
        self._nodes = {symbol: self.built.root(symbol) for symbol in conditions}
        self.circuit.deadline = None  # built: a run may still conjoin within MAX_NODES
        self._prepared: Prepared | None = None

    def node(self, symbol: clingo.Symbol) -> int:
        """The circuit of an atom (false when the program never derives it).

        Raises Undecided when an atom not built at once would grow the
        circuit past its limits.
        """
        found = self._nodes.get(symbol)
        if found is None:
            try:
                found = self._nodes[symbol] = self.built.root(symbol)
            except TooComplex as error:
                raise Undecided(str(error)) from None
        return found

    def possible(self, node: int) -> bool:
        """Whether some scenario satisfies the condition."""
        return node != FALSE

    def forcing(self, node: int) -> dict[str, object] | None:
        """The smallest set of facts with values (scenario values) under which
        the condition holds in every scenario: fewest facts, then the lowest
        ranks, then the first values; None when no scenario satisfies it.

        Raises Undecided when the circuit would grow past its limits.
        """
        if node == FALSE:
            return None
        term = _Cheapest(self._ready()).term(node)
        assert term is not None
        domain = self.domain
        return {domain.facts[fact]: self._key(fact, value) for fact, value in term}

    def _key(self, fact: int, value: int) -> object:
        options = self.domain.keys[fact]
        if fact in self.domain.lists:
            return frozenset(o for i, o in enumerate(options) if value >> i & 1)
        return options[value]

    def _ready(self) -> Prepared:
        circuit = self.circuit
        if self._prepared is None or len(self._prepared.program) + 2 != len(circuit):
            self._prepared = Prepared(circuit)
        return self._prepared

    def value(self, node: int, scenario: Mapping[str, object]) -> int:
        """The condition's three-valued value (HOLDS, FAILS or UNKNOWN, as in
        prepared.py) where the facts of a partial scenario are known."""
        return Run(self._ready(), self._vector(scenario)).value(node)

    def smallest(self, node: int, scenario: Mapping[str, object]) -> tuple[str, ...]:
        """The smallest set of the scenario's facts (lowest ranks among equals)
        under which the condition holds whatever the other facts are. The
        scenario (scenario values: regions, cells, option keys) must satisfy it.

        Raises Undecided when the circuit would grow past its limits.
        """
        run = Run(self._ready(), self._vector(scenario))
        if run.value(node) != HOLDS:
            raise Undecided("the scenario does not force the condition")
        return tuple(self.domain.facts[n] for n in run.explain(node, HOLDS))

    def _vector(self, scenario: Mapping[str, object]) -> list[int]:
        domain = self.domain
        vector = [-1] * len(domain.facts)
        for fact, key in scenario.items():
            number = self.number[fact]
            options = domain.keys[number]
            if number in domain.lists:
                assert isinstance(key, frozenset)
                vector[number] = sum(1 << i for i, option in enumerate(options) if option in key)
            else:
                vector[number] = options.index(key)
        return vector


Term = tuple[tuple[int, int], ...]
"""Facts (by number, ascending) with the number of their value."""


def _order(term: Term) -> tuple[int, tuple[int, ...], tuple[int, ...]]:
    return len(term), tuple(f for f, _ in term), tuple(v for _, v in term)


class _Cheapest:
    """The smallest term forcing each node true, over every scenario.

    Exact on the normal form of circuit.py: a term forces a decomposable AND
    when its parts force every child, a decomposable OR of children none of
    which is always true when it forces one child, and a DECIDE node on x
    either with x fixed to a value and its branch forced, or, leaving x out,
    with every branch forced at once (their conjunction).
    """

    def __init__(self, prepared: Prepared) -> None:
        self.prepared = prepared
        self.circuit = prepared.circuit
        self._terms: dict[int, Term | None] = {FALSE: None, TRUE: ()}

    def term(self, node: int) -> Term | None:
        if node in self._terms:
            return self._terms[node]
        circuit = self.circuit
        kind, children = circuit.kind[node], circuit.children[node]
        result: Term | None
        if kind == LEAF:
            mask = circuit.mask[node]
            result = ((circuit.fact[node], (mask & -mask).bit_length() - 1),)
        elif kind == AND:
            parts = [self.term(child) for child in children]
            result = None if None in parts else tuple(sorted(itertools.chain(*parts)))  # type: ignore[arg-type]
        elif kind == OR:
            options = [t for t in (self.term(child) for child in children) if t is not None]
            result = min(options, key=_order) if options else None
        else:
            fact = circuit.fact[node]
            options = []
            for value, child in enumerate(children):
                found = self.term(child)
                if found is not None:
                    options.append(tuple(sorted(((fact, value), *found))))
            best = min(options, key=_order) if options else None
            if FALSE not in children and (
                best is None or self.prepared.joint_bound(children, HOLDS) <= len(best)
            ):
                together = self.prepared.together(tuple(sorted(set(children))), HOLDS)
                found = self.term(together)
                if found is not None and (best is None or _order(found) < _order(best)):
                    best = found
            result = best
        self._terms[node] = result
        return result


def condition_circuits(
    policy: Policy,
    statements: Iterable[ast.AST],
    what: str,
    files: Sequence[Path],
    conditions: Iterable[clingo.Symbol],
) -> ConditionCircuits | None:
    """The program's circuits with `conditions` built, or None when it does
    not compile (the analysis then asks clingo)."""
    try:
        return ConditionCircuits(policy, list(statements), what, files, conditions)
    except TooComplex:
        return None
