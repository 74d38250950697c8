"""bone-mass-measurement (NCD 150.3 / BPM 15 §80.5): both engines, the calendar, routing.

The verdicts themselves are pinned by the YAML suite written from the text
(kb/policies/bone-mass-measurement/tests/) and, independently, by an oracle
written from the text and the vocabulary alone by another engineer; here:

- the two engines agree on an even sample of complete scenarios (the space
  is 6,291,456 scenarios as of one day: too many to enumerate) and on cases
  with unknown facts;
- the frequency standard sits where the calendar puts it, for dates of
  service at every month's first and last day of 2023 and 2024 and on other
  days: the last covered BMM's month 24 months before covers, 23 months
  before does not (month arithmetic written here, independently of the
  bridge's);
- any day of the last covered BMM's month gives the month count's verdict
  (the rule counts with months(-24) + month_end), and a denied case is
  covered from the first day of the month 24 months after it;
- a date of service before 2007-01-01 has no version;
- the service routes the policy's CPT and HCPCS codes on Medicare coverage
  and reads its FHIR facts.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import CaseError
from policykb.bridge.prolog.engine import PrologEngine
from policykb.bridge.solving.evaluator import Evaluator
from tests.audited_service import AuditedService, audited_service, set_payer_type
from tests.fhir_records import Record, condition
from tests.sampling import examples

NAME = "bone-mass-measurement"
DAY = date(2024, 2, 29)
"""The date of service of the sampled scenarios: the leap day, so that 24
months before falls on 2022-02-28."""

ROUTES_CLOSED = {
    "medicare_beneficiary": True,
    "bmm_technique": "dxa_axial",
    "fda_cleared_device": True,
    "measures_bone_mass": True,
    "physician_interpretation": True,
    "ordered_by_treating_practitioner": True,
    "physician_supervision": True,
    "sex": "male",
    "estrogen_deficient_at_risk": False,
    "vertebral_abnormalities_on_xray": False,
    "glucocorticoid_therapy": "none",
    "prednisone_equivalent_mg_per_day": Decimal(0),
    "glucocorticoid_therapy_months": Decimal(0),
    "primary_hyperparathyroidism": False,
    "osteoporosis_drug_monitoring": False,
    "confirmatory_bmm": False,
    "initial_bmm_dxa_axial": False,
    "prior_covered_bmm": True,
    "last_covered_bmm_month": date(2023, 6, 1),
    "other_frequent_bmm_necessity": False,
}
"""A complete scenario no condition of 80.5.6 covers, with a covered BMM
9 months before (written from the text)."""

GLUCOCORTICOIDS = {
    "prednisone_equivalent_mg_per_day": Decimal(5),
    "glucocorticoid_therapy_months": Decimal(4),
}
COVERED_BY = {
    "estrogen, none before": {
        "sex": "female",
        "estrogen_deficient_at_risk": True,
        "prior_covered_bmm": False,
    },
    "vertebral, 24 months": {
        "vertebral_abnormalities_on_xray": True,
        "last_covered_bmm_month": date(2022, 2, 1),
    },
    "glucocorticoids received, monitored sooner": {
        "glucocorticoid_therapy": "receiving",
        **GLUCOCORTICOIDS,
    },
    "glucocorticoids expected, none before": {
        "glucocorticoid_therapy": "expecting",
        **GLUCOCORTICOIDS,
        "prior_covered_bmm": False,
    },
    "hyperparathyroidism, other necessity": {
        "primary_hyperparathyroidism": True,
        "other_frequent_bmm_necessity": True,
    },
    "drug monitoring, none before": {
        "osteoporosis_drug_monitoring": True,
        "prior_covered_bmm": False,
    },
    "confirmatory": {"primary_hyperparathyroidism": True, "confirmatory_bmm": True},
}
"""For each route to coverage (a condition and a way through the frequency
standard), the changes to ROUTES_CLOSED that make it cover the case."""


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="module")
def engines(kb: KnowledgeBase) -> tuple[Evaluator, PrologEngine]:
    evaluator = kb.evaluator(NAME)
    assert set(evaluator.references) == {"date_of_service"}
    evaluator = evaluator.at({"date_of_service": DAY.toordinal()}, fixed=True)
    return evaluator, kb.prover_for(evaluator)


def _choices(evaluator: Evaluator, prover: PrologEngine) -> dict[str, list[Any]]:
    """Each decision fact's values, one per region, as case values."""
    return {
        fact: [evaluator.concrete(fact, v) for v in prover.scenario_choices(fact)]
        for fact in evaluator.decision_facts
    }


