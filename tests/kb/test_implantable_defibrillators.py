"""implantable-defibrillators (NCD 20.4): both engines, the waiting periods' calendar, routing.

The verdicts themselves are pinned by the YAML suite written from the text
(kb/policies/implantable-defibrillators/tests/) and, independently, by an
oracle written from the text alone by another engineer; here:

- the two engines agree on an even sample of complete scenarios (the space
  is 2,123,366,400 scenarios as of one day: too many to enumerate) and on
  cases with unknown facts;
- every waiting period sits where the calendar puts it, for dates of service
  at every month end of 2023 and 2024 and on other days: an MI 40 days before
  is out of the 40-day period and 39 days before is in it; a CABG/PCI on the
  day 3 months before is out of the 3-month period, the next day is in it;
  3 months of optimal medical therapy likewise (month arithmetic written
  here, independently of the bridge's);
- the rules that spell out B2, B3, B4 and ADDITIONAL list exactly their parts;
- a date of service before 2018-02-15 has no version;
- the service routes the policy's CPT codes on Medicare coverage and reads
  its FHIR facts.
"""

from __future__ import annotations

import calendar
import random
import re
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import CaseError
from policykb.bridge.prolog.engine import PrologEngine
from policykb.bridge.solving.evaluator import Evaluator
from tests.audited_service import AuditedService, audited_service, set_payer_type
from tests.fhir_records import LOINC, UCUM, Record, condition

NAME = "implantable-defibrillators"
FOLDER = Path(__file__).parents[2] / "kb" / "policies" / NAME
DAY = date(2024, 5, 31)
"""The date of service of the sampled scenarios: a month end in a leap year,
so that 3 months before falls on 2024-02-29."""

ADDITIONAL_MET = {
    "lvef_method": "echocardiography",
    "clinically_stable": True,
    "irreversible_brain_damage": False,
    "noncardiac_limited_survival": False,
    "svt_poorly_controlled_rate": False,
}
ROUTES_CLOSED = {
    "medicare_beneficiary": True,
    "icd_service": "initial",
    "replacement_reason": "other",
    "sustained_vt_history": "none",
    "vf_arrest_history": "none",
    "prior_mi": False,
    "last_mi_date": date(2024, 1, 10),
    "lvef": Decimal(50),
    "nyha_class": "i",
    "prior_revascularization": False,
    "last_revascularization_date": date(2023, 1, 10),
    "revascularization_candidate": False,
    "combined_with_pacemaker": False,
    "severe_dilated_cardiomyopathy": "none",
    "on_optimal_medical_therapy": False,
    "optimal_medical_therapy_start": date(2023, 1, 10),
    "familial_high_risk_disorder": False,
    "shared_decision_making": True,
    "unos_heart_transplant_candidate": False,
    "mac_determined_coverage": False,
    **ADDITIONAL_MET,
}
"""A complete scenario that every route fails (written from the text)."""

