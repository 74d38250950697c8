"""DTR histories as repeating groups of records, end to end: the
Questionnaire asks a history as one repeating group with a typed item per
field; a QuestionnaireResponse's records become the case's history
(complete or partial as fhir.yaml reads it); PAS decides as `evaluate` does
on the same case (glp1-step-therapy and colorectal-cancer-screening)."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import FactType
from policykb.service import dtr
from policykb.service.app import create_app
from policykb.service.decisions import Decisions
from policykb.service.dtr_histories import level_facts, records
from policykb.service.errors import ServiceError
from policykb.service.fhir_histories import CODE_ELEMENT, DATE_ELEMENTS, EntryRule
from policykb.service.routing import ACCEPTED_URIS
from policykb.service.settings import ServiceSettings
from tests.service.test_dtr import DTR_INVARIANTS
from tests.service.test_dtr_adaptive import form_items, truth_of
from tests.service.test_service import fhir_js, r4b

DAY = date.today()
UCUM = "http://unitsofmeasure.org"
ORDERED = {
    # policy: (system, code, the fact the code sets, its value)
    "colorectal-cancer-screening": (
        ACCEPTED_URIS["hcpcs"][0],
        "G0105",
        "screening_test",
        "colonoscopy",
    ),
    "glp1-step-therapy": (
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "1551291",
        "requested_drug",
        "trulicity",
    ),
}
ITEM_TYPES = {
    FactType.ENUM: "choice",
    FactType.DATE: "date",
    FactType.INT: "integer",
    FactType.DECIMAL: "decimal",
    FactType.BOOL: "boolean",
    FactType.CODE: "string",
}
ACTIONS = {"covered": "A1", "not_covered": "A3", "needs_information": "A4"}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def decisions(client: TestClient) -> Decisions:
    return client.app.state.decisions  # type: ignore[attr-defined,no-any-return]


@pytest.mark.parametrize("name", sorted(ORDERED))
def test_a_history_is_one_repeating_group_of_typed_fields(
    client: TestClient, decisions: Decisions, name: str
) -> None:
    """Each history: one group item that repeats, a required child per
    declared field of the field's type (choices with the field's options);
    no yes/no item per record class; the Questionnaire passes DTR's item
    invariants, fhir.resources and FHIR.js."""
    import fhirpathpy
    from fhirpathpy.models import models

    policy = decisions.policies[name]
    form = client.get(f"/fhir/Questionnaire/{name}").json()
    links = [item["linkId"] for item in form["item"]]
    assert not set(links) & set(level_facts(policy))
    assert policy.histories
    for history in policy.histories.values():
        (group,) = [item for item in form["item"] if item["linkId"] == history.name]
        assert group["type"] == "group" and group["repeats"] is True
        children = {child["linkId"]: child for child in group["item"]}
        assert list(children) == [f"{history.name}.{field}" for field in history.fields]
        for field, declared in history.fields.items():
            child = children[f"{history.name}.{field}"]
            assert child["type"] == ITEM_TYPES[declared.type] and child["required"] is True
            if declared.type is FactType.ENUM:
                codes = [o["valueCoding"]["code"] for o in child["answerOption"]]
                assert codes == list(declared.options)
    r4 = models["r4"]
    for invariant, (context, expression) in DTR_INVARIANTS.items():
        if context == "Questionnaire.item":
            for item in fhirpathpy.evaluate(form, "Questionnaire.repeat(item)", model=r4):
                assert fhirpathpy.evaluate(item, expression, model=r4) == [True], invariant
    r4b(form)
    (result,) = fhir_js([form])
    assert result["valid"], result["messages"]


def _claim(name: str, response: dict[str, Any]) -> dict[str, Any]:
    system, code, _, _ = ORDERED[name]
    claim = {
        "resourceType": "Claim",
        "id": "claim-1",
        "status": "active",
        "type": {
            "coding": [
                {"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "pharmacy"}
            ]
        },
        "use": "preauthorization",
        "patient": {"reference": "Patient/pat-1"},
        "created": f"{DAY.isoformat()}T09:00:00Z",
        "insurer": {"display": "A payer"},
        "provider": {"display": "A clinic"},
        "priority": {"coding": [{"code": "normal"}]},
        "insurance": [{"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}],
        "item": [
            {
                "sequence": 1,
                "productOrService": {"coding": [{"system": system, "code": code}]},
                "servicedDate": DAY.isoformat(),
            }
        ],
    }
    resources = [
        claim,
        {"resourceType": "Patient", "id": "pat-1"},
        {
            "resourceType": "Coverage",
            "id": "cov-1",
            "status": "active",
            "beneficiary": {"reference": "Patient/pat-1"},
            "payor": [{"display": "A payer"}],
        },
        response,
    ]
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": f"{DAY.isoformat()}T09:00:00Z",
        "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)],
    }


def _action(answer: Mapping[str, Any]) -> str:
    from policykb.service.pas import claim_response

    adjudication = claim_response(dict(answer))["item"][0]["adjudication"][0]
    code = adjudication["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
    return str(code["code"])


@pytest.mark.parametrize("name", sorted(ORDERED))
def test_records_answered_in_the_form_decide_as_the_case_with_that_history(
    client: TestClient, decisions: Decisions, name: str
) -> None:
    """Generated complete answers, each history as one to four records:
    the form's QuestionnaireResponse, submitted with a PAS Claim for the
    policy's code, is decided as `evaluate` decides the case stating those
    records (complete or partial as fhir.yaml says); the verdicts vary."""
    knowledge = decisions.knowledge
    policy = knowledge.policy(name)
    form = client.get(f"/fhir/Questionnaire/{name}").json()
    complete = dtr.complete_histories(decisions.mappings[name])
    _, _, fact, value = ORDERED[name]
    draw = random.Random(f"history groups {name}")
    seen: set[str] = set()
    decided = 0
    for _ in range(12):
        truth = truth_of(policy, draw) | {fact: value, "date_of_service": DAY.isoformat()}
        case = {
            k: {"complete": k in complete, "records": v} if k in policy.histories else v
            for k, v in truth.items()
        }
        try:
            expected = knowledge.evaluate(knowledge.case({"policy": name, "facts": case}))
        except CaseError:
            continue
        response = {
            "resourceType": "QuestionnaireResponse",
            "questionnaire": f"{form['url']}|{form['version']}",
            "status": "completed",
            "subject": {"reference": "Patient/pat-1"},
            "item": form_items(policy, truth),
        }
        answer = client.post("/fhir/Claim/$submit", json=_claim(name, response))
        assert answer.status_code == 200, answer.text
        assert _action(answer.json()) == ACTIONS[expected.verdict.value], truth
        seen.add(expected.verdict.value)
        decided += 1
    assert decided >= 6 and len(seen) >= 2, (decided, seen)


def test_records_read_back_complete_or_partial_as_the_mapping_says(
    decisions: Decisions,
) -> None:
    """The same records are a partial history unless the history is read as
    complete; no record leaves the history unknown; a record missing a field,
    a field answered twice and a field the history lacks are 422s naming
    the repetition."""
    policy = decisions.policies["colorectal-cancer-screening"]
    record = [
        {"linkId": "screenings.test", "answer": [{"valueCoding": {"code": "colonoscopy"}}]},
        {"linkId": "screenings.date", "answer": [{"valueDate": "2020-05-01"}]},
        {"linkId": "screenings.result", "answer": [{"valueCoding": {"code": "negative"}}]},
    ]
    response = {"item": [{"linkId": "screenings", "item": record}, {"linkId": "screenings"}]}
    stated = {"test": "colonoscopy", "date": "2020-05-01", "result": "negative"}
    assert dtr.answers(response, policy, "QR") == {
        "screenings": {"complete": False, "records": [stated]}
    }
    complete = frozenset({"screenings"})
    assert dtr.answers(response, policy, "QR", complete)["screenings"]["complete"] is True
    assert dtr.answers({"item": [{"linkId": "screenings"}]}, policy, "QR") == {}
    wrong = [
        (record[:2], "leaves 'result' unanswered", "QR.item[0]"),
        (
            [*record, {"linkId": "screenings.date", "answer": [{"valueDate": "2021-01-01"}]}],
            "answers 'date' twice",
            "QR.item[0].item[3]",
        ),
        (
            [*record, {"linkId": "screenings.site", "answer": [{"valueString": "x"}]}],
            "'screenings.site' is not a field of 'screenings'",
            "QR.item[0].item[3]",
        ),
    ]
    for items, words, where in wrong:
        with pytest.raises(ServiceError) as raised:
            dtr.answers({"item": [{"linkId": "screenings", "item": items}]}, policy, "QR")
        assert words in raised.value.detail and raised.value.where == where


# -- population from the EHR (sdc-populate) ------------------------------------


def resource_for(entry: EntryRule, index: int, draw: random.Random) -> dict[str, Any]:
    """A US Core resource one mapping entry selects, its fields drawn."""
    kind = entry.resource
    system, codes = sorted(entry.codes.items())[draw.randrange(len(entry.codes))]
    resource: dict[str, Any] = {
        "resourceType": kind,
        "id": f"{kind.lower()}-{index}",
        "status": draw.choice(sorted(entry.statuses)),
        "subject": {"reference": "Patient/pat-1"},
        CODE_ELEMENT[kind]: {"coding": [{"system": system, "code": draw.choice(sorted(codes))}]},
    }
    if kind == "MedicationRequest":
        resource["intent"] = "order"
    day = (DAY - timedelta(days=draw.randint(1, 3000))).isoformat()
    resource[DATE_ELEMENTS[kind][0]] = day
    for _, reader in entry.fields:
        declared = reader.declared
        if reader.source == "days_supply":
            supply = {"value": draw.randint(1, 180), "system": UCUM, "code": "d", "unit": "days"}
            if kind == "MedicationRequest":
                resource["dispenseRequest"] = {"expectedSupplyDuration": supply}
            else:
                resource["daysSupply"] = supply
        elif reader.source == "value" and declared.type in (FactType.INT, FactType.DECIMAL):
            low = int(declared.low) if declared.low is not None else 0
            high = int(declared.high) if declared.high is not None else low + 100
            number = draw.randint(low * 10, high * 10) / 10
            if declared.type is FactType.INT:
                number = int(number)
            resource["valueQuantity"] = {
                "value": number,
                "system": UCUM,
                "code": reader.unit,
                "unit": reader.unit,
            }
        elif reader.source == "value" and declared.type is FactType.BOOL and not reader.uris:
            resource["valueBoolean"] = draw.random() < 0.5
        elif reader.source == "value":
            keys = sorted(reader.mapping) or list(declared.options)
            coding = {"system": reader.uris[0], "code": draw.choice(keys)}
            resource["valueCodeableConcept"] = {"coding": [coding]}
    return resource


def _normal(records: list[dict[str, object]]) -> list[str]:
    def shown(value: object) -> object:
        return float(value) if isinstance(value, int | float) and value is not True else value

    return sorted(repr(sorted((k, shown(v)) for k, v in r.items())) for r in records)


@pytest.fixture(scope="module")
def fixture_client() -> Iterator[TestClient]:
    """The screening-history fixture served: a history read from Procedures
    and from Observations with a coded value (tests/fixtures/kb)."""
    kb = Path(__file__).parents[1] / "fixtures" / "kb"
    settings = ServiceSettings(kb_dirs=(str(kb),), policies=("screening-history",))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.mark.parametrize("name", ["colorectal-cancer-screening", "screening-history"])
def test_sdc_populate_fills_the_records_the_service_reads(
    client: TestClient, fixture_client: TestClient, name: str
) -> None:
    """An independent SDC implementation (@aehrc/sdc-populate) fills the
    history's repeating group from a generated US Core record, through the
    Questionnaire's searches, itemPopulationContext and initialExpressions:
    one repetition per resource the service reads as a record, with the
    same fields (tests/js/populate.js answers only US Core searches)."""
    from tests.service.test_dtr import populate

    if name == "screening-history":
        client = fixture_client
    decisions: Decisions = client.app.state.decisions  # type: ignore[attr-defined]
    form = client.get(f"/fhir/Questionnaire/{name}").json()
    policy = decisions.policies[name]
    rules = decisions.mappings[name].histories
    assert rules
    draw = random.Random(f"history population {name}")
    cases, expected = [], []
    for _ in range(6):
        resources = [
            resource_for(entry, index, draw)
            for index, entry in enumerate(
                draw.choice(rule.entries) for rule in rules for _ in range(draw.randint(0, 4))
            )
        ]
        system, code, _, _ = ORDERED["colorectal-cancer-screening"]
        launched = [
            {"resourceType": "Patient", "id": "pat-1"},
            _claim("colorectal-cancer-screening", {})["entry"][2]["resource"],  # the Coverage
            {
                "resourceType": "ServiceRequest",
                "id": "order-1",
                "status": "draft",
                "intent": "order",
                "subject": {"reference": "Patient/pat-1"},
                "code": {"coding": [{"system": system, "code": code}]},
                "authoredOn": DAY.isoformat(),
            },
        ]
        cases.append(
            {
                "questionnaire": form,
                "patient": launched[0],
                "record": [*launched, *resources],
                "fhirContext": ["Coverage/cov-1", "ServiceRequest/order-1"],
            }
        )
        searched = frozenset(r["resourceType"] for r in resources) | {
            t for rule in rules for t in rule.resource_types
        }
        reads = {}
        for rule in rules:
            value = rule.read(resources, searched).value
            found = value["records"] if isinstance(value, dict) else (value or [])
            reads[rule.history] = _normal(found)
        expected.append(reads)
    filled_all = populate(cases)
    populated = 0
    for filled, reads in zip(filled_all, expected, strict=True):
        assert filled is not None
        for rule in rules:
            history = policy.histories[rule.history]
            repetitions = [
                (item, "QR") for item in filled.get("item", []) if item["linkId"] == rule.history
            ]
            got = records(history, repetitions)
            assert _normal(got) == reads[rule.history], (rule.history, filled, reads)
            populated += len(got)
    assert populated > 0
