"""The encoding of NCD 150.3 (bone-mass-measurement) against the oracle
written from the text alone (tests/oracle/ncd_150_3.py).

Partial cases, generated with the glucocorticoid dose on both sides of 5.0
mg, the course on both sides of 3 months, and the month of the last covered
BMM (any day of it: only the month counts) on both sides of the 23-month
standard counted back from the date of service (month ends and leap days
among the dates of service), must get the
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
from tests.oracle import ncd_150_3 as oracle
from tests.sampling import examples, knob

POLICY = "bone-mass-measurement"
LAST_DAY = date(2030, 12, 31)
SETTINGS = settings(
    max_examples=knob("NCD_150_3_EXAMPLES", 60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Dates of service: the first day, month ends and month starts (the month
# count turns between them), leap days and the days around them.
DATES_OF_SERVICE = (
    date(2007, 1, 1),
    date(2009, 1, 1),
    date(2020, 2, 29),
    date(2020, 3, 1),
    date(2022, 2, 28),
    date(2024, 1, 31),
    date(2024, 2, 1),
    date(2024, 2, 29),
    date(2025, 12, 31),
    date(2026, 1, 1),
)
# Doses around 5.0 mg and courses around 3 months, with the declared bounds.
DOSES = (0.0, 2.5, 4.99, 5.0, 5.01, 7.5, 1000.0)
COURSES = (0.0, 2.99, 3.0, 3.01, 4.0, 12.0, 1200.0)
SAMPLED_PER_DAY = knob("NCD_150_3_SAMPLED", 300)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


def days() -> st.SearchStrategy[date]:
    anywhere = st.integers(0, (LAST_DAY - oracle.FIRST_DAY).days).map(
        lambda n: oracle.FIRST_DAY + timedelta(days=n)
    )
    return st.one_of(st.sampled_from(DATES_OF_SERVICE), anywhere)


def a_day_of(first: date, day: int) -> date:
    """Day `day` of the month starting on `first`, or its last day when shorter."""
    following = oracle.first_of_month(oracle.month_index(first) + 1)
    return first.replace(day=min(day, (following - first).days))


def last_month(day: date) -> st.SearchStrategy[date]:
    """A day of a month around the frequency edge as of `day` (its first, or
    any day of it: only the month counts), or the first day of a month far
    from it."""
    edge = oracle.month_index(oracle.frequency_edge(day))
    near = st.builds(
        lambda n, d: a_day_of(oracle.first_of_month(edge + n), d),
        st.integers(-2, 2),
        st.one_of(st.just(1), st.integers(1, 31)),
    )
    floor = oracle.month_index(date(1998, 7, 1))
    anywhere = st.integers(floor, oracle.month_index(day) + 2).map(oracle.first_of_month)
    return st.one_of(near, near, anywhere)


# The values that can lead to coverage are drawn more often than the others (a
# uniform draw almost never meets every condition at once).
LEANING: dict[str, tuple[Any, ...]] = {
    "medicare_beneficiary": (True,) * 5 + (False,),
    "bmm_technique": ("dxa_axial",) * 4 + oracle.TECHNIQUES,
    "fda_cleared_device": (True,) * 5 + (False,),
    "measures_bone_mass": (True,) * 5 + (False,),
    "physician_interpretation": (True,) * 5 + (False,),
    "ordered_by_treating_practitioner": (True,) * 5 + (False,),
    "physician_supervision": (True,) * 5 + (False,),
    "confirmatory_bmm": (False,) * 2 + (True,),
    "initial_bmm_dxa_axial": (False,) * 2 + (True,),
    "osteoporosis_drug_monitoring": (False,) * 2 + (True,),
    "estrogen_deficient_at_risk": (False,) * 2 + (True,),
    "vertebral_abnormalities_on_xray": (False,) * 3 + (True,),
    "primary_hyperparathyroidism": (False,) * 3 + (True,),
    "other_frequent_bmm_necessity": (False,) * 3 + (True,),
}


def values(fact: str, day: date) -> st.SearchStrategy[Any]:
    if fact in LEANING:
        return st.sampled_from(LEANING[fact])
    if fact in oracle.ENUMS:
        return st.sampled_from(oracle.ENUMS[fact])
    if fact in oracle.BOOL_FACTS:
        return st.booleans()
    if fact == "prednisone_equivalent_mg_per_day":
        return st.one_of(st.sampled_from(DOSES), st.floats(0, 20).map(lambda x: round(x, 2)))
    if fact == "glucocorticoid_therapy_months":
        return st.one_of(st.sampled_from(COURSES), st.floats(0, 24).map(lambda x: round(x, 2)))
    return last_month(day)


# Half the cases start from a scenario meeting Medicare, the definition of a
# BMM and the order and supervision, so that the conditions of 80.5.6, the
# technique rules and the frequency standard are at stake.
MEETING = {
    "medicare_beneficiary": True,
    "fda_cleared_device": True,
    "measures_bone_mass": True,
    "physician_interpretation": True,
    "ordered_by_treating_practitioner": True,
    "physician_supervision": True,
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


def route_met(route: str, day: date) -> dict[str, Any]:
    """A complete scenario covered through one condition of 80.5.6 (or one
    exception to the frequency standard), every other condition closed, the
    last covered BMM in the month of service (so the frequency standard holds
    only where the route lifts it) unless the route is the standard itself."""
    scenario: dict[str, Any] = {f: False for f in oracle.BOOL_FACTS} | MEETING
    scenario |= {
        "bmm_technique": "dxa_axial",
        "sex": "male",
        "glucocorticoid_therapy": "none",
        "prednisone_equivalent_mg_per_day": 4.99,
        "glucocorticoid_therapy_months": 3.0,
        "prior_covered_bmm": True,
        "last_covered_bmm_month": oracle.first_of_month(oracle.month_index(day)),
        "other_frequent_bmm_necessity": True,
    }
    steroid = {
        "glucocorticoid_therapy": "receiving",
        "prednisone_equivalent_mg_per_day": 5.0,
        "glucocorticoid_therapy_months": 3.01,
        "other_frequent_bmm_necessity": False,
    }
    meeting: dict[str, dict[str, Any]] = {
        "woman": {"sex": "female", "estrogen_deficient_at_risk": True},
        "vertebrae": {"vertebral_abnormalities_on_xray": True},
        "steroid": steroid,
        "hyperparathyroidism": {"primary_hyperparathyroidism": True},
        "monitoring": {"osteoporosis_drug_monitoring": True},
        "confirmatory": {
            "primary_hyperparathyroidism": True,
            "confirmatory_bmm": True,
            "other_frequent_bmm_necessity": False,
        },
        "two years": {
            "vertebral_abnormalities_on_xray": True,
            "bmm_technique": "ultrasound",
            "other_frequent_bmm_necessity": False,
            "last_covered_bmm_month": oracle.frequency_edge(day),
        },
    }
    return scenario | meeting[route]


ROUTES: tuple[str, ...] = (
    "woman",
    "vertebrae",
    "steroid",
    "hyperparathyroidism",
    "monitoring",
    "confirmatory",
    "two years",
)


def evaluate_complete(knowledge: KnowledgeBase, scenario: dict[str, Any], day: date) -> str:
    evaluator = knowledge.evaluator(POLICY, day)
    known, _ = evaluator.known_facts(knowledge.case(document(scenario, day)))
    return str(evaluator.for_known(known).verdict_of(known).value)


@pytest.mark.parametrize("day", DATES_OF_SERVICE, ids=str)
def test_an_even_sample_of_complete_scenarios_agrees_with_the_oracle(
    knowledge: KnowledgeBase, day: date
) -> None:
    """300 complete scenarios per date of service (NCD_150_3_SAMPLED) (a fixed seed, so a failure
    reproduces): a third drawn with each fact's region uniform and
    independent; two thirds start from a scenario covered through one route
    (each condition of 80.5.6, the confirmatory exception, the 23-month
    standard met), with one to three facts then redrawn uniformly, so that
    every threshold, edge and exclusion is met and missed."""
    evaluator = knowledge.evaluator(POLICY, day)
    draw = random.Random(day.toordinal())
    disagreements = []
    for n in range(SAMPLED_PER_DAY):
        if n % 3 == 0:
            scenario = {f: draw.choice(oracle.domain(f, day)) for f in oracle.FACTS}
        else:
            scenario = route_met(ROUTES[n % len(ROUTES)], day)
            for fact in draw.sample(oracle.FACTS, draw.randint(1, 3)):
                scenario[fact] = draw.choice(oracle.domain(fact, day))
        expected = "covered" if oracle.covered(scenario, day) else "not_covered"
        known, _ = evaluator.known_facts(knowledge.case(document(scenario, day)))
        got = evaluator.for_known(known).verdict_of(known)
        if got.value != expected:
            disagreements.append((scenario, got.value, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"


def test_each_route_template_is_covered_by_the_oracle() -> None:
    """The templates the sample starts from are covered (so the redrawn facts
    test edges of a covered scenario, not of a denied one)."""
    for day in DATES_OF_SERVICE:
        for route in ROUTES:
            assert oracle.covered(route_met(route, day), day), (route, day)


def test_the_oracle_reads_each_threshold_and_edge_of_the_text() -> None:
    """The oracle itself, on the sentences at stake (so a slip in it is not
    hidden by a like slip in the encoding)."""
    day = date(2026, 1, 1)
    steroid = route_met("steroid", day)
    assert oracle.covered(steroid, day)
    assert not oracle.covered({**steroid, "prednisone_equivalent_mg_per_day": 4.99}, day)
    assert not oracle.covered({**steroid, "glucocorticoid_therapy_months": 3.0}, day)
    # Expecting therapy meets 80.5.6 3. but is not "on" therapy for a sooner BMM.
    expecting = {**steroid, "glucocorticoid_therapy": "expecting"}
    assert not oracle.covered(expecting, day)
    assert oracle.covered({**expecting, "last_covered_bmm_month": date(2024, 1, 1)}, day)
    # The glucocorticoid exception needs no dose: another condition, low dose.
    assert oracle.covered(
        {**steroid, "prednisone_equivalent_mg_per_day": 1.0, "primary_hyperparathyroidism": True},
        day,
    )
    # Last covered in January 2024: any day of January 2026, not December 2025.
    vertebrae = route_met("two years", day)
    assert oracle.covered({**vertebrae, "last_covered_bmm_month": date(2024, 1, 1)}, day)
    assert not oracle.covered({**vertebrae, "last_covered_bmm_month": date(2024, 2, 1)}, day)
    assert oracle.covered(vertebrae, date(2026, 1, 31))
    assert not oracle.covered(vertebrae, date(2025, 12, 31))
    assert oracle.covered({**vertebrae, "prior_covered_bmm": False}, date(2025, 12, 31))
    monitoring = route_met("monitoring", day)
    assert not oracle.covered({**monitoring, "bmm_technique": "dxa_peripheral"}, day)
    assert not oracle.covered(
        {**monitoring, "bmm_technique": "qct", "vertebral_abnormalities_on_xray": True}, day
    )
    confirmatory = route_met("confirmatory", day)
    assert not oracle.covered({**confirmatory, "initial_bmm_dxa_axial": True}, day)
    assert not oracle.covered({**confirmatory, "bmm_technique": "ultrasound"}, day)
    woman = route_met("woman", day)
    assert not oracle.covered({**woman, "sex": "male"}, day)
    for technique in ("single_photon", "dual_photon"):
        assert not oracle.covered({**woman, "bmm_technique": technique}, day)
    assert oracle.covered({**woman, "bmm_technique": "sexa"}, day)
    assert not oracle.covered({**woman, "fda_cleared_device": False}, day)
    assert not oracle.covered({**woman, "medicare_beneficiary": False}, day)
    assert oracle.frequency_edge(date(2024, 2, 29)) == date(2022, 2, 1)


@settings(max_examples=examples(30), deadline=None)
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
    covered route changed in the one respect at stake."""
    edge = oracle.frequency_edge(day)
    vertebrae = route_met("two years", day)
    steroid = route_met("steroid", day)
    woman = route_met("woman", day)
    return {
        "frequency: last covered month exactly 24 months before": vertebrae,
        "frequency: last covered month 23 months before": {
            **vertebrae,
            "last_covered_bmm_month": oracle.first_of_month(oracle.month_index(edge) + 1),
        },
        "frequency: last covered month after the month of service": {
            **vertebrae,
            "last_covered_bmm_month": oracle.first_of_month(oracle.month_index(day) + 1),
        },
        "frequency exception: expecting glucocorticoid therapy": {
            **steroid,
            "glucocorticoid_therapy": "expecting",
        },
        "frequency exception: receiving, dose below 5 mg, another condition": {
            **steroid,
            "prednisone_equivalent_mg_per_day": 1.0,
            "primary_hyperparathyroidism": True,
        },
        "frequency exception: receiving 3 months exactly, another condition": {
            **steroid,
            "glucocorticoid_therapy_months": 3.0,
            "primary_hyperparathyroidism": True,
        },
        "80.5.6 3.: expecting therapy, first BMM": {
            **steroid,
            "glucocorticoid_therapy": "expecting",
            "prior_covered_bmm": False,
        },
        "80.5.3: densitometer not FDA-cleared": {**woman, "fda_cleared_device": False},
        "80.5.3: SEXA": {**woman, "bmm_technique": "sexa"},
        "80.5.3: another densitometer": {**woman, "bmm_technique": "other_densitometer"},
        "80.5.4 4.: monitoring by QCT, another condition met": {
            **route_met("monitoring", day),
            "bmm_technique": "qct",
            "vertebral_abnormalities_on_xray": True,
        },
        "80.5.4 5.: confirmatory, initial not axial DXA, this one peripheral": {
            **route_met("confirmatory", day),
            "bmm_technique": "dxa_peripheral",
        },
        "80.5.4 5.: confirmatory after an axial DXA, other necessity": {
            **route_met("confirmatory", day),
            "initial_bmm_dxa_axial": True,
            "other_frequent_bmm_necessity": True,
        },
        "80.5.6 1.: a man determined estrogen-deficient": {**woman, "sex": "male"},
    }