COVERED_BY = {
    "B1": {"sustained_vt_history": "qualifying"},
    "B2": {"prior_mi": True, "lvef": Decimal(30), "nyha_class": "iii"},
    "B3": {"severe_dilated_cardiomyopathy": "ischemic", "nyha_class": "ii", "lvef": Decimal(35)},
    "B4": {
        "severe_dilated_cardiomyopathy": "non_ischemic",
        "nyha_class": "iii",
        "lvef": Decimal(25),
        "on_optimal_medical_therapy": True,
        "optimal_medical_therapy_start": date(2024, 2, 29),
    },
    "B5": {"familial_high_risk_disorder": True},
    "B6": {"icd_service": "replacement", "replacement_reason": "malfunction"},
    "D": {"unos_heart_transplant_candidate": True, "mac_determined_coverage": True},
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
    """The bases the sample grows from: every route closed is not covered,
    and each route opened alone covers."""
    evaluator, _ = engines
    assert set(ROUTES_CLOSED) == set(evaluator.decision_facts)
    assert evaluator.verdict_of(ROUTES_CLOSED) is Verdict.NOT_COVERED
    for route, changes in COVERED_BY.items():
        assert evaluator.verdict_of({**ROUTES_CLOSED, **changes}) is Verdict.COVERED, route


def _sample(choices: dict[str, list[Any]], seed: int) -> Iterator[tuple[str, dict[str, Any]]]:
    """700 uniform complete scenarios, then 120 around each route's covered
    base (each fact kept with probability 3/4, else drawn uniformly), labelled
    by where they came from."""
    draw = random.Random(seed)
    for _ in range(700):
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
    """1,540 complete scenarios as of 2024-05-31, each proved by SWI-Prolog and
    solved by clingo. The uniform part is even over the whole space (mostly
    not covered: coverage needs many facts at once); the part around each
    route reaches both verdicts on every route's every criterion."""
    evaluator, prover = engines
    verdicts: dict[str, set[Verdict]] = {}
    for where, known in _sample(_choices(evaluator, prover), seed=20180215):
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
    """The CLI's --cross-check path: 34 scenarios of the sample (about 5 per route),
    each with one fact left out and with every other fact left out; and the
    case that states only its date of service."""
    evaluator, prover = engines
    sample = [k for where, k in _sample(_choices(evaluator, prover), seed=7) if where != "uniform"]
    seen = set()
    for number, known in enumerate(sample[::25]):
        names = list(known)
        dropped = names[number % len(names)]
        for given in (
            {f: v for f, v in known.items() if f != dropped},
            {f: v for i, (f, v) in enumerate(known.items()) if (i + number) % 2},
        ):
            case = kb.case(
                {"policy": NAME, "facts": {**_raw(given), "date_of_service": DAY.isoformat()}}
            )
            verdict = kb.cross_check(case)  # raises EngineError when the engines disagree
            assert verdict is kb.evaluate(case).verdict, given
            seen.add(verdict)
    empty = kb.case({"policy": NAME, "facts": {"date_of_service": DAY.isoformat()}})
    assert kb.cross_check(empty) is Verdict.NEEDS_INFORMATION
    assert seen == set(Verdict)


def _months_before(day: date, months: int) -> date:
    """`day` moved back by whole months: the same day of the month, or the
    month's last day when it has no such day (the reading in criteria.lp)."""
    month = day.month - months
    year = day.year + (month - 1) // 12
    month = (month - 1) % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _service_days() -> list[date]:
    """Every month end of 2023 and 2024, each month's first day, and 24 other days."""
    days = set()
    for year in (2023, 2024):
        for month in range(1, 13):
            days.add(date(year, month, calendar.monthrange(year, month)[1]))
            days.add(date(year, month, 1))
    draw = random.Random(40)
    start = date(2019, 1, 1)
    days |= {start + timedelta(days=draw.randrange(3650)) for _ in range(24)}
    return sorted(days)


def _verdict(kb: KnowledgeBase, day: date, known: dict[str, Any]) -> Verdict:
    case = kb.case({"policy": NAME, "facts": {**_raw(known), "date_of_service": day.isoformat()}})
    return kb.evaluate(case).verdict


@pytest.mark.parametrize("day", _service_days(), ids=str)
def test_each_waiting_period_ends_where_the_calendar_puts_it(kb: KnowledgeBase, day: date) -> None:
    a_year_before = day - timedelta(days=365)
    b2 = {**ROUTES_CLOSED, **COVERED_BY["B2"], "last_mi_date": a_year_before}
    b4 = {**ROUTES_CLOSED, **COVERED_BY["B4"]}
    three_months = _months_before(day, 3)
    # "Had an MI within the past 40 days" (B2): day 40 is out, day 39 in.
    assert _verdict(kb, day, {**b2, "last_mi_date": day - timedelta(days=40)}) is Verdict.COVERED
    mi_39 = {**b2, "last_mi_date": day - timedelta(days=39)}
    assert _verdict(kb, day, mi_39) is Verdict.NOT_COVERED
    # ... unless the ICD comes with an indicated pacemaker.
    assert _verdict(kb, day, {**mi_39, "combined_with_pacemaker": True}) is Verdict.COVERED
    # "Had a CABG, or PCI ..., within the past 3 months" (B2).
    revascularized = {**b2, "prior_revascularization": True}
    on_edge = {**revascularized, "last_revascularization_date": three_months}
    assert _verdict(kb, day, on_edge) is Verdict.COVERED
    inside = {**revascularized, "last_revascularization_date": three_months + timedelta(days=1)}
    assert _verdict(kb, day, inside) is Verdict.NOT_COVERED
    # "been on optimal medical therapy for at least 3 months" (B4).
    since = {**b4, "optimal_medical_therapy_start": three_months}
    assert _verdict(kb, day, since) is Verdict.COVERED
    short = {**b4, "optimal_medical_therapy_start": three_months + timedelta(days=1)}
    assert _verdict(kb, day, short) is Verdict.NOT_COVERED


def test_the_month_arithmetic_of_this_test_is_the_calendars() -> None:
    assert _months_before(date(2024, 5, 31), 3) == date(2024, 2, 29)
    assert _months_before(date(2023, 5, 31), 3) == date(2023, 2, 28)
    assert _months_before(date(2024, 2, 15), 3) == date(2023, 11, 15)
    assert _months_before(date(2024, 12, 31), 3) == date(2024, 9, 30)


def test_the_spelled_out_conjunctions_list_exactly_their_parts(
    engines: tuple[Evaluator, PrologEngine],
) -> None:
    """B2, B3, B4 and ADDITIONAL are met by a rule listing their parts (see
    criteria.lp); the list must be their part_of/2 parts, no more, no less."""
    evaluator, _ = engines
    text = (FOLDER / "criteria.lp").read_text(encoding="utf-8")
    spelled = {
        head: re.findall(r'met\("([^"]+)"\)', body)
        for head, body in re.findall(
            r'^met\("([^"]+)"\) :-\s*((?:met\("[^"]+"\),?\s*)+)\.', text, re.M
        )
    }
    assert set(spelled) == {"B2", "B3", "B4", "ADDITIONAL"}
    for head, parts in spelled.items():
        criterion = evaluator.policy.criteria[head]
        assert criterion.combines is None
        assert sorted(parts) == sorted(criterion.parts), head


def test_a_date_of_service_before_the_coverage_began_has_no_version(kb: KnowledgeBase) -> None:
    assert _verdict(kb, date(2018, 2, 15), {"icd_service": "initial"}) is (
        Verdict.NEEDS_INFORMATION
    )
    with pytest.raises(CaseError, match="2018-02-14"):
        _verdict(kb, date(2018, 2, 14), {"icd_service": "initial"})


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit")) as service:
        yield service


def _lvef(value: float, code: str = "%") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": f"lvef-{value}-{code}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "10230-1"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-05-01",
        "valueQuantity": {"value": value, "unit": code, "system": UCUM, "code": code},
    }


