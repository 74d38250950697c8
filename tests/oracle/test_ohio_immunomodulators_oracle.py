"""The encoding of the Ohio Medicaid UPDL immunomodulators criteria
(immunomodulators-step-therapy) against the oracle written from the text
alone (tests/oracle/ohio_immunomodulators.py).

Partial cases, generated with every drug of the class, BSA, CDAI, PASI and
sPGA on both sides of every threshold the text states (10/25% BSA both ways,
220, 11, 3), counts around two, TB test dates around the date of service and
phototherapy starts around 90 days before it (month ends and leap days among
the dates of service), must get the oracle's verdict, missing facts and set of
minimal explanations; an even sample of complete scenarios (every drug, raw
values) on each edge date must get the oracle's verdict, and so must the
leaves of the oracle's decision tree, each a partial case that decides.

Disagreements found, and their resolution: none. With OHIO_IMMUNO_LEAF_STEP=1,
OHIO_IMMUNO_SAMPLED=1000 and OHIO_IMMUNO_EXAMPLES=250, every leaf of the
oracle's decision tree on each of the nine dates of service (5,126 a date,
46,134 in all: every complete scenario, one value per region), 9,000 sampled
complete scenarios (every drug, raw values) and 250 partial cases (verdict,
missing facts and every minimal explanation) agreed. The readings a reviewer
might dispute were each checked to be the encoding's by changing the oracle
and seeing the leaves disagree: the phototherapy counted inclusively (89 days
enough), BSA above 25% not waiving the Clinical PA's two first-line drugs for
atopic dermatitis, and no preferred trials at all when fewer than two
preferred drugs are indicated; and a TB test dated on the date of service is
in time for the encoding as for the oracle.
"""

from __future__ import annotations

import math
import random
from datetime import date, timedelta
from itertools import product
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from tests.oracle import ohio_immunomodulators as oracle
from tests.sampling import examples, knob, stride

