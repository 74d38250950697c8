"""CRD conf-2: "CRD servers SHALL be able to handle all three US Core
versions" (3.1.1, 6.1, 7.0). The US Core examples of each version (Patient,
BMI Observation, and from 6.1 on Coverage; tests/fixtures/uscore, with
origin) are what the service reads facts from, in a CRD call as prefetch
and through the policy's FHIR mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.service.app import create_app
from policykb.service.decisions import Decisions
from policykb.service.request_resources import Resources
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record

USCORE = Path(__file__).parents[1] / "fixtures" / "uscore"
VERSIONS = ["3.1.1", "6.1.0", "7.0.0"]
DAY = "1999-07-10"
"""A week after the examples' BMI (1999-07-02): the patient, born 1987-02-20, is 12."""


def example(version: str, name: str) -> dict[str, Any] | None:
    path = USCORE / version / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(policies=("bariatric-surgery",)))) as test_client:
        yield test_client


def hook_call(version: str) -> dict[str, Any]:
    """A sleeve-gastrectomy order-sign call whose prefetch is the version's examples."""
    record = Record(authored=DAY)
    request = record.hook()
    patient = example(version, "patient-example")
    assert patient is not None
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    order["subject"] = {"reference": f"Patient/{patient['id']}"}
    request["context"]["patientId"] = patient["id"]
    coverage = example(version, "coverage-example") or {
        **record.coverage_resource(),
        "beneficiary": {"reference": f"Patient/{patient['id']}"},
    }
    request["prefetch"]["patient"] = patient
    request["prefetch"]["coverage"]["entry"] = [{"resource": coverage}]
    request["prefetch"]["observations"]["entry"] = [{"resource": example(version, "bmi")}]
    request["prefetch"]["conditions"]["entry"] = []
    return request


@pytest.mark.parametrize("version", VERSIONS)
def test_the_service_reads_each_us_core_versions_examples(client: TestClient, version: str) -> None:
    decisions: Decisions = client.app.state.decisions  # type: ignore[attr-defined]
    patient, bmi = example(version, "patient-example"), example(version, "bmi")
    assert patient is not None and bmi is not None
    order = Record(authored=DAY).order()
    order["subject"] = {"reference": f"Patient/{patient['id']}"}
    coverage = example(version, "coverage-example") or Record().coverage_resource()
    resources = Resources(order, patient, coverage, [], [bmi])
    read = decisions.mappings["bariatric-surgery"].read(resources, date.fromisoformat(DAY))
    assert read["bmi"] == 16.2
    assert read["age"] == 12


@pytest.mark.parametrize("version", VERSIONS)
def test_a_crd_call_with_each_versions_examples_as_prefetch_is_decided(
    client: TestClient, version: str
) -> None:
    """The call is answered with coverage information on the order, resting
    on the examples: the Patient's birthDate (12 years old on the day, under
    the policy's 21: WAC 182-531-1600 (6)(a)) and, without the birthDate,
    the BMI Observation's 16.2 (under 35: (6)(b))."""
    response = client.post("/cds-services/policykb-order-sign", json=hook_call(version))
    assert response.status_code == 200, response.text
    covered, reasons = covered_and_reasons(response.json())
    assert covered == "not-covered" and "(6)(a)" in reasons
    unborn = hook_call(version)
    del unborn["prefetch"]["patient"]["birthDate"]
    response = client.post("/cds-services/policykb-order-sign", json=unborn)
    assert response.status_code == 200, response.text
    covered, reasons = covered_and_reasons(response.json())
    assert covered == "not-covered" and "(6)(a)" not in reasons and "(6)(b)" in reasons


def covered_and_reasons(answer: dict[str, Any]) -> tuple[str, str]:
    """The order's `covered` code, and its reasons' text."""
    (action,) = answer["systemActions"]
    (information,) = [
        e for e in action["resource"]["extension"] if e["url"].endswith("ext-coverage-information")
    ]
    parts = information["extension"]
    (covered,) = [p["valueCode"] for p in parts if p["url"] == "covered"]
    return covered, " ".join(json.dumps(p) for p in parts if p["url"] == "reason")
