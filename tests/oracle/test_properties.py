"""Properties that must hold of every case, over generated cases.

The oracle is tests/reference.py, a brute-force truth table written from the
policy text; the engine must agree with it on verdict, missing facts and
explanations.
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, Verdict
from policykb.bridge.solving.evaluator import Evaluator
from tests import reference
from tests.sampling import examples

SETTINGS = settings(
    max_examples=examples(300),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@st.composite
def cases(draw: st.DrawFn, max_known: int | None = None) -> dict[str, Any]:
    """Facts for a case: each decision fact absent, or given a value."""
    facts: dict[str, Any] = {}
    names = list(reference.AXES)
    if max_known is not None:
        names = draw(st.lists(st.sampled_from(names), unique=True, max_size=max_known))
    for name in names:
        if name == "review_type":
            value = draw(st.sampled_from([None, "initial", "continuation"]))
        else:
            value = draw(st.sampled_from([None, True, False]))
        if value is not None:
            facts[name] = value
    # Notes never change the verdict; give some cases codes and contraindications.
    if draw(st.booleans()):
        facts["cpt_code"] = draw(st.sampled_from(["97124", "97140", "99999"]))
    if draw(st.booleans()):
        facts["contraindications"] = frozenset(
            draw(st.lists(st.sampled_from(["burns", "skin_infection"]), unique=True))
        )
    return facts


def _decision_part(known: dict[str, Any]) -> dict[str, Any]:
    return {f: v for f, v in known.items() if f in reference.AXES}


def _sufficient(subset: dict[str, Any], verdict: str) -> bool:
    return reference.verdict(subset) == verdict


@SETTINGS
@given(facts=cases())
def test_verdict_and_missing_match_brute_force(massage: Evaluator, facts: dict[str, Any]) -> None:
    evaluation = massage.evaluate(Case("c", "massage-therapy", facts))
    known = reference.with_defaults(facts)
    assert evaluation.verdict.value == reference.verdict(known)
    assert {m.fact for m in evaluation.missing} == reference.missing(_decision_part(known))
    assert bool(evaluation.missing) == (evaluation.verdict is Verdict.NEEDS_INFORMATION)


@SETTINGS
@given(facts=cases())
def test_explanation_alone_reproduces_the_verdict_and_is_subset_minimal(
    massage: Evaluator, facts: dict[str, Any]
) -> None:
    evaluation = massage.evaluate(Case("c", "massage-therapy", facts))
    known = reference.with_defaults(facts)
    explanation = {item.fact: item.value for item in evaluation.explanation}
    assert all(known[f] == v for f, v in explanation.items())
    assert _sufficient(explanation, evaluation.verdict.value)
    for dropped in explanation:
        rest = {f: v for f, v in explanation.items() if f != dropped}
        assert not _sufficient(rest, evaluation.verdict.value), dropped
    for item in evaluation.explanation:
        assert item.assumed == (item.fact not in facts)


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=cases(max_known=11))
def test_explanations_are_exactly_the_minimal_sufficient_sets(
    massage: Evaluator, facts: dict[str, Any]
) -> None:
    """All minimal explanations, smallest first; evaluate reports the first of them."""
    known = reference.with_defaults(facts)
    decision = _decision_part(known)
    verdict = reference.verdict(known)
    sufficient = [
        frozenset(subset)
        for size in range(len(decision) + 1)
        for subset in combinations(decision, size)
        if _sufficient({f: decision[f] for f in subset}, verdict)
    ]
    minimal = {s for s in sufficient if not any(t < s for t in sufficient)}
    found = list(massage.explanations(known, Verdict(verdict)))
    assert {frozenset(e) for e in found} == minimal
    assert [len(e) for e in found] == sorted(len(e) for e in found)
    evaluation = massage.evaluate(Case("c", "massage-therapy", facts))
    assert tuple(item.fact for item in evaluation.explanation) == found[0]
