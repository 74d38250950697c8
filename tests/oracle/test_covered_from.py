"""The earliest covered date of service ("covered from") against brute force.

Three policy shapes with windows relative to the date of service: the
bundled implantable-defibrillators (waiting periods after an MI and a
revascularization, counted back in days and months), the rehab-visits
fixture (windows before the date of service in days, weeks and months) and
the iron-infusion fixture (a wait after an earlier infusion, windows that
close as the date of service moves on, constants inside the windows); and
bariatric-surgery-medicare, whose versions change with the date of service.

Properties: the day found is covered and the day before it is not; on the
iron-infusion fixture, the day found is exactly the first day its oracle
(written from the text, three-valued over the case's unknown facts) covers,
over a horizon evaluated day by day; and none is found when none exists.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.case import Case
from policykb.bridge.model.result import CoveredFrom, json_value
from policykb.bridge.solving.covered_from import horizon_of
from policykb.cli.main import app
from tests.oracle import test_typed_comparisons as iron
from tests.sampling import examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
EXAMPLE = Path(__file__).parents[2] / "examples" / "defibrillator-mi-waiting-period.json"
SETTINGS = settings(
    max_examples=examples(20),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURES / "rehab-visits", FIXTURES / "iron-infusion"])


def moved(kb: KnowledgeBase, case: Case, day: date) -> Verdict:
    """The verdict on the case with its date of service at `day`, through the
    ordinary path (the version in force on `day`, grounded at `day`)."""
    facts = {name: json_value(value) for name, value in case.facts.items()}
    facts["date_of_service"] = day.isoformat()
    document = {"policy": case.policy, "facts": facts}
    return kb.evaluate(kb.case(document)).verdict


def assert_first_covered(kb: KnowledgeBase, case: Case, found: CoveredFrom) -> None:
    """The day found is covered and the day before (from the case's own date
    on) is not; with every fact stated, the day before is not_covered."""
    assert found.day is not None
    assert moved(kb, case, found.day) is Verdict.COVERED
    before = found.day - timedelta(days=1)
    if before >= found.start:
        verdict = moved(kb, case, before)
        assert verdict is not Verdict.COVERED
        if len(case.facts) == len(kb.policy(case.policy).facts):
            assert verdict is Verdict.NOT_COVERED


# -- implantable defibrillators: waiting periods ------------------------------------------

ICD = {
    "icd_service": "initial",
    "lvef": 30,
    "nyha_class": "iii",
    "revascularization_candidate": False,
    "combined_with_pacemaker": False,
    "shared_decision_making": True,
    "sustained_vt_history": "none",
    "vf_arrest_history": "none",
    "severe_dilated_cardiomyopathy": "none",
    "familial_high_risk_disorder": False,
    "unos_heart_transplant_candidate": False,
    "lvef_method": "echocardiography",
    "clinically_stable": True,
    "irreversible_brain_damage": False,
    "noncardiac_limited_survival": False,
    "svt_poorly_controlled_rate": False,
}


@st.composite
def icd_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A prior MI within 40 days, a revascularization within 3 months or
    none, on a date of service near month ends and leap days."""
    dos = draw(
        st.sampled_from(
            [date(2024, 2, 29), date(2024, 5, 31), date(2025, 3, 31), date(2024, 12, 31)]
        )
        | st.dates(date(2023, 1, 1), date(2026, 12, 31))
    )
    mi = dos - timedelta(days=draw(st.integers(0, 45)))
    facts: dict[str, Any] = {
        **ICD,
        "date_of_service": dos.isoformat(),
        "prior_mi": True,
        "last_mi_date": mi.isoformat(),
    }
    if draw(st.booleans()):
        revascularized = dos - timedelta(days=draw(st.integers(0, 100)))
        facts |= {
            "prior_revascularization": True,
            "last_revascularization_date": revascularized.isoformat(),
        }
    else:
        facts["prior_revascularization"] = False
    return facts


@SETTINGS
@given(facts=icd_cases())
def test_defibrillator_waits_end_on_the_day_found(kb: KnowledgeBase, facts: dict[str, Any]) -> None:
    case = kb.case({"policy": "implantable-defibrillators", "facts": facts})
    assume(kb.evaluate(case).verdict is Verdict.NOT_COVERED)
    found = kb.covered_from(case)
    assert found is not None
    assert_first_covered(kb, case, found)
    # Both waits end by 3 months and a day after the date of service.
    assert found.day is not None
    assert found.day <= horizon_of(found.start, 3) + timedelta(days=1)


