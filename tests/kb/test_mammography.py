"""mammography (NCD 220.4 with SSA 1834(c)): both engines, the 11-month rule's calendar, routing.

The verdicts themselves are pinned by the YAML suite written from the text
(kb/policies/mammography/tests/) and, independently, by an oracle written
from the text and the vocabulary alone by another engineer; here:

- the two engines agree on an even sample of complete scenarios (the space
  is 98,304 scenarios as of one day: too long to prove one by one on every
  run) and on cases with unknown facts;
- the 11-month rule sits where the calendar puts it, for dates of service at
  every month's first and last day of 2023 and 2024 and on other days: the
  last screening's month 12 months before covers, 11 months before does not
  (month arithmetic written here, independently of the bridge's);
- any day of the last screening's month gives the month count's verdict
  (the rule counts with months(-12) + month_end), and a denied case is
  covered from the first day of the month 12 months after it;
- a date of service before the version's first day has no version;
- the service routes the policy's CPT codes on Medicare coverage and reads
  its FHIR facts.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator
from datetime import date, timedelta
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

NAME = "mammography"
DAY = date(2024, 2, 29)
"""The date of service of the sampled scenarios: the leap day, so that 12
months before falls on 2023-02-28."""

ROUTES_CLOSED = {
    "medicare_beneficiary": True,
    "mammogram_type": "screening",
    "sex": "female",
    "age": 34,
    "breast_signs_or_symptoms": False,
    "personal_history_breast_cancer": False,
    "personal_history_benign_breast_biopsy": False,
    "physician_judges_appropriate": False,
    "for_routine_screening": True,
    "ordered_by_md_or_do": True,
    "physician_interpretation": True,
    "two_views_each_breast": True,
    "mqsa_certified_facility": True,
    "screening_paid_age_35_to_39": True,
    "prior_screening_mammogram": True,
    "last_screening_mammogram_month": date(2023, 6, 1),
}
"""A complete scenario that every route fails (written from the text): a
screening at 34, and a diagnostic request would have no reason."""

COVERED_BY = {
    "screening 35-39": {"age": 37, "screening_paid_age_35_to_39": False},
    "screening 40+, none before": {"age": 40, "prior_screening_mammogram": False},
    "screening 40+, 12 months": {"age": 64, "last_screening_mammogram_month": date(2023, 2, 1)},
    "diagnostic, signs": {"mammogram_type": "diagnostic", "breast_signs_or_symptoms": True},
    "diagnostic, cancer": {"mammogram_type": "diagnostic", "personal_history_breast_cancer": True},
    "diagnostic, benign": {
        "mammogram_type": "diagnostic",
        "personal_history_benign_breast_biopsy": True,
    },
    "diagnostic, judgment": {
        "mammogram_type": "diagnostic",
        "physician_judges_appropriate": True,
        "for_routine_screening": False,
    },
}
"""For each route, the changes to ROUTES_CLOSED that make it cover the case."""


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
    closed_diagnostic = {**ROUTES_CLOSED, "mammogram_type": "diagnostic"}
    assert evaluator.verdict_of(closed_diagnostic) is Verdict.NOT_COVERED
    for route, changes in COVERED_BY.items():
        assert evaluator.verdict_of({**ROUTES_CLOSED, **changes}) is Verdict.COVERED, route


def _sample(choices: dict[str, list[Any]], seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """600 uniform complete scenarios, then 150 around each route's covered
    base (each fact kept with probability 3/4, else drawn uniformly), labelled
    by where they came from."""
    draw = random.Random(seed)
    for _ in range(600):
        yield "uniform", {f: draw.choice(values) for f, values in choices.items()}
    for route, changes in COVERED_BY.items():
        base = {**ROUTES_CLOSED, **changes}
        for _ in range(150):
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
    """1,650 complete scenarios as of 2024-02-29, each proved by SWI-Prolog and
    solved by clingo. The uniform part is even over the whole space; the part
    around each route reaches both verdicts on every route."""
    evaluator, prover = engines
    verdicts: dict[str, set[Verdict]] = {}
    for where, known in _sample(_choices(evaluator, prover), seed=19780515):
        verdict = evaluator.verdict_of(known)
        assert prover.prove(known)[0] is verdict, (where, known)
        verdicts.setdefault(where, set()).add(verdict)
    for route in COVERED_BY:
        assert verdicts[route] == {Verdict.COVERED, Verdict.NOT_COVERED}, route


def _raw(known: dict[str, Any]) -> dict[str, Any]:
    """Case values as a case document writes them."""
    return {f: v.isoformat() if isinstance(v, date) else v for f, v in known.items()}


def test_engines_agree_on_cases_with_unknown_facts(
    kb: KnowledgeBase, engines: tuple[Evaluator, PrologEngine]
) -> None:
    """The CLI's --cross-check path: 42 scenarios of the sample (6 per route),
    each with one fact left out and with every other fact left out; and the
    case that states only its date of service."""
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
    """The text's rule, by months alone: at least 11 whole months have passed
    after the month of `last` by `service` (the 12th month has begun)."""
    return (service.year * 12 + service.month) - (last.year * 12 + last.month) >= 12


def _service_days() -> list[date]:
    """Every first and last day of a month in 2023 and 2024, and 24 other days."""
    days = set()
    for year in (2023, 2024):
        for month in range(1, 13):
            days.add(date(year, month, calendar.monthrange(year, month)[1]))
            days.add(date(year, month, 1))
    draw = random.Random(11)
    start = date(2010, 1, 1)
    days |= {start + timedelta(days=draw.randrange(6000)) for _ in range(24)}
    return sorted(days)


SCREENING_40 = {
    "mammogram_type": "screening",
    "sex": "female",
    "age": 55,
    "breast_signs_or_symptoms": False,
    "physician_interpretation": True,
    "two_views_each_breast": True,
    "mqsa_certified_facility": True,
    "prior_screening_mammogram": True,
}


def _verdict(kb: KnowledgeBase, day: date, known: dict[str, Any]) -> Verdict:
    facts = {**_raw(known), "date_of_service": day.isoformat()}
    return kb.evaluate(kb.case({"policy": NAME, "facts": facts})).verdict


@pytest.mark.parametrize("day", _service_days(), ids=str)
def test_the_11_month_rule_ends_where_the_calendar_puts_it(kb: KnowledgeBase, day: date) -> None:
    twelve = _month_start(day, -12)
    eleven = _month_start(day, -11)
    assert _months_passed_rule(twelve, day) and not _months_passed_rule(eleven, day)
    twelve_end = twelve.replace(day=calendar.monthrange(twelve.year, twelve.month)[1])
    for last in (twelve, twelve_end):
        at_12 = {**SCREENING_40, "last_screening_mammogram_month": last}
        assert _verdict(kb, day, at_12) is Verdict.COVERED, last
    at_11 = {**SCREENING_40, "last_screening_mammogram_month": eleven}
    assert _verdict(kb, day, at_11) is Verdict.NOT_COVERED


@settings(max_examples=examples(60), deadline=None)
@given(
    service=st.dates(min_value=date(2008, 1, 1), max_value=date(2030, 12, 31)),
    back=st.integers(min_value=-2, max_value=30),
    day_of_month=st.integers(min_value=1, max_value=31),
)
def test_any_day_of_the_last_screenings_month_gives_the_month_count(
    kb: KnowledgeBase, service: date, back: int, day_of_month: int
) -> None:
    """The last screening on any day of the month `back` months before the
    date of service's month: the encoding's verdict is the month count's."""
    first = _month_start(service, -back)
    day = first.replace(day=min(day_of_month, calendar.monthrange(first.year, first.month)[1]))
    expected = Verdict.COVERED if _months_passed_rule(day, service) else Verdict.NOT_COVERED
    assert (
        _verdict(kb, service, {**SCREENING_40, "last_screening_mammogram_month": day}) is expected
    )


