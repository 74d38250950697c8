"""FHIR facts are right or unknown (issue 26): each rule of service/fhir_facts.py
against a record built to break it, as facts read and as the decision CRD
and PAS answer over HTTP.

The rules: only resources about the request's patient, in a usable status;
quantities converted through UCUM to the fact's declared unit, and unknown
for a comparator, a bare number or an incommensurable unit; "latest" by time
spans, unknown when the candidates disagree; dataAbsentReason gives unknown;
the record read once per request, whatever the number of orders.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.errors import PolicyError
from policykb.service import crd_request, fhir_time, units
from policykb.service.app import create_app
from policykb.service.coverage_information import COVERAGE_INFORMATION
from policykb.service.decisions import Decisions
from policykb.service.fhir_facts import FactMapping, FactRule, load_mapping
from policykb.service.pas import REVIEW_ACTION, REVIEW_ACTION_CODE, claim_response
from policykb.service.request_resources import Resources
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record, bmi, condition, pregnancy
from tests.sampling import examples

ORDER_DAY = date(2026, 6, 1)
CLINICAL = ["active", "recurrence", "relapse", "inactive", "remission", "resolved", None]
VERIFICATION = [
    None,
    "unconfirmed",
    "provisional",
    "differential",
    "confirmed",
    "refuted",
    "entered-in-error",
]
OBSERVATION_STATUS = [
    "registered",
    "preliminary",
    "final",
    "amended",
    "corrected",
    "cancelled",
    "entered-in-error",
    "unknown",
]
ABSENT = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/data-absent-reason"}]}


@pytest.fixture(scope="module")
def bariatric(kb: KnowledgeBase) -> FactMapping:
    return load_mapping(kb.policy("bariatric-surgery"))


@pytest.fixture(scope="module")
def massage(kb: KnowledgeBase) -> FactMapping:
    return load_mapping(kb.policy("massage-therapy"))


def resources(record: Record, **given: Any) -> Resources:
    return Resources(
        record.order(),
        record.patient(),
        record.coverage_resource() if record.coverage else None,
        record.conditions(),
        record.observations(),
        **({"patient_id": "pat-1"} | given),
    )


def read(mapping: FactMapping, record: Record, **given: Any) -> dict[str, object]:
    return mapping.read(resources(record, **given), ORDER_DAY)


# -- the patient -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("reference", "counts"),
    [
        ("Patient/pat-1", True),
        ("https://ehr.example/fhir/Patient/pat-1", True),
        ("https://ehr.example/fhir/Patient/pat-1/_history/3", True),
        ("urn:uuid:5f2c4a1e-patient", True),
        ("Patient/pat-2", False),
        ("https://ehr.example/fhir/Patient/pat-10", False),
        ("https://ehr.example/fhir/Patient/pat-1x", False),
        ("Group/pat-1", False),
        ("urn:uuid:another-entry", False),
        ("pat-1", False),
        (None, False),
    ],
)
def test_a_resource_counts_only_when_it_is_about_the_patient(
    bariatric: FactMapping, reference: str | None, counts: bool
) -> None:
    observation = pregnancy(True)
    if reference is None:
        del observation["subject"]  # about no one it says: left out
    else:
        observation["subject"] = {"reference": reference}
    record = Record(extra_observations=[observation])
    facts = read(bariatric, record, patient_urls=frozenset({"urn:uuid:5f2c4a1e-patient"}))
    assert ("pregnant" in facts) is counts
    assert facts.get("pregnant", True) is True


def test_another_patients_pregnancy_is_not_used(bariatric: FactMapping) -> None:
    record = Record(pregnant=False, extra_observations=[pregnancy(True, "Patient/pat-2")])
    assert read(bariatric, record)["pregnant"] is False
    alone = Record(extra_observations=[pregnancy(True, "Patient/pat-2")])
    assert "pregnant" not in read(bariatric, alone)


def test_a_patient_resource_of_another_id_gives_no_age(bariatric: FactMapping) -> None:
    assert read(bariatric, Record())["age"] == 46
    assert "age" not in read(bariatric, Record(), patient_id="pat-2")


def test_without_a_patient_id_the_order_names_the_patient(bariatric: FactMapping) -> None:
    record = Record(bmis=[("2026-05-01", 41.0)])
    assert read(bariatric, record, patient_id=None)["bmi"] == 41
    order = record.order() | {"subject": {"reference": "Patient/pat-2"}}
    found = bariatric.read(
        Resources(order, record.patient(), None, (), record.observations()), ORDER_DAY
    )
    assert found == {}  # the order is about pat-2: pat-1's record says nothing of pat-2


@pytest.mark.parametrize(
    ("changes", "medicare"),
    [
        ({}, True),
        ({"beneficiary": {"reference": "Patient/pat-2"}}, None),
        ({"beneficiary": {"reference": "https://ehr.example/fhir/Patient/pat-1"}}, True),
        ({"status": "entered-in-error"}, None),
    ],
)
def test_massage_reads_the_coverage_of_the_patient_only(
    massage: FactMapping, changes: dict[str, Any], medicare: bool | None
) -> None:
    sopt = {"coding": [{"system": "https://nahdo.org/sopt", "code": "121"}]}
    record = Record(code="97124", coverage_changes={"type": sopt, **changes})
    assert read(massage, record).get("medicare_member") == medicare


# -- the status ------------------------------------------------------------------


@pytest.mark.parametrize("clinical", CLINICAL)
@pytest.mark.parametrize("verification", VERIFICATION)
def test_a_condition_counts_when_active_and_not_refuted(
    bariatric: FactMapping, clinical: str | None, verification: str | None
) -> None:
    record = Record(extra_conditions=[condition("E11.9", clinical, verification)])
    counts = clinical in ("active", "recurrence", "relapse") and verification not in (
        "refuted",
        "entered-in-error",
    )
    assert read(bariatric, record).get("diagnoses") == (["E11.9"] if counts else None)


def test_a_condition_without_clinical_status_does_not_count(bariatric: FactMapping) -> None:
    # FHIR R4 con-3 requires clinicalStatus unless entered-in-error (for a
    # problem-list item); a Condition without one says nothing of whether it
    # is active, so it is left out rather than read as active.
    record = Record(extra_conditions=[condition("E11.9", None, "confirmed")])
    assert "diagnoses" not in read(bariatric, record)


@pytest.mark.parametrize("clinical", ["active", "recurrence", "relapse"])
def test_an_abated_condition_stated_active_does_not_count(
    bariatric: FactMapping, clinical: str
) -> None:
    # con-4: an abated condition's clinicalStatus is inactive, resolved or
    # remission; one that says both contradicts itself and is left out.
    abated = condition("E11.9", clinical) | {"abatementDateTime": "2025-01-01"}
    assert "diagnoses" not in read(bariatric, Record(extra_conditions=[abated]))


@pytest.mark.parametrize("status", OBSERVATION_STATUS)
def test_an_observation_counts_when_final_amended_or_corrected(
    bariatric: FactMapping, status: str
) -> None:
    record = Record(extra_observations=[bmi(41, status=status)])
    counts = status in ("final", "amended", "corrected")
    assert read(bariatric, record).get("bmi") == (41 if counts else None)


# -- units and comparators -------------------------------------------------------


def test_pounds_per_square_inch_are_converted_to_kg_per_m2(bariatric: FactMapping) -> None:
    record = Record(extra_observations=[bmi(0.0583, code="[lb_av]/[in_i]2")])
    found = read(bariatric, record)["bmi"]
    # UCUM: [lb_av] = 0.45359237 kg, [in_i] = 0.0254 m exactly.
    expected = Decimal("0.0583") * Decimal("0.45359237") / Decimal("0.0254") ** 2
    assert isinstance(found, float)
    assert abs(Decimal(str(found)) - expected) < Decimal("1e-12")
    assert 40.98 < found < 40.99


@pytest.mark.parametrize(
    "quantity",
    [
        {"value": 41, "unit": "%", "system": units.UCUM_SYSTEM, "code": "%"},
        {"value": 41, "unit": "kg", "system": units.UCUM_SYSTEM, "code": "kg"},
        {"value": 41, "unit": "kg/m2"},  # a display text is no unit code
        {"value": 41},
        {"value": 41, "system": "http://example.org/units", "code": "kg/m2"},
        {"value": 41, "system": units.UCUM_SYSTEM, "code": "kg/m2!"},
        {"value": "41", "system": units.UCUM_SYSTEM, "code": "kg/m2"},
    ],
)
def test_a_quantity_not_in_the_facts_unit_leaves_it_unknown(
    bariatric: FactMapping, quantity: dict[str, Any]
) -> None:
    record = Record(extra_observations=[bmi(0, valueQuantity=quantity)])
    assert "bmi" not in read(bariatric, record)


@pytest.mark.parametrize("comparator", ["<", "<=", ">=", ">", "ad"])
def test_a_comparator_is_never_read_as_the_number(bariatric: FactMapping, comparator: str) -> None:
    record = Record(extra_observations=[bmi(40, comparator=comparator)])
    assert "bmi" not in read(bariatric, record)


@settings(max_examples=examples(60), deadline=None)
@given(
    value=st.decimals(min_value=1, max_value=199, places=3),
    unit=st.sampled_from([("kg/m2", 1), ("g/cm2", Decimal("0.1")), ("g/m2", 1000)]),
)
def test_metric_units_convert_exactly(
    bariatric: FactMapping, value: Decimal, unit: tuple[str, int | Decimal]
) -> None:
    code, factor = unit
    record = Record(extra_observations=[bmi(float(value * factor), code=code)])
    found = read(bariatric, record)["bmi"]
    assert Decimal(str(found)) == value


# -- latest ----------------------------------------------------------------------


def test_latest_orders_instants_across_zones(bariatric: FactMapping) -> None:
    # 23:00 at -10:00 is 09:00Z on 2 May: after 01:00Z, although its text sorts first.
    record = Record(
        extra_observations=[bmi(41, "2026-05-01T23:00-10:00"), bmi(30, "2026-05-02T01:00Z")]
    )
    assert read(bariatric, record)["bmi"] == 41


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        (["2026-05", "2026-05-10"], None),  # the month holds the day: either may be later
        (["2026-04", "2026-05-10"], 30),
        (["2026", "2027-01-01"], 30),
        (["2026", "2026-12-31T23:59:59Z"], None),
        (["2026-05-10", "2026-05-11"], 30),  # two days in the record's one local zone
        (["2026-05-10", "2026-05-10T12:00:00Z"], None),  # that zone is unknown
        (["2026-05-09", "2026-05-11T13:00:00Z"], 30),  # -12:00 cannot reach it
        (["2026-05-10T10:00:00Z", "2026-05-10T10:00:00Z"], None),  # equal instants
        (["2026-05-10T10:00:00Z", "2026-05-10T10:00:00.5Z"], None),  # within the second
        (["2026-05-10T10:00:00.4Z", "2026-05-10T10:00:00.5Z"], 30),
    ],
)
def test_latest_is_unknown_when_the_candidates_disagree(
    bariatric: FactMapping, times: list[str], expected: int | None
) -> None:
    record = Record(extra_observations=[bmi(41, times[0]), bmi(30, times[1])])
    assert read(bariatric, record).get("bmi") == expected


def test_equal_instants_with_one_value_give_that_value(bariatric: FactMapping) -> None:
    when = "2026-05-10T10:00:00Z"
    record = Record(extra_observations=[bmi(41, when, id="a"), bmi(41, when, id="b")])
    assert read(bariatric, record)["bmi"] == 41


def test_a_period_is_ordered_by_its_end_and_issued_only_without_effective(
    bariatric: FactMapping,
) -> None:
    period = bmi(41, effectivePeriod={"start": "2026-01-01", "end": "2026-05-20"})
    del period["effectiveDateTime"]
    issued_late = bmi(30, "2026-05-10", issued="2026-06-01T00:00:00Z")
    assert read(bariatric, Record(extra_observations=[period, issued_late]))["bmi"] == 41
    only_issued = bmi(30, issued="2026-05-30T00:00:00Z")
    del only_issued["effectiveDateTime"]
    assert read(bariatric, Record(extra_observations=[period, only_issued]))["bmi"] == 30


@pytest.mark.parametrize(
    ("start", "other", "expected"),
    [
        ("2026-05-01", "2026-04-30", 41),  # going on since after the other
        ("2026-05-01", "2026-05-20", None),  # it may go on past the other, or not
        ("2026-05-01", "2026-05-01", None),
    ],
)
def test_a_period_without_end_goes_on_from_its_start(
    bariatric: FactMapping, start: str, other: str, expected: int | None
) -> None:
    ongoing = bmi(41, effectivePeriod={"start": start})
    del ongoing["effectiveDateTime"]
    record = Record(extra_observations=[ongoing, bmi(30, other)])
    assert read(bariatric, record).get("bmi") == expected


def test_an_undated_resource_may_be_the_latest(bariatric: FactMapping) -> None:
    undated = bmi(30)
    del undated["effectiveDateTime"]
    record = Record(extra_observations=[bmi(41, "2026-05-01"), undated])
    assert "bmi" not in read(bariatric, record)


offsets = st.integers(-12 * 4, 14 * 4).map(lambda quarters: timedelta(minutes=15 * quarters))


@settings(max_examples=examples(80), deadline=None)
@given(
    observed=st.lists(
        st.tuples(
            st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(
                lambda moment: moment.replace(microsecond=0, tzinfo=UTC)
            ),
            offsets,
        ),
        min_size=1,
        max_size=6,
        unique_by=lambda pair: pair[0],
    )
)
def test_latest_by_instant_is_latest_in_utc(
    bariatric: FactMapping, observed: list[tuple[datetime, timedelta]]
) -> None:
    observations = [
        bmi(20 + index, instant.astimezone(timezone(offset)).isoformat())
        for index, (instant, offset) in enumerate(observed)
    ]
    newest = max(range(len(observed)), key=lambda index: observed[index][0])
    assert read(bariatric, Record(extra_observations=observations))["bmi"] == 20 + newest


@settings(max_examples=examples(80), deadline=None)
@given(
    text=st.from_regex(
        r"\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?",
        fullmatch=True,
    )
)
def test_a_moment_spans_what_its_text_names(text: str) -> None:
    span = fhir_time.moment(text)
    if span is None:
        return  # not a calendar date (2026-13, 2026-02-30): no time
    assert span.first <= span.last
    assert not fhir_time.surely_after(span, span)


# -- dataAbsentReason ------------------------------------------------------------


def test_a_latest_value_absent_is_unknown_not_the_older_value(bariatric: FactMapping) -> None:
    absent = bmi(None, "2026-05-10", dataAbsentReason=ABSENT)
    del absent["valueQuantity"]
    record = Record(bmis=[("2026-04-01", 41.0)], extra_observations=[absent])
    assert "bmi" not in read(bariatric, record)
    pregnancy_absent = pregnancy(False, dataAbsentReason=ABSENT)
    del pregnancy_absent["valueCodeableConcept"]
    assert "pregnant" not in read(bariatric, Record(extra_observations=[pregnancy_absent]))


# -- age on the date of service ----------------------------------------------------

BIRTHDAY = date(2005, 6, 10)  # 21 on 2026-06-10


@pytest.mark.parametrize(
    ("order_fields", "age"),
    [
        # written before the 21st birthday, to be given on it: the policy's
        # text counts age on the date of service
        ({"authoredOn": "2026-06-01", "occurrenceDateTime": "2026-06-10T08:00:00-05:00"}, 21),
        ({"authoredOn": "2026-06-01", "occurrenceDateTime": "2026-06-09"}, 20),
        ({"authoredOn": "2026-06-01", "occurrencePeriod": {"start": "2026-06-10"}}, 21),
        ({"authoredOn": "2026-06-11", "occurrenceDateTime": "2026-06-09"}, 20),
        # no date of service stated: the day the order was written
        ({"authoredOn": "2026-06-10"}, 21),
        ({"authoredOn": "2026-06-09"}, 20),
        # nothing stated: today (ORDER_DAY, before the birthday)
        ({}, 20),
    ],
)
def test_age_counts_to_the_date_of_service_the_order_states(
    bariatric: FactMapping, order_fields: dict[str, Any], age: int
) -> None:
    record = Record(birth_date=BIRTHDAY.isoformat())
    order = {k: v for k, v in record.order().items() if k != "authoredOn"} | order_fields
    found = bariatric.read(Resources(order, record.patient(), patient_id="pat-1"), ORDER_DAY)
    assert found["age"] == age


@pytest.mark.parametrize(("served", "age"), [("2026-06-09", 39), ("2026-06-10", 40)])
def test_mammography_reads_age_on_the_date_of_service(
    kb: KnowledgeBase, served: str, age: int
) -> None:
    """A screening mammogram ordered a month before the 40th birthday, to be
    done on the day before it or on it: the NCD's "over age 39" is on the
    date of service, so the age read is 39 or 40."""
    mammography = load_mapping(kb.policy("mammography"))
    record = Record(code="77067", birth_date="1986-06-10")
    order = record.order() | {"authoredOn": "2026-05-10", "occurrenceDateTime": served}
    found = mammography.read(Resources(order, record.patient(), patient_id="pat-1"), ORDER_DAY)
    assert found["age"] == age


@given(
    born=st.dates(date(1900, 1, 1), date(2026, 12, 31)),
    served=st.dates(date(2000, 1, 1), date(2030, 12, 31)),
    written_before=st.integers(0, 400),
)
@settings(max_examples=examples(200), deadline=None)
def test_age_is_whole_years_to_the_date_of_service(
    bariatric: FactMapping, born: date, served: date, written_before: int
) -> None:
    """Against counting by brute force: the last date of service whose
    calendar anniversary (Feb 29 births on Mar 1 in common years) has passed."""
    record = Record(birth_date=born.isoformat())
    written = served - timedelta(days=written_before)
    order = record.order() | {
        "authoredOn": written.isoformat(),
        "occurrenceDateTime": served.isoformat(),
    }
    found = bariatric.read(Resources(order, record.patient(), patient_id="pat-1"), ORDER_DAY)
    years = sum(
        1 for year in range(born.year + 1, served.year + 1) if _anniversary(born, year) <= served
    )
    expected = years if born <= served else None
    assert found.get("age") == expected


def _anniversary(born: date, year: int) -> date:
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    if (born.month, born.day) == (2, 29) and not leap:
        return date(year, 3, 1)
    return date(year, born.month, born.day)


# -- once per request ------------------------------------------------------------


def test_the_record_is_read_once_per_request_not_per_order(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    decisions = Decisions(kb, None, compile_now=False)
    calls: dict[str, int] = {}
    original = FactRule.read

    def counted(rule: FactRule, variables: Any, order_day: date) -> object | None:
        calls[rule.fact] = calls.get(rule.fact, 0) + 1
        return original(rule, variables, order_day)

    monkeypatch.setattr(FactRule, "read", counted)
    record = Record(bmis=[(f"2026-0{1 + i % 5}-1{i % 9}", 30.0 + i) for i in range(40)])
    orders = [record.order() | {"id": f"order-{i}"} for i in range(25)]
    request = crd_request.HookRequest(record.hook(orders=orders), "order-sign")
    for order in request.orders:
        assert decisions.route(order["code"], request.resources(order), ORDER_DAY) is not None
    # age is years to each order's date; the rest never depends on the order.
    # CPT 43775 is claimed by the Medicare NCD too (precedence over the
    # Washington rule): routing reads its condition, the coverage, once.
    assert calls == {"age": 25, "bmi": 1, "pregnant": 1, "diagnoses": 1, "medicare_beneficiary": 1}


# -- the mapping -----------------------------------------------------------------


def test_a_declared_unit_without_a_ucum_code_is_refused_at_load(tmp_path: Path) -> None:
    source = Path(__file__).parents[2] / "kb" / "policies" / "bariatric-surgery"
    folder = tmp_path / "bariatric-surgery"
    folder.mkdir()
    for part in source.glob("*.*"):
        text = part.read_text(encoding="utf-8")
        folder.joinpath(part.name).write_text(
            text.replace('unit(bmi, "kg/m2")', 'unit(bmi, "stones per acre")'), encoding="utf-8"
        )
    policy = KnowledgeBase([tmp_path]).evaluator(folder / "policy.lp").policy
    with pytest.raises(PolicyError, match=r"fhir.yaml: fact 'bmi': the fact's unit"):
        load_mapping(policy)


# -- the decision over HTTP ------------------------------------------------------


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    app = create_app(ServiceSettings(audit=str(audit), audit_sync=False))
    with TestClient(app) as test_client:
        yield test_client


def covered(client: TestClient, record: Record) -> tuple[str, str]:
    """CRD's `covered` for the record's order, and its reasons and card text."""
    response = client.post("/cds-services/policykb-order-sign", json=record.hook())
    assert response.status_code == 200, response.text
    answer = response.json()
    (action,) = answer["systemActions"]
    (information,) = [
        e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION
    ]
    (value,) = [p["valueCode"] for p in information["extension"] if p["url"] == "covered"]
    reasons = [
        p["valueCodeableConcept"]["text"] for p in information["extension"] if p["url"] == "reason"
    ]
    # The questions still to answer are on the Instructions card (CRD resp-25:
    # no card repeats the coverage information).
    return value, "\n".join([*reasons, *(card["detail"] for card in answer["cards"])])


def test_crd_counts_age_to_the_orders_date_of_service(client: TestClient) -> None:
    """An order written before the 21st birthday for a sleeve gastrectomy on
    it: the client is 21 on the date of service, and CRD says covered (it
    counted to the day of writing, 20, and said not covered)."""
    record = Record(
        birth_date="2005-06-10", bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"]
    )
    hook = record.hook(orders=[record.order() | {"occurrenceDateTime": "2026-06-10"}])
    response = client.post("/cds-services/policykb-order-sign", json=hook)
    assert response.status_code == 200, response.text
    (action,) = response.json()["systemActions"]
    (information,) = [
        e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION
    ]
    assert [p["valueCode"] for p in information["extension"] if p["url"] == "covered"] == [
        "covered"
    ]


NOT_PREGNANT_DIABETIC = {"pregnant": False, "diagnoses": ["E11.9"]}
PROBES = {
    # name: (record, CRD's covered; before issue 26 the service answered otherwise)
    "refuted diabetes": (
        Record(
            bmis=[("2026-05-01", 41.0)],
            pregnant=False,
            extra_conditions=[condition("E11.9", "active", "refuted")],
        ),
        "conditional",
    ),
    "diabetes entered in error": (
        Record(
            bmis=[("2026-05-01", 41.0)],
            pregnant=False,
            extra_conditions=[condition("E11.9", "active", "entered-in-error")],
        ),
        "conditional",
    ),
    "BMI <40": (
        Record(**NOT_PREGNANT_DIABETIC, extra_observations=[bmi(40, comparator="<")]),
        "conditional",
    ),
    "BMI >30": (
        Record(**NOT_PREGNANT_DIABETIC, extra_observations=[bmi(30, comparator=">")]),
        "conditional",
    ),
    "BMI 0.0583 [lb_av]/[in_i]2": (
        Record(**NOT_PREGNANT_DIABETIC, extra_observations=[bmi(0.0583, code="[lb_av]/[in_i]2")]),
        "covered",
    ),
    "BMI 41 %": (
        Record(**NOT_PREGNANT_DIABETIC, extra_observations=[bmi(41, code="%")]),
        "conditional",
    ),
    "BMI latest across zones": (
        Record(
            **NOT_PREGNANT_DIABETIC,
            extra_observations=[bmi(41, "2026-05-01T23:00-10:00"), bmi(30, "2026-05-02T01:00Z")],
        ),
        "covered",
    ),
    "another patient's pregnancy": (
        Record(
            bmis=[("2026-05-01", 41.0)],
            diagnoses=["E11.9"],
            extra_observations=[pregnancy(True, "Patient/pat-2")],
        ),
        "conditional",
    ),
    "latest BMI absent": (
        Record(
            **NOT_PREGNANT_DIABETIC,
            bmis=[("2026-04-01", 41.0)],
            extra_observations=[
                {
                    key: value
                    for key, value in bmi(None, "2026-05-10", dataAbsentReason=ABSENT).items()
                    if key != "valueQuantity"
                }
            ],
        ),
        "conditional",
    ),
}


@pytest.mark.parametrize("probe", sorted(PROBES))
def test_crd_decides_each_probe_from_the_right_data(client: TestClient, probe: str) -> None:
    record, expected = PROBES[probe]
    found, detail = covered(client, record)
    assert found == expected, detail


def test_crd_massage_ignores_another_patients_medicare_coverage(client: TestClient) -> None:
    sopt = {"coding": [{"system": "https://nahdo.org/sopt", "code": "1"}]}
    own = Record(code="97124", coverage_changes={"type": sopt})
    other = Record(
        code="97124",
        coverage_changes={"type": sopt, "beneficiary": {"reference": "Patient/pat-2"}},
    )
    question = "Is the member a Medicare member?"
    assert question not in covered(client, own)[1]  # read from the patient's coverage
    # pat-2's coverage is never read for pat-1: with no Coverage of their
    # own the patient is not resolved to a member (CRD resp-44).
    value, reasons = covered(client, other)
    assert (value, question in reasons) == ("not-covered", False)
    assert "could not be resolved to a member" in reasons


def review(client: TestClient, bundle: dict[str, Any]) -> str:
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200, response.text
    adjudication = claim_response(response.json())["item"][0]["adjudication"][0]
    (action,) = [e for e in adjudication["extension"] if e["url"] == REVIEW_ACTION]
    (code,) = [e for e in action["extension"] if e["url"] == REVIEW_ACTION_CODE]
    return str(code["valueCodeableConcept"]["coding"][0]["code"])


def test_pas_resolves_the_claims_patient_by_its_bundle_fullurl(client: TestClient) -> None:
    record = Record(bmis=[("2026-05-01", 41.0)], **NOT_PREGNANT_DIABETIC)
    bundle = record.claim_bundle()
    patient_url = bundle["entry"][1]["fullUrl"]
    assert bundle["entry"][1]["resource"]["resourceType"] == "Patient"
    assert review(client, bundle) == "A1"
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for key in ("patient", "subject"):
            if key in resource:
                resource[key] = {"reference": patient_url}
    assert review(client, bundle) == "A1"  # urn:uuid references name the same patient
    bundle["entry"][0]["resource"]["patient"] = {"reference": "Patient/pat-2"}
    assert review(client, bundle) == "A4"  # the claim is about another patient: pended


@pytest.mark.parametrize("probe", ["refuted diabetes", "BMI <40", "another patient's pregnancy"])
def test_pas_pends_on_the_same_probes(client: TestClient, probe: str) -> None:
    record, _ = PROBES[probe]
    assert review(client, record.claim_bundle()) == "A4"