# -- rehab visits: windows before the date of service -----------------------------------


@st.composite
def rehab_cases(draw: st.DrawFn) -> dict[str, Any]:
    dos = draw(st.dates(date(2021, 6, 1), date(2026, 12, 31)))
    facts: dict[str, Any] = {"date_of_service": dos.isoformat()}
    for fact, reach in (("evaluation_date", 200), ("surgery_date", 120), ("referral_date", 40)):
        if draw(st.integers(0, 9)) < 8:
            facts[fact] = (dos + timedelta(days=draw(st.integers(-reach, 20)))).isoformat()
    if draw(st.integers(0, 9)) < 8:
        facts["home_program"] = draw(st.booleans())
    return facts


@SETTINGS
@given(facts=rehab_cases())
def test_rehab_windows_covered_from_the_day_found(kb: KnowledgeBase, facts: dict[str, Any]) -> None:
    case = kb.case({"policy": "rehab-visits", "facts": facts})
    assume(kb.evaluate(case).verdict is Verdict.NOT_COVERED)
    found = kb.covered_from(case)
    assert found is not None
    if found.day is not None:
        assert_first_covered(kb, case, found)


# -- iron infusion: the oracle, day by day -------------------------------------------------


@st.composite
def iron_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case covered on a later day, dated up to 150 days before it (its lab
    or oral trial then too recent, say); sometimes an infusion less than 28
    days before, one fact moved to a value of the grid, one fact unknown."""
    later = draw(st.dates(date(2024, 2, 1), date(2025, 7, 30)))
    dos = later - timedelta(days=draw(st.integers(0, 150)))
    facts: dict[str, Any] = {**iron.covered_case(later), "date_of_service": dos.isoformat()}
    if draw(st.booleans()):
        last = dos - timedelta(days=draw(st.integers(0, 40)))
        facts |= {"prior_infusion": True, "last_infusion": last.isoformat()}
    grid = iron.grid_for(dos)
    if draw(st.integers(0, 3)) == 0:
        fact = draw(st.sampled_from(sorted(grid)))
        facts[fact] = draw(st.sampled_from(grid[fact]))
    if draw(st.integers(0, 3)) == 0:
        del facts[draw(st.sampled_from(sorted(grid)))]
    return facts


ORACLE_DAYS = 240


@SETTINGS
@given(facts=iron_cases())
def test_iron_covered_from_is_the_oracles_first_covered_day(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    """Every day from the case's date through ORACLE_DAYS later, by the
    oracle (three-valued over the unknown fact on that day's grid)."""
    case = kb.case({"policy": "iron-infusion", "facts": facts})
    assume(kb.evaluate(case).verdict is Verdict.NOT_COVERED)
    start = date.fromisoformat(facts["date_of_service"])
    until = start + timedelta(days=ORACLE_DAYS)
    expected = None
    day = start
    while day <= until:
        if iron.brute({**facts, "date_of_service": day.isoformat()}) is Verdict.COVERED:
            expected = day
            break
        day += timedelta(days=1)
    found = kb.covered_from(case, until=until)
    assert found is not None
    assert (found.start, found.until) == (start, until)
    assert found.day == expected
    if expected is not None:
        assert_first_covered(kb, case, found)


def test_an_infusion_within_28_days_is_covered_28_days_after_it(kb: KnowledgeBase) -> None:
    dos = date(2024, 8, 31)
    facts = {**iron.covered_case(dos), "last_infusion": "2024-08-20"}
    case = kb.case({"policy": "iron-infusion", "facts": facts})
    assert kb.evaluate(case).verdict is Verdict.NOT_COVERED
    found = kb.covered_from(case)
    assert found is not None and found.day == date(2024, 9, 17)
    assert_first_covered(kb, case, found)


def test_no_day_when_the_window_has_closed(kb: KnowledgeBase) -> None:
    """Labs drawn four months before: later days of service only move away."""
    dos = date(2024, 8, 31)
    facts = {**iron.covered_case(dos), "lab_date": "2024-04-30"}
    case = kb.case({"policy": "iron-infusion", "facts": facts})
    found = kb.covered_from(case)
    assert found is not None
    assert found.day is None and found.until == date(2034, 8, 31)


# -- versions, and the surfaces ------------------------------------------------------------


def test_the_version_in_force_on_each_day_decides(kb: KnowledgeBase) -> None:
    """Type 2 diabetes counts from the 2009 version on (NCD 100.1)."""
    facts = {
        "date_of_service": "2008-06-30",
        "bariatric_procedure": "lagb",
        "bmi": 40,
        "other_obesity_comorbidity": False,
        "diagnoses": ["E11.9"],
        "medical_treatment_unsuccessful": True,
        "facility_certified": True,
    }
    case = kb.case({"policy": "bariatric-surgery-medicare", "facts": facts})
    found = kb.covered_from(case)
    assert found is not None and found.day == date(2009, 2, 12)
    dated = {**facts, "date_of_service": "2009-02-11"}
    assert kb.evaluate(kb.case({"policy": case.policy, "facts": dated})).verdict is not (
        Verdict.COVERED
    )


def test_a_policy_without_a_date_of_service_has_none(kb: KnowledgeBase) -> None:
    case = kb.read_case(str(EXAMPLE.with_name("denied-no-order.json")))
    assert kb.covered_from(case) is None
    assert "covered_from" not in kb.why(case).to_dict()


def test_why_json_and_text_and_the_notice_state_it() -> None:
    runner = CliRunner()
    answer = json.loads(runner.invoke(app, ["why", str(EXAMPLE), "--format", "json"]).stdout)
    assert answer["verdict"] == "not_covered"
    assert answer["covered_from"] == "2024-06-01"
    assert answer["covered_from_searched"] == {"from": "2024-05-31", "through": "2034-05-31"}
    text = runner.invoke(app, ["why", str(EXAMPLE)]).stdout
    assert "Covered from\n  - 2024-06-01: the earliest date of service" in text
    notice = runner.invoke(app, ["notice", str(EXAMPLE)]).stdout
    assert "## Earliest date of service covered\n\n- 2024-06-01: the earliest" in notice


def test_crd_coverage_information_gives_it() -> None:
    """A denial's coverage information carries the earliest covered date as
    its last reason (CRD puts no coverage information in cards, resp-25)."""
    from policykb.service.coverage_information import coverage_information
    from policykb.service.decisions import Decisions

    decisions = Decisions(KnowledgeBase(), compile_now=False)
    facts = json.loads(EXAMPLE.read_text())["facts"]
    decision = decisions.decide("implantable-defibrillators", facts, channel="test", audit=False)
    assert decision.verdict is Verdict.NOT_COVERED
    found = decisions.knowledge.covered_from(decision.case)
    information = coverage_information(
        decision, {}, "http://x", date(2024, 5, 31), covered_from=found
    )
    reasons = [
        part["valueCodeableConcept"]["text"]
        for part in information["extension"]
        if part["url"] == "reason"
    ]
    assert reasons[-1].startswith("Earliest date of service covered: 2024-06-01")


# -- the argument itself: days with one key have one verdict --------------------------------


@settings(
    max_examples=examples(8),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=rehab_cases(), data=st.data())
def test_days_with_the_same_pattern_get_the_same_verdict(
    kb: KnowledgeBase, facts: dict[str, Any], data: st.DataObject
) -> None:
    """The exactness argument of solving/covered_from.py, tested directly:
    over 400 days from the case's date, two days of each key (the first and
    one drawn) are evaluated through the ordinary path and agree."""
    from policykb.bridge.solving.covered_from import DayPatterns

    evaluator = kb.evaluator("rehab-visits")
    case = kb.case({"policy": "rehab-visits", "facts": facts})
    patterns = DayPatterns(evaluator)
    known = dict(evaluator.known_facts(case)[0])
    start = date.fromisoformat(facts["date_of_service"])
    groups: dict[object, list[date]] = {}
    for offset in range(400):
        day = start + timedelta(days=offset)
        if day > date(2030, 12, 31):
            break
        groups.setdefault(patterns.of({**known, "date_of_service": day}, day), []).append(day)
    assert len(groups) < 60  # far fewer evaluations than days
    for days in groups.values():
        other = data.draw(st.sampled_from(days))
        assert moved(kb, case, days[0]) is moved(kb, case, other), (days[0], other)
