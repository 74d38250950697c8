"""Decision circuits (bridge/compile/circuit.py): the normal form and each transformation.

Random formulas (tests/unit/test_circuit_runs.py's) are built with the circuit's own
constructors; every node a root reaches must keep the normal form the
module promises, and every node must be the function it was built as, read
here straight off the nodes (not through a Run) over every complete case:

- LEAF: its fact tested against a mask neither empty nor full;
- AND, OR: at least two children, none of its own kind or constant, reading
  pairwise disjoint facts, in increasing order;
- DECIDE: one child per value of its fact, none reading it, neither all
  constants (a LEAF) nor one function and one constant (an AND or OR with a
  leaf on the fact);
- a node's support is the facts it reads.

negate, condition, compact and the cache's dump and load are checked the
same way, and building stops with TooComplex past its node limit or deadline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge.compile import circuit as module
from policykb.bridge.compile.circuit import (
    AND,
    DECIDE,
    FALSE,
    LEAF,
    OR,
    TRUE,
    Circuit,
    TooComplex,
    bits,
)
from tests.unit.test_circuit_runs import SIZES, Formula, build, completions, formulas, holds


def reads(circuit: Circuit, node: int, vector: Sequence[int]) -> bool:
    """The node's value on a complete case, from its definition."""
    kind = circuit.kind[node]
    if kind in (FALSE, TRUE):
        return kind == TRUE
    if kind == LEAF:
        return bool(circuit.mask[node] >> vector[circuit.fact[node]] & 1)
    children = circuit.children[node]
    if kind == DECIDE:
        return reads(circuit, children[vector[circuit.fact[node]]], vector)
    values = (reads(circuit, child, vector) for child in children)
    return all(values) if kind == AND else any(values)


def reached(circuit: Circuit, root: int) -> set[int]:
    seen, pending = set(), [root]
    while pending:
        node = pending.pop()
        if node not in seen:
            seen.add(node)
            pending.extend(circuit.children[node])
    return seen


def assert_normal_form(circuit: Circuit, root: int, *, built: bool = True) -> None:
    """The normal form (a compacted circuit keeps each node's children in
    the order they were built in, not increasing)."""
    for node in reached(circuit, root):
        kind, fact, children = circuit.kind[node], circuit.fact[node], circuit.children[node]
        support = 1 << fact if fact >= 0 else 0
        for child in children:
            support |= circuit.support[child]
        assert circuit.support[node] == support, node
        # a fact for leaves and decisions only, a mask for leaves only
        assert 0 <= fact < len(circuit.sizes) if kind in (LEAF, DECIDE) else fact == -1
        assert (circuit.mask[node] != 0) == (kind == LEAF)
        if kind in (FALSE, TRUE):
            assert node == kind and not children
        elif kind == LEAF:
            assert 0 < circuit.mask[node] < circuit.full[fact] and not children
        elif kind in (AND, OR):
            assert fact == -1 and len(children) >= 2
            assert len(set(children)) == len(children)
            assert not built or list(children) == sorted(children)
            seen = 0
            for child in children:
                assert circuit.kind[child] not in (kind, FALSE, TRUE), (node, child)
                assert not seen & circuit.support[child], f"node {node} is not decomposable"
                seen |= circuit.support[child]
        else:
            assert kind == DECIDE and len(children) == circuit.sizes[fact]
            assert all(not circuit.support[child] >> fact & 1 for child in children)
            # not a LEAF (every branch constant) nor an AND or OR with a leaf
            # on the fact (one function and one constant)
            distinct = set(children)
            assert len(distinct) >= 2 and max(distinct) > TRUE, node
            assert not (len(distinct) == 2 and min(distinct) <= TRUE), node


def assert_same_function(
    circuit: Circuit, node: int, formula: Formula, sizes: Sequence[int]
) -> None:
    for vector in completions([-1] * len(sizes), sizes):
        assert reads(circuit, node, vector) == holds(formula, vector), vector