@pytest.mark.parametrize("probe", sorted(reading_probes(LEAP_DAY)))
def test_each_disputable_reading_agrees_with_the_oracle(
    knowledge: KnowledgeBase, probe: str
) -> None:
    scenario = reading_probes(LEAP_DAY)[probe]
    expected = "covered" if oracle.covered(scenario, LEAP_DAY) else "not_covered"
    assert evaluate_complete(knowledge, scenario, LEAP_DAY) == expected


# --- the month of the last covered BMM stated as any day of it ---
#
# The text counts months only ("since the month the last covered BMM was
# performed"); the vocabulary takes that month as any day of it, compared
# with the last day of the month 24 months before the date of service
# (months(-24) + month_end). The oracle reads the month of whatever day is
# given; the two agree on every day.


def day_within(month: date) -> st.SearchStrategy[date]:
    index = oracle.month_index(month)
    length = (oracle.first_of_month(index + 1) - month).days
    return st.integers(0, length - 1).map(lambda n: month + timedelta(days=n))


@st.composite
def any_day_of_a_month_near_the_edge(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    day = draw(days())
    edge = oracle.month_index(oracle.frequency_edge(day))
    month = oracle.first_of_month(edge + draw(st.sampled_from((-1, 0, 0, 0, 1))))
    # The 23-month standard's route half the time: the other routes lift it.
    route = draw(st.one_of(st.just("two years"), st.sampled_from(ROUTES)))
    scenario = route_met(route, day)
    for fact in draw(st.sets(st.sampled_from(oracle.FACTS), max_size=2)):
        scenario[fact] = draw(st.sampled_from(oracle.domain(fact, day)))
    scenario |= {"prior_covered_bmm": True, "last_covered_bmm_month": draw(day_within(month))}
    return scenario, day


@settings(max_examples=examples(60), deadline=None)
@given(case=any_day_of_a_month_near_the_edge())
def test_a_month_stated_by_any_of_its_days_agrees_with_the_oracle(
    knowledge: KnowledgeBase, case: tuple[dict[str, Any], date]
) -> None:
    """Any day of a month around the edge (the month 24 months before the
    month of service, and the months on either side) gets the oracle's
    verdict: only the month of the last covered BMM counts."""
    scenario, day = case
    last = scenario["last_covered_bmm_month"]
    if last.replace(day=1) == oracle.frequency_edge(day):
        event("in the edge month")
    expected = "covered" if oracle.covered(scenario, day) else "not_covered"
    assert evaluate_complete(knowledge, scenario, day) == expected


def test_only_the_month_of_the_last_covered_bmm_counts(knowledge: KnowledgeBase) -> None:
    """A BMM on 2024-01-15 or 2024-01-31 lets one on 2026-01-10 pass; one on
    2024-02-01 does not."""
    day = date(2026, 1, 10)
    for last, covered in (
        (date(2024, 1, 15), True),
        (date(2024, 1, 31), True),
        (date(2024, 2, 1), False),
    ):
        scenario = route_met("two years", day) | {"last_covered_bmm_month": last}
        assert oracle.covered(scenario, day) is covered
        expected = "covered" if covered else "not_covered"
        assert evaluate_complete(knowledge, scenario, day) == expected, last