def _order_sign(
    client: AuditedService, record: Record, payer_type: str | None
) -> dict[str, Any] | None:
    """The decision's audit entry, or None when the order is not this policy's."""
    request = record.hook()
    set_payer_type(request, payer_type)
    return client.decision(request)


@pytest.mark.parametrize(
    ("code", "payer_type", "service"),
    [
        ("33249", "121", None),  # transvenous system, initial or replacement: not stated
        ("33270", "1", None),  # subcutaneous system
        ("33262", "111", "replacement"),  # generator replaced
        ("33263", "121", "replacement"),
        ("33264", None, "replacement"),  # the coverage does not say: routed
        ("33249", None, None),  # routed, and the code states Medicare (a bend)
    ],
)
def test_the_icd_codes_route_here_on_medicare_coverage(
    client: AuditedService, code: str, payer_type: str | None, service: str | None
) -> None:
    record = Record(
        code=code,
        extra_observations=[_lvef(25)],
        extra_conditions=[condition("I21.4"), condition("I45.81")],
    )
    entry = _order_sign(client, record, payer_type)
    assert entry is not None and entry["policy"] == NAME
    facts = entry["facts"]
    assert facts["lvef"] == 25
    assert facts["prior_mi"] is True
    assert facts["familial_high_risk_disorder"] is True
    assert facts.get("icd_service") == service
    # The coverage's payer type states it; else 33249 and 33270 do (they state
    # medicare_beneficiary = true for want of a fact of their own), and a
    # replacement code leaves it to its default.
    stated = payer_type is not None or code in ("33249", "33270")
    assert facts.get("medicare_beneficiary") is (True if stated else None)


def test_commercial_coverage_is_not_this_policys_order(client: AuditedService) -> None:
    assert _order_sign(client, Record(code="33249"), "511") is None


def test_a_record_without_such_conditions_leaves_them_to_be_asked(
    client: AuditedService,
) -> None:
    """No MI or familial disorder on the problem list is not a "no"; an LVEF
    given as a fraction with a comparator is no number of %."""
    fraction = _lvef(0.3, "1") | {"id": "lvef-fraction"}
    fraction["valueQuantity"]["comparator"] = "<"
    record = Record(
        code="33249", extra_observations=[fraction], extra_conditions=[condition("I10")]
    )
    entry = _order_sign(client, record, "121")
    assert entry is not None
    for fact in ("prior_mi", "familial_high_risk_disorder", "lvef"):
        assert fact not in entry["facts"], fact


def test_an_lvef_in_another_unit_of_ratio_is_converted_to_percent(
    client: AuditedService,
) -> None:
    record = Record(code="33249", extra_observations=[_lvef(0.3, "1")])
    entry = _order_sign(client, record, "121")
    assert entry is not None
    assert entry["facts"]["lvef"] == 30


def test_no_icd_code_is_claimed_by_another_policy(kb: KnowledgeBase) -> None:
    ours = {(c.system, c.code) for c in kb.evaluator(NAME).policy.codes}
    assert ours == {("cpt", c) for c in ("33249", "33270", "33262", "33263", "33264")}
    for name in kb.policy_names():
        if name != NAME:
            for version in kb.versions(name):
                theirs = {(c.system, c.code) for c in version.policy.codes}
                assert not ours & theirs, name