@settings(max_examples=150, deadline=None)
@given(data=st.data(), sizes=SIZES)
def test_built_nodes_keep_the_normal_form_and_their_function(
    data: st.DataObject, sizes: list[int]
) -> None:
    circuit = Circuit(sizes)
    formula = data.draw(formulas(sizes))
    root = build(circuit, formula)
    assert_normal_form(circuit, root)
    for constant in (FALSE, TRUE):
        assert_normal_form(circuit, constant)
    assert_same_function(circuit, root, formula, sizes)
    # one node per function built the same way
    assert build(circuit, formula) == root
    nodes = len(circuit)
    assert build(circuit, formula) == root and len(circuit) == nodes


@settings(max_examples=100, deadline=None)
@given(data=st.data(), sizes=SIZES)
def test_negating_and_conditioning_keep_the_normal_form(
    data: st.DataObject, sizes: list[int]
) -> None:
    circuit = Circuit(sizes)
    formula = data.draw(formulas(sizes))
    root = build(circuit, formula)
    negated = circuit.negate(root)
    assert_normal_form(circuit, negated)
    assert_same_function(circuit, negated, ("not", formula), sizes)
    assert circuit.negate(negated) == root
    fact = data.draw(st.integers(0, len(sizes) - 1))
    value = data.draw(st.integers(0, sizes[fact] - 1))
    for node, function in ((root, formula), (negated, ("not", formula))):
        conditioned = circuit.condition(node, fact, value)
        assert not circuit.support[conditioned] >> fact & 1
        assert_normal_form(circuit, conditioned)
        for vector in completions([-1] * len(sizes), sizes):
            fixed = [*vector[:fact], value, *vector[fact + 1 :]]
            assert reads(circuit, conditioned, vector) == holds(function, fixed)
        assert circuit.condition(node, fact, value) == conditioned


@settings(max_examples=60, deadline=None)
@given(data=st.data(), sizes=SIZES)
def test_compacting_keeps_the_roots_functions_leaves_first_and_survives_the_cache(
    data: st.DataObject, sizes: list[int]
) -> None:
    circuit = Circuit(sizes)
    built = [data.draw(formulas(sizes)) for _ in range(3)]
    roots = [build(circuit, formula) for formula in built]
    circuit.leaf(0, 1)  # a node no root reaches (perhaps)
    kept, number = circuit.compact(roots[:2])
    assert set(number) == reached(circuit, roots[0]) | reached(circuit, roots[1]) | {0, 1}
    assert len(kept) == len(number)
    kinds = [kept.kind[n] for n in range(2, len(kept))]
    assert kinds == sorted(kinds, key=lambda kind: kind != LEAF), "leaves first"
    for node in range(len(kept)):
        assert all(child < node for child in kept.children[node]), "children before parents"
    for node, new in number.items():
        assert kept.children[new] == tuple(number[child] for child in circuit.children[node])
    for root, formula in zip(roots[:2], built, strict=False):
        assert_normal_form(kept, number[root], built=False)
        assert_same_function(kept, number[root], formula, sizes)
    loaded = Circuit.load(kept.dump())
    assert (loaded.kind, loaded.fact, loaded.mask, loaded.children, loaded.support) == (
        kept.kind,
        kept.fact,
        kept.mask,
        kept.children,
        kept.support,
    )
    assert loaded.sizes == kept.sizes


def test_a_cached_circuit_that_repeats_a_node_is_refused() -> None:
    circuit = Circuit([2, 2])
    circuit.leaf(0, 0b01)
    data = circuit.dump()
    nodes = data["nodes"]
    assert isinstance(nodes, list)
    data["nodes"] = [*nodes, nodes[0]]
    with pytest.raises(ValueError, match="repeats a node"):
        Circuit.load(data)


@pytest.mark.parametrize(
    "data", [{"sizes": [2], "nodes": {}}, {"sizes": {}, "nodes": []}, {"sizes": [2]}]
)
def test_a_cached_circuit_of_another_shape_is_refused(data: dict[str, object]) -> None:
    with pytest.raises((ValueError, KeyError)):
        Circuit.load(data)


