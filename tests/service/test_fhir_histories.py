"""Histories read from FHIR (service/fhir_histories.py): each rule of the
module with a record built to break it, the mapping's load-time checks with
file and line, and CRD order-sign deciding from Procedures and Observations,
prefetched or fetched from the EHR (tests/fhir_server.py)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.errors import PolicyError
from policykb.service.app import create_app
from policykb.service.coverage_information import COVERAGE_INFORMATION
from policykb.service.fhir_facts import FactMapping, load_mapping
from policykb.service.request_resources import Resources
from policykb.service.settings import ServiceSettings
from tests.fhir_records import (
    HCPCS,
    SNOMED,
    Record,
    a1c,
    coded_result,
    medication_dispense,
    medication_request,
    procedure,
)
from tests.fhir_server import TOKEN, categorized, fhir_server

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
POSITIVE, NEGATIVE = "10828004", "260385009"
FIT = "29771-3"
METFORMIN, DULAGLUTIDE = "6809", "1551291"  # RxNorm: an ingredient, an SCD
ORDER_DAY = date(2024, 3, 31)

TRIALS_POLICY = """\
policy(title, "Drug trials and A1C (test)").
policy(source, "policykb test").
fact(date_of_service, date).     rank(date_of_service, 1).
bounds(date_of_service, "2020-01-01", "2030-12-31").
question(date_of_service, "On what date is the drug dispensed?").
clause(date_of_service, "TRIAL").
history(trials).
question(trials, "Which drugs has the member tried?").
meaning(trials, "the member's drug trials").
record_field(trials, drug, enum).
field_option(trials, drug, metformin).
field_option(trials, drug, dulaglutide).
record_field(trials, start, date).
record_field(trials, days_supply, int).
field_bounds(trials, days_supply, 1, 3650).
field_unit(trials, days_supply, "days").
history(a1c).
question(a1c, "Which A1C results does the member have?").
meaning(a1c, "the member's A1C results").
record_field(a1c, date, date).
record_field(a1c, value, decimal).
field_bounds(a1c, value, 2, 20).
field_unit(a1c, value, "%").
record_condition(long_metformin, trials, "a metformin trial of 90 days or more").
condition_test(long_metformin, drug, is(metformin)).
condition_test(long_metformin, days_supply, at_least(90)).
record_condition(high_a1c, a1c, "an A1C of 7% or more").
condition_test(high_a1c, value, at_least(7)).
criterion("TRIAL", "Rule 1", "A metformin trial of 90 days or more and an A1C of 7% or more.").
role("TRIAL", indication).
met("TRIAL") :- exists(trials, long_metformin), exists(a1c, high_a1c),
                on_or_after(date_of_service, "2020-01-01").
acknowledge(gap, "*", "A case that no indication covers is not covered by design.").
"""

TRIALS_MAPPING = """\
histories:
  trials:
    records:
      - resource: MedicationRequest
        codes: {rxnorm: ["6809"]}
        fields:
          drug: metformin
          start: {from: date}
          days_supply: {from: days_supply}
      - resource: MedicationDispense
        codes: {rxnorm: ["1551291"]}
        fields:
          drug: dulaglutide
          start: {from: date}
          days_supply: {from: days_supply}
  a1c:
    records:
      - resource: Observation
        codes: {loinc: ["4548-4"]}
        fields:
          date: {from: date}
          value: {from: value}
