"""A partial scenario's refutation on a prepared circuit: whether every
completion gives a node one value, and if not, a small part of a completion
that forces the other value.

This is the change search's test (bridge/solving/changes.py) in one pass
instead of two solver calls: a candidate change set is valid when the node's
value with its facts known is the target alone; otherwise the part returned
is a counterexample generalised, which every valid change set must move
away from.

Why one descent suffices: the circuit is decomposable (an AND or OR node's
children read disjoint facts; a DECIDE node's children never read its fact),
so a node can take a value in some completion exactly when node_values says
so, and choosing, top down, the children that can take it (all of them for
an AND true or an OR false, one otherwise; at a DECIDE node on an unknown
fact, a branch that can) never sets one fact twice. The facts read on the
way, at their values, force the node: no completion of them alone gives it
the other value. The part is then made subset-minimal by leaving out each
fact in turn while the rest still force the value (one pass each).
"""

from __future__ import annotations

from collections.abc import Sequence

from policykb.bridge.compile.circuit import AND, DECIDE, LEAF, TRUE
from policykb.bridge.compile.prepared import FAILS, HOLDS, Prepared
from policykb.bridge.compile.run import node_values


def refuting_part(
    prepared: Prepared, vector: Sequence[int], node: int, target: int
) -> dict[int, int] | None:
    """None when `node` has the value `target` (HOLDS or FAILS) in every
    completion of `vector` (value numbers by fact, -1: unknown). Otherwise
    a subset-minimal part of some completion of `vector` (fact number ->
    value number, agreeing with `vector` on every fact it states) under
    which `node` has the other value in every completion."""
    other = FAILS if target == HOLDS else HOLDS
    values = node_values(prepared, vector)
    if values[node] == target:
        return None
    part = _forcing_descent(prepared, values, vector, node, other)
    return _subset_minimal(prepared, part, node, other)


def _forcing_descent(
    prepared: Prepared, values: Sequence[int], vector: Sequence[int], node: int, wanted: int
) -> dict[int, int]:
    """Facts, at values that complete `vector`, that force `node` to `wanted`,
    which it can take in some completion of `vector` (see the module's
    docstring). At each choice the first child already forced to `wanted`
    is preferred (it sets no unknown fact), else the first that can be."""
    circuit = prepared.circuit
    kinds, facts, masks, children_of = circuit.kind, circuit.fact, circuit.mask, circuit.children
    part: dict[int, int] = {}
    pending = [node]
    while pending:
        current = pending.pop()
        kind = kinds[current]
        if kind <= TRUE:
            continue  # a constant with the wanted value: it reads no fact
        children = children_of[current]
        if kind == LEAF:
            fact = facts[current]
            value = vector[fact]
            if value < 0:
                inside = wanted == HOLDS
                mask = masks[current]
                value = next(v for v in range(circuit.sizes[fact]) if (mask >> v & 1) == inside)
            part[fact] = value
        elif kind == DECIDE:
            fact = facts[current]
            value = vector[fact]
            if value < 0:
                value = _first_able(values, children, wanted)
            part[fact] = value
            pending.append(children[value])
        elif (kind == AND) == (wanted == HOLDS):
            pending.extend(children)  # every child must take the value
        else:
            pending.append(children[_first_able(values, children, wanted)])
    return part


def _first_able(values: Sequence[int], children: Sequence[int], wanted: int) -> int:
    """The index of the first child forced to `wanted`, else of the first that can take it."""
    able = -1
    for index, child in enumerate(children):
        if values[child] == wanted:
            return index
        if able < 0 and values[child] & wanted:
            able = index
    assert able >= 0, "a node that can take a value has a child that can"
    return able


def _subset_minimal(
    prepared: Prepared, part: dict[int, int], node: int, wanted: int
) -> dict[int, int]:
    """`part` less every fact it does not need to force `node` to `wanted`,
    tried from the last fact (by number, that is rank) to the first."""
    vector = [-1] * len(prepared.circuit.sizes)
    for fact, value in part.items():
        vector[fact] = value
    for fact in sorted(part, reverse=True):
        vector[fact] = -1
        if node_values(prepared, vector)[node] != wanted:
            vector[fact] = part[fact]
    return {fact: value for fact, value in part.items() if vector[fact] >= 0}
