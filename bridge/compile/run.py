"""One case on a prepared circuit: each node's value, the missing facts and
the smallest explanation, each node computed once.

A case is its known facts, each fixed to a value, the others free. One pass
over the nodes the case reaches gives, exactly (the same answers as the
Evaluator, which a property test checks on every bundled policy, every
fixture and generated policies):

- each node's three-valued value: an AND node is true when every child is,
  false when one is (its children read disjoint facts, so this is exact);
  a DECIDE node on an unknown fact is true (false) when every branch is;
- the missing facts: those the restricted verdict still depends on. An AND
  (OR) node that is undecided depends on what its undecided children depend
  on; an undecided DECIDE node on an unknown fact also on that fact, unless
  every branch is the same function;
- the smallest explanation (fewest facts, then the lowest ranks): for AND
  true, the union of its children's; for AND false, the best of its false
  children's (OR the other way round); for a DECIDE node, the better of
  keeping its fact (and its branch's explanation) or leaving it out (then
  one set of facts must decide every branch: the branches' conjunction,
  compiled on demand).

A question past MAX_CHECKED completions, or a conjunction past the
circuit's limits, raises `Undecided`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from policykb.bridge.compile.circuit import AND, DECIDE, LEAF, OR, TRUE, bits
from policykb.bridge.compile.prepared import FAILS, HOLDS, UNKNOWN, Prepared, Undecided
from policykb.bridge.model.result import Status, Verdict

MAX_CHECKED = 4096
"""Completions tried when two branches must be compared value by value."""

Explanation = tuple[int, ...]  # fact numbers, ascending (= by rank)


def _best(options: Sequence[Explanation]) -> Explanation:
    return min(options, key=lambda e: (len(e), e))


def node_values(prepared: Prepared, vector: Sequence[int]) -> list[int]:
    """The value of every node of a prepared circuit in a case."""
    values = [FAILS, HOLDS]
    # The leading leaves in one sweep: a row per leaf, by the fact's value
    # number, whose last entry (index -1: unknown) is UNKNOWN.
    values += [row[vector[fact]] for fact, row in prepared.leaf_rows]
    values += [0] * len(prepared.inner)
    for node, kind, fact, children, read in prepared.inner:
        if kind == AND:  # false if a child is, else unknown if a child is, else true
            seen = read(values)
            values[node] = FAILS if FAILS in seen else UNKNOWN if UNKNOWN in seen else HOLDS
        elif kind == OR:  # true if a child is, else unknown if a child is, else false
            seen = read(values)
            values[node] = HOLDS if HOLDS in seen else UNKNOWN if UNKNOWN in seen else FAILS
        elif kind == LEAF:
            chosen = vector[fact]
            values[node] = UNKNOWN if chosen < 0 else (children[0] >> chosen & 1) or FAILS
        else:
            chosen = vector[fact]
            if chosen >= 0:
                values[node] = values[children[chosen]]
            else:
                either = 0
                for child in children:
                    either |= values[child]
                values[node] = either
    return values


VERDICTS = {HOLDS: Verdict.COVERED, FAILS: Verdict.NOT_COVERED, UNKNOWN: Verdict.NEEDS_INFORMATION}
STATUSES = {HOLDS: Status.MET, FAILS: Status.NOT_MET, UNKNOWN: Status.UNKNOWN}


class Run:
    """One case on the circuit: values, missing facts and explanations, each
    node computed once."""

    def __init__(self, prepared: Prepared, vector: list[int]) -> None:
        self.prepared = prepared
        self.circuit = prepared.circuit
        self.vector = vector
        self.values = node_values(prepared, vector)
        self._later: dict[int, int] = {}
        self.missing_of: dict[int, int] = {}
        self.explained: dict[tuple[int, int], Explanation] = {}

    def value(self, node: int) -> int:
        """A node's value; nodes built after compiling (see `together`) on demand."""
        if node < len(self.values):
            return self.values[node]
        found = self._later.get(node)
        if found is not None:
            return found
        circuit = self.circuit
        kind, children = circuit.kind[node], circuit.children[node]
        chosen = self.vector[circuit.fact[node]] if kind in (LEAF, DECIDE) else -1
        if kind == LEAF:
            result = UNKNOWN if chosen < 0 else (circuit.mask[node] >> chosen & 1) or FAILS
        elif kind == DECIDE and chosen >= 0:
            result = self.value(children[chosen])
        else:
            seen = [self.value(child) for child in children]
            holds = [v & HOLDS for v in seen]
            fails = [v & FAILS for v in seen]
            if kind == AND:
                result = (HOLDS if all(holds) else 0) | (FAILS if any(fails) else 0)
            elif kind == OR:
                result = (HOLDS if any(holds) else 0) | (FAILS if all(fails) else 0)
            else:
                result = (HOLDS if any(holds) else 0) | (FAILS if any(fails) else 0)
        self._later[node] = result
        return result

    # -- missing facts -----------------------------------------------------------

    def missing(self, node: int) -> int:
        """The facts an undecided node still depends on, as a bitmask."""
        found = self.missing_of.get(node)
        if found is not None:
            return found
        circuit = self.circuit
        kind = circuit.kind[node]
        if kind == LEAF:
            result = 1 << circuit.fact[node]
        elif kind == DECIDE and self.vector[circuit.fact[node]] >= 0:
            result = self.missing(circuit.children[node][self.vector[circuit.fact[node]]])
        else:
            result = 0
            children = circuit.children[node]
            for child in children:
                if self.value(child) == UNKNOWN:
                    result |= self.missing(child)
            if kind == DECIDE and not self._same_functions(children):
                result |= 1 << circuit.fact[node]
        self.missing_of[node] = result
        return result

    def _same_functions(self, nodes: Sequence[int]) -> bool:
        """Whether the branches of an undecided DECIDE node are one function
        under the case (then its fact does not matter)."""
        distinct = sorted(set(nodes))
        if len(distinct) == 1:
            return True
        values = {self.value(node) for node in distinct}
        if values != {UNKNOWN}:
            return False
        supports = {self.missing(node) for node in distinct}
        if len(supports) > 1:
            return False
        facts = list(bits(supports.pop()))
        sizes = [self.circuit.sizes[fact] for fact in facts]
        total = 1
        for size in sizes:
            total *= size
        if total > MAX_CHECKED:
            raise Undecided("branches too large to compare")
        for choice in itertools.product(*(range(size) for size in sizes)):
            vector = list(self.vector)
            for fact, value in zip(facts, choice, strict=True):
                vector[fact] = value
            run = Run(self.prepared, vector)
            if len({run.value(node) for node in distinct}) > 1:
                return False
        return True

    # -- explanations ------------------------------------------------------------

    def explain(self, node: int, target: int) -> Explanation:
        """The smallest set of the case's facts (lowest ranks among equals)
        under which `node` has the value `target`, which it has in the case."""
        key = (node, target)
        found = self.explained.get(key)
        if found is not None:
            return found
        circuit = self.circuit
        kind = circuit.kind[node]
        children = circuit.children[node]
        if kind == LEAF:
            result: Explanation = (circuit.fact[node],)
        elif kind <= TRUE:
            result = ()
        elif (kind == AND) == (target == HOLDS) and kind != DECIDE:
            # every child must keep its value
            result = self._union([self.explain(child, target) for child in children])
        elif kind != DECIDE:
            result = self._one_child(children, target)
        else:
            fact = circuit.fact[node]
            chosen = self.vector[fact]
            options = []
            if chosen >= 0:
                options.append(tuple(sorted((fact, *self.explain(children[chosen], target)))))
            if all(self.value(child) == target for child in children) and (
                not options or self.prepared.joint_bound(children, target) <= len(options[0])
            ):
                options.append(self._joint(children, target))
            result = _best(options)
        self.explained[key] = result
        return result

    def _one_child(self, children: Sequence[int], target: int) -> Explanation:
        """The best explanation of a child with the value `target` (one
        suffices). A child is skipped when its lower bound shows it cannot
        beat the best so far: more facts, or as many with a higher first one
        (its explanation starts at its lowest fact or later)."""
        prepared = self.prepared
        lower, side = prepared.lower, 0 if target == FAILS else 1
        support = self.circuit.support
        best: Explanation | None = None
        for child in children:
            if self.value(child) != target:
                continue
            if best is not None and child < len(lower):
                bound = lower[child][side]
                if bound > len(best):
                    continue
                if bound == len(best):
                    mask = support[child]
                    if (mask & -mask).bit_length() - 1 > best[0]:
                        continue
            found = self.explain(child, target)
            if best is None or (len(found), found) < (len(best), best):
                best = found
                if not best:
                    break
        assert best is not None
        return best

    @staticmethod
    def _union(parts: Sequence[Explanation]) -> Explanation:
        return tuple(sorted(itertools.chain.from_iterable(parts)))

    def _joint(self, nodes: Sequence[int], target: int) -> Explanation:
        """The smallest set of facts under which every node has the value `target`."""
        distinct = sorted(set(nodes))
        seen = 0
        for node in distinct:
            support = self.circuit.support[node]
            if seen & support:
                together = self.prepared.together(tuple(distinct), target)
                return self.explain(together, HOLDS)
            seen |= support
        return self._union([self.explain(node, target) for node in distinct])
