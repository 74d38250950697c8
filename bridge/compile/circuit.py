"""Decision circuits: a policy's conditions as decomposable and/or over facts.

A circuit node is a boolean function of the policy's facts, each fact a
variable over a finite domain (its values, regions or, for a list, its
subsets), numbered 0..size-1. Nodes are shared (one node per function
built the same way) and kept in a normal form with three properties that
make a case cost one pass over the nodes it reaches:

- an AND or OR node's children read pairwise disjoint sets of facts
  (decomposable: each child can be made true or false independently);
- a DECIDE node on fact x has one child per value of x, none reading x
  (conditioning on x, Shannon's expansion); its children are neither all
  constants (that is a LEAF) nor one function and one constant (that is an
  AND or OR with a leaf on x);
- a LEAF tests one fact against a set of its values, neither empty nor all.

Combining nodes that share facts conditions them on the fact they share
most, until the parts fall apart (a decision-DNNF, in the terms of the
knowledge compilation map, Darwiche and Marquis 2002). Policies read most
facts once, so few facts are decided on and the circuit stays about as
large as the policy. Building stops with TooComplex past MAX_NODES nodes
or a deadline.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

FALSE, TRUE, LEAF, AND, OR, DECIDE = range(6)
KIND_NAMES = ("false", "true", "leaf", "and", "or", "decide")

MAX_NODES = 200_000


class TooComplex(Exception):
    """The policy is outside what compiling covers, or too large to compile."""


def bits(mask: int) -> Iterable[int]:
    """The positions of the set bits of `mask`, lowest first."""
    while mask:
        low = mask & -mask
        yield low.bit_length() - 1
        mask ^= low


class Circuit:
    """A store of shared circuit nodes over facts with the given domain sizes.

    Node 0 is false and node 1 is true. Each node has a kind, a fact (LEAF,
    DECIDE), a set of values as a bitmask (LEAF), children (AND, OR, DECIDE)
    and its support: the facts it reads, as a bitmask over fact numbers.
    """

    def __init__(self, sizes: Sequence[int], deadline: float | None = None) -> None:
        self.sizes = list(sizes)
        self.full = [(1 << size) - 1 for size in self.sizes]
        self.kind: list[int] = [FALSE, TRUE]
        self.fact: list[int] = [-1, -1]
        self.mask: list[int] = [0, 0]
        self.children: list[tuple[int, ...]] = [(), ()]
        self.support: list[int] = [0, 0]
        self.deadline = deadline
        self._unique: dict[tuple[int, int, int, tuple[int, ...]], int] = {}
        self._negated: dict[int, int] = {FALSE: TRUE, TRUE: FALSE}
        self._conditioned: dict[tuple[int, int, int], int] = {}
        self._combined: dict[tuple[int, tuple[int, ...]], int] = {}

    def __len__(self) -> int:
        return len(self.kind)

    def _node(self, kind: int, fact: int, mask: int, children: tuple[int, ...]) -> int:
        key = (kind, fact, mask, children)
        found = self._unique.get(key)
        if found is not None:
            return found
        number = len(self.kind)
        if number >= MAX_NODES:
            raise TooComplex(f"the circuit needs more than {MAX_NODES:,} nodes")
        support = 1 << fact if fact >= 0 else 0
        for child in children:
            support |= self.support[child]
        self.kind.append(kind)
        self.fact.append(fact)
        self.mask.append(mask)
        self.children.append(children)
        self.support.append(support)
        self._unique[key] = number
        return number

    # -- constructors ----------------------------------------------------------

    def leaf(self, fact: int, mask: int) -> int:
        """The function `fact` has one of the values in `mask`."""
        mask &= self.full[fact]
        if mask == 0:
            return FALSE
        if mask == self.full[fact]:
            return TRUE
        return self._node(LEAF, fact, mask, ())

    def conjoin(self, items: Iterable[int]) -> int:
        return self._combine(AND, items)

    def disjoin(self, items: Iterable[int]) -> int:
        return self._combine(OR, items)

    def decide(self, fact: int, branches: Sequence[int]) -> int:
        """The function that is branches[v] where `fact` has value v."""
        first = branches[0]
        if all(branch == first for branch in branches):
            return first
        if all(branch <= TRUE for branch in branches):
            return self.leaf(fact, sum(1 << v for v, b in enumerate(branches) if b == TRUE))
        distinct = set(branches)
        if len(distinct) == 2 and (FALSE in distinct or TRUE in distinct):
            # x in S and X, or x in S or X (X does not read x): a decomposable
            # AND or OR, cheaper to evaluate and explain than a decision.
            constant = FALSE if FALSE in distinct else TRUE
            (other,) = distinct - {constant}
            where = sum(1 << v for v, b in enumerate(branches) if b == other)
            if constant == FALSE:
                return self.conjoin([self.leaf(fact, where), other])
            return self.disjoin([self.leaf(fact, ~where), other])
        return self._node(DECIDE, fact, 0, tuple(branches))

    def _combine(self, kind: int, items: Iterable[int]) -> int:
        absorbing, neutral = (FALSE, TRUE) if kind == AND else (TRUE, FALSE)
        parts: set[int] = set()
        leaves: dict[int, int] = {}
        pending = list(items)
        while pending:
            item = pending.pop()
            if item == neutral:
                continue
            if item == absorbing:
                return absorbing
            item_kind = self.kind[item]
            if item_kind == kind:
                pending.extend(self.children[item])
            elif item_kind == LEAF:
                fact, mask = self.fact[item], self.mask[item]
                if fact in leaves:
                    mask = leaves[fact] & mask if kind == AND else leaves[fact] | mask
                leaves[fact] = mask
            else:
                parts.add(item)
        for fact, mask in leaves.items():
            node = self.leaf(fact, mask)
            if node == absorbing:
                return absorbing
            if node != neutral:
                parts.add(node)
        if not parts:
            return neutral
        if len(parts) == 1:
            return parts.pop()
        key = (kind, tuple(sorted(parts)))
        found = self._combined.get(key)
        if found is None:
            found = self._combined[key] = self._decompose(kind, key[1])
        return found

    def _decompose(self, kind: int, parts: tuple[int, ...]) -> int:
        """AND or OR of normalised parts, as children that read disjoint facts.

        No part is constant, so no group is neutral (an AND of parts is false
        where any of them is, an OR true where any is): every group gives a
        child, or the whole is absorbed."""
        absorbing = FALSE if kind == AND else TRUE
        self._check_time()
        children: list[int] = []
        for group in self._components(list(parts)):
            if len(group) == 1:
                children.append(group[0])
                continue
            node = self._expand(kind, group)
            if node == absorbing:
                return absorbing
            if self.kind[node] == kind:
                children.extend(self.children[node])
            else:
                children.append(node)
        if len(children) == 1:
            return children[0]
        return self._node(kind, -1, 0, tuple(sorted(children)))

    def _components(self, parts: list[int]) -> list[list[int]]:
        """The parts grouped so that no two groups read a common fact."""
        groups: list[tuple[int, list[int]]] = []
        for part in parts:
            support, members = self.support[part], [part]
            kept = []
            for group_support, group in groups:
                if group_support & support:
                    support |= group_support
                    members.extend(group)
                else:
                    kept.append((group_support, group))
            kept.append((support, members))
            groups = kept
        return [members for _, members in groups]

    def _expand(self, kind: int, group: list[int]) -> int:
        """AND or OR of parts that share facts: decide on the fact most of them read."""
        counts: dict[int, int] = {}
        for part in group:
            for fact in bits(self.support[part]):
                counts[fact] = counts.get(fact, 0) + 1
        fact = max(counts, key=lambda f: (counts[f], -f))
        branches = [
            self._combine(kind, [self.condition(part, fact, value) for part in group])
            for value in range(self.sizes[fact])
        ]
        return self.decide(fact, branches)

    # -- transformations -----------------------------------------------------------

    def negate(self, node: int) -> int:
        found = self._negated.get(node)
        if found is not None:
            return found
        kind = self.kind[node]
        if kind == LEAF:
            result = self.leaf(self.fact[node], ~self.mask[node])
        elif kind == DECIDE:
            result = self.decide(self.fact[node], [self.negate(c) for c in self.children[node]])
        else:
            # De Morgan keeps the children's supports, hence decomposability.
            children = tuple(sorted(self.negate(c) for c in self.children[node]))
            result = self._node(OR if kind == AND else AND, -1, 0, children)
        self._negated[node] = result
        self._negated[result] = node
        return result

    def condition(self, node: int, fact: int, value: int) -> int:
        """The node with `fact` fixed to `value`."""
        if not self.support[node] >> fact & 1:
            return node
        key = (node, fact, value)
        found = self._conditioned.get(key)
        if found is not None:
            return found
        kind = self.kind[node]
        if kind == LEAF:
            result = TRUE if self.mask[node] >> value & 1 else FALSE
        elif kind == DECIDE:
            if self.fact[node] == fact:
                result = self.children[node][value]
            else:
                result = self.decide(
                    self.fact[node],
                    [self.condition(c, fact, value) for c in self.children[node]],
                )
        else:
            result = self._combine(
                kind, [self.condition(c, fact, value) for c in self.children[node]]
            )
        self._conditioned[key] = result
        return result

    def _check_time(self) -> None:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise TooComplex("compiling takes longer than its time limit")

    def compact(self, roots: Sequence[int]) -> tuple[Circuit, dict[int, int]]:
        """A circuit of only the nodes `roots` reach, leaves first (a run
        then reads them in one sweep), each part in the same order, and the
        new number of each kept node."""
        reached = {FALSE, TRUE}
        pending = list(roots)
        while pending:
            node = pending.pop()
            if node not in reached:
                reached.add(node)
                pending.extend(self.children[node])
        kept = Circuit(self.sizes, self.deadline)
        number = {FALSE: FALSE, TRUE: TRUE}
        for node in sorted(reached - {FALSE, TRUE}, key=lambda n: (self.kind[n] != LEAF, n)):
            children = tuple(number[c] for c in self.children[node])
            number[node] = kept._node(self.kind[node], self.fact[node], self.mask[node], children)
        return kept, number

    # -- storing -----------------------------------------------------------------

    def dump(self) -> dict[str, object]:
        """The nodes as plain lists (for the compiled-policy cache)."""
        return {
            "sizes": self.sizes,
            "nodes": [
                [self.kind[n], self.fact[n], hex(self.mask[n]), list(self.children[n])]
                for n in range(2, len(self.kind))
            ],
        }

    @classmethod
    def load(cls, data: dict[str, object]) -> Circuit:
        sizes = data["sizes"]
        nodes = data["nodes"]
        if not isinstance(sizes, list) or not isinstance(nodes, list):
            raise ValueError("a cached circuit's sizes and nodes are not lists")
        circuit = cls(sizes)
        for kind, fact, mask, children in nodes:
            expected = len(circuit.kind)
            if circuit._node(kind, fact, int(mask, 16), tuple(children)) != expected:
                raise ValueError("a cached circuit repeats a node")
        return circuit
