"""An adversarial review of the CRD, DTR and PAS routes (issues 26 and 31):
each finding of the probes (mutation fuzzing of valid requests at every node,
hand-written hostile bodies) as a regression test. Every route answers bad
input with a 4xx and an OperationOutcome or problem+json, never a 500."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.service.app import create_app
from policykb.service.audit import line_hash
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record, questionnaire_response
from tests.service.test_pas import items

HOOK = "/cds-services/policykb-order-sign"
RECORD = Record(bmis=[("2026-05-01", 41.0)], diagnoses=["E11.9"], pregnant=False)


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    audit = tmp_path_factory.mktemp("audit") / "audit.jsonl"
    app = create_app(ServiceSettings(audit=str(audit), audit_sync=False))
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def valid_bodies() -> dict[str, dict[str, Any]]:
    """One valid request per route that takes a body."""
    claim = RECORD.claim_bundle()
    claim["entry"].append(
        {
            "fullUrl": "urn:uuid:qr",
            "resource": questionnaire_response(
                {"pregnant": False}, "http://x/fhir/Questionnaire/bariatric-surgery|1"
            ),
        }
    )
    canonical = {
        "name": "questionnaire",
        "valueCanonical": "http://x/fhir/Questionnaire/bariatric-surgery|1",
    }
    return {
        HOOK: RECORD.hook(),
        f"{HOOK}/feedback": {
            "feedback": [
                {
                    "card": "card-1",
                    "outcome": "overridden",
                    "outcomeTimestamp": "2026-06-01T10:00:00Z",
                    "overrideReason": {"reason": {"code": "x", "system": "y"}},
                }
            ]
        },
        "/fhir/Claim/$submit": claim,
        "/fhir/Questionnaire/$questionnaire-package": {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "coverage", "resource": RECORD.coverage_resource()},
                {"name": "order", "resource": RECORD.order()},
                canonical,
            ],
        },
        "/fhir/Questionnaire/$log-questionnaire-errors": {
            "resourceType": "Parameters",
            "parameter": [
                canonical,
                {
                    "name": "operationOutcome",
                    "resource": {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "processing"}],
                    },
                },
            ],
        },
        "/v1/evaluate": {"policy": "bariatric-surgery", "facts": RECORD.facts()},
    }


def said(answer: dict[str, Any]) -> str:
    """What a 4xx answer says: an OperationOutcome's diagnostics (FHIR and CDS
    Hooks routes) or problem+json's detail (the JSON API)."""
    if answer.get("resourceType") == "OperationOutcome":
        return str(answer["issue"][0]["diagnostics"])
    return str(answer["detail"])


