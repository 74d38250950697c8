"""RxNorm as a routing system: a CRD order-sign with a MedicationRequest for
a drug a policy claims by its RxCUI (glp1-step-therapy: dulaglutide, the
text's "Trulicity: Dulaglutide Inj (all strengths)"), a drug whose ingredient
no policy claims, and the router refusing an RxCUI two policies claim."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.errors import PolicyError
from policykb.service.app import create_app
from policykb.service.coverage_information import COVERAGE_INFORMATION
from policykb.service.routing import Router
from policykb.service.settings import ServiceSettings
from tests.fhir_records import RXNORM, Record, medication_request

DULAGLUTIDE, SEMAGLUTIDE = "1551291", "1991302"  # RxNorm ingredients


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    audit = tmp_path_factory.mktemp("rxnorm") / "audit.jsonl"
    settings = ServiceSettings(policies=("glp1-step-therapy",), audit=str(audit), audit_sync=False)
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def _order_sign(client: TestClient, rxcui: str, system: str = RXNORM) -> dict[str, Any]:
    order = medication_request("mr-1", rxcui, authored="2025-06-01", status="draft")
    order["medicationCodeableConcept"]["coding"][0]["system"] = system
    request = Record(authored="2025-06-01").hook(orders=[order])
    response = client.post("/cds-services/policykb-order-sign", json=request)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_a_medication_request_is_routed_by_its_rxcui(client: TestClient) -> None:
    answer = _order_sign(client, DULAGLUTIDE)
    (action,) = answer["systemActions"]
    assert action["resource"]["resourceType"] == "MedicationRequest"
    (extension,) = [e for e in action["resource"]["extension"] if e["url"] == COVERAGE_INFORMATION]
    parts = {part["url"]: part for part in extension["extension"]}
    assert "glp1-step-therapy" in parts["questionnaire"]["valueCanonical"]
    assert parts["covered"]["valueCode"] == "conditional"  # the criteria are asked


@pytest.mark.parametrize(
    ("rxcui", "system"),
    [
        (SEMAGLUTIDE, RXNORM),  # Ozempic, Rybelsus or Wegovy: the ingredient cannot say
        (DULAGLUTIDE, "http://example.org/drugs"),  # the RxCUI under another system
    ],
)
def test_an_rxcui_no_policy_claims_is_not_routed(
    client: TestClient, rxcui: str, system: str
) -> None:
    assert _order_sign(client, rxcui, system).get("systemActions", []) == []


def test_an_rxcui_two_policies_claim_is_refused() -> None:
    policy = KnowledgeBase().policy("glp1-step-therapy")
    twin = dataclasses.replace(policy, name="glp1-twin")
    with pytest.raises(PolicyError, match="1551291"):
        Router([policy, twin])