@pytest.mark.parametrize("last", [date(2024, 1, 1), date(2024, 1, 15), date(2024, 1, 31)], ids=str)
def test_a_denied_screening_is_covered_from_the_month_12_months_on(
    kb: KnowledgeBase, last: date
) -> None:
    facts = _raw({**SCREENING_40, "last_screening_mammogram_month": last})
    case = kb.case({"policy": NAME, "facts": {**facts, "date_of_service": "2024-06-10"}})
    assert kb.evaluate(case).verdict is Verdict.NOT_COVERED
    found = kb.covered_from(case)
    assert found is not None and found.day == date(2025, 1, 1)


def test_the_first_day_of_the_version_has_one_and_the_day_before_none(kb: KnowledgeBase) -> None:
    assert _verdict(kb, date(1978, 5, 15), {}) is Verdict.NEEDS_INFORMATION
    with pytest.raises(CaseError, match="1978-05-14"):
        _verdict(kb, date(1978, 5, 14), {})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit")) as service:
        yield service


def _order_sign(
    client: AuditedService, record: Record, payer_type: str | None, gender: str
) -> dict[str, Any] | None:
    """The decision's audit entry, or None when the order is not this policy's."""
    request = record.hook()
    request["prefetch"]["patient"]["gender"] = gender
    set_payer_type(request, payer_type)
    return client.decision(request)


