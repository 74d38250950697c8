"""The encoding of NCD 220.4 (mammography) against the oracle written from
the text alone (tests/oracle/ncd_220_4.py).

Partial cases, generated with ages on both sides of 35 and 40, the last
screening's month on both sides of the 11-month edge counted from the date
of service (month ends, leap days and the turn of the year among the dates
of service), must get the oracle's verdict, missing facts and set of minimal
explanations (and `evaluate` its smallest); an even sample of complete
scenarios (each fact's regions, the bounds, and ages on each side of 40 and
50, which the routine-screening sentence names) on each such date must get
the oracle's verdict.

The vocabulary takes the last screening's month as any day of it (the
encoding counts calendar months with months(-12) + month_end), so every day
of a month gets the oracle's month count: a property test draws last
screenings on any day around the edge, and one checks the mid-month case that
was a stated difference while the language had no month of a date.
"""

from __future__ import annotations

import os
import random
from calendar import monthrange
from datetime import date, timedelta
from itertools import product
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from tests.oracle import ncd_220_4 as oracle
from tests.sampling import examples, knob

POLICY = "mammography"
LAST_DAY = date(2030, 12, 31)
SETTINGS = settings(
    max_examples=knob("NCD_220_4_EXAMPLES", 80),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Dates of service: the version's first day, month ends (12 months back from
# them lands on a shorter month), leap days, the days around them and the
# turn of the year.
DATES_OF_SERVICE = (
    date(1978, 5, 15),
    date(1979, 5, 15),
    date(2000, 2, 29),
    date(2024, 1, 1),
    date(2024, 1, 31),
    date(2024, 2, 29),
    date(2024, 3, 1),
    date(2024, 12, 31),
    date(2025, 1, 1),
    date(2025, 2, 28),
    date(2025, 3, 31),
)
# Around 35 and 40 on both sides, and the declared bounds.
AGES = (0, 18, 33, 34, 35, 36, 39, 40, 41, 49, 50, 64, 65, 90, 130)
SAMPLED_PER_DAY = knob("NCD_220_4_SAMPLED", 500)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


def days() -> st.SearchStrategy[date]:
    anywhere = st.integers(0, (LAST_DAY - oracle.FIRST_DAY).days).map(
        lambda n: oracle.FIRST_DAY + timedelta(days=n)
    )
    return st.one_of(st.sampled_from(DATES_OF_SERVICE), anywhere)


def last_month(day: date) -> st.SearchStrategy[date]:
    """A day of a month around the 11-month edge as of `day` (its first, or
    any day of it: only the month counts), the first day of a month in the
    date of service's month or after it, or anywhere from the fact's lower
    bound."""
    edge = oracle.month_number(day) - oracle.MONTHS_FOLLOWING - 1
    near = st.builds(
        lambda n, d: a_day_of(oracle.first_of_month(edge + n), d),
        st.integers(-2, 2),
        st.one_of(st.just(1), st.integers(1, 31)),
    )
    around_day = st.integers(-1, 2).map(lambda n: oracle.first_of_month(edge + 12 + n))
    anywhere = st.integers(oracle.month_number(date(1900, 1, 1)), edge + 24).map(
        oracle.first_of_month
    )
    return st.one_of(near, near, around_day, anywhere)


def a_day_of(first: date, day: int) -> date:
    """Day `day` of the month starting on `first`, or its last day when shorter."""
    return first.replace(day=min(day, monthrange(first.year, first.month)[1]))


# The values that can lead to coverage are drawn more often than the others
# (a uniform draw seldom meets every condition of a route at once).
LEANING: dict[str, tuple[Any, ...]] = {
    "medicare_beneficiary": (True,) * 5 + (False,),
    "sex": ("female",) * 3 + ("male",),
    "breast_signs_or_symptoms": (False,) * 2 + (True,),
    "for_routine_screening": (False,) * 3 + (True,),
    "ordered_by_md_or_do": (True,) * 4 + (False,),
    "physician_interpretation": (True,) * 5 + (False,),
    "two_views_each_breast": (True,) * 4 + (False,),
    "mqsa_certified_facility": (True,) * 4 + (False,),
}


def values(fact: str, day: date) -> st.SearchStrategy[Any]:
    if fact in LEANING:
        return st.sampled_from(LEANING[fact])
    if fact in oracle.ENUMS:
        return st.sampled_from(oracle.ENUMS[fact])
    if fact in oracle.BOOL_FACTS:
        return st.booleans()
    if fact == "age":
        return st.one_of(st.sampled_from(AGES), st.integers(0, 130))
    return last_month(day)


# Half the cases start from a scenario meeting Medicare and the parts both
# services share, so that the routes and the facts they rest on are at stake.
MEETING = {"medicare_beneficiary": True, "physician_interpretation": True}


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
    expected = oracle.explanations(known, day)
    found = {frozenset(item.fact for item in e) for e in answer.explanations}
    assert found == expected
    evaluation = knowledge.evaluate(document(facts, day))
    assert evaluation.verdict is answer.verdict
    assert {m.fact for m in evaluation.missing} == oracle.missing(known, day)
    # `evaluate` gives the smallest, ties broken by vocabulary order.
    assert [item.fact for item in evaluation.explanation] == first_smallest(expected)


def first_smallest(explanations: set[frozenset[str]]) -> list[str]:
    """The smallest explanation, ties broken by vocabulary order (the facts'
    ranks, compared in order), its facts in that order."""
    rank = {f: n for n, f in enumerate(oracle.FACTS)}
    ordered = [sorted(e, key=rank.__getitem__) for e in explanations]
    return min(ordered, key=lambda e: (len(e), [rank[f] for f in e]))


def route_met(route: str, day: date) -> dict[str, Any]:
    """A complete scenario covered by one route (every other route closed
    where a fact allows), the last screening's month on the covered side."""
    closed: dict[str, Any] = {f: False for f in oracle.BOOL_FACTS} | {
        "medicare_beneficiary": True,
        "physician_interpretation": True,
        "sex": "female",
        "age": 34,
        "last_screening_mammogram_month": oracle.domain("last_screening_mammogram_month", day)[0],
    }
    screening = {
        "mammogram_type": "screening",
        "two_views_each_breast": True,
        "mqsa_certified_facility": True,
    }
    diagnostic = {"mammogram_type": "diagnostic", "ordered_by_md_or_do": True}
    routes: dict[str, dict[str, Any]] = {
        "baseline 35-39": {**screening, "age": 35},
        "annual, none before": {**screening, "age": 40},
        "annual, 11 months past": {**screening, "age": 40, "prior_screening_mammogram": True},
        "signs or symptoms": {**diagnostic, "breast_signs_or_symptoms": True},
        "breast cancer history": {**diagnostic, "personal_history_breast_cancer": True},
        "benign disease history": {**diagnostic, "personal_history_benign_breast_biopsy": True},
        "physician's judgment": {**diagnostic, "physician_judges_appropriate": True},
    }
    return closed | routes[route]


ROUTES = (
    "baseline 35-39",
    "annual, none before",
    "annual, 11 months past",
    "signs or symptoms",
    "breast cancer history",
    "benign disease history",
    "physician's judgment",
)


def verdict_of_encoding(knowledge: KnowledgeBase, scenario: dict[str, Any], day: date) -> str:
    evaluator = knowledge.evaluator(POLICY, day)
    known, _ = evaluator.known_facts(knowledge.case(document(scenario, day)))
    return evaluator.for_known(known).verdict_of(known).value


# Values a complete scenario draws from: the oracle's regions and, besides,
# the bounds, each side of every age the text names (its routine-screening
# sentence names 40 and 50 too), and the last screening's month on each side
# of the 11-month edge (its first and last days) and in the date of
# service's own month.
SAMPLE_AGES = (0, 34, 35, 39, 40, 49, 50, 130)


def sample_values(fact: str, day: date) -> tuple[Any, ...]:
    if fact == "age":
        return SAMPLE_AGES
    if fact == "last_screening_mammogram_month":
        edge = oracle.month_number(day) - oracle.MONTHS_FOLLOWING - 1
        firsts = [oracle.first_of_month(edge + n) for n in (-1, 0, 1, 12)]
        # The edge months' last days too: only the month counts.
        return (*firsts, a_day_of(firsts[1], 31), a_day_of(firsts[2], 31))
    return oracle.domain(fact, day)


@pytest.mark.parametrize("day", DATES_OF_SERVICE, ids=str)
def test_an_even_sample_of_complete_scenarios_agrees_with_the_oracle(
    knowledge: KnowledgeBase, day: date
) -> None:
    """500 complete scenarios per date of service (a fixed seed, so a failure
    reproduces; NCD_220_4_SAMPLED sets the number): a third drawn with each
    fact's value uniform and independent; two thirds start from a scenario
    covered by one route (each of the seven in turn), with one to three facts
    then redrawn uniformly, so that every age band, the 11-month edge and
    each part of each route is met and missed."""
    draw = random.Random(day.toordinal())
    disagreements = []
    for n in range(SAMPLED_PER_DAY):
        if n % 3 == 0:
            scenario = {f: draw.choice(sample_values(f, day)) for f in oracle.FACTS}
        else:
            scenario = route_met(ROUTES[n % len(ROUTES)], day)
            for fact in draw.sample(oracle.FACTS, draw.randint(1, 3)):
                scenario[fact] = draw.choice(sample_values(fact, day))
        expected = "covered" if oracle.covered(scenario, day) else "not_covered"
        got = verdict_of_encoding(knowledge, scenario, day)
        if got != expected:
            disagreements.append((scenario, got, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"


@pytest.mark.skipif(
    not os.environ.get("NCD_220_4_EXHAUSTIVE"),
    reason="every complete scenario (131,072 per date, minutes each): set NCD_220_4_EXHAUSTIVE=1",
)
@pytest.mark.parametrize("day", (date(2024, 2, 29), date(2025, 1, 1)), ids=str)
def test_every_complete_scenario_agrees_with_the_oracle(
    knowledge: KnowledgeBase, day: date
) -> None:
    """Every complete scenario, one value per region of each fact, the age
    also at 50 (the routine-screening sentence's age): 2**12 * 2 * 2 * 4 * 2."""
    disagreements = []
    ages = {"age": (34, 35, 40, 50)}
    domains = [ages.get(f, oracle.domain(f, day)) for f in oracle.FACTS]
    for values in product(*domains):
        scenario = dict(zip(oracle.FACTS, values, strict=True))
        expected = "covered" if oracle.covered(scenario, day) else "not_covered"
        got = verdict_of_encoding(knowledge, scenario, day)
        if got != expected:
            disagreements.append((scenario, got, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"


def test_each_route_template_is_covered_by_the_oracle() -> None:
    """The templates the sample starts from do meet their route (so the
    redrawn facts test edges of a covered scenario, not of a denied one)."""
    for day in DATES_OF_SERVICE:
        for route in ROUTES:
            assert oracle.covered(route_met(route, day), day), (route, day)


def test_the_oracle_reads_each_band_and_the_month_count_of_the_text() -> None:
    """The oracle itself, on the sentences at stake (so a slip in it is not
    hidden by a like slip in the encoding)."""
    day = date(2025, 1, 1)
    annual = route_met("annual, 11 months past", day) | {"age": 52}
    last = "last_screening_mammogram_month"
    assert oracle.covered({**annual, last: date(2024, 1, 1)}, day)
    assert oracle.covered({**annual, last: date(2024, 1, 31)}, day)  # only the month counts
    assert not oracle.covered({**annual, last: date(2024, 2, 1)}, day)
    assert not oracle.covered({**annual, last: date(2024, 1, 1)}, date(2024, 12, 31))
    assert oracle.covered({**annual, last: date(2023, 2, 1)}, date(2024, 2, 29))
    assert not oracle.covered({**annual, last: date(2023, 3, 1)}, date(2024, 2, 29))
    assert oracle.covered({**annual, last: date(2024, 2, 1)}, date(2025, 2, 28))
    assert not oracle.covered({**annual, last: date(2025, 2, 1)}, day)  # after the date of service
    assert oracle.covered({**annual, "prior_screening_mammogram": False, last: day}, day)
    assert not oracle.covered({**annual, "age": 34}, day)
    baseline = route_met("baseline 35-39", day)
    assert oracle.covered({**baseline, "age": 39}, day)
    assert not oracle.covered({**baseline, "screening_paid_age_35_to_39": True}, day)
    assert oracle.covered({**baseline, "prior_screening_mammogram": True, last: day}, day)
    assert oracle.covered({**annual, "screening_paid_age_35_to_39": True}, day)
    assert not oracle.covered({**annual, "sex": "male"}, day)
    assert not oracle.covered({**annual, "breast_signs_or_symptoms": True}, day)
    assert not oracle.covered({**annual, "two_views_each_breast": False}, day)
    assert not oracle.covered({**annual, "mqsa_certified_facility": False}, day)
    assert not oracle.covered({**annual, "physician_interpretation": False}, day)
    assert not oracle.covered({**annual, "medicare_beneficiary": False}, day)
    assert oracle.covered({**annual, "personal_history_breast_cancer": True}, day)
    assert oracle.covered({**annual, "for_routine_screening": True}, day)
    signs = route_met("signs or symptoms", day) | {"sex": "male", "age": 20}
    assert oracle.covered(signs, day)
    assert not oracle.covered({**signs, "ordered_by_md_or_do": False}, day)
    assert oracle.covered({**signs, "for_routine_screening": True}, day)  # not asymptomatic
    judged = route_met("physician's judgment", day) | {"sex": "male", "age": 20}
    assert oracle.covered(judged, day)
    assert not oracle.covered({**judged, "for_routine_screening": True}, day)
    assert not oracle.covered({**judged, "for_routine_screening": True, "age": 50}, day)
    history = route_met("breast cancer history", day) | {"for_routine_screening": True}
    assert oracle.covered(history, day)
    assert not oracle.covered({**signs, "physician_interpretation": False}, day)
    assert not oracle.covered({**signs, "breast_signs_or_symptoms": False}, day)
    with pytest.raises(ValueError, match="before 1978-05-15"):
        oracle.covered(signs, date(1978, 5, 14))


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


@settings(max_examples=examples(30), deadline=None)
@given(case=partial_cases())
def test_the_oracles_explanations_are_every_minimal_sufficient_set(
    case: tuple[dict[str, Any], date],
) -> None:
    """Dualisation finds exactly the minimal sets that plain enumeration of
    every subset of the known facts finds (on cases of at most 10 known facts)."""
    from itertools import combinations

    facts, day = case
    known = dict(list(oracle.with_defaults(facts).items())[:10])
    target = oracle.verdict(known, day)
    sufficient = [
        frozenset(subset)
        for size in range(len(known) + 1)
        for subset in combinations(sorted(known), size)
        if oracle.verdict({f: known[f] for f in subset}, day) == target
    ]
    minimal = {s for s in sufficient if not any(t < s for t in sufficient)}
    assert oracle.explanations(known, day) == minimal


def reading_probes(day: date) -> dict[str, dict[str, Any]]:
    """One complete scenario per reading a reviewer might dispute, each a
    covered route changed in the one respect at stake."""
    annual = route_met("annual, 11 months past", day) | {"age": 52}
    baseline = route_met("baseline 35-39", day)
    signs = route_met("signs or symptoms", day)
    judged = route_met("physician's judgment", day)
    last = "last_screening_mammogram_month"
    in_month = oracle.first_of_month(oracle.month_number(day))
    probes: dict[str, dict[str, Any]] = {
        "screening: personal history of breast cancer": {
            **annual,
            "personal_history_breast_cancer": True,
        },
        "screening: personal history of benign disease": {
            **annual,
            "personal_history_benign_breast_biopsy": True,
        },
        "screening: for routine screening": {**annual, "for_routine_screening": True},
        "screening: not ordered by an MD or DO": {**annual, "ordered_by_md_or_do": False},
        "screening: a man": {**annual, "sex": "male"},
        "screening: signs or symptoms": {**annual, "breast_signs_or_symptoms": True},
        "screening: no physician's interpretation": {**annual, "physician_interpretation": False},
        "screening: aged 130": {**annual, "age": 130},
        "screening: aged 34": {**baseline, "age": 34},
        "screening: aged 39, one paid at 35-39": {
            **baseline,
            "age": 39,
            "screening_paid_age_35_to_39": True,
        },
        "screening: aged 40, one paid at 35-39": {
            **annual,
            "age": 40,
            "screening_paid_age_35_to_39": True,
        },
        "screening: aged 37, last one this month": {
            **baseline,
            "age": 37,
            "prior_screening_mammogram": True,
            last: in_month,
        },
        "screening: aged 40, last one this month": {**annual, "age": 40, last: in_month},
        "screening: last one after the date of service": {
            **annual,
            last: oracle.first_of_month(oracle.month_number(day) + 1),
        },
        "screening: none before, a month stated": {
            **annual,
            "prior_screening_mammogram": False,
            last: in_month,
        },
        "diagnostic: a man aged 20 with signs": {**signs, "sex": "male", "age": 20},
        "diagnostic: signs, for routine screening": {**signs, "for_routine_screening": True},
        "diagnostic: cancer history, for routine screening": {
            **route_met("breast cancer history", day),
            "for_routine_screening": True,
        },
        "diagnostic: benign history alone": route_met("benign disease history", day),
        "diagnostic: signs, not ordered by an MD or DO": {**signs, "ordered_by_md_or_do": False},
        "diagnostic: no physician's interpretation": {**signs, "physician_interpretation": False},
        "diagnostic: one view, uncertified facility, aged 20": {
            **signs,
            "age": 20,
            "two_views_each_breast": False,
            "mqsa_certified_facility": False,
        },
        "diagnostic: not a Medicare beneficiary": {**signs, "medicare_beneficiary": False},
    }
    for age in (20, 45, 50, 70):
        probes[f"diagnostic: judgment, routine screening, aged {age}"] = {
            **judged,
            "age": age,
            "for_routine_screening": True,
        }
        probes[f"diagnostic: judgment, a man aged {age}"] = {**judged, "sex": "male", "age": age}
    return probes


LEAP_DAY = date(2024, 2, 29)


@pytest.mark.parametrize("probe", sorted(reading_probes(LEAP_DAY)))
def test_each_disputable_reading_agrees_with_the_oracle(
    knowledge: KnowledgeBase, probe: str
) -> None:
    scenario = reading_probes(LEAP_DAY)[probe]
    expected = "covered" if oracle.covered(scenario, LEAP_DAY) else "not_covered"
    assert verdict_of_encoding(knowledge, scenario, LEAP_DAY) == expected


def months_before(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, or the last day of that
    month when it is shorter (the language's month step, docs/language.md)."""
    year, month = divmod(oracle.month_number(day) - months, 12)
    return date(year, month + 1, min(day.day, monthrange(year, month + 1)[1]))


@settings(max_examples=examples(60), deadline=None)
@given(
    day=days(),
    offset=st.integers(-40, 40),
    age=st.sampled_from((40, 52, 130)),
)
def test_any_day_of_the_last_screenings_month_counts_by_month(
    knowledge: KnowledgeBase, day: date, offset: int, age: int
) -> None:
    """A last screening on any day around the edge (the day the date of
    service moved back 12 months falls on, 40 days either side) gets the
    oracle's month count: only its month matters."""
    last = months_before(day, 12) + timedelta(days=offset)
    scenario = route_met("annual, 11 months past", day) | {
        "age": age,
        "last_screening_mammogram_month": last,
    }
    if oracle.month_number(last) == oracle.month_number(months_before(day, 12)):
        event("in the edge month")
    expected = "covered" if oracle.covered(scenario, day) else "not_covered"
    assert verdict_of_encoding(knowledge, scenario, day) == expected


def test_a_last_screening_dated_after_the_first_of_its_month_counts_by_month(
    knowledge: KnowledgeBase,
) -> None:
    """The text counts months: a last screening on 2024-01-15 (or 2024-01-31)
    is 11 full months past on 2025-01-10 (February-December 2024), and one on
    2024-02-01 is not."""
    day = date(2025, 1, 10)
    for last, covered in (
        (date(2024, 1, 15), True),
        (date(2024, 1, 31), True),
        (date(2024, 2, 1), False),
    ):
        scenario = route_met("annual, 11 months past", day) | {
            "age": 52,
            "last_screening_mammogram_month": last,
        }
        assert oracle.covered(scenario, day) is covered
        expected = "covered" if covered else "not_covered"
        assert verdict_of_encoding(knowledge, scenario, day) == expected, last


def test_the_version_begins_on_the_day_the_text_names(knowledge: KnowledgeBase) -> None:
    """A date of service before 1978-05-15, which the text decides nothing
    for, is refused by both (exit 1 from the CLI) rather than decided."""
    from policykb.bridge.model.errors import CaseError

    firsts = [e.policy.version.effective for e in knowledge.versions(POLICY)]
    assert firsts == [oracle.FIRST_DAY]
    day_before = oracle.FIRST_DAY - timedelta(days=1)
    with pytest.raises(CaseError, match=r"no version .* in force on 1978-05-14"):
        knowledge.evaluate(document({}, day_before))
    with pytest.raises(ValueError, match="before 1978-05-15"):
        oracle.covered(route_met("signs or symptoms", day_before), day_before)
