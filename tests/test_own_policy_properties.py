"""Properties on a policy of one's own (the physio-visits fixture, with an enum
fact and a default), so they are not tied to the massage policy: the compiled
policy equals the evaluator, and the explanations are exactly the minimal
sufficient sets, found here by brute force over the evaluator's own verdicts."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, KnowledgeBase
from policykb.bridge.compiled import CompiledPolicy
from policykb.bridge.engine import Evaluator

FIXTURE = Path(__file__).parent / "fixtures" / "kb" / "physio-visits"
SETTINGS = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def physio() -> Evaluator:
    return KnowledgeBase([FIXTURE]).evaluator("physio-visits")


@st.composite
def physio_facts(draw: st.DrawFn) -> dict[str, Any]:
    options = {
        "visits_used": [None, "under_limit", "at_limit"],
        "referral_on_file": [None, True, False],
        "post_surgery": [None, True, False],
        "cosmetic": [None, True, False],
    }
    chosen = {name: draw(st.sampled_from(values)) for name, values in options.items()}
    return {name: value for name, value in chosen.items() if value is not None}


@SETTINGS
@given(facts=physio_facts())
def test_compiled_equals_evaluator(physio: Evaluator, facts: dict[str, Any]) -> None:
    case = Case("c", "physio-visits", facts)
    assert CompiledPolicy(physio).evaluate(case) == physio.evaluate(case)


@SETTINGS
@given(facts=physio_facts())
def test_explanations_are_the_minimal_sufficient_sets(
    physio: Evaluator, facts: dict[str, Any]
) -> None:
    known, _ = physio.known_facts(Case("c", "physio-visits", facts))
    verdict = physio.verdict_of(known)
    sufficient = [
        frozenset(subset)
        for size in range(len(known) + 1)
        for subset in combinations(known, size)
        if physio.verdict_of({f: known[f] for f in subset}) is verdict
    ]
    minimal = {s for s in sufficient if not any(t < s for t in sufficient)}
    assert {frozenset(e) for e in physio.explanations(known, verdict)} == minimal


@SETTINGS
@given(facts=physio_facts())
def test_missing_facts_are_those_the_verdict_can_turn_on(
    physio: Evaluator, facts: dict[str, Any]
) -> None:
    from itertools import product

    known, _ = physio.known_facts(Case("c", "physio-visits", facts))
    unknown = [f for f in physio.policy.facts if f not in known]
    domains = [physio.candidate_values(f) for f in unknown]
    verdicts = {
        values: physio.verdict_of({**known, **dict(zip(unknown, values, strict=True))})
        for values in product(*domains)
    }
    turns = set()
    for values, verdict in verdicts.items():
        for position, fact in enumerate(unknown):
            for other in domains[position]:
                flipped = (*values[:position], other, *values[position + 1 :])
                if verdicts[flipped] is not verdict:
                    turns.add(fact)
    evaluation = physio.evaluate(Case("c", "physio-visits", facts))
    assert {m.fact for m in evaluation.missing} == turns
