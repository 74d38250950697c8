"""The offline checker of CRD's request profiles (resp-47,
tests/crd_request_profile.py) reads every rule of the profile chains, accepts
conformant orders and the IG's own example orders, and catches each kind of
departure planted in an order, so the check every CRD test makes of the
service's updates (test_crd.assert_no_shall_broken) can fail."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests import crd_request_profile
from tests.crd_ig import example
from tests.fhir_records import Record
from tests.service.test_crd import assert_no_shall_broken, conformant_order, post

PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PPRF = {"coding": [{"system": PARTICIPATION, "code": "PPRF"}]}
COMPLETE = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])

KINDS = (
    "ServiceRequest",
    "MedicationRequest",
    "DeviceRequest",
    "NutritionOrder",
    "CommunicationRequest",
    "VisionPrescription",
)


def _resources(document: Any) -> Iterator[dict[str, Any]]:
    if isinstance(document, dict):
        if crd_request_profile.profile_of(document) is not None:
            yield document
        for value in document.values():
            yield from _resources(value)
    elif isinstance(document, list):
        for value in document:
            yield from _resources(value)


def service_request() -> dict[str, Any]:
    order = conformant_order("ServiceRequest")
    order["code"] = {"coding": [{"system": "http://www.ama-assn.org/go/cpt", "code": "43775"}]}
    return order


def appointment() -> dict[str, Any]:
    return {
        "resourceType": "Appointment",
        "id": "appt-1",
        "status": "proposed",
        "basedOn": [{"reference": "ServiceRequest/order-1"}],
        "start": "2026-06-01T09:00:00Z",
        "end": "2026-06-01T10:00:00Z",
        "participant": [
            {"actor": {"reference": "Patient/pat-1"}, "status": "accepted"},
            {
                "type": [copy.deepcopy(PPRF)],
                "actor": {"reference": "Practitioner/p"},
                "status": "accepted",
            },
        ],
    }


def encounter() -> dict[str, Any]:
    return {
        "resourceType": "Encounter",
        "id": "enc-1",
        "status": "in-progress",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "IMP"},
        "type": [{"text": "admission"}],
        "subject": {"reference": "Patient/pat-1"},
    }


def test_every_profile_chain_is_read_to_us_core_and_the_fhir_base() -> None:
    chains = {
        name: [p.name for p in crd_request_profile.chain(name)]
        for name in crd_request_profile.CRD_PROFILE_FILES
    }
    assert chains["CRDServiceRequest"] == ["CRDServiceRequest", "USCoreServiceRequestProfile"]
    assert chains["CRDMedicationRequest"][1] == "USCoreMedicationRequestProfile"
    assert chains["CRDEncounter"][1] == "USCoreEncounterProfile"
    assert chains["CRDAppointmentWithOrder"] == ["CRDAppointmentWithOrder", "CRDAppointmentBase"]
    for name in ("CRDDeviceRequest", "CRDNutritionOrder", "CRDVisionPrescription"):
        assert chains[name] == [name]  # straight on the FHIR base (fhir.resources)
    # Every chain holds rules the checker enforces (CRDAppointmentNoOrder's
    # own are all on slices or extensible bindings: its base's are).
    assert all(any(p.rules for p in crd_request_profile.chain(name)) for name in chains)


def test_what_is_not_enforced_is_only_slices_non_required_bindings_and_crd_timing() -> None:
    # A rule the parser cannot read is an error (AssertionError at load), so
    # each rule is enforced or here, with its reason.
    for name in crd_request_profile.CRD_PROFILE_FILES:
        for profile, rule, why in crd_request_profile.unchecked(name):
            assert (
                why.startswith(
                    (
                        "a slice",
                        "a rule inside a slice",
                        "extensible binding",
                        "preferred binding",
                        "example binding",
                    )
                )
                or why.startswith("CRDTiming")
                or (
                    # FHIR core value sets, which no mirror holds
                    why.startswith("required binding to http://hl7.org/fhir/ValueSet/")
                )
            ), (profile, rule, why)


def test_conformant_orders_of_every_type_conform() -> None:
    orders = [conformant_order(kind) for kind in KINDS]
    orders[0] = service_request()
    for order in [*orders, appointment(), encounter()]:
        assert crd_request_profile.problems(order) == [], order["resourceType"]


def test_the_ig_s_example_orders_conform_but_its_appointment() -> None:
    found: dict[str, list[str]] = {}
    for name in ("CRDServiceRequest", "CRDServiceRequest2", "CRDServiceRequest3"):
        for resource in _resources(example(name)):
            found[f"{name} {resource['resourceType']}/{resource['id']}"] = (
                crd_request_profile.problems(resource)
            )
    assert len(found) >= 4 and all(p == [] for p in found.values()), found
    # The IG's appointment-book example (CRDServiceRequest4) has neither a
    # start nor a requestedPeriod: its own profile's crd-apt1/2 fail. The
    # client's departure: a service that echoes it adds none (test_crd).
    (booked,) = _resources(example("CRDServiceRequest4"))
    # Nor does its practitioner say it is the primary performer (PPRF).
    assert sorted(crd_request_profile.problems(booked)) == [
        "CRDAppointmentBase: (the resource): invariant crd-apt1"
        " (start.exists() or requestedPeriod.start.exists()) does not hold",
        "CRDAppointmentBase: (the resource): invariant crd-apt2"
        " (end.exists() or requestedPeriod.end.exists()) does not hold",
        "CRDAppointmentBase: participant[PrimaryPerformer]: 0 present, cardinality 1..*",
    ]


Change = Callable[[dict[str, Any]], None]


def _drop(key: str) -> Change:
    return lambda resource: resource.pop(key)


def _set(key: str, value: Any) -> Change:
    def change(resource: dict[str, Any]) -> None:
        resource[key] = copy.deepcopy(value)

    return change


PLANTED: list[tuple[str, Callable[[], dict[str, Any]], Change, str]] = [
    # (what, the conformant resource, the breakage, what the checker says)
    ("CRD 1..: requester", service_request, _drop("requester"), "CRDServiceRequest: requester: 0"),
    ("CRD 1..: authoredOn", service_request, _drop("authoredOn"), "authoredOn: 0 present"),
    ("US Core 1..: code", service_request, _drop("code"), "USCoreServiceRequestProfile: code: 0"),
    (
        "CRD only Period or dateTime or Timing",
        service_request,
        _set("occurrenceString", "tomorrow"),
        "occurrenceString is not among",
    ),
    (
        "CRD Reference(CRDPatient)",
        service_request,
        _set("subject", {"reference": "Group/g-1"}),
        "CRDServiceRequest: subject: a reference to a Group",
    ),
    (
        "US Core Reference targets (absolute URL)",
        service_request,
        _set("subject", {"reference": "https://ehr.example/fhir/Medication/m-1/_history/2"}),
        "USCoreServiceRequestProfile: subject: a reference to a Medication",
    ),
    (
        "CRD 0..1: locationReference",
        service_request,
        _set("locationReference", [{"reference": "Location/a"}, {"reference": "Location/b"}]),
        "locationReference: 2 present, cardinality 0..1",
    ),
    ("FHIR R4 1..1: intent", service_request, _drop("intent"), "FHIR ServiceRequest: intent"),
    (
        "CRD ..0: doNotPerform",
        lambda: conformant_order("MedicationRequest"),
        _set("doNotPerform", True),
        "doNotPerform: 1 present, cardinality 0..0",
    ),
    (
        "US Core invariant us-core-21 and CRD requester 1..",
        lambda: conformant_order("MedicationRequest"),
        _drop("requester"),
        "invariant us-core-21",
    ),
    (
        "CRD Reference(CRDPractitioner) to a contained resource",
        lambda: conformant_order("MedicationRequest"),
        _set("contained", [{"resourceType": "Organization", "id": "o"}]),
        "",  # with the requester below
    ),
    (
        "CRD 1..1: basedOn",
        lambda: conformant_order("CommunicationRequest"),
        _set("basedOn", [{"reference": "ServiceRequest/a"}, {"reference": "ServiceRequest/b"}]),
        "basedOn: 2 present, cardinality 1..1",
    ),
    (
        "CRD 1..: orderer",
        lambda: conformant_order("NutritionOrder"),
        _drop("orderer"),
        "CRDNutritionOrder: orderer: 0",
    ),
    (
        "CRD 1..: prescriber (and FHIR R4's)",
        lambda: conformant_order("VisionPrescription"),
        _drop("prescriber"),
        "CRDVisionPrescription: prescriber: 0",
    ),
    (
        "CRDAppointmentBase invariant crd-apt1",
        appointment,
        _drop("start"),
        "invariant crd-apt1",
    ),
    (
        "CRDAppointmentBase slice PrimaryPerformer 1..*: its fixed type broken",
        appointment,
        lambda a: a["participant"][1]["type"][0]["coding"][0].update(code="SPRF"),
        "participant[PrimaryPerformer]: 0 present, cardinality 1..*",
    ),
    (
        "CRDAppointmentBase slice PrimaryPerformer: an actor of another type",
        appointment,
        lambda a: a["participant"][1].update(actor={"reference": "Organization/o"}),
        "participant[PrimaryPerformer]: 0 present, cardinality 1..*",
    ),
    (
        "CRDAppointmentBase slice PrimaryPerformer: type 1..1",
        appointment,
        lambda a: a["participant"][1]["type"].append(PPRF),
        "participant[PrimaryPerformer] #0: type: 2 present, at most 1",
    ),
    (
        "CRDAppointmentBase slice Patient 1..1",
        appointment,
        lambda a: a["participant"].append({"actor": {"reference": "Patient/b"}}),
        "participant[Patient]: 2 present, cardinality 1..1",
    ),
    (
        "CRDAppointmentWithOrder Reference(CRDServiceRequest)",
        appointment,
        _set("basedOn", [{"reference": "MedicationRequest/m-1"}]),
        "CRDAppointmentWithOrder: basedOn: a reference to a MedicationRequest",
    ),
    (
        "US Core 1..1 nested: identifier.system",
        encounter,
        _set("identifier", [{"value": "v"}]),
        "USCoreEncounterProfile: identifier.system: 0 present, cardinality 1..1",
    ),
    ("US Core 1..: Encounter.type", encounter, _drop("type"), "USCoreEncounterProfile: type: 0"),
]


@pytest.mark.parametrize(
    ("resource", "change", "expected"),
    [pytest.param(r, c, e, id=what) for what, r, c, e in PLANTED],
)
def test_a_planted_departure_is_caught(
    resource: Callable[[], dict[str, Any]], change: Change, expected: str
) -> None:
    order = resource()
    assert crd_request_profile.problems(order) == []
    change(order)
    if not expected:  # a contained Organization, then made the requester
        assert crd_request_profile.problems(order) == []
        order["requester"] = {"reference": "#o"}
        expected = "CRDMedicationRequest: requester: a reference to a Organization"
    found = crd_request_profile.problems(order)
    assert any(expected in p for p in found), found


def test_a_type_crd_has_no_request_profile_for_is_a_problem() -> None:
    (problem,) = crd_request_profile.problems({"resourceType": "Observation", "id": "o"})
    assert "Observation" in problem


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    audit = tmp_path_factory.mktemp("request-profiles") / "audit.jsonl"
    with TestClient(create_app(ServiceSettings(audit=str(audit), audit_sync=False))) as test:
        yield test


def test_a_mutated_update_fails_the_check_every_crd_answer_gets(client: TestClient) -> None:
    request = COMPLETE.hook()
    answer = post(client, "order-sign", request)  # passes assert_no_shall_broken
    breakages = [
        (_drop("requester"), "CRDServiceRequest: requester: 0 present"),
        (_drop("code"), "USCoreServiceRequestProfile: code: 0 present"),
        (_set("subject", {"reference": "Group/g"}), "subject: a reference to a Group"),
        (_set("occurrenceString", "soon"), "occurrenceString is not among"),
    ]
    for breakage, message in breakages:
        broken = copy.deepcopy(answer)
        breakage(broken["systemActions"][0]["resource"])
        with pytest.raises(AssertionError, match=re.escape(message)):
            assert_no_shall_broken(broken, request)


def test_a_client_s_own_departure_is_echoed_but_none_may_be_added(client: TestClient) -> None:
    # An order without the requester CRD requires: the departure is the
    # client's. The service echoes it (resp-37) and adds none (resp-47).
    order = COMPLETE.order()
    del order["requester"]
    request = COMPLETE.hook(orders=[order])
    answer = post(client, "order-sign", request)
    (action,) = answer["systemActions"]
    assert crd_request_profile.problems(action["resource"]) == crd_request_profile.problems(order)
    assert crd_request_profile.problems(order)
    del action["resource"]["authoredOn"]  # a departure the client did not make
    with pytest.raises(AssertionError, match=re.escape("authoredOn: 0 present")):
        assert_no_shall_broken(answer, request)
