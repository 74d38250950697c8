"""The encoding of NCD 20.4 (implantable-defibrillators) against the oracle
written from the text alone (tests/oracle/ncd_20_4.py).

Partial cases, generated with LVEF on both sides of 30 and 35, event dates on
both sides of each waiting period's edge counted back from the date of
service (month ends and leap days among the dates of service), must get the
oracle's verdict, missing facts and set of minimal explanations; an even
sample of complete scenarios (one value per region) on each edge date must
get the oracle's verdict.
"""

from __future__ import annotations

import random
from datetime import date, timedelta
from itertools import product
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from tests.oracle import ncd_20_4 as oracle
from tests.sampling import examples, knob

POLICY = "implantable-defibrillators"
LAST_DAY = date(2030, 12, 31)
SETTINGS = settings(
    max_examples=knob("NCD_20_4_EXAMPLES", 80),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Dates of service: the first day, month ends (a month step from them lands on
# a shorter month), leap days and the days around them.
DATES_OF_SERVICE = (
    date(2018, 2, 15),
    date(2020, 2, 29),
    date(2020, 5, 29),
    date(2020, 5, 30),
    date(2020, 5, 31),
    date(2021, 5, 31),
    date(2024, 2, 29),
    date(2024, 3, 1),
    date(2024, 11, 30),
    date(2024, 12, 31),
    date(2025, 3, 31),
    date(2026, 1, 1),
)
# LVEF around 30 and 35 on both sides, and the declared bounds.
LVEFS = (0.0, 20.0, 29.99, 30.0, 30.01, 34.99, 35.0, 35.01, 55.0, 100.0)
SAMPLED_PER_DAY = 700


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


def days() -> st.SearchStrategy[date]:
    anywhere = st.integers(0, (LAST_DAY - oracle.FIRST_DAY).days).map(
        lambda n: oracle.FIRST_DAY + timedelta(days=n)
    )
    return st.one_of(st.sampled_from(DATES_OF_SERVICE), anywhere)


def event_date(fact: str, day: date) -> st.SearchStrategy[date]:
    """A date around its waiting period's edge as of `day`, or far from it."""
    if fact == "last_mi_date":
        edge = day - timedelta(days=oracle.MI_WAIT_DAYS)
    else:
        edge = oracle.months_before(day, 3)
    near = st.integers(-2, 2).map(lambda n: edge + timedelta(days=n))
    around_day = st.integers(-1, 1).map(lambda n: day + timedelta(days=n))
    anywhere = st.integers(0, (day - date(1900, 1, 1)).days).map(
        lambda n: date(1900, 1, 1) + timedelta(days=n)
    )
    return st.one_of(near, near, around_day, anywhere)


# The values that can lead to coverage are drawn more often than the others (a
# uniform draw almost never meets every criterion at once).
LEANING: dict[str, tuple[Any, ...]] = {
    "medicare_beneficiary": (True,) * 5 + (False,),
    "icd_service": ("initial",) * 4 + ("replacement",),
    "clinically_stable": (True,) * 5 + (False,),
    "irreversible_brain_damage": (False,) * 5 + (True,),
    "noncardiac_limited_survival": (False,) * 5 + (True,),
    "svt_poorly_controlled_rate": (False,) * 5 + (True,),
    "lvef_method": ("echocardiography", "cardiac_mri", "other"),
    "shared_decision_making": (True,) * 3 + (False,),
    "revascularization_candidate": (False,) * 3 + (True,),
    "sustained_vt_history": ("none",) * 3 + ("qualifying", "other_cause"),
    "vf_arrest_history": ("none",) * 3 + ("qualifying", "other_cause"),
    "familial_high_risk_disorder": (False,) * 2 + (True,),
    "nyha_class": ("ii", "iii", "ii", "iii", "none", "i", "iv"),
}


def values(fact: str, day: date) -> st.SearchStrategy[Any]:
    if fact in LEANING:
        return st.sampled_from(LEANING[fact])
    if fact in oracle.ENUMS:
        return st.sampled_from(oracle.ENUMS[fact])
    if fact in oracle.BOOL_FACTS:
        return st.booleans()
    if fact == "lvef":
        return st.one_of(st.sampled_from(LVEFS), st.floats(0, 100).map(lambda x: round(x, 2)))
    return event_date(fact, day)


# Half the cases start from a scenario meeting Medicare and every additional
# criterion, so that the indications and the facts they rest on are at stake.
MEETING = {
    "medicare_beneficiary": True,
    "clinically_stable": True,
    "lvef_method": "echocardiography",
    "irreversible_brain_damage": False,
    "noncardiac_limited_survival": False,
    "svt_poorly_controlled_rate": False,
}


@st.composite
def partial_cases(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    day = draw(days())
    scenario = {fact: draw(values(fact, day)) for fact in oracle.FACTS}
    if draw(st.booleans()):
        scenario |= MEETING
    unknown = draw(st.sets(st.sampled_from(oracle.FACTS)))
    return {f: v for f, v in scenario.items() if f not in unknown}, day


def document(facts: dict[str, Any], day: date) -> dict[str, Any]:
    """A case document as JSON would give it (dates as ISO strings)."""
    stated = {f: v.isoformat() if isinstance(v, date) else v for f, v in facts.items()}
    return {"policy": POLICY, "facts": {**stated, "date_of_service": day.isoformat()}}


@SETTINGS
@given(case=partial_cases())
def test_verdict_missing_and_explanations_agree_with_the_oracle(
    knowledge: KnowledgeBase, case: tuple[dict[str, Any], date]
) -> None:
    facts, day = case
    answer = knowledge.why(knowledge.case(document(facts, day)))
    known = oracle.with_defaults(facts)
    event(f"verdict {answer.verdict.value}")
    assert answer.verdict.value == oracle.verdict(known, day)
    assert {m.fact for m in answer.missing} == oracle.missing(known, day)
    found = {frozenset(item.fact for item in e) for e in answer.explanations}
    assert found == oracle.explanations(known, day)


def indication_met(indication: str, day: date) -> dict[str, Any]:
    """A complete scenario meeting one indication (and Medicare and every
    additional criterion) with every other route closed, event dates on the
    covered side of their edges."""
    scenario: dict[str, Any] = {f: oracle.domain(f, day)[-1] for f in oracle.BOOL_FACTS} | {
        f: values[0] for f, values in oracle.ENUMS.items()
    }
    scenario |= MEETING | {
        "icd_service": "initial",
        "nyha_class": "ii",
        "lvef": 50.0,
        "last_mi_date": oracle.domain("last_mi_date", day)[0],
        "last_revascularization_date": oracle.domain("last_revascularization_date", day)[0],
        "optimal_medical_therapy_start": oracle.domain("optimal_medical_therapy_start", day)[0],
    }
    sdm = {"shared_decision_making": True}
    waits = {"prior_mi": True, "prior_revascularization": True}
    meeting: dict[str, dict[str, Any]] = {
        "b1": {"vf_arrest_history": "qualifying"},
        "b2": {**sdm, **waits, "lvef": 30.0, "nyha_class": "iii"},
        "b3": {**sdm, **waits, "lvef": 35.0, "severe_dilated_cardiomyopathy": "ischemic"},
        "b4": {
            **sdm,
            **waits,
            "lvef": 35.0,
            "severe_dilated_cardiomyopathy": "non_ischemic",
            "on_optimal_medical_therapy": True,
        },
        "b5": {**sdm, "familial_high_risk_disorder": True},
        "b6": {"icd_service": "replacement", "replacement_reason": "malfunction"},
        "d": {
            "clinically_stable": False,
            "unos_heart_transplant_candidate": True,
            "mac_determined_coverage": True,
        },
    }
    return scenario | meeting[indication]


INDICATIONS = ("b1", "b2", "b3", "b4", "b5", "b6", "d")


@pytest.mark.parametrize("day", DATES_OF_SERVICE, ids=str)
def test_an_even_sample_of_complete_scenarios_agrees_with_the_oracle(
    knowledge: KnowledgeBase, day: date
) -> None:
    """700 complete scenarios per date of service (a fixed seed, so a failure
    reproduces): a third drawn with each fact's region uniform and
    independent; two thirds start from a scenario meeting one indication
    (B1-B6, D in turn), with one to three facts then redrawn uniformly, so that
    every threshold, waiting-period edge and exclusion is met and missed."""
    evaluator = knowledge.evaluator(POLICY, day)
    draw = random.Random(day.toordinal())
    disagreements = []
    for n in range(SAMPLED_PER_DAY):
        if n % 3 == 0:
            scenario = {f: draw.choice(oracle.domain(f, day)) for f in oracle.FACTS}
        else:
            scenario = indication_met(INDICATIONS[n % len(INDICATIONS)], day)
            for fact in draw.sample(oracle.FACTS, draw.randint(1, 3)):
                scenario[fact] = draw.choice(oracle.domain(fact, day))
        expected = "covered" if oracle.covered(scenario, day) else "not_covered"
        known, _ = evaluator.known_facts(knowledge.case(document(scenario, day)))
        got = evaluator.for_known(known).verdict_of(known)
        if got.value != expected:
            disagreements.append((scenario, got.value, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"


def test_each_indication_template_is_covered_by_the_oracle() -> None:
    """The templates the sample starts from do meet their indication (so the
    redrawn facts test edges of a covered scenario, not of a denied one)."""
    for day in DATES_OF_SERVICE:
        for indication in INDICATIONS:
            assert oracle.covered(indication_met(indication, day), day), (indication, day)


def test_the_oracle_reads_each_threshold_and_waiting_period_of_the_text() -> None:
    """The oracle itself, on the sentences at stake (so a slip in it is not
    hidden by a like slip in the encoding)."""
    day = date(2024, 5, 31)
    b2 = {
        "medicare_beneficiary": True,
        "icd_service": "initial",
        "sustained_vt_history": "none",
        "vf_arrest_history": "none",
        "prior_mi": True,
        "last_mi_date": day - timedelta(days=40),
        "lvef": 30.0,
        "lvef_method": "echocardiography",
        "nyha_class": "iii",
        "prior_revascularization": True,
        "last_revascularization_date": date(2024, 2, 29),
        "revascularization_candidate": False,
        "combined_with_pacemaker": False,
        "severe_dilated_cardiomyopathy": "none",
        "on_optimal_medical_therapy": False,
        "optimal_medical_therapy_start": day,
        "familial_high_risk_disorder": False,
        "shared_decision_making": True,
        "clinically_stable": True,
        "irreversible_brain_damage": False,
        "noncardiac_limited_survival": False,
        "svt_poorly_controlled_rate": False,
        "unos_heart_transplant_candidate": False,
        "mac_determined_coverage": False,
    }
    assert oracle.covered(b2, day)
    assert not oracle.covered({**b2, "lvef": 30.01}, day)
    assert not oracle.covered({**b2, "nyha_class": "iv"}, day)
    assert not oracle.covered({**b2, "shared_decision_making": False}, day)
    assert not oracle.covered({**b2, "last_mi_date": day - timedelta(days=39)}, day)
    assert not oracle.covered({**b2, "last_revascularization_date": date(2024, 3, 1)}, day)
    recent = {**b2, "last_mi_date": day - timedelta(days=1), "last_revascularization_date": day}
    assert not oracle.covered(recent, day)
    assert oracle.covered({**recent, "combined_with_pacemaker": True}, day)
    assert not oracle.covered({**b2, "revascularization_candidate": True}, day)
    assert not oracle.covered({**b2, "lvef_method": "other"}, day)
    b4 = {
        **b2,
        "prior_mi": False,
        "lvef": 35.0,
        "severe_dilated_cardiomyopathy": "non_ischemic",
        "on_optimal_medical_therapy": True,
        "optimal_medical_therapy_start": date(2024, 2, 29),
    }
    assert oracle.covered(b4, day)
    assert not oracle.covered({**b4, "optimal_medical_therapy_start": date(2024, 3, 1)}, day)
    assert not oracle.covered({**b4, "lvef": 35.01}, day)
    assert not oracle.covered({**b4, "nyha_class": "i"}, day)
    assert not oracle.covered({**b4, "sustained_vt_history": "other_cause"}, day)
    assert oracle.covered({**b4, "sustained_vt_history": "qualifying"}, day)  # B1 instead
    assert oracle.covered(
        {**b4, "shared_decision_making": False, "vf_arrest_history": "qualifying"}, day
    )
    replacement = {
        **b2,
        "lvef": 60.0,
        "icd_service": "replacement",
        "replacement_reason": "malfunction",
    }
    assert oracle.covered(replacement, day)
    assert not oracle.covered({**replacement, "replacement_reason": "other"}, day)
    unos = {**replacement, "clinically_stable": False, "unos_heart_transplant_candidate": True}
    assert not oracle.covered(unos, day)
    assert oracle.covered({**unos, "mac_determined_coverage": True}, day)
    assert not oracle.covered(
        {**unos, "mac_determined_coverage": True, "medicare_beneficiary": False}, day
    )
    assert oracle.months_before(date(2025, 5, 31), 3) == date(2025, 2, 28)


@settings(max_examples=examples(40), deadline=None)
@given(case=partial_cases(), unknown=st.sets(st.sampled_from(oracle.FACTS), max_size=7))
def test_the_oracles_enumeration_equals_the_full_product(
    case: tuple[dict[str, Any], date], unknown: set[str]
) -> None:
    """The oracle's decision-tree enumeration (which branches on a fact only
    where it is read) gives the verdict and missing facts that the plain
    product over every unknown fact's regions gives."""
    facts, day = case
    full = {f: oracle.domain(f, day)[0] for f in oracle.FACTS} | facts
    known = {f: v for f, v in full.items() if f not in unknown}
    free = sorted(unknown)

    def outcome(values: tuple[Any, ...]) -> bool:
        return oracle.covered({**known, **dict(zip(free, values, strict=True))}, day)

    completions = list(product(*(oracle.domain(f, day) for f in free)))
    outcomes = {outcome(values) for values in completions}
    expected = {frozenset({True}): "covered", frozenset({False}): "not_covered"}.get(
        frozenset(outcomes), "needs_information"
    )
    assert oracle.verdict(known, day) == expected
    turns = {
        fact
        for i, fact in enumerate(free)
        for values in completions
        for other in oracle.domain(fact, day)
        if outcome((*values[:i], other, *values[i + 1 :])) != outcome(values)
    }
    assert oracle.missing(known, day) == (turns if expected == "needs_information" else set())


LEAP_DAY = date(2024, 2, 29)


def reading_probes(day: date) -> dict[str, dict[str, Any]]:
    """One complete scenario per reading a reviewer might dispute, each a
    covered indication changed in the one respect at stake."""
    probes: dict[str, dict[str, Any]] = {}
    for name in ("b2", "b3", "b4"):
        met = indication_met(name, day)
        recent_mi = {**met, "last_mi_date": day - timedelta(days=39)}
        probes[f"{name}: MI 39 days before"] = recent_mi
        probes[f"{name}: MI 39 days before, pacemaker"] = {
            **recent_mi,
            "combined_with_pacemaker": True,
        }
        probes[f"{name}: CABG/PCI on the day, pacemaker"] = {
            **met,
            "last_revascularization_date": day,
            "combined_with_pacemaker": True,
        }
        probes[f"{name}: revascularization candidate, pacemaker"] = {
            **met,
            "revascularization_candidate": True,
            "combined_with_pacemaker": True,
        }
        probes[f"{name}: MI dated after the date of service"] = {
            **met,
            "last_mi_date": day + timedelta(days=1),
        }
    b1, b5, b6 = (indication_met(name, day) for name in ("b1", "b5", "b6"))
    probes["b1: UNOS candidate, MAC has not covered"] = {
        **b1,
        "unos_heart_transplant_candidate": True,
    }
    probes["b1: LVEF by another method"] = {**b1, "lvef_method": "other"}
    probes["b6: LVEF by another method"] = {**b6, "lvef_method": "other"}
    probes["b1: no shared decision making"] = {**b1, "shared_decision_making": False}
    probes["b5: no shared decision making"] = {**b5, "shared_decision_making": False}
    probes["b2: no heart failure (NYHA none)"] = {
        **indication_met("b2", day),
        "nyha_class": "none",
    }
    probes["b3: sustained VT from a reversible cause"] = {
        **indication_met("b3", day),
        "sustained_vt_history": "other_cause",
    }
    probes["b6: replacement for another reason, B1 met"] = {
        **b6,
        "replacement_reason": "other",
        "vf_arrest_history": "qualifying",
    }
    probes["d: not a Medicare beneficiary"] = {
        **indication_met("d", day),
        "medicare_beneficiary": False,
    }
    return probes


@pytest.mark.parametrize("probe", sorted(reading_probes(LEAP_DAY)))
def test_each_disputable_reading_agrees_with_the_oracle(
    knowledge: KnowledgeBase, probe: str
) -> None:
    scenario = reading_probes(LEAP_DAY)[probe]
    evaluator = knowledge.evaluator(POLICY, LEAP_DAY)
    known, _ = evaluator.known_facts(knowledge.case(document(scenario, LEAP_DAY)))
    expected = "covered" if oracle.covered(scenario, LEAP_DAY) else "not_covered"
    assert evaluator.for_known(known).verdict_of(known).value == expected