def test_the_route_bases_are_what_the_text_says(engines: tuple[Evaluator, PrologEngine]) -> None:
    evaluator, _ = engines
    assert set(ROUTES_CLOSED) == set(evaluator.decision_facts)
    assert evaluator.verdict_of(ROUTES_CLOSED) is Verdict.NOT_COVERED
    for route, changes in COVERED_BY.items():
        assert evaluator.verdict_of({**ROUTES_CLOSED, **changes}) is Verdict.COVERED, route


def _sample(choices: dict[str, list[Any]], seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """600 uniform complete scenarios, then 120 around each route's covered
    base (each fact kept with probability 3/4, else drawn uniformly), labelled
    by where they came from."""
    draw = random.Random(seed)
    for _ in range(600):
        yield "uniform", {f: draw.choice(values) for f, values in choices.items()}
    for route, changes in COVERED_BY.items():
        base = {**ROUTES_CLOSED, **changes}
        for _ in range(120):
            yield (
                route,
                {
                    f: base[f] if draw.random() < 0.75 else draw.choice(values)
                    for f, values in choices.items()
                },
            )


def test_engines_agree_on_an_even_sample_of_complete_scenarios(
    engines: tuple[Evaluator, PrologEngine],
) -> None:
    """1,440 complete scenarios as of 2024-02-29, each proved by SWI-Prolog and
    solved by clingo. The uniform part is even over the whole space (mostly
    not covered: coverage needs many facts at once); the part around each
    route reaches both verdicts on every route."""
    evaluator, prover = engines
    verdicts: dict[str, set[Verdict]] = {}
    for where, known in _sample(_choices(evaluator, prover), seed=20070101):
        verdict = evaluator.verdict_of(known)
        assert prover.prove(known)[0] is verdict, (where, known)
        verdicts.setdefault(where, set()).add(verdict)
    for route in COVERED_BY:
        assert verdicts[route] == {Verdict.COVERED, Verdict.NOT_COVERED}, route


def _raw(known: dict[str, Any]) -> dict[str, Any]:
    """Case values as a case document writes them."""
    raw: dict[str, Any] = {}
    for fact, value in known.items():
        if isinstance(value, date):
            raw[fact] = value.isoformat()
        elif isinstance(value, Decimal):
            raw[fact] = float(value)
        else:
            raw[fact] = value
    return raw


def test_engines_agree_on_cases_with_unknown_facts(
    kb: KnowledgeBase, engines: tuple[Evaluator, PrologEngine]
) -> None:
    """The CLI's --cross-check path: 34 scenarios of the sample (about 5 per
    route), each with one fact left out and with every other fact left out;
    and the case that states only its date of service."""
    evaluator, prover = engines
    sample = [k for where, k in _sample(_choices(evaluator, prover), seed=7) if where != "uniform"]
    seen = set()
    for number, known in enumerate(sample[::25]):
        names = list(known)
        dropped = names[number % len(names)]
        for given_facts in (
            {f: v for f, v in known.items() if f != dropped},
            {f: v for i, (f, v) in enumerate(known.items()) if (i + number) % 2},
        ):
            facts = {**_raw(given_facts), "date_of_service": DAY.isoformat()}
            case = kb.case({"policy": NAME, "facts": facts})
            verdict = kb.cross_check(case)  # raises EngineError when the engines disagree
            assert verdict is kb.evaluate(case).verdict, given_facts
            seen.add(verdict)
    empty = kb.case({"policy": NAME, "facts": {"date_of_service": DAY.isoformat()}})
    assert kb.cross_check(empty) is Verdict.NEEDS_INFORMATION
    assert seen == set(Verdict)


def _month_start(day: date, months_later: int) -> date:
    """The first day of the month `months_later` months after `day`'s."""
    index = day.year * 12 + day.month - 1 + months_later
    return date(index // 12, index % 12 + 1, 1)


def _months_passed_rule(last: date, service: date) -> bool:
    """The text's rule, by months alone: at least 23 whole months have passed
    after the month of `last` by `service` (the 24th month has begun)."""
    return (service.year * 12 + service.month) - (last.year * 12 + last.month) >= 24


def _service_days() -> list[date]:
    """Every first and last day of a month in 2023 and 2024, and 24 other days."""
    days = set()
    for year in (2023, 2024):
        for month in range(1, 13):
            days.add(date(year, month, calendar.monthrange(year, month)[1]))
            days.add(date(year, month, 1))
    draw = random.Random(23)
    start = date(2009, 1, 1)
    days |= {start + timedelta(days=draw.randrange(6000)) for _ in range(24)}
    return sorted(days)


SCREENING = {
    "bmm_technique": "dxa_axial",
    "fda_cleared_device": True,
    "measures_bone_mass": True,
    "physician_interpretation": True,
    "ordered_by_treating_practitioner": True,
    "physician_supervision": True,
    "vertebral_abnormalities_on_xray": True,
    "glucocorticoid_therapy": "none",
    "osteoporosis_drug_monitoring": False,
    "confirmatory_bmm": False,
    "other_frequent_bmm_necessity": False,
    "prior_covered_bmm": True,
}
"""A covered BMM but for the month of the last covered one."""


def _verdict(kb: KnowledgeBase, day: date, known: dict[str, Any]) -> Verdict:
    facts = {**_raw(known), "date_of_service": day.isoformat()}
    return kb.evaluate(kb.case({"policy": NAME, "facts": facts})).verdict


@pytest.mark.parametrize("day", _service_days(), ids=str)
def test_the_23_month_standard_ends_where_the_calendar_puts_it(
    kb: KnowledgeBase, day: date
) -> None:
    twenty_four = _month_start(day, -24)
    twenty_three = _month_start(day, -23)
    assert _months_passed_rule(twenty_four, day) and not _months_passed_rule(twenty_three, day)
    last_day = calendar.monthrange(twenty_four.year, twenty_four.month)[1]
    for last in (twenty_four, twenty_four.replace(day=last_day)):
        at_24 = {**SCREENING, "last_covered_bmm_month": last}
        assert _verdict(kb, day, at_24) is Verdict.COVERED, last
    at_23 = {**SCREENING, "last_covered_bmm_month": twenty_three}
    assert _verdict(kb, day, at_23) is Verdict.NOT_COVERED


@settings(max_examples=examples(60), deadline=None)
@given(
    service=st.dates(min_value=date(2009, 1, 1), max_value=date(2030, 12, 31)),
    back=st.integers(min_value=-2, max_value=40),
    day_of_month=st.integers(min_value=1, max_value=31),
)
def test_any_day_of_the_last_bmms_month_gives_the_month_count(
    kb: KnowledgeBase, service: date, back: int, day_of_month: int
) -> None:
    """The last covered BMM on any day of the month `back` months before the
    date of service's month: the encoding's verdict is the month count's."""
    first = _month_start(service, -back)
    day = first.replace(day=min(day_of_month, calendar.monthrange(first.year, first.month)[1]))
    expected = Verdict.COVERED if _months_passed_rule(day, service) else Verdict.NOT_COVERED
    assert _verdict(kb, service, {**SCREENING, "last_covered_bmm_month": day}) is expected


@pytest.mark.parametrize("last", [date(2024, 1, 1), date(2024, 1, 15), date(2024, 1, 31)], ids=str)
def test_a_denied_bmm_is_covered_from_the_month_24_months_on(kb: KnowledgeBase, last: date) -> None:
    facts = _raw({**SCREENING, "last_covered_bmm_month": last})
    case = kb.case({"policy": NAME, "facts": {**facts, "date_of_service": "2025-06-10"}})
    assert kb.evaluate(case).verdict is Verdict.NOT_COVERED
    found = kb.covered_from(case)
    assert found is not None and found.day == date(2026, 1, 1)


def test_the_first_day_of_the_version_has_one_and_the_day_before_none(kb: KnowledgeBase) -> None:
    assert _verdict(kb, date(2007, 1, 1), {}) is Verdict.NEEDS_INFORMATION
    with pytest.raises(CaseError, match="2006-12-31"):
        _verdict(kb, date(2006, 12, 31), {})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit")) as service:
        yield service


HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


def _order_sign(
    client: AuditedService, record: Record, payer_type: str | None, system: str | None
) -> dict[str, Any] | None:
    """The decision's audit entry, or None when the order is not this policy's."""
    request = record.hook()
    if system is not None:
        order = request["context"]["draftOrders"]["entry"][0]["resource"]
        order["code"]["coding"][0]["system"] = system
    set_payer_type(request, payer_type)
    return client.decision(request)


@pytest.mark.parametrize(
    ("code", "system", "payer_type", "technique"),
    [
        ("77080", None, "121", "dxa_axial"),
        ("77085", None, "1", "dxa_axial"),
        ("77081", None, "111", "dxa_peripheral"),
        ("77078", None, "121", "qct"),
        ("76977", None, "121", "ultrasound"),
        ("G0130", HCPCS, "121", "sexa"),
        ("77080", None, None, "dxa_axial"),  # the coverage does not say: routed
    ],
)
def test_the_bmm_codes_route_here_on_medicare_coverage(
    client: AuditedService,
    code: str,
    system: str | None,
    payer_type: str | None,
    technique: str,
) -> None:
    record = Record(code=code, extra_conditions=[condition("E21.0")])
    entry = _order_sign(client, record, payer_type, system)
    assert entry is not None and entry["policy"] == NAME
    facts = entry["facts"]
    assert facts["bmm_technique"] == technique
    assert facts["sex"] == "female"  # the record's Patient.gender
    assert facts["primary_hyperparathyroidism"] is True
    assert facts.get("medicare_beneficiary") is (True if payer_type is not None else None)


def test_commercial_coverage_is_not_this_policys_order(client: AuditedService) -> None:
    assert _order_sign(client, Record(code="77080"), "511", None) is None


def test_no_hyperparathyroidism_code_leaves_it_to_be_asked(
    client: AuditedService,
) -> None:
    """A problem list without E21.0 is not a "no" (secondary hyperparathyroidism,
    E21.1, is not the condition)."""
    record = Record(code="77080", extra_conditions=[condition("E21.1")])
    entry = _order_sign(client, record, "121", None)
    assert entry is not None
    assert "primary_hyperparathyroidism" not in entry["facts"]


def test_no_bmm_code_is_claimed_by_another_policy(kb: KnowledgeBase) -> None:
    ours = {(c.system, c.code) for c in kb.evaluator(NAME).policy.codes}
    cpt = {("cpt", c) for c in ("77078", "77080", "77081", "77085", "76977")}
    assert ours == cpt | {("hcpcs", "G0130")}
    for name in kb.policy_names():
        if name != NAME:
            for version in kb.versions(name):
                theirs = {(c.system, c.code) for c in version.policy.codes}
                assert not ours & theirs, name