"""


def _policy(folder: Path, files: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        folder.joinpath(name).write_text(text, encoding="utf-8")


def _screening(tmp: Path, mapping: str | None = None, routed: bool = False) -> Path:
    """A copy of the screening-history fixture (its fhir.yaml replaced by
    `mapping`; `routed`: orders of HCPCS G0105/G0121 route to it, setting
    high_risk as those codes say)."""
    folder = tmp / "kb" / "screening-history"
    shutil.copytree(FIXTURES / "screening-history", folder)
    if mapping is not None:
        folder.joinpath("fhir.yaml").write_text(mapping, encoding="utf-8")
    if routed:
        with folder.joinpath("vocabulary.lp").open("a", encoding="utf-8") as vocabulary:
            vocabulary.write(
                'applicable_code(hcpcs, "G0105", high_risk, true).\n'
                'applicable_code(hcpcs, "G0121", high_risk, false).\n'
            )
    return folder


def _read(
    mapping: FactMapping, resources: list[dict[str, Any]], searched: frozenset[str] = frozenset()
) -> tuple[dict[str, object], list[str]]:
    record = Resources(Record().order(), others=resources, patient_id="pat-1", searched=searched)
    return mapping.read(record, ORDER_DAY), mapping.unread(record)


@pytest.fixture(scope="module")
def screening() -> FactMapping:
    return load_mapping(KnowledgeBase([FIXTURES]).policy("screening-history"))


@pytest.fixture(scope="module")
def trials_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("trials") / "trial-history"
    _policy(folder, {"policy.lp": TRIALS_POLICY, "fhir.yaml": TRIALS_MAPPING})
    return folder


@pytest.fixture(scope="module")
def trials(trials_folder: Path) -> FactMapping:
    return load_mapping(KnowledgeBase([trials_folder.parent]).policy("trial-history"))


# -- what becomes a record -----------------------------------------------------------


def test_procedures_and_observations_become_screening_records(screening: FactMapping) -> None:
    read, unread = _read(
        screening,
        [
            procedure("c1", "45378", "2016-01-10T10:00:00-05:00"),
            procedure("c2", "G0121", {"start": "2019-05-02T09:00:00Z"}, system=HCPCS),
            procedure("s1", "44441009", "2020-07-01", system=SNOMED),
            coded_result("f1", FIT, POSITIVE, "2024-01-10"),
            coded_result("f2", "57905-2", NEGATIVE, "2023-01-10"),
        ],
    )
    assert unread == []
    assert read == {
        "screenings": [
            {"test": "fit", "date": "2024-01-10", "result": "positive"},
            {"test": "fit", "date": "2023-01-10", "result": "negative"},
            {"test": "colonoscopy", "date": "2016-01-10", "result": "negative"},
            {"test": "colonoscopy", "date": "2019-05-02", "result": "negative"},
            {"test": "sigmoidoscopy", "date": "2020-07-01", "result": "negative"},
        ]
    }


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        # statuses that leave it open whether the event happened: unread
        (procedure("p", "45378", status="in-progress"), "status 'in-progress'"),
        (procedure("p", "45378", status=None), "status 'None'"),
        (coded_result("o", FIT, POSITIVE, status="preliminary"), "status 'preliminary'"),
        # a code system the mapping does not read: it might be a colonoscopy
        (procedure("p", "COLO", system="http://example.org/local"), "no coding in a code system"),
        # a date that is no day, a value outside the map, an answer in another system
        (procedure("p", "45378", "2016-01"), "performedDateTime is not a full date"),
        (procedure("p", "45378", {"end": "2016"}), "performedPeriod is not a full date"),
        (coded_result("o", FIT, "123456"), "field 'result': no value the mapping reads"),
        (coded_result("o", FIT, "LA6576-8", answer_system="http://loinc.org"), "no value"),
        # a day the field refuses (field_bounds: 2000-01-01 on)
        (procedure("p", "45378", "1999-12-31"), "field 'date'"),
    ],
)
def test_a_resource_that_cannot_be_read_never_decides_and_is_named(
    screening: FactMapping, resource: dict[str, Any], why: str
) -> None:
    read, unread = _read(screening, [resource])
    assert read == {}  # partial with no record: the history stays unknown
    (note,) = unread
    assert note.startswith(f"screenings: {resource['resourceType']}/")
    assert why in note


@pytest.mark.parametrize(
    "resource",
    [
        procedure("p", "45378", status="entered-in-error"),
        procedure("p", "45378", status="not-done"),
        procedure("p", "COLO", system="http://example.org/local", status="entered-in-error"),
        procedure("p", "44950"),  # CPT appendectomy: another event, coded in a read system
        procedure("p", "45378", subject="Patient/other"),
        coded_result("o", FIT, POSITIVE, status="cancelled"),
        coded_result("o", "39156-5", POSITIVE),  # a LOINC code the mapping does not list
    ],
)
def test_what_is_no_event_is_neither_a_record_nor_unread(
    screening: FactMapping, resource: dict[str, Any]
) -> None:
    assert _read(screening, [resource]) == ({}, [])


def test_a_complete_mapping_is_complete_only_when_nothing_is_unread_and_every_type_searched(
    tmp_path: Path,
) -> None:
    text = (FIXTURES / "screening-history" / "fhir.yaml").read_text(encoding="utf-8")
    folder = _screening(
        tmp_path, text.replace("  screenings:\n", "  screenings:\n    complete: true\n")
    )
    mapping = load_mapping(KnowledgeBase([folder.parent]).evaluator(folder / "policy.lp").policy)
    colonoscopy = procedure("c1", "45378", "2016-01-10")
    record = {"test": "colonoscopy", "date": "2016-01-10", "result": "negative"}
    both = frozenset({"Procedure", "Observation"})
    assert _read(mapping, [colonoscopy], both)[0] == {
        "screenings": {"complete": True, "records": [record]}
    }
    # nothing at all, vouched for: complete and empty (no screening ever)
    assert _read(mapping, [], both)[0] == {"screenings": {"complete": True, "records": []}}
    # Observations not searched: at least these records
    assert _read(mapping, [colonoscopy], frozenset({"Procedure"}))[0] == {"screenings": [record]}
    assert _read(mapping, [], frozenset({"Procedure"}))[0] == {}
    # one resource unread: it might have been a record
    unsure = procedure("c2", "45378", status="on-hold")
    assert _read(mapping, [colonoscopy, unsure], both)[0] == {"screenings": [record]}
    # a no-event status leaves the history complete
    voided = procedure("c3", "45378", status="entered-in-error")
    assert _read(mapping, [colonoscopy, voided], both)[0]["screenings"] == {
        "complete": True,
        "records": [record],
    }


# -- quantities, units and drugs ---------------------------------------------------


@pytest.mark.parametrize(
    ("observation", "value"),
    [
        (a1c("a", 7.5), 7.5),
        (a1c("a", 8), 8),
        # ratios are not converted: IFCC mmol/mol is another scale (58 mmol/mol
        # is NGSP 7.5 %, UCUM's arithmetic says 5.8 %), and so is a bare fraction
        (a1c("a", 58, unit="mmol/mol"), None),
        (a1c("a", 0.075, unit="1"), None),
        (a1c("a", 7.5, unit=None), None),  # a bare number
        (a1c("a", 7.5, unit="[lb_av]"), None),
        (
            a1c(
                "a",
                14,
                valueQuantity={
                    "value": 14,
                    "comparator": ">",
                    "system": "http://unitsofmeasure.org",
                    "code": "%",
                },
            ),
            None,
        ),
        (a1c("a", 7.5, status="preliminary"), None),
        (a1c("a", 7.5, dataAbsentReason={"text": "haemolysed"}), None),
        (a1c("a", 25), None),  # outside the field's bounds 2..20
    ],
)
def test_a1c_values_are_converted_through_ucum_or_left_unread(
    trials: FactMapping, observation: dict[str, Any], value: float | None
) -> None:
    read, unread = _read(trials, [observation])
    if value is None:
        assert read == {} and len(unread) == 1 and unread[0].startswith("a1c: Observation/a")
    else:
        assert unread == []
        assert read == {"a1c": [{"date": "2024-01-10", "value": value}]}


@pytest.mark.parametrize(
    ("resource", "record"),
    [
        (medication_request("m", METFORMIN, "2023-01-05", 90), ("metformin", "2023-01-05", 90)),
        (medication_request("m", METFORMIN, days=13, unit="wk"), ("metformin", "2023-01-05", 91)),
        (medication_request("m", METFORMIN, status="stopped"), ("metformin", "2023-01-05", 90)),
        (
            medication_dispense("d", DULAGLUTIDE, "2023-02-01", 28),
            ("dulaglutide", "2023-02-01", 28),
        ),
        # unread: a supply that is no whole number of days, none, a status left open
        (medication_request("m", METFORMIN, days=3, unit="mo"), "not a whole number"),
        (medication_request("m", METFORMIN, days=None), "no quantity"),
        (medication_request("m", METFORMIN, status="on-hold"), "status 'on-hold'"),
        (medication_dispense("d", DULAGLUTIDE, status="in-progress"), "status 'in-progress'"),
        (
            medication_request("m", METFORMIN)
            | {
                "medicationCodeableConcept": None,
                "medicationReference": {"reference": "Medication/x"},
            },
            "a reference",
        ),
        # no event: a proposal, a drug not to be given, a cancelled or declined one
        (medication_request("m", METFORMIN, intent="proposal"), None),
        (medication_request("m", METFORMIN, doNotPerform=True), None),
        (medication_request("m", METFORMIN, status="cancelled"), None),
        (medication_dispense("d", DULAGLUTIDE, status="declined"), None),
        (medication_request("m", DULAGLUTIDE), None),  # read only from dispenses
    ],
)
def test_drug_trials_from_requests_and_dispenses(
    trials: FactMapping, resource: dict[str, Any], record: tuple[str, str, int] | str | None
) -> None:
    read, unread = _read(trials, [resource])
    if isinstance(record, tuple):
        drug, start, days = record
        assert unread == []
        assert read == {"trials": [{"drug": drug, "start": start, "days_supply": days}]}
    elif record is None:
        assert (read, unread) == ({}, [])
    else:
        assert read == {}
        (note,) = unread
        assert record in note


def test_histories_read_decide_a_case(trials: FactMapping, trials_folder: Path) -> None:
    read, _ = _read(trials, [medication_request("m", METFORMIN, days=90), a1c("a", 8.1)])
    knowledge = KnowledgeBase([trials_folder.parent])
    case = knowledge.case(
        {"policy": "trial-history", "facts": {"date_of_service": "2024-03-31", **read}}
    )
    assert knowledge.evaluate(case).verdict.value == "covered"


# -- the mapping is checked at load -----------------------------------------------


@pytest.mark.parametrize(
    ("mapping", "line", "words"),
    [
        ("histories:\n  screening:\n    records: []\n", 2, "not a history of policy"),
        ("histories:\n  screenings:\n    records: []\n", 3, "one or more entries"),
        ("histories:\n  screenings:\n    complete: yes\n    records: []\n", 3, "true or false"),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Encounter\n",
            4,
            "must be one of Procedure",
        ),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Procedure\n"
            "        codes: {cpt4: ['45378']}\n",
            5,
            "unknown code system 'cpt4'",
        ),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Procedure\n"
            "        codes: {cpt: ['45378']}\n        status: [completed, in-progress]\n",
            6,
            "does not record an event",
        ),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Procedure\n"
            "        codes: {cpt: ['45378']}\n        fields:\n          test: colonoscopy\n"
            "          date: {from: date}\n",
            6,
            "'result' is not read",
        ),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Procedure\n"
            "        codes: {cpt: ['45378']}\n        fields:\n          test: endoscopy\n"
            "          date: {from: date}\n          result: negative\n",
            7,
            "the constant",
        ),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Procedure\n"
            "        codes: {cpt: ['45378']}\n        fields:\n          test: colonoscopy\n"
            "          date: {from: date}\n          result: {from: value}\n",
            9,
            "a Procedure has no value",
        ),
        (
            "histories:\n  screenings:\n    records:\n      - resource: Observation\n"
            "        codes: {loinc: ['29771-3']}\n        fields:\n          test: fit\n"
            "          date: {from: date}\n"
            "          result: {from: value, system: snomed, map: {'1': maybe}}\n",
            9,
            "maybe",
        ),
        (
            "histories:\n  screenings:\n    records:\n"
            "      - {resource: Procedure, codes: {cpt: ['45378']}, fields: "
            "{test: colonoscopy, date: {from: date}, result: negative}}\n"
            "      - {resource: Procedure, codes: {cpt: ['45378']}, fields: "
            "{test: sigmoidoscopy, date: {from: date}, result: negative}}\n",
            5,
            "read by records[0] too",
        ),
    ],
)
def test_a_wrong_mapping_is_refused_with_file_and_line(
    tmp_path: Path, mapping: str, line: int, words: str
) -> None:
    folder = _screening(tmp_path, mapping)
    policy = KnowledgeBase([folder.parent]).evaluator(folder / "policy.lp").policy
    with pytest.raises(PolicyError) as refused:
        load_mapping(policy)
    message = str(refused.value)
    assert message.startswith(f"screening-history/fhir.yaml:{line}: histories.")
    assert words in message
    assert "\n" not in message


# -- CRD order-sign ------------------------------------------------------------------


@pytest.fixture(scope="module")
def crd_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    base = tmp_path_factory.mktemp("crd-histories")
    folder = _screening(base, routed=True)
    settings = ServiceSettings(
        kb_dirs=(str(folder.parent),),
        policies=("screening-history",),
        audit=str(base / "audit.jsonl"),
        audit_sync=False,
        ehr_timeout=10.0,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _order_sign(code: str, prefetch: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    record = Record(code=code, authored="2024-03-31")
    order = record.order()
    order["code"] = {"coding": [{"system": HCPCS, "code": code}]}
    request = record.hook(orders=[order])
    for key, resources in prefetch.items():
        request["prefetch"][key] = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources],
        }
    return request


def _information(client: TestClient, request: dict[str, Any]) -> dict[str, list[Any]]:
    response = client.post("/cds-services/policykb-order-sign", json=request)
    assert response.status_code == 200, response.text
    (action,) = response.json()["systemActions"]
    (extension,) = [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION]
    parts: dict[str, list[Any]] = {}
    for part in extension["extension"]:
        value = next(v for k, v in part.items() if k.startswith("value"))
        parts.setdefault(part["url"], []).append(value)
    return parts


def test_order_sign_decides_from_a_prefetched_procedure(crd_client: TestClient) -> None:
    # A colonoscopy 8 years before, for a member not at high risk (G0121):
    # the frequency limit (Rule 4) excludes it, whatever else the record holds.
    request = _order_sign("G0121", {"procedures": [procedure("c1", "45378", "2016-01-10")]})
    info = _information(crd_client, request)
    assert info["covered"] == ["not-covered"]
    assert any("FREQ" in reason["text"] for reason in info["reason"]), info["reason"]


def test_order_sign_reads_nothing_from_the_wrong_status_unit_or_code(
    crd_client: TestClient,
) -> None:
    request = _order_sign(
        "G0121",
        {
            "procedures": [
                procedure("c1", "45378", "2016-01-10", status="in-progress"),
                procedure("c2", "COLO", "2016-01-10", system="http://example.org/local"),
                procedure("c3", "45378", "2017-01-10", status="entered-in-error"),
            ],
            "observations": [coded_result("f1", FIT, POSITIVE, "2024-01-10", status="preliminary")],
        },
    )
    info = _information(crd_client, request)
    assert info["covered"] == ["conditional"]  # needs information: nothing was read
    texts = " ".join(reason["text"] for reason in info["reason"])
    assert "screenings" in texts
    for unread in (
        "Procedure/c1: status 'in-progress'",
        "Procedure/c2: no coding",
        "Observation/f1",
    ):
        assert unread in texts
    assert "Procedure/c3" not in texts  # entered in error: no event, nothing unread


def test_order_sign_fetches_procedures_from_the_ehr(crd_client: TestClient) -> None:
    record = Record(code="G0121", authored="2024-03-31")
    resources = [
        record.patient(),
        record.coverage_resource(),
        procedure("c1", "45378", "2016-01-10"),
        categorized(coded_result("f1", FIT, POSITIVE, "2024-01-10"), "laboratory"),
    ]
    with fhir_server(resources) as server:
        request = _order_sign("G0121", {})
        request["fhirServer"] = server.base
        request["fhirAuthorization"] = {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 300,
            "scope": "patient/*.read",
            "subject": "crd",
        }
        info = _information(crd_client, request)
    assert info["covered"] == ["not-covered"]
    assert "/Procedure?patient=pat-1" in server.requests
    # only the history searches a served fhir.yaml reads (no medications)
    assert not any("Medication" in asked for asked in server.requests)


def test_discovery_lists_only_the_history_searches_a_served_fhir_yaml_reads(
    crd_client: TestClient,
) -> None:
    for service in crd_client.get("/cds-services").json()["services"]:
        prefetch = service["prefetch"]
        assert prefetch["procedures"] == "Procedure?patient={{context.patientId}}"
        assert "medicationRequests" not in prefetch  # the fixture reads no medications
        assert "medicationDispenses" not in prefetch
