"""A refutation on a circuit (bridge/compile/refuting.py) against brute force.

Random formulas over a few facts of two or three values (the generators of
test_circuit_runs.py) and a random partial case. The reference reads the
formula over every completion: the case is refuted for a target value
exactly when some completion gives the other value, and then the part
returned must agree with the case, force the other value in every one of
its own completions, and need every fact it states.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge.compile.circuit import Circuit
from policykb.bridge.compile.prepared import FAILS, HOLDS, Prepared
from policykb.bridge.compile.refuting import refuting_part
from tests.unit.test_circuit_runs import SIZES, build, cases, formulas, three_valued


def _vector(part: dict[int, int], facts: int) -> list[int]:
    return [part.get(fact, -1) for fact in range(facts)]


@settings(max_examples=400, deadline=None)
@given(data=st.data(), sizes=SIZES)
def test_a_refuting_part_forces_the_other_value_and_needs_each_of_its_facts(
    data: st.DataObject, sizes: list[int]
) -> None:
    circuit = Circuit(sizes)
    formula = data.draw(formulas(sizes))
    root = build(circuit, formula)
    prepared = Prepared(circuit)
    vector = data.draw(cases(sizes))
    value = three_valued(formula, vector, sizes)
    for target in (HOLDS, FAILS):
        other = FAILS if target == HOLDS else HOLDS
        part = refuting_part(prepared, vector, root, target)
        if value == target:
            assert part is None
            continue
        assert part is not None, (formula, vector, target)
        assert all(vector[f] in (-1, v) for f, v in part.items())
        assert all(0 <= v < sizes[f] for f, v in part.items())
        assert three_valued(formula, _vector(part, len(sizes)), sizes) == other
        for fact in part:
            fewer = {f: v for f, v in part.items() if f != fact}
            assert three_valued(formula, _vector(fewer, len(sizes)), sizes) != other


def test_a_constant_node_is_refuted_by_the_empty_part() -> None:
    circuit = Circuit([2, 2])
    prepared = Prepared(circuit)
    assert refuting_part(prepared, [-1, -1], 1, FAILS) == {}  # node 1 is true
    assert refuting_part(prepared, [-1, -1], 1, HOLDS) is None


def test_an_unknown_fact_is_given_a_value_that_refutes() -> None:
    circuit = Circuit([3, 2])
    either = circuit.disjoin([circuit.leaf(0, 0b100), circuit.leaf(1, 0b01)])
    prepared = Prepared(circuit)
    # fact 1 is 1 (outside its leaf): only fact 0 at 2 makes the OR true
    assert refuting_part(prepared, [-1, 1], either, FAILS) == {0: 2}
    # every completion with fact 1 at 0 is true: nothing refutes "true"
    assert refuting_part(prepared, [-1, 0], either, HOLDS) is None
    # false needs both leaves false; fact 1 is stated, fact 0 takes 0
    assert refuting_part(prepared, [-1, 1], either, HOLDS) == {0: 0, 1: 1}
