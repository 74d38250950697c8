"""home-oxygen (NCD 240.2): both engines, the reference date, routing and FHIR.

The verdicts themselves are pinned by the YAML suite written from the text
(kb/policies/home-oxygen/tests/) and, independently, by an oracle another
engineer writes from the text alone. Here: that the two engines agree on an
even sample of the complete scenarios (there are over six billion: 29 facts)
and on cases with unknown facts; that the discharge window holds at its
edges on any day of the calendar; what the language forces on a case (the
study's date is its reference date) and on a date before the version; and
that the service routes the policy's HCPCS codes on Medicare coverage and
reads a room-air study at rest from US Core Observations.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import date, timedelta
from math import gcd, prod, sqrt
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import CaseError
from policykb.bridge.solving.evaluator import Evaluator
from tests.audited_service import AuditedService, audited_service, set_payer_type
from tests.fhir_records import LOINC, UCUM, Record
from tests.sampling import examples

NAME = "home-oxygen"
STUDY_DAY = date(2024, 3, 1)
"""The reference date the scenario samples are judged as of."""

EVEN_SAMPLE = 600
"""The even sample: codes i * step modulo the number of scenarios, the step
the first number coprime with it from the golden section of it (a Weyl
sequence: the codes spread over the whole space, every fact's digit, the
most significant included, takes each of its values)."""

PASSING = {
    "medicare_beneficiary": True,
    "test_ordered_and_evaluated": True,
    "oximetry_by_qualified_tester": True,
    "inpatient_prescription": False,
    "test_during_symptomatic_period": True,
    "treats_angina": False,
    "treats_breathlessness": False,
    "treats_pvd_desaturation": False,
    "terminal_illness_not_breathing": False,
}
"""The value of each requirement that lets a route through: the second
sample draws these with probability 0.9, so that it reaches every route."""

HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="module")
def anchored(kb: KnowledgeBase) -> Evaluator:
    (evaluator,) = kb.versions(NAME)
    return evaluator.at({"qualifying_test_date": STUDY_DAY.toordinal()}, fixed=True)


def complete_scenarios(kb: KnowledgeBase, evaluator: Evaluator) -> Iterator[dict[str, Any]]:
    """The even sample, then the requirement-passing sample, as case values."""
    prover = kb.prover_for(evaluator)
    facts = evaluator.decision_facts
    choices = [prover.scenario_choices(f) for f in facts]
    total = prod(len(c) for c in choices)
    assert total > 6_000_000_000
    step = int(total * (sqrt(5) - 1) / 2)
    while gcd(step, total) != 1:
        step += 1
    for i in range(EVEN_SAMPLE):
        code, values = i * step % total, []
        for options in choices:
            code, digit = divmod(code, len(options))
            values.append(options[digit])
        yield _known(evaluator, facts, values)
    rng = random.Random(240_2)
    for _ in range(400):
        values = [
            next(v for v in options if evaluator.concrete(f, v) == PASSING[f])
            if f in PASSING and rng.random() < 0.9
            else rng.choice(options)
            for f, options in zip(facts, choices, strict=True)
        ]
        yield _known(evaluator, facts, values)


def _known(evaluator: Evaluator, facts: list[str], values: list[Any]) -> dict[str, Any]:
    known = {f: evaluator.concrete(f, v) for f, v in zip(facts, values, strict=True)}
    known["qualifying_test_date"] = STUDY_DAY
    return known


def _raw(known: dict[str, Any]) -> dict[str, Any]:
    """Case values as a case document writes them."""
    raw: dict[str, Any] = {}
    for fact, value in known.items():
        if isinstance(value, date):
            raw[fact] = value.isoformat()
        elif isinstance(value, bool | str | int):
            raw[fact] = value
        else:
            raw[fact] = float(value)
    return raw


# -- both engines ----------------------------------------------------------------------


def test_engines_agree_on_an_even_sample_of_complete_scenarios(
    kb: KnowledgeBase, anchored: Evaluator
) -> None:
    """1,000 complete scenarios, scenario by scenario: 600 evenly spaced over
    the mixed-radix space of all of them, 400 drawn with the requirements
    mostly passing (19 of the even sample are covered, 211 of these)."""
    prover = kb.prover_for(anchored)
    verdicts = []
    for known in complete_scenarios(kb, anchored):
        verdict = anchored.verdict_of(known)
        assert prover.prove(known)[0] is verdict, known
        verdicts.append(verdict)
    assert verdicts[:EVEN_SAMPLE].count(Verdict.COVERED) >= 10
    assert verdicts[EVEN_SAMPLE:].count(Verdict.COVERED) >= 100
    assert Verdict.NOT_COVERED in verdicts


def test_engines_agree_on_cases_with_unknown_facts(kb: KnowledgeBase, anchored: Evaluator) -> None:
    """The CLI's --cross-check path: 16 covered and 32 other complete
    scenarios of the samples, each as it is, with one fact left out and with
    every other fact left out (the study's date always stated); and a case
    stating the date alone."""
    every = list(complete_scenarios(kb, anchored))
    covered = [k for k in every if anchored.verdict_of(k) is Verdict.COVERED]
    rest = [k for k in every if anchored.verdict_of(k) is not Verdict.COVERED]
    sample = covered[:: max(1, len(covered) // 16)][:16] + rest[:: max(1, len(rest) // 32)][:32]
    seen = set()
    for number, known in enumerate(sample):
        names = [f for f in known if f != "qualifying_test_date"]
        dropped = names[number % len(names)]
        for given_facts in (
            known,
            {f: v for f, v in known.items() if f != dropped},
            {
                f: v
                for i, (f, v) in enumerate(known.items())
                if (i + number) % 2 or f == "qualifying_test_date"
            },
        ):
            case = kb.case({"policy": NAME, "facts": _raw(given_facts)})
            verdict = kb.cross_check(case)  # raises EngineError when the engines disagree
            assert verdict is kb.evaluate(case).verdict, given_facts
            seen.add(verdict)
    alone = kb.case({"policy": NAME, "facts": {"qualifying_test_date": STUDY_DAY.isoformat()}})
    assert kb.cross_check(alone) is Verdict.NEEDS_INFORMATION
    assert seen == set(Verdict)


# -- the time of need ------------------------------------------------------------------

INPATIENT_AT_REST = {
    "inpatient_prescription": True,
    "test_ordered_and_evaluated": True,
    "rest_study": "arterial_blood_gas",
    "pao2_rest": 50,
    "treats_pvd_desaturation": False,
    "terminal_illness_not_breathing": False,
}


@settings(max_examples=examples(25), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    study=st.dates(min_value=date(2021, 9, 27), max_value=date(2030, 12, 31)),
    days_to_discharge=st.integers(min_value=-4, max_value=6),
)
def test_an_inpatient_study_counts_from_two_days_before_discharge_through_discharge(
    kb: KnowledgeBase, study: date, days_to_discharge: int
) -> None:
    """B: "For an inpatient hospital patient the time of need is within 2 days
    of discharge", read as the two days before discharge through the day of
    discharge (criteria.lp, TIME/INPATIENT), on any day of the calendar."""
    discharge = study + timedelta(days=days_to_discharge)
    facts = {
        **INPATIENT_AT_REST,
        "qualifying_test_date": study.isoformat(),
        "discharge_date": discharge.isoformat(),
    }
    verdict = kb.evaluate(kb.case({"policy": NAME, "facts": facts})).verdict
    expected = Verdict.COVERED if 0 <= days_to_discharge <= 2 else Verdict.NOT_COVERED
    assert verdict is expected


def test_the_discharge_date_is_not_asked_outside_an_inpatient_stay(kb: KnowledgeBase) -> None:
    facts = {
        **INPATIENT_AT_REST,
        "inpatient_prescription": False,
        "test_during_symptomatic_period": True,
        "qualifying_test_date": "2024-03-01",
    }
    evaluation = kb.evaluate(kb.case({"policy": NAME, "facts": facts}))
    assert evaluation.verdict is Verdict.COVERED


# -- what the language requires of a case ------------------------------------------------


def test_a_case_without_the_study_date_its_reference_date_is_answered(
    kb: KnowledgeBase,
) -> None:
    """Issue 29: a case that leaves the study's date out is answered over every
    day of it rather than refused."""
    evaluation = kb.evaluate(kb.case({"policy": NAME, "facts": {"rest_study": "none"}}))
    assert evaluation.verdict is Verdict.NEEDS_INFORMATION


def test_a_date_of_service_before_version_2_has_no_version(kb: KnowledgeBase) -> None:
    facts = {"qualifying_test_date": "2021-09-20", "date_of_service": "2021-09-26"}
    with pytest.raises(CaseError, match="2021-09-27"):
        kb.evaluate(kb.case({"policy": NAME, "facts": facts}))
    facts["date_of_service"] = "2021-09-27"
    assert kb.evaluate(kb.case({"policy": NAME, "facts": facts})).verdict is (
        Verdict.NEEDS_INFORMATION
    )


# -- routing and FHIR --------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit")) as service:
        yield service


def _room_air(loinc: str, value: float, unit: str, day: str, flow: float = 0) -> dict[str, Any]:
    """A spot Observation with its inhaled oxygen flow rate (LOINC 3151-8)."""
    return {
        "resourceType": "Observation",
        "id": f"{loinc}-{day}-{flow}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": day,
        "valueQuantity": {"value": value, "unit": unit, "system": UCUM, "code": unit},
        "component": [
            {
                "code": {"coding": [{"system": LOINC, "code": "3151-8"}]},
                "valueQuantity": {"value": flow, "unit": "L/min", "system": UCUM, "code": "L/min"},
            }
        ],
    }


def _order_sign(
    client: AuditedService, code: str, payer_type: str | None, observations: list[dict[str, Any]]
) -> dict[str, Any]:
    request = Record(code=code, extra_observations=observations).hook()
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["code"]["coding"][0]["system"] = HCPCS
    set_payer_type(request, payer_type)
    return client.order_sign(request)


ABG = [_room_air("2703-7", 52, "mm[Hg]", "2026-05-01")]


@pytest.mark.parametrize(
    ("code", "payer_type", "equipment"),
    [
        ("E1390", "121", "stationary"),
        ("E0424", "1", "stationary"),
        ("E0439", "111", "stationary"),
        ("E0431", "121", "portable"),
        ("E0434", "121", "portable"),
        ("E1392", "121", "portable"),
        ("K0738", None, "portable"),  # the coverage does not say: routed, Medicare asked
        ("E1390", "511", None),  # commercial coverage: not this policy's order
    ],
)
def test_the_oxygen_codes_route_here_only_on_medicare_coverage(
    client: AuditedService, code: str, payer_type: str | None, equipment: str | None
) -> None:
    answer = _order_sign(client, code, payer_type, ABG)
    assert ("systemActions" in answer) is (equipment is not None)
    if equipment is not None:
        entry = client.last_entry()
        assert entry["policy"] == NAME
        assert entry["facts"]["oxygen_equipment"] == equipment
        assert ("medicare_beneficiary" in entry["facts"]) is (payer_type is not None)


def _facts_read(client: AuditedService, observations: list[dict[str, Any]]) -> Any:
    _order_sign(client, "E1390", "121", observations)
    return client.last_entry()["facts"]


def test_a_room_air_blood_gas_at_rest_is_read_with_its_date(client: AuditedService) -> None:
    oximetry = _room_air("59408-5", 90, "%", "2026-05-02")
    facts = _facts_read(client, [*ABG, oximetry])
    # B prefers the arterial blood gas: it is the study at rest, and its day
    # the study's date, though the oximetry is later.
    assert facts["rest_study"] == "arterial_blood_gas"
    assert facts["pao2_rest"] == 52
    assert facts["sao2_rest"] == 90
    assert facts["qualifying_test_date"] == "2026-05-01"


def test_pulse_oximetry_is_the_study_at_rest_without_a_blood_gas(
    client: AuditedService,
) -> None:
    facts = _facts_read(client, [_room_air("59408-5", 88, "%", "2026-05-02")])
    assert facts["rest_study"] == "oximetry"
    assert facts["sao2_rest"] == 88
    assert facts["qualifying_test_date"] == "2026-05-02"
    assert "pao2_rest" not in facts


def test_a_value_on_oxygen_or_not_whole_in_mm_hg_is_not_read(
    client: AuditedService,
) -> None:
    """A blood gas on 2 L/min of oxygen is not a room-air value: the room-air
    pulse oximetry is then the study at rest. 7.3 kPa is 54.75 mm[Hg], no
    whole number: the PaO2 is left to be asked. A hematocrit given as a
    fraction is converted to %."""
    on_oxygen = _room_air("2703-7", 52, "mm[Hg]", "2026-05-01", flow=2)
    oximetry = _room_air("59408-5", 91, "%", "2026-04-30")
    hematocrit = {
        "resourceType": "Observation",
        "id": "hct",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "4544-3"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": "2026-05-01",
        "valueQuantity": {"value": 0.571, "unit": "1", "system": UCUM, "code": "1"},
    }
    facts = _facts_read(client, [on_oxygen, oximetry, hematocrit])
    assert facts["rest_study"] == "oximetry"
    assert facts["sao2_rest"] == 91
    assert facts["qualifying_test_date"] == "2026-04-30"
    assert "pao2_rest" not in facts
    assert facts["hematocrit"] == pytest.approx(57.1)
    in_kpa = _room_air("2703-7", 7.3, "kPa", "2026-05-03")
    facts = _facts_read(client, [in_kpa])
    assert facts["rest_study"] == "arterial_blood_gas"
    assert facts["qualifying_test_date"] == "2026-05-03"
    assert "pao2_rest" not in facts


def test_without_the_study_s_day_in_the_record_crd_asks_it_through_dtr(
    kb: KnowledgeBase, client: AuditedService
) -> None:
    """Issue 29: the study's date is a fact like any other. A record whose
    room-air study is dated with a time of day (or that has none) does not
    give the day; the answer is then conditional, and the card asks the date
    with the other questions, through the policy's questionnaire (DTR)."""
    question = kb.evaluator(NAME).policy.facts["qualifying_test_date"].question
    timed = _room_air("2703-7", 52, "mm[Hg]", "2026-05-01")
    timed["effectiveDateTime"] = "2026-05-01T08:30:00Z"
    for observations in ([timed], []):
        answer = _order_sign(client, "E1390", "121", observations)
        (card,) = answer["cards"]
        assert question in card["detail"]
        assert "Questionnaire/home-oxygen" in card["detail"]
        information = answer["systemActions"][0]["resource"]["extension"][0]["extension"]
        assert {"url": "covered", "valueCode": "conditional"} in information