def leaves(node: Any, here: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from leaves(value, (*here, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from leaves(value, (*here, index))
    else:
        yield here


def replaced(document: Any, path: tuple[Any, ...], value: object) -> Any:
    copied = json.loads(json.dumps(document))
    node = copied
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return copied


BEYOND_64_BITS = [2**64, -(2**63) - 1, 10**30]


@pytest.mark.parametrize("route", sorted(valid_bodies()))
@pytest.mark.parametrize("number", BEYOND_64_BITS)
def test_an_integer_beyond_64_bits_anywhere_is_a_400_naming_it(
    client: TestClient, route: str, number: int
) -> None:
    """The service writes back what the client sent (CRD's updated order,
    PAS's entries, feedback into the audit log) with a JSON writer limited to
    64-bit integers: a larger one, at any leaf of any body, was a 500 (found
    by mutation fuzzing: a draft order's id, a feedback overrideReason)."""
    body = valid_bodies()[route]
    for path in leaves(body):
        sent = json.dumps(replaced(body, path, number))
        response = client.post(route, content=sent, headers={"content-type": "application/json"})
        assert response.status_code == 400, (path, response.text)
        assert "beyond the 64-bit range" in said(response.json())


@pytest.mark.parametrize("number", [2**64 - 1, -(2**63), 0])
def test_an_integer_within_64_bits_is_read(client: TestClient, number: int) -> None:
    order = RECORD.order() | {"extension": [{"url": "http://x/n", "valueInteger64": number}]}
    response = client.post(HOOK, json=RECORD.hook(orders=[order]))
    assert response.status_code == 200, response.text
    (action,) = response.json()["systemActions"]
    (kept,) = [e for e in action["resource"]["extension"] if e["url"] == "http://x/n"]
    assert kept["valueInteger64"] == number


@pytest.mark.parametrize("status", [[], ["final"], {"code": "final"}, 1, None])
def test_an_observation_status_that_is_no_code_leaves_it_out(
    client: TestClient, status: object
) -> None:
    """A BMI Observation whose status is not a string (a list was a 500:
    unhashable in the usable-status set) does not count, in CRD's prefetch
    and in a PAS Bundle alike: the BMI is then unknown, never read from it."""
    record = Record(diagnoses=["E11.9"], pregnant=False, bmis=[("2026-05-01", 41.0)])
    hook = record.hook("order-select")
    (entry,) = [
        e
        for e in hook["prefetch"]["observations"]["entry"]
        if e["resource"]["code"]["coding"][0]["code"] == "39156-5"
    ]
    entry["resource"]["status"] = status
    response = client.post("/cds-services/policykb-order-select", json=hook)
    assert response.status_code == 200, response.text
    assert "bmi" in response.text.lower()  # asked for: the record gave none
    claim = record.claim_bundle()
    (observation,) = [
        e["resource"]
        for e in claim["entry"]
        if e["resource"]["resourceType"] == "Observation"
        and e["resource"]["code"]["coding"][0]["code"] == "39156-5"
    ]
    observation["status"] = status
    response = client.post("/fhir/Claim/$submit", json=claim)
    assert response.status_code == 200, response.text
    ((_, action, note),) = items(response.json())
    assert action == "A4" and "bmi" in note.lower(), note  # pended: the BMI is asked


@pytest.mark.parametrize("kind", [[], ["ServiceRequest"], {"a": 1}, 5, None])
def test_a_package_order_whose_resource_type_is_no_string_is_a_422(
    client: TestClient, kind: object
) -> None:
    body = valid_bodies()["/fhir/Questionnaire/$questionnaire-package"]
    body["parameter"][1]["resource"]["resourceType"] = kind
    response = client.post("/fhir/Questionnaire/$questionnaire-package", json=body)
    assert response.status_code == 422, response.text
    assert "'order' must hold" in said(response.json())


@pytest.mark.parametrize(
    "patient_id", ["pat-1&code=http://loinc.org|39156-5", "pat-1/../Patient/pat-2", "pat 1", ""]
)
def test_a_patient_id_that_is_no_fhir_id_is_a_400_and_the_ehr_is_not_asked(
    client: TestClient, patient_id: str
) -> None:
    """The patient's id goes into the searches sent with the client's token to
    its fhirServer: one that is not a FHIR id ('&', '/', a space) would ask
    the EHR another question. It is refused before anything is fetched."""
    from tests.fhir_server import TOKEN, fhir_server

    with fhir_server([RECORD.patient()]) as server:
        request = RECORD.hook()
        del request["prefetch"]
        request["context"]["patientId"] = patient_id
        request["fhirServer"] = server.base
        request["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer"}
        response = client.post(HOOK, json=request)
        assert response.status_code == 400, response.text
        assert "patientId" in said(response.json())
        assert server.requests == []


def test_a_dispatched_order_whose_id_is_no_fhir_id_is_a_400(client: TestClient) -> None:
    request = RECORD.hook("order-dispatch")
    request["context"]["dispatchedOrders"] = ["ServiceRequest/order-1?_include=*"]
    response = client.post("/cds-services/policykb-order-dispatch", json=request)
    assert response.status_code == 400, response.text
    assert "dispatched order" in said(response.json())


@pytest.mark.parametrize("others_status", ["active", "cancelled"])
def test_crd_asserts_coverage_of_the_patients_own_coverage(
    client: TestClient, others_status: str
) -> None:
    """The prefetch's Coverage Bundle lists another patient's Coverage first
    (and a cancelled one of this patient): the coverage-information names the
    patient's active Coverage. (The first active Coverage was taken, whoever's
    it was: the answer asserted coverage on Coverage/cov-2.)"""
    record = Record(code="97124", category="massage")
    hook = record.hook()
    own = record.coverage_resource()
    other = own | {"id": "cov-2", "beneficiary": {"reference": "Patient/pat-2"}}
    other["status"] = others_status
    cancelled = own | {"id": "cov-3", "status": "cancelled"}
    hook["prefetch"]["coverage"]["entry"] = [
        {"resource": other},
        {"resource": cancelled},
        {"resource": own},
    ]
    response = client.post(HOOK, json=hook)
    assert response.status_code == 200, response.text
    (action,) = response.json()["systemActions"]
    (information,) = [
        e for e in action["resource"]["extension"] if e["url"].endswith("coverage-information")
    ]
    (coverage,) = [p["valueReference"] for p in information["extension"] if p["url"] == "coverage"]
    assert coverage == {"reference": "Coverage/cov-1"}


def test_concurrent_crd_feedback_and_pas_lose_no_audit_entry_and_replay_clean(
    tmp_path: Path,
) -> None:
    """Six threads at once, each sending CRD hooks, feedback on their cards
    and PAS Claims to one service: every decision and every feedback item
    is one audit entry, none lost or torn, and `policykb replay` verifies the
    whole chain (feedback entries included)."""
    from typer.testing import CliRunner

    from policykb.cli.main import app as cli

    path = tmp_path / "audit.jsonl"
    rounds, threads_count = 4, 6
    errors: list[BaseException] = []
    with TestClient(create_app(ServiceSettings(audit=str(path), audit_sync=False))) as shared:

        def work() -> None:
            try:
                for _ in range(rounds):
                    answer = shared.post(HOOK, json=RECORD.hook())
                    assert answer.status_code == 200, answer.text
                    card = f"card-{uuid.uuid4()}"
                    sent = valid_bodies()[f"{HOOK}/feedback"]
                    sent["feedback"][0]["card"] = card
                    assert shared.post(f"{HOOK}/feedback", json=sent).status_code == 200
                    claim = shared.post("/fhir/Claim/$submit", json=RECORD.claim_bundle())
                    assert claim.status_code == 200, claim.text
            except BaseException as error:  # reported by the assertion below
                errors.append(error)

        threads = [threading.Thread(target=work) for _ in range(threads_count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert errors == []
    entries = [json.loads(line) for line in path.read_bytes().splitlines()]
    channels = Counter(entry["channel"] for entry in entries)
    each = rounds * threads_count
    assert channels == {"order-sign": each, "feedback": each, "pas": each}
    result = CliRunner().invoke(cli, ["replay", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    # Decisions are replayed; feedback entries are chained (a bad one would
    # be reported): the head is the last line's, whichever channel wrote it.
    assert report["entries"] == 2 * each and report["bad"] == 0
    assert report["chain_head"] == line_hash(path.read_bytes().splitlines()[-1])


@pytest.mark.parametrize("route", sorted(valid_bodies()))
def test_json_nested_past_what_the_service_can_write_back_is_a_413(
    client: TestClient, route: str
) -> None:
    """A draft order or a feedback item nested 300 levels deep parsed (the
    reader allows about 1,000) but was a 500 when the answer or the audit
    entry repeated it (orjson writes 254 levels). Every route now refuses a
    body deeper than 254 levels with a 413, and reads one of 254."""
    for depth, refused in ((254, False), (255, True), (300, True)):
        leaf = deepest_leaf(route)
        sent = json.dumps(replaced(valid_bodies()[route], leaf, "@@"))
        inner = depth - len(leaf)  # the leaf sits inside len(leaf) containers
        sent = sent.replace('"@@"', "[" * inner + "]" * inner)
        response = client.post(route, content=sent, headers={"content-type": "application/json"})
        assert response.status_code < 500, (depth, response.text)
        assert (response.status_code == 413) is refused, (depth, response.text)
        if refused:
            assert "nests more than 254 levels" in said(response.json())


def deepest_leaf(route: str) -> tuple[Any, ...]:
    """The deepest leaf of the route's valid body, where nesting is added."""
    return max(leaves(valid_bodies()[route]), key=len)
