"""A circuit ready for runs: its nodes in order and the bounds that prune
explanations.

A node's value in a case is two bits (HOLDS: it can be true, FAILS: it can
be false; UNKNOWN is both). `node_program` lists a circuit's nodes children
first, so one sweep in that order values every node (run.py). `Prepared`
keeps that order, the leading leaves as lookup rows, and for each node the
fewest facts any explanation of it can have (a lower bound, valid in every
case); it builds conjunctions of nodes on demand and keeps them. A
conjunction past the circuit's limits is `Undecided`: the case is then
answered by the Evaluator.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence

from policykb.bridge.compile.circuit import AND, LEAF, OR, Circuit, TooComplex

# A node's value in a case, as two bits: it can be true (1), it can be false (2).
HOLDS, FAILS, UNKNOWN = 1, 2, 3


class Undecided(Exception):
    """The circuit cannot settle this case within its limits."""


def node_program(circuit: Circuit) -> list[tuple[int, int, int, int, tuple[int, ...]]]:
    """Each node as (number, kind, fact, mask, children), children first."""
    return [
        (n, circuit.kind[n], circuit.fact[n], circuit.mask[n], circuit.children[n])
        for n in range(2, len(circuit))
    ]


class Prepared:
    """A circuit ready for runs: its nodes in order (children first) and, for
    each node, the fewest facts an explanation of it can have. Nodes built
    later (conjunctions `together` builds) answer on demand."""

    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit
        self.program = node_program(circuit)
        leading = 0
        while leading < len(self.program) and self.program[leading][1] == LEAF:
            leading += 1
        self.leaf_rows = [
            (fact, [(mask >> v & 1) or FAILS for v in range(circuit.sizes[fact])] + [UNKNOWN])
            for _, _, fact, mask, _ in self.program[:leading]
        ]
        # The other nodes as (number, kind, fact, children or (mask,), reader
        # of the children's values): AND and OR read theirs in one call.
        self.inner = [
            (
                node,
                kind,
                fact,
                (mask,) if kind == LEAF else children,
                operator.itemgetter(*(children if kind in (AND, OR) else (0,))),
            )
            for node, kind, fact, mask, children in self.program[leading:]
        ]
        self.lower = self._lower_bounds()
        self._together: dict[tuple[tuple[int, ...], int], int] = {}

    def _lower_bounds(self) -> list[tuple[int, int]]:
        """For each node, the fewest facts any explanation of it can have, for
        the value false and for true (in any case): bounds that let a
        decision skip deciding every branch at once when keeping its fact
        is surely smaller."""
        circuit = self.circuit
        bounds = [(0, 0), (0, 0)]
        for _, kind, _, _, children in self.program:
            if kind == LEAF:
                bounds.append((1, 1))
                continue
            fails = [bounds[c][0] for c in children]
            holds = [bounds[c][1] for c in children]
            if kind == AND:
                bounds.append((min(fails), sum(holds)))
            elif kind == OR:
                bounds.append((sum(fails), min(holds)))
            else:
                keep = (1 + min(fails), 1 + min(holds))
                disjoint = self._disjoint(children)
                every = (sum(fails), sum(holds)) if disjoint else (max(fails), max(holds))
                bounds.append((min(keep[0], every[0]), min(keep[1], every[1])))
        assert len(bounds) == len(circuit)
        return bounds

    def _disjoint(self, nodes: Sequence[int]) -> bool:
        seen = 0
        for node in set(nodes):
            support = self.circuit.support[node]
            if seen & support:
                return False
            seen |= support
        return True

    def joint_bound(self, nodes: Sequence[int], target: int) -> int:
        """The fewest facts that can decide every one of `nodes` at once."""
        side = 0 if target == FAILS else 1
        distinct = set(nodes)
        if any(node >= len(self.lower) for node in distinct):
            return 0
        sizes = [self.lower[node][side] for node in distinct]
        return sum(sizes) if self._disjoint(list(distinct)) else max(sizes)

    def together(self, nodes: tuple[int, ...], target: int) -> int:
        """The node true where every one of `nodes` has the value `target`."""
        key = (nodes, target)
        found = self._together.get(key)
        if found is None:
            circuit = self.circuit
            parts = nodes if target == HOLDS else [circuit.negate(n) for n in nodes]
            try:
                found = circuit.conjoin(parts)
            except TooComplex as error:
                raise Undecided(str(error)) from None
            self._together[key] = found
        return found