POLICY = "immunomodulators-step-therapy"
LAST_DAY = date(2030, 12, 31)
SETTINGS = settings(
    max_examples=knob("OHIO_IMMUNO_EXAMPLES", 30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
# Dates of service: the criteria's first day (a TB test or phototherapy may
# precede it), month ends (90 days back crosses months), leap days and the
# days around them, a year end.
SERVICE_DAYS = (
    date(2024, 1, 1),
    date(2024, 2, 28),
    date(2024, 2, 29),
    date(2024, 3, 1),
    date(2024, 5, 29),
    date(2024, 12, 31),
    date(2025, 2, 28),
    date(2025, 3, 1),
    date(2028, 2, 29),
)
# Around each threshold on both sides, and the declared bounds.
NUMBERS: dict[str, tuple[Any, ...]] = {
    "first_line_drugs_failed": (0, 1, 2, 3, 20),
    "preferred_drugs_indicated": (0, 1, 2, 3, 8),
    "bsa": (0.0, 5.0, 9.9, 9.99, 10.0, 10.01, 24.9, 25.0, 25.01, 25.1, 40.0, 100.0),
    "cdai": (0, 150, 219, 220, 221, 450, 1100),
    "pasi": (0.0, 10.9, 10.99, 11.0, 11.01, 11.1, 30.0, 72.0),
    "spga": (0, 1, 2, 3, 4, 5),
}
NUMBER_BOUNDS: dict[str, tuple[float, float]] = {
    "first_line_drugs_failed": (0, 20),
    "preferred_drugs_indicated": (0, 8),
    "bsa": (0, 100),
    "cdai": (0, 1100),
    "pasi": (0, 72),
    "spga": (0, 5),
}
DECIMALS = ("bsa", "pasi")
SAMPLED_PER_DAY = knob("OHIO_IMMUNO_SAMPLED", 150)
# The decision tree's leaves (5,126 per date) compared: one in LEAF_STEP.
LEAF_STEP = stride("OHIO_IMMUNO_LEAF_STEP", 40)


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


def service_days() -> st.SearchStrategy[date]:
    anywhere = st.integers(0, (LAST_DAY - oracle.FIRST_DAY).days).map(
        lambda n: oracle.FIRST_DAY + timedelta(days=n)
    )
    return st.one_of(st.sampled_from(SERVICE_DAYS), anywhere)


def dates_near(edge: date) -> st.SearchStrategy[date]:
    """A date within a few days of an edge, or anywhere within the bounds."""
    near = st.integers(-3, 3).map(lambda n: edge + timedelta(days=n))
    anywhere = st.integers(0, (LAST_DAY - oracle.EARLIEST_DATE).days).map(
        lambda n: oracle.EARLIEST_DATE + timedelta(days=n)
    )
    return st.one_of(near, near, near, anywhere)


def number(fact: str) -> st.SearchStrategy[Any]:
    low, high = NUMBER_BOUNDS[fact]
    if fact in DECIMALS:
        anywhere: st.SearchStrategy[Any] = st.floats(low, high).map(lambda x: round(x, 2))
    else:
        anywhere = st.integers(int(low), int(high))
    return st.one_of(st.sampled_from(NUMBERS[fact]), st.sampled_from(NUMBERS[fact]), anywhere)


# The values that can lead to coverage are drawn more often than the others
# (a uniform draw almost never meets every criterion at once).
LEANING: dict[str, tuple[Any, ...]] = {
    "prescribed_per_labeling": (True,) * 5 + (False,),
    "severity_documented": (True,) * 5 + (False,),
    "active_infection": (False,) * 5 + (True,),
    "tb_test_negative": (True,) * 4 + (False,),
    "preferred_drug_necessity": (True,) * 3 + (False,),
    "clinical_response_documented": (True,) * 3 + (False,),
    "safety_monitoring_documented": (True,) * 3 + (False,),
    "specialist_prescriber": (True,) * 3 + (False,),
    "topical_steroid_failed": (True,) * 3 + (False,),
    "tnf_inhibitor_failed": (False,) * 2 + (True,),
    "request_type": ("initial",) * 3 + ("subsequent",),
}


def values(fact: str, day: date) -> st.SearchStrategy[Any]:
    if fact in LEANING:
        return st.sampled_from(LEANING[fact])
    if fact in oracle.ENUMS:
        return st.sampled_from(oracle.ENUMS[fact])
    if fact in oracle.BOOL_FACTS:
        return st.booleans()
    if fact == "requested_drug":
        return st.sampled_from(oracle.DRUGS)
    if fact == "preferred_drugs_failed":
        return st.lists(st.sampled_from(sorted(oracle.PREFERRED)), max_size=4, unique=True)
    if fact == "tb_test_date":
        return dates_near(day)
    if fact == "phototherapy_start_date":
        return dates_near(day - timedelta(days=oracle.PHOTOTHERAPY_DAYS))
    return number(fact)


# A third of the cases start from a scenario meeting All Authorizations and
# the Clinical PA, and a third from one covered through a route, so that the
# drug, diagnosis and their criteria are at stake and all three verdicts come up.
MEETING: dict[str, Any] = {
    "prescribed_per_labeling": True,
    "severity_documented": True,
    "first_line_drugs_failed": 2,
    "active_infection": False,
}


@st.composite
def partial_cases(draw: st.DrawFn) -> tuple[dict[str, Any], date]:
    day = draw(service_days())
    scenario = {fact: draw(values(fact, day)) for fact in oracle.FACTS}
    start = draw(st.sampled_from(("drawn", "meeting", "route")))
    if start == "meeting":
        scenario |= MEETING
    elif start == "route":
        # A scenario covered through one route, one or two facts redrawn.
        route = template_met(draw(st.sampled_from(TEMPLATES)), day)
        redrawn = draw(st.sets(st.sampled_from(oracle.FACTS), min_size=1, max_size=2))
        scenario = {f: scenario[f] if f in redrawn else route[f] for f in oracle.FACTS}
    # A few facts unknown, or many (so that needs_information and its missing
    # facts come up as often as the decided verdicts).
    unknown = draw(
        st.one_of(
            st.sets(st.sampled_from(oracle.FACTS), max_size=4),
            st.sets(st.sampled_from(oracle.FACTS), min_size=5, max_size=22),
        )
    )
    return {f: v for f, v in scenario.items() if f not in unknown}, day


def document(facts: dict[str, Any], day: date) -> dict[str, Any]:
    """A case document as JSON would give it (dates as ISO strings, lists as lists)."""
    stated = {
        f: v.isoformat() if isinstance(v, date) else list(v) if isinstance(v, tuple) else v
        for f, v in facts.items()
    }
    return {"policy": POLICY, "facts": {**stated, oracle.REFERENCE_DATE: day.isoformat()}}


@SETTINGS
@given(case=partial_cases())
def test_verdict_missing_and_explanations_agree_with_the_oracle(
    knowledge: KnowledgeBase, case: tuple[dict[str, Any], date]
) -> None:
    facts, day = case
    document_ = document(facts, day)
    answer = knowledge.why(knowledge.case(document_))
    known = oracle.with_defaults(facts)
    event(f"verdict {answer.verdict.value}")
    assert answer.verdict.value == oracle.verdict(known, day)
    assert {m.fact for m in answer.missing} == oracle.missing(known, day)
    found = {frozenset(item.fact for item in e) for e in answer.explanations}
    assert found == oracle.explanations(known, day)
    evaluation = knowledge.evaluate(knowledge.case(document_))
    assert evaluation.verdict is answer.verdict
    assert {m.fact for m in evaluation.missing} == oracle.missing(known, day)


def verdict_of_the_encoding(knowledge: KnowledgeBase, facts: dict[str, Any], day: date) -> str:
    evaluator = knowledge.evaluator(POLICY)
    known, _ = evaluator.known_facts(knowledge.case(document(facts, day)))
    return evaluator.for_known(known).verdict_of(known).value


def raw_value(fact: str, day: date, draw: random.Random) -> Any:
    """One value of a fact, drawn from the whole of its range (every drug, raw
    numbers and dates around the edges), not only the regions' stand-ins."""
    if fact in NUMBERS:
        return draw.choice(NUMBERS[fact])
    if fact == "requested_drug":
        return draw.choice(oracle.DRUGS)
    if fact == "preferred_drugs_failed":
        return draw.sample(sorted(oracle.PREFERRED), draw.randint(0, 3))
    if fact == "tb_test_date":
        return day + timedelta(days=draw.randint(-400, 2))
    if fact == "phototherapy_start_date":
        return day - timedelta(days=oracle.PHOTOTHERAPY_DAYS + draw.randint(-2, 2))
    return draw.choice(oracle.domain(fact, day))


# One template per route to coverage a reviewer would check: met, then one to
# three facts redrawn, so every criterion is met and missed.
TEMPLATES: tuple[dict[str, Any], ...] = (
    {"requested_drug": "humira", "diagnosis": "other"},
    {"requested_drug": "taltz", "diagnosis": "plaque_psoriasis"},
    {"requested_drug": "skyrizi", "diagnosis": "crohns_disease"},
    {
        "requested_drug": "xeljanz_solution",
        "diagnosis": "ulcerative_colitis",
        "preferred_drug_necessity": False,
    },
    {"requested_drug": "xeljanz_xr", "diagnosis": "other"},
    {"requested_drug": "dupixent", "diagnosis": "atopic_dermatitis"},
    {"requested_drug": "litfulo", "diagnosis": "alopecia_areata"},
    {"requested_drug": "cosentyx", "diagnosis": "hidradenitis_suppurativa"},
    {
        "requested_drug": "yusimry",
        "diagnosis": "ulcerative_colitis",
        "preferred_drugs_failed": ["otezla", "xeljanz_ir"],
    },
)


def template_met(template: dict[str, Any], day: date) -> dict[str, Any]:
    return {
        "request_type": "initial",
        "prescribed_per_labeling": True,
        "severity_documented": True,
        "first_line_drugs_failed": 2,
        "active_infection": False,
        "tb_test_required": True,
        "tb_test_negative": True,
        "tb_test_date": day,
        "preferred_drugs_failed": ["humira", "xeljanz_ir"],
        "preferred_drugs_indicated": 2,
        "preferred_drug_necessity": True,
        "solid_oral_necessity": True,
        "specialist_prescriber": True,
        "topical_steroid_failed": True,
        "bsa": 10.0,
        "cdai": 220,
        "hurley_stage": "iii",
        "pasi": 11.0,
        "spga": 2,
        "on_phototherapy": True,
        "phototherapy_start_date": day - timedelta(days=oracle.PHOTOTHERAPY_DAYS),
        "phototherapy_inadequate_response": True,
        "tnf_inhibitor_failed": False,
        "clinical_response_documented": False,
        "safety_monitoring_documented": False,
    } | template


@pytest.mark.parametrize("day", SERVICE_DAYS, ids=str)
def test_an_even_sample_of_complete_scenarios_agrees_with_the_oracle(
    knowledge: KnowledgeBase, day: date
) -> None:
    """SAMPLED_PER_DAY complete scenarios per date of service (a fixed seed, so
    a failure reproduces): a third drawn with each fact uniform over its whole
    range's edge values and independent; two thirds start from a scenario that
    some templates cover (each route in turn), with one to three facts then
    redrawn, so that every threshold, date edge and exclusion is met and
    missed."""
    draw = random.Random(day.toordinal())
    disagreements = []
    covered = 0
    for n in range(SAMPLED_PER_DAY):
        if n % 3 == 0:
            scenario = {f: raw_value(f, day, draw) for f in oracle.FACTS}
        else:
            scenario = template_met(TEMPLATES[n % len(TEMPLATES)], day)
            for fact in draw.sample(oracle.FACTS, draw.randint(1, 3)):
                scenario[fact] = raw_value(fact, day, draw)
        decision = oracle.covered(scenario, day)
        covered += decision
        expected = "covered" if decision else "not_covered"
        got = verdict_of_the_encoding(knowledge, scenario, day)
        if got != expected:
            disagreements.append((scenario, got, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"
    assert 0 < covered < SAMPLED_PER_DAY


def test_each_template_is_covered_by_the_oracle() -> None:
    for day in SERVICE_DAYS:
        for template in TEMPLATES:
            assert oracle.covered(template_met(template, day), day), template


@pytest.mark.parametrize("day", SERVICE_DAYS, ids=str)
def test_the_oracles_decision_leaves_get_the_same_verdict(
    knowledge: KnowledgeBase, day: date
) -> None:
    """Each leaf of the oracle's decision tree is a partial case that decides;
    the encoding must give it that decided verdict, which says that every
    complete scenario extending the leaf agrees. On the i-th of n dates the
    leaves o, o + LEAF_STEP, ... are compared, o = i * LEAF_STEP / n
    (OHIO_IMMUNO_LEAF_STEP=1 compares every leaf on every date: every complete
    scenario, one value per region, exhaustively)."""
    leaves = oracle.decision_leaves(day)
    step = LEAF_STEP
    offset = SERVICE_DAYS.index(day) * step // len(SERVICE_DAYS) if step > 1 else 0
    disagreements = []
    for facts, decision in leaves[offset::step]:
        expected = "covered" if decision else "not_covered"
        got = verdict_of_the_encoding(knowledge, facts, day)
        if got != expected:
            disagreements.append((facts, got, expected))
    assert not disagreements, f"{len(disagreements)} disagreements, first {disagreements[:3]}"


def test_the_decision_leaves_partition_the_complete_scenarios() -> None:
    """The leaves' completions, counted, are exactly the complete scenarios,
    and a complete scenario's path through `decide` is a leaf with its decision."""
    day = date(2024, 2, 29)
    leaves = oracle.decision_leaves(day)
    sizes = {f: len(oracle.domain(f, day)) for f in oracle.FACTS}
    everything = math.prod(sizes.values())
    assert sum(everything // math.prod(sizes[f] for f in facts) for facts, _ in leaves) == (
        everything
    )
    by_path = {frozenset((f, repr(v)) for f, v in facts.items()): d for facts, d in leaves}
    assert len(by_path) == len(leaves)
    draw = random.Random(7)
    for _ in range(300):
        scenario = {f: draw.choice(oracle.domain(f, day)) for f in oracle.FACTS}
        read: dict[str, Any] = {}

        def get(fact: str, scenario: dict[str, Any] = scenario, read: dict[str, Any] = read) -> Any:
            read[fact] = scenario[fact]
            return scenario[fact]

        decision = oracle.decide(get, day)
        path = frozenset((f, repr(v)) for f, v in read.items())
        assert by_path[path] == decision == oracle.covered(scenario, day)


@settings(max_examples=examples(25), deadline=None)
@given(case=partial_cases(), unknown=st.sets(st.sampled_from(oracle.FACTS), max_size=5))
def test_the_oracles_enumeration_equals_the_full_product(
    case: tuple[dict[str, Any], date], unknown: set[str]
) -> None:
    """The decision-tree enumeration (branching on a fact only where it is
    read) gives the verdict and missing facts the plain product over every
    unknown fact's regions gives."""
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


def test_each_value_decides_as_its_region_does() -> None:
    """Every edge value of a fact decides as its region's stand-in does (so the
    enumeration over stand-ins is over every value)."""
    day = date(2024, 2, 29)
    draw = random.Random(11)
    for _ in range(400):
        scenario = {f: raw_value(f, day, draw) for f in oracle.FACTS}
        standing = {f: oracle.region_key(f, v, day) for f, v in scenario.items()}
        assert oracle.covered(scenario, day) == oracle.covered(standing, day)
    for drug in oracle.DRUGS:
        assert oracle.drug_region(drug) in oracle.DRUG_REGIONS


def test_the_oracle_reads_each_threshold_and_date_of_the_text() -> None:
    """The oracle itself, on the sentences at stake (so a slip in it is not
    hidden by a like slip in the encoding)."""
    day = date(2024, 3, 1)
    base = template_met({"requested_drug": "adbry", "diagnosis": "other"}, day)
    assert oracle.covered(base, day)
    # Clinical PA: two first-line drugs, no infection, the TB test on or before.
    assert not oracle.covered({**base, "first_line_drugs_failed": 1}, day)
    assert not oracle.covered({**base, "active_infection": True}, day)
    assert not oracle.covered({**base, "tb_test_date": date(2024, 3, 2)}, day)
    assert oracle.covered({**base, "tb_test_date": date(2023, 3, 1)}, day)
    assert not oracle.covered({**base, "tb_test_negative": False}, day)
    assert oracle.covered({**base, "tb_test_negative": False, "tb_test_required": False}, day)
    # All Authorizations bind renewals too; a renewal needs its documentation only.
    renewal = {
        **base,
        "request_type": "subsequent",
        "first_line_drugs_failed": 0,
        "active_infection": True,
        "clinical_response_documented": True,
        "safety_monitoring_documented": True,
    }
    assert oracle.covered(renewal, day)
    assert not oracle.covered({**renewal, "safety_monitoring_documented": False}, day)
    assert not oracle.covered({**renewal, "severity_documented": False}, day)
    # Step therapy: Taltz after Enbrel or Humira.
    taltz = {**base, "requested_drug": "taltz"}
    assert oracle.covered(taltz, day)
    assert not oracle.covered({**taltz, "preferred_drugs_failed": ["otezla", "xeljanz_ir"]}, day)
    # Non-preferred: necessity, min(2, indicated) trials, Xeljanz IR before XR.
    stelara = {**base, "requested_drug": "stelara", "preferred_drug_necessity": True}
    assert oracle.covered(stelara, day)
    assert not oracle.covered({**stelara, "preferred_drug_necessity": False}, day)
    one = {**stelara, "preferred_drugs_failed": ["otezla"]}
    assert not oracle.covered(one, day)
    assert oracle.covered({**one, "preferred_drugs_indicated": 1}, day)
    assert oracle.covered(
        {**stelara, "preferred_drugs_failed": [], "preferred_drugs_indicated": 0}, day
    )
    solution = {**base, "requested_drug": "xeljanz_solution", "preferred_drug_necessity": False}
    assert oracle.covered(solution, day)
    assert not oracle.covered({**solution, "solid_oral_necessity": False}, day)
    xr = {**stelara, "requested_drug": "xeljanz_xr"}
    assert oracle.covered(xr, day)
    assert not oracle.covered({**xr, "preferred_drugs_failed": ["humira", "otezla"]}, day)
    # Atopic dermatitis: >25% BSA waives the topical trials; 10% or more with two.
    ad = {**base, "diagnosis": "atopic_dermatitis"}
    assert oracle.covered(ad, day)
    assert not oracle.covered({**ad, "bsa": 9.99}, day)
    assert not oracle.covered({**ad, "bsa": 25.0, "first_line_drugs_failed": 1}, day)
    assert oracle.covered({**ad, "bsa": 25.01, "first_line_drugs_failed": 0}, day)
    # Crohn's 220, Hurley III.
    assert not oracle.covered({**base, "diagnosis": "crohns_disease", "cdai": 219}, day)
    assert oracle.covered({**base, "diagnosis": "crohns_disease", "cdai": 220}, day)
    assert not oracle.covered(
        {**base, "diagnosis": "hidradenitis_suppurativa", "hurley_stage": "ii"}, day
    )
    # Plaque psoriasis: two of three; phototherapy of 90 days for preferred drugs.
    pso = {**base, "diagnosis": "plaque_psoriasis"}
    assert oracle.covered(pso, day)
    assert not oracle.covered({**pso, "pasi": 10.99}, day)
    assert oracle.covered({**pso, "pasi": 10.99, "spga": 3}, day)
    assert not oracle.covered({**pso, "phototherapy_start_date": date(2023, 12, 3)}, day)
    assert oracle.covered({**pso, "phototherapy_start_date": date(2023, 12, 2)}, day)
    assert oracle.covered(
        {**stelara, "diagnosis": "plaque_psoriasis", "phototherapy_start_date": date(2023, 12, 3)},
        day,
    )
    assert not oracle.covered({**pso, "phototherapy_inadequate_response": False}, day)
    assert oracle.covered(
        {**pso, "on_phototherapy": False, "phototherapy_inadequate_response": False}, day
    )
    # Ulcerative colitis: no further TNF inhibitor after one failed.
    uc = {
        **base,
        "diagnosis": "ulcerative_colitis",
        "preferred_drugs_failed": ["otezla", "kineret"],
    }
    assert oracle.covered({**uc, "requested_drug": "humira"}, day)
    assert not oracle.covered({**uc, "requested_drug": "humira", "tnf_inhibitor_failed": True}, day)
    assert not oracle.covered(
        {**uc, "requested_drug": "enbrel", "preferred_drugs_failed": ["humira"]}, day
    )
    assert oracle.covered({**uc, "requested_drug": "adbry", "tnf_inhibitor_failed": True}, day)
    with pytest.raises(ValueError, match="before 2024-01-01"):
        oracle.covered(base, date(2023, 12, 31))
