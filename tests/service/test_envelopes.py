"""The envelope models: the OpenAPI document is made of them, CRD and PAS
refuse a malformed envelope naming the field, and one Bundle reader serves
CRD's draft orders and prefetched searches and PAS's request."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from importlib.metadata import version
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.service.app import create_app
from policykb.service.envelopes.errors import OperationOutcome, Problem
from policykb.service.envelopes.fhir import Bundle
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record
from tests.sampling import examples

HOOK = "/cds-services/policykb-order-sign"
SELECT = "/cds-services/policykb-order-select"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings())) as client:
        yield client


def outcome_of(response: Any, status: int) -> OperationOutcome:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/fhir+json"
    return OperationOutcome.model_validate(response.json())


# -- the OpenAPI document ------------------------------------------------------------


def schemas_in(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    body = operation.get("requestBody", {}).get("content", {})
    for media, content in body.items():
        yield f"request {media}", content["schema"]
    for status, answer in operation["responses"].items():
        for media, content in answer.get("content", {}).items():
            yield f"{status} {media}", content["schema"]


def test_every_body_and_answer_in_the_openapi_document_is_a_model(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    components = document["components"]["schemas"]
    seen = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            for where, schema in schemas_in(operation):
                seen += 1
                assert set(schema) == {"$ref"}, (method, path, where, schema)
                assert schema["$ref"].removeprefix("#/components/schemas/") in components
            answers = operation["responses"]
            assert {"200", "201", "204"} & set(answers) and "422" in answers, path
    assert seen > 100  # every route, with its errors
    assert components["Problem"] == Problem.model_json_schema()
    outcome = OperationOutcome.model_json_schema(ref_template="#/components/schemas/{model}")
    assert components["OperationOutcome"] == {k: v for k, v in outcome.items() if k != "$defs"}
    assert "HTTPValidationError" not in components  # FastAPI's own 422 is not what is sent
    assert document["info"]["version"] == version("policykb")  # the one version


def test_each_operation_has_an_operation_id_of_its_own(client: TestClient) -> None:
    """OpenAPI: operationId is unique among all operations. A route taking GET
    and POST ($expand, $status, $events) gave both the same id, differing by
    the hash seed from run to run."""
    document = client.get("/openapi.json").json()
    ids = [op["operationId"] for methods in document["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    expand = document["paths"]["/fhir/ValueSet/$expand"]
    assert {m: op["operationId"] for m, op in expand.items()} == {
        "get": "expand_get",
        "post": "expand_post",
    }


def test_error_answers_are_the_declared_envelopes(client: TestClient) -> None:
    outcome_of(client.post(HOOK, json={"hook": "order-sign"}), 400)
    outcome_of(client.post("/fhir/Claim/$submit", json={"resourceType": "Claim"}), 422)
    outcome_of(client.get("/fhir/Questionnaire/none"), 404)
    problem = client.post("/v1/evaluate", json={"facts": [], "id": "x"})
    assert problem.headers["content-type"] == "application/problem+json"
    assert Problem.model_validate(problem.json()).pointer == "body.facts"


# -- CRD: a malformed call is a 400 naming its field -----------------------------------------

FIELDS = [
    ("hook",),
    ("hookInstance",),
    ("context",),
    ("context", "patientId"),
    ("context", "draftOrders"),
    ("context", "draftOrders", "resourceType"),
    ("context", "draftOrders", "entry"),
    ("prefetch",),
]
WRONG = st.sampled_from([None, 7, True, [], {}, "text"])


def nested(document: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    for key in path[:-1]:
        document = document[key]
    return document


def refused(value: object, field: tuple[str, ...]) -> bool:
    """Whether a call with `value` at `field` is malformed: its type is wrong
    for the field (None is a valid `prefetch`, {} too)."""
    last = field[-1]
    if field == ("prefetch",):
        return not isinstance(value, dict) and value is not None
    if last == "entry":
        return not isinstance(value, list)
    if last in ("context", "draftOrders"):
        return not isinstance(value, dict) or value == {}
    if last == "resourceType":
        return value != "Bundle"
    if last == "hook":
        return value != "order-sign"
    return not isinstance(value, str)


@settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
@given(field=st.sampled_from(FIELDS), value=WRONG, drop=st.booleans())
def test_a_hook_call_with_a_missing_or_wrong_field_is_a_400_naming_it(
    client: TestClient, field: tuple[str, ...], value: object, drop: bool
) -> None:
    call = copy.deepcopy(Record(code="97124").hook())
    holder = nested(call, field)
    if drop:
        del holder[field[-1]]
    else:
        holder[field[-1]] = value
    response = client.post(HOOK, json=call)
    optional = {"prefetch", "entry"}  # a FHIR Bundle's entries are 0..*
    must_refuse = field[-1] not in optional if drop else refused(value, field)
    if not must_refuse:
        assert response.status_code == 200, response.text
        return
    issue = outcome_of(response, 400).issue[0]
    assert issue.expression, issue
    named = issue.expression[0]
    # The field itself, or (for a wrong container) the field under it that is missing.
    assert named.startswith(".".join(field)) or ".".join(field).startswith(named), (field, named)


def test_order_select_without_selections_is_a_400(client: TestClient) -> None:
    call = Record(code="97124").hook()
    call["hook"] = "order-select"
    issue = outcome_of(client.post(SELECT, json=call), 400).issue[0]
    assert issue.expression == ["context.selections"]


# -- one Bundle reader ----------------------------------------------------------------

RESOURCE = st.fixed_dictionaries({"resourceType": st.sampled_from(["Patient", "Observation"])})
ENTRY = st.one_of(
    st.fixed_dictionaries({"resource": RESOURCE}),
    st.fixed_dictionaries({"fullUrl": st.just("urn:uuid:1")}),
    st.fixed_dictionaries({"resource": st.just({"id": "no-type"})}),
    st.fixed_dictionaries({"resource": st.none()}),
)


@given(st.lists(ENTRY, max_size=8))
def test_the_bundle_reader_yields_exactly_the_entries_that_hold_a_resource(
    entries: list[dict[str, Any]],
) -> None:
    bundle = Bundle.model_validate({"resourceType": "Bundle", "entry": entries})
    holding = [
        (i, e["resource"])
        for i, e in enumerate(entries)
        if isinstance(e.get("resource"), dict) and "resourceType" in e["resource"]
    ]
    assert bundle.resources() == holding
    empty = [i for i in range(len(entries)) if i not in {j for j, _ in holding}]
    assert bundle.first_without_resource() == (empty[0] if empty else None)


def test_crd_skips_a_prefetched_entry_without_a_resource_and_pas_refuses_it(
    client: TestClient,
) -> None:
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    call = record.hook()
    call["prefetch"]["observations"]["entry"].append({"fullUrl": "urn:uuid:nothing"})
    plain = client.post(HOOK, json=record.hook()).json()
    padded = client.post(HOOK, json=call).json()

    def content(answer: dict[str, Any]) -> list[Any]:
        """The coverage information but its per-request assertion trace."""
        extensions = [a["resource"]["extension"] for a in answer["systemActions"]]
        text = json.dumps(extensions)
        return [json.loads(re.sub(r'("valueString": "[0-9a-f]{32})-[0-9a-f]+"', r'\1"', text))]

    assert content(padded) == content(plain)
    bundle = record.claim_bundle()
    bundle["entry"].append({"fullUrl": "urn:uuid:nothing"})
    issue = outcome_of(client.post("/fhir/Claim/$submit", json=bundle), 422).issue[0]
    assert issue.expression == [f"Bundle.entry[{len(bundle['entry']) - 1}]"]


@pytest.mark.parametrize("key", ["patient", "coverage", "conditions", "observations"])
def test_a_malformed_prefetched_bundle_is_a_400_naming_its_key(
    client: TestClient, key: str
) -> None:
    call = Record().hook()
    call["prefetch"][key] = {"resourceType": "Bundle", "entry": "not a list"}
    issue = outcome_of(client.post(HOOK, json=call), 400).issue[0]
    assert issue.expression == [f"prefetch.{key}.entry"]


def test_a_pas_entry_that_is_not_an_object_is_a_422_naming_it(client: TestClient) -> None:
    bundle = Record().claim_bundle()
    bundle["entry"].append(3)
    issue = outcome_of(client.post("/fhir/Claim/$submit", json=bundle), 422).issue[0]
    assert issue.expression == [f"Bundle.entry.{len(bundle['entry']) - 1}"]


def brute_patient_urls(document: dict[str, Any], patient_id: str) -> set[str]:
    """The fullUrls naming the Patient, by plain recursion over the JSON."""
    found = set()
    for entry in document.get("entry", []):
        resource = entry.get("resource") or {}
        if resource.get("resourceType") == "Bundle":
            found |= brute_patient_urls(resource, patient_id)
        elif resource.get("resourceType") == "Patient" and resource.get("id") == patient_id:
            found |= {entry["fullUrl"]} if "fullUrl" in entry else set()
    return found


def bundles(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    patient = st.fixed_dictionaries(
        {"resourceType": st.just("Patient"), "id": st.sampled_from(["p1", "p2"])}
    )
    held = st.one_of(patient, RESOURCE, *([bundles(depth - 1)] if depth else []))
    entry = st.fixed_dictionaries(
        {"resource": held}, optional={"fullUrl": st.sampled_from(["urn:uuid:a", "urn:uuid:b"])}
    )
    return st.fixed_dictionaries(
        {"resourceType": st.just("Bundle"), "entry": st.lists(entry, max_size=4)}
    )


@given(bundles(2))
def test_patient_urls_are_read_through_nested_bundles(document: dict[str, Any]) -> None:
    from policykb.service.record import patient_urls

    bundle = Bundle.model_validate(document)
    assert patient_urls([bundle], "p1") == brute_patient_urls(document, "p1")
    assert patient_urls([bundle], None) == frozenset()
