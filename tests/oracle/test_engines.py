"""Two engines, one answer: SWI-Prolog (rules translated from the ASP) against clingo."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from policykb.bridge import Case, KnowledgeBase
from policykb.bridge.prolog.engine import PrologEngine
from policykb.bridge.solving.evaluator import Evaluator
from tests import reference
from tests.oracle.test_properties import cases
from tests.sampling import examples


@pytest.fixture(scope="module")
def prover(kb: KnowledgeBase) -> PrologEngine:
    return kb.prover("massage-therapy")


def test_engines_agree_on_every_complete_scenario(massage: Evaluator, prover: PrologEngine) -> None:
    """Exhaustive: every combination of the facts the verdict depends on."""
    facts = massage.decision_facts
    assert set(facts) == set(reference.AXES)
    choices = [prover.scenario_choices(f) for f in facts]
    by_clingo = massage.covered_scenarios(facts, choices)
    by_prolog = prover.covered_scenarios(facts)
    assert by_prolog == by_clingo
    assert len(by_clingo) == int(reference.table().sum())


@settings(
    max_examples=examples(150),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=cases())
def test_engines_agree_on_cases_with_unknown_facts(
    kb: KnowledgeBase, prover: PrologEngine, facts: dict[str, Any]
) -> None:
    case = Case("c", "massage-therapy", facts)
    verdict, proof = kb.prove(case)
    assert verdict.value == reference.verdict(reference.with_defaults(facts))
    assert kb.cross_check(case) is verdict
    assert proof["engine"] == "swi-prolog"


def _find(node: dict[str, Any], goal: str) -> dict[str, Any] | None:
    if node["goal"] == goal:
        return node
    for child in node["children"]:
        found = _find(child, goal)
        if found is not None:
            return found
    return None


def test_proof_shows_why_an_exclusion_does_not_hold(kb: KnowledgeBase) -> None:
    case = kb.read_case("examples/covered-initial.json")
    verdict, proof = kb.prove(case)
    assert verdict.value == "covered"
    e1 = _find(proof["root"], "blocked(E1)")
    assert e1 is not None and e1["truth"] == "false"
    assert e1["rule"] == "E1" and "stress reduction" in e1["text"]
    leaves = [n for n in _find(e1, "met(E1)")["children"]]  # type: ignore[index]
    assert {leaf["goal"] for leaf in leaves} == {
        "value(for_prevention, true)",
        "value(for_recreation, true)",
        "value(for_stress_reduction, true)",
    }
    assert all(leaf["truth"] == "false" and leaf["rule"] == "case" for leaf in leaves)
    not_blocked = _find(proof["root"], "not blocked(_)")
    assert not_blocked is not None and not_blocked["truth"] == "true"
    assert not_blocked["text"] == "No applicable criterion blocks coverage."


def test_proof_by_cases_when_an_unknown_fact_does_not_matter(kb: KnowledgeBase) -> None:
    facts = dict(reference.BOTH_BRANCHES_COVER)
    verdict, proof = kb.prove(kb.case({"facts": facts}))
    assert verdict.value == "covered"
    root = proof["root"]
    assert root["rule"] == "cases" and root["goal"] == "cases(medicare_member)"
    assert [b["goal"] for b in root["children"]] == [
        "medicare_member = true",
        "medicare_member = false",
    ]


def test_case_strings_reach_prolog_only_as_vocabulary_values(kb: KnowledgeBase) -> None:
    hostile = "'), halt. %"
    case = kb.case(
        {
            "id": hostile,
            "facts": {
                "cpt_code": hostile,
                "type_of_service": hostile,
                "medicare_member": False,
                "terminally_ill": False,
                "ordered_by_treating_physician": False,
            },
        }
    )
    verdict, proof = kb.prove(case)
    assert verdict.value == "not_covered"
    assert hostile not in str(proof)
