"""The encoding of NCD 100.1 (bariatric-surgery-medicare) against the oracle
written from the text alone (tests/oracle/ncd_100_1.py).

Partial cases, generated with values on both sides of every threshold the
text states and dates of service on both sides of every date it names, must
get the oracle's verdict, missing facts and set of minimal explanations; every
complete scenario (one value per region) on every such date must get the
oracle's verdict.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from tests.oracle import ncd_100_1 as oracle
from tests.sampling import examples

POLICY = "bariatric-surgery-medicare"
LAST_DAY = date(2030, 12, 31)
SETTINGS = settings(
    max_examples=examples(120),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Around 35 on both sides, and the declared bounds.
BMIS = (0.0, 18.5, 34.0, 34.9, 34.99, 35.0, 35.01, 40.0, 52.3, 200.0)
# Type 2 diabetes (E11 and under it), other diabetes (E08-E10, E13) and others.
DIAGNOSES = (
    (),
    ("E11.9",),
    ("E11.65", "I10"),
    ("E08.00", "E09.9", "E10.9", "E13.9"),
    ("I10", "G47.33"),
)
CODES = (
    "E11",
    "E11.9",
    "e11.65",
    "E1122",
    "E10.9",
    "E13.9",
    "E08.00",
    "E09.9",
    "I10",
    "G47.33",
    "E66.01",
)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


def days() -> st.SearchStrategy[date]:
    edges = st.sampled_from(oracle.DATE_REPRESENTATIVES)
    anywhere = st.integers(0, (LAST_DAY - oracle.FIRST_DAY).days).map(
        lambda n: oracle.FIRST_DAY + timedelta(days=n)
    )
    return st.one_of(edges, anywhere)


# The values that can lead to coverage are drawn more often than the others
# (a uniform draw almost never meets every condition at once), and a fact is
# left unknown by a drawn set (often small), so all three verdicts come up.
LEANING = {
    "medicare_beneficiary": (True,) * 5 + (False,),
    "other_obesity_comorbidity": (True,) * 3 + (False,),
    "medical_treatment_unsuccessful": (True,) * 5 + (False,),
    "mac_determined_coverage": (True,) * 3 + (False,),
    "facility_certified": (True,) * 3 + (False,),
}
PROCEDURES = ("rygbp", "bpd_ds", "lagb") * 3 + ("lsg", "other") * 2 + oracle.PROCEDURES


def values(fact: str) -> st.SearchStrategy[Any]:
    if fact in oracle.BOOL_FACTS:
        return st.sampled_from(LEANING[fact])
    if fact == "bariatric_procedure":
        return st.sampled_from(PROCEDURES)
    if fact == "bmi":
        return st.one_of(st.sampled_from(BMIS), st.floats(0, 200).map(lambda x: round(x, 2)))
    return st.lists(st.sampled_from(CODES), max_size=3, unique=True)


# Half the cases start from a scenario meeting every condition but the
# co-morbidity (BMI 35 or more; the co-morbidity drawn, so diagnoses decide
# one case in four of these), so that coverage and the facts it rests on are often at stake.
MEETING = {
    "medicare_beneficiary": True,
    "medical_treatment_unsuccessful": True,
    "mac_determined_coverage": True,
    "facility_certified": True,
}


@st.composite
def partial_facts(draw: st.DrawFn) -> dict[str, Any]:
    scenario = {fact: draw(values(fact)) for fact in oracle.FACTS}
    if draw(st.booleans()):
        scenario |= MEETING
        scenario["bmi"] = draw(st.sampled_from([b for b in BMIS if b >= 35]))
    unknown = draw(st.sets(st.sampled_from(oracle.FACTS)))
    return {fact: value for fact, value in scenario.items() if fact not in unknown}


def document(facts: dict[str, Any], day: date) -> dict[str, Any]:
    """A case document as JSON would give it (a code list is a list)."""
    stated = {f: list(v) if isinstance(v, tuple) else v for f, v in facts.items()}
    return {"policy": POLICY, "facts": {**stated, "date_of_service": day.isoformat()}}


@SETTINGS
@given(facts=partial_facts(), day=days())
def test_verdict_missing_and_explanations_agree_with_the_oracle(
    knowledge: KnowledgeBase, facts: dict[str, Any], day: date
) -> None:
    case = knowledge.case(document(facts, day))
    answer = knowledge.why(case)
    known = oracle.with_defaults(facts)
    event(f"verdict {answer.verdict.value}")
    assert answer.verdict.value == oracle.verdict(known, day)
    assert {m.fact for m in answer.missing} == oracle.missing(known, day)
    found = {frozenset(item.fact for item in e) for e in answer.explanations}
    assert found == oracle.explanations(known, day)
    evaluation = knowledge.evaluate(case)
    assert evaluation.verdict is answer.verdict
    assert {m.fact for m in evaluation.missing} == oracle.missing(known, day)
    assert frozenset(item.fact for item in evaluation.explanation) in found


@pytest.mark.parametrize("day", oracle.DATE_REPRESENTATIVES, ids=str)
def test_every_complete_scenario_agrees_with_the_oracle(
    knowledge: KnowledgeBase, day: date
) -> None:
    """All 3200 scenarios (one value per region of each fact, the diagnoses
    also as other diabetes, E08-E10 and E13, and as codes of no diabetes) on
    each date.
    The case is validated as a document, then decided by the version's
    evaluator on its known facts (the verdict alone: explanations of complete
    scenarios are covered by the property test above)."""
    evaluator = knowledge.evaluator(POLICY, day)
    disagreements = []
    bases = [s for s in oracle.complete_scenarios() if not s["diagnoses"]]
    for scenario in ({**s, "diagnoses": d} for s in bases for d in DIAGNOSES):
        expected = "covered" if oracle.covered(scenario, day) else "not_covered"
        known, _ = evaluator.known_facts(knowledge.case(document(scenario, day)))
        got = evaluator.verdict_of(known)
        if got.value != expected:
            disagreements.append((scenario, got.value, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"


def test_the_oracle_reads_each_threshold_and_date_of_the_text() -> None:
    """The oracle itself, on the sentences at stake (so a slip in it is not
    hidden by a like slip in the encoding)."""
    base = {
        "medicare_beneficiary": True,
        "bariatric_procedure": "rygbp",
        "bmi": 35.0,
        "other_obesity_comorbidity": True,
        "diagnoses": [],
        "medical_treatment_unsuccessful": True,
        "facility_certified": False,
        "mac_determined_coverage": False,
    }
    before, after = date(2013, 9, 23), date(2013, 9, 24)
    assert not oracle.covered(base, before)
    assert oracle.covered(base, after)
    assert oracle.covered({**base, "facility_certified": True}, before)
    assert not oracle.covered({**base, "bmi": 34.99}, after)
    t2dm = {**base, "other_obesity_comorbidity": False, "diagnoses": ["E11.9"]}
    assert not oracle.covered(t2dm, date(2009, 2, 11))
    assert oracle.covered({**t2dm, "facility_certified": True}, date(2009, 2, 12))
    assert oracle.covered(t2dm, after)
    assert not oracle.covered({**t2dm, "diagnoses": ["E10.9", "E13.9"]}, after)
    lsg = {**base, "bariatric_procedure": "lsg", "mac_determined_coverage": True}
    assert not oracle.covered(lsg, date(2012, 6, 26))
    assert oracle.covered(lsg, date(2012, 6, 27))
    assert not oracle.covered({**lsg, "mac_determined_coverage": False}, after)
    assert not oracle.covered({**lsg, "medical_treatment_unsuccessful": False}, after)
    assert not oracle.covered({**lsg, "bariatric_procedure": "open_sleeve"}, after)
    assert not oracle.covered({**base, "medicare_beneficiary": False}, after)
    with pytest.raises(ValueError, match="before 2006-02-21"):
        oracle.covered(base, date(2006, 2, 20))


def test_the_versions_begin_on_the_days_the_text_names(knowledge: KnowledgeBase) -> None:
    """The oracle's reading changes on exactly the versions' first days, and a
    date of service before the first, which the text decides nothing for, is
    refused (exit 1 from the CLI) rather than decided."""
    from policykb.bridge.model.errors import CaseError

    firsts = [e.policy.version.effective for e in knowledge.versions(POLICY)]
    assert None not in firsts
    assert sorted(d for d in firsts if d is not None) == [
        oracle.FIRST_DAY,
        oracle.T2DM_FROM,
        oracle.LSG_MAC_FROM,
        oracle.NO_CERTIFICATION_FROM,
    ]
    day_before = oracle.FIRST_DAY - timedelta(days=1)
    with pytest.raises(CaseError, match=r"no version .* in force on 2006-02-20"):
        knowledge.evaluate(document({}, day_before))
    with pytest.raises(ValueError, match="before 2006-02-21"):
        oracle.covered(dict(next(iter(oracle.complete_scenarios()))), day_before)