def test_decisions_with_constant_branches_become_leaves_and_and_or() -> None:
    circuit = Circuit([3, 2, 2])
    a = circuit.leaf(1, 0b10)
    assert circuit.decide(0, [a, a, a]) == a
    assert circuit.decide(0, [TRUE, FALSE, TRUE]) == circuit.leaf(0, 0b101)
    anded = circuit.decide(0, [a, FALSE, a])  # x in {0, 2} and a
    assert anded == circuit.conjoin([circuit.leaf(0, 0b101), a])
    assert circuit.kind[anded] == AND
    ored = circuit.decide(0, [TRUE, a, a])  # x = 0 or a
    assert ored == circuit.disjoin([circuit.leaf(0, 0b001), a])
    assert circuit.kind[ored] == OR
    b = circuit.leaf(2, 0b10)
    decision = circuit.decide(0, [a, b, FALSE])
    assert circuit.kind[decision] == DECIDE
    assert circuit.children[decision] == (a, b, FALSE)


def test_leaves_on_one_fact_merge_and_constants_absorb() -> None:
    circuit = Circuit([3, 2])
    low, high = circuit.leaf(0, 0b011), circuit.leaf(0, 0b110)
    assert circuit.conjoin([low, high]) == circuit.leaf(0, 0b010)
    assert circuit.disjoin([low, high]) == TRUE
    assert circuit.conjoin([low, circuit.leaf(0, 0b100)]) == FALSE
    assert circuit.conjoin([low, TRUE]) == low and circuit.conjoin([low, FALSE]) == FALSE
    assert circuit.disjoin([low, FALSE]) == low and circuit.disjoin([low, TRUE]) == TRUE
    assert circuit.conjoin([]) == TRUE and circuit.disjoin([]) == FALSE
    assert circuit.leaf(0, 0) == FALSE and circuit.leaf(0, 0b111) == TRUE
    assert circuit.leaf(0, 0b1011) == circuit.leaf(0, 0b011), "values past the domain drop"


def test_building_stops_past_the_node_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(module, "MAX_NODES", 6)
    circuit = Circuit([2] * 6)
    leaves = [circuit.leaf(fact, 0b10) for fact in range(4)]  # nodes 2..5
    with pytest.raises(TooComplex, match="more than 6 nodes"):
        circuit.conjoin(leaves)
    assert len(circuit) == 6


def test_building_stops_past_the_deadline() -> None:
    circuit = Circuit([2, 2, 2], deadline=time.monotonic() - 1)
    a, b = circuit.leaf(0, 0b10), circuit.leaf(1, 0b10)
    with pytest.raises(TooComplex, match="time limit"):
        circuit.conjoin([a, b])
    unlimited = Circuit([2, 2, 2], deadline=time.monotonic() + 3600)
    both = unlimited.conjoin([unlimited.leaf(0, 0b10), unlimited.leaf(1, 0b10)])
    assert unlimited.kind[both] == AND


@pytest.mark.parametrize(
    ("mask", "positions"), [(0, []), (1, [0]), (0b1010, [1, 3]), (1 << 70 | 1, [0, 70])]
)
def test_bits_are_the_set_positions_lowest_first(mask: int, positions: list[int]) -> None:
    assert list(bits(mask)) == positions


def test_parts_sharing_facts_are_decided_on_the_fact_most_of_them_read() -> None:
    # (x or a) and (x or b) and (x or y) and (y or c): x is read by three parts,
    # y by two, a, b and c by one each.
    circuit = Circuit([2] * 6)
    x, y, a, b, c = (circuit.leaf(fact, 0b10) for fact in (4, 3, 0, 1, 2))
    root = circuit.conjoin([circuit.disjoin(pair) for pair in ([x, a], [x, b], [x, y], [y, c])])
    assert (circuit.kind[root], circuit.fact[root]) == (DECIDE, 4)
    # read by as many parts: the lower-numbered fact
    even = circuit.conjoin([circuit.disjoin(pair) for pair in ([x, a], [y, a], [x, b], [y, b])])
    assert (circuit.kind[even], circuit.fact[even]) == (DECIDE, 0)


def test_parts_that_contradict_each_other_absorb_the_whole() -> None:
    # x and not a and (not x or a), beside b: false; its dual, beside b: true.
    circuit = Circuit([2, 2, 2])
    x, a, b = (circuit.leaf(fact, 0b10) for fact in range(3))
    not_x, not_a = circuit.negate(x), circuit.negate(a)
    assert circuit.conjoin([x, not_a, circuit.disjoin([not_x, a]), b]) == FALSE
    assert circuit.disjoin([not_x, a, circuit.conjoin([x, not_a]), b]) == TRUE