@pytest.mark.parametrize(
    ("code", "payer_type", "gender", "kind", "sex"),
    [
        ("77067", "121", "female", "screening", "female"),
        ("77065", "1", "male", "diagnostic", "male"),
        ("77066", "111", "other", "diagnostic", None),  # another gender: asked
        ("77067", None, "unknown", "screening", None),  # coverage does not say: routed
    ],
)
def test_the_mammography_codes_route_here_on_medicare_coverage(
    client: AuditedService,
    code: str,
    payer_type: str | None,
    gender: str,
    kind: str,
    sex: str | None,
) -> None:
    record = Record(code=code, extra_conditions=[condition("Z85.3")])
    entry = _order_sign(client, record, payer_type, gender)
    assert entry is not None and entry["policy"] == NAME
    facts = entry["facts"]
    assert facts["mammogram_type"] == kind
    assert facts.get("sex") == sex
    assert facts["personal_history_breast_cancer"] is True
    assert facts.get("medicare_beneficiary") is (True if payer_type is not None else None)
    # Read: whole years from the birth date (1980-02-03) to the date of
    # service the order states (written 2026-06-01, no occurrence).
    assert facts["age"] == 46


def test_commercial_coverage_is_not_this_policys_order(client: AuditedService) -> None:
    assert _order_sign(client, Record(code="77067"), "511", "female") is None


def test_no_breast_cancer_code_leaves_the_history_to_be_asked(
    client: AuditedService,
) -> None:
    """A problem list without breast cancer is not a "no"; a refuted one says nothing."""
    refuted = condition("C50.911", verification="refuted")
    record = Record(code="77066", extra_conditions=[condition("I10"), refuted])
    entry = _order_sign(client, record, "121", "female")
    assert entry is not None
    assert "personal_history_breast_cancer" not in entry["facts"]


def test_no_mammography_code_is_claimed_by_another_policy(kb: KnowledgeBase) -> None:
    ours = {(c.system, c.code) for c in kb.evaluator(NAME).policy.codes}
    assert ours == {("cpt", c) for c in ("77065", "77066", "77067")}
    for name in kb.policy_names():
        if name != NAME:
            for version in kb.versions(name):
                theirs = {(c.system, c.code) for c in version.policy.codes}
                assert not ours & theirs, name


@pytest.mark.parametrize("name", [NAME, "bone-mass-measurement"])
def test_the_facts_it_shares_with_other_policies_are_declared_alike(
    kb: KnowledgeBase, name: str
) -> None:
    """A fact of the same name means the same in every bundled policy (an age
    is an age everywhere): same type, options, unit, bounds, code system and
    default. date_of_service is left out: its lower bound is each policy's
    first day in force."""
    ours = kb.evaluator(name).policy.facts
    shared = 0
    for other in kb.policy_names():
        if other == name:
            continue
        for version in kb.versions(other):
            for fact, theirs in version.policy.facts.items():
                if fact in ours and fact != "date_of_service":
                    mine = ours[fact]
                    declared = (mine.type, mine.options, mine.unit, mine.low, mine.high)
                    assert declared == (
                        theirs.type,
                        theirs.options,
                        theirs.unit,
                        theirs.low,
                        theirs.high,
                    ), (fact, other)
                    assert (mine.system, mine.default) == (theirs.system, theirs.default), fact
                    shared += 1
    assert shared  # medicare_beneficiary at least
