"""DTR as a client runs it: the service's Questionnaires populated by an
independent SDC implementation (@aehrc/sdc-populate, tests/js/populate.js)
from US Core records, and the answers it fills read back as the facts the
service itself reads from the same records."""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge.loading.case import check_value
from policykb.bridge.model.errors import CaseError
from policykb.service import dtr
from policykb.service.app import create_app
from policykb.service.decisions import Decisions
from policykb.service.dtr_population import LAUNCH_CONTEXT, VARIABLE
from policykb.service.errors import ServiceError
from policykb.service.fhir_facts import Resources
from policykb.service.settings import ServiceSettings
from tests.fhir_records import LOINC, UCUM, Record, bmi, condition

JS = Path(__file__).parents[1] / "js"
SOPT = "https://nahdo.org/sopt"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def decisions(client: TestClient) -> Decisions:
    return client.app.state.decisions  # type: ignore[attr-defined,no-any-return]


def populate(cases: list[dict[str, Any]]) -> list[dict[str, Any] | None]:
    """sdc-populate's QuestionnaireResponse for each case (None: it failed)."""
    done = subprocess.run(
        ["node", str(JS / "populate.js")],
        input=json.dumps(cases),
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    output = json.loads(done.stdout)
    assert output["warnings"] == [], output["warnings"][:3]
    assert output["offline"] == [], output["offline"][:3]  # it asked no network
    return [result["response"] for result in output["results"]]


# -- records ---------------------------------------------------------------------


def _observation(ident: str, code: str, when: str, **value: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": value.pop("status", "final"),
        "code": {"coding": [{"system": LOINC, "code": code}]},
        "subject": {"reference": value.pop("subject", "Patient/pat-1")},
        "effectiveDateTime": when,
        **value,
    }


def bariatric_record(rng: random.Random, today: date) -> Record:
    """A record with what a bariatric policy reads, in every shape the
    service's rules tell apart: ages at the birthday's edge, BMIs over time
    (some not final, some another patient's, one with a comparator), a
    pregnancy status, diagnoses active, resolved, refuted or abated."""
    years = rng.randint(14, 80)
    shift = rng.choice([-1, 0, 1, 40])
    born = today - timedelta(days=shift)
    born = born.replace(year=born.year - years) if (born.month, born.day) != (2, 29) else born
    days = rng.sample(range(1, 700), rng.randint(0, 4))
    bmis = [((today - timedelta(days=d)).isoformat(), round(rng.uniform(25, 55), 1)) for d in days]
    extra: list[dict[str, Any]] = []
    if rng.random() < 0.3:
        extra.append(bmi(60.0, today.isoformat(), status="preliminary", id="bmi-prelim"))
    if rng.random() < 0.3:
        extra.append(bmi(61.0, today.isoformat(), subject="Patient/other", id="bmi-other"))
    if rng.random() < 0.2 and not bmis:
        extra.append(bmi(40.0, today.isoformat(), comparator=">", id="bmi-comparator"))
    conditions = []
    if rng.random() < 0.3:
        conditions.append(condition("E66.01", verification="refuted"))
    if rng.random() < 0.3:
        abated = condition("K21.9")
        abated["abatementDateTime"] = "2020-01-01"
        conditions.append(abated)
    codes = ["E11.9", "I10", "G47.33", "E78.5", "K76.0"]
    return Record(
        code=rng.choice(["43775", "43644", "43770"]),
        authored=today.isoformat(),
        birth_date=born.isoformat() if rng.random() < 0.9 else None,
        bmis=bmis,
        pregnant=rng.choice([None, True, False]),
        diagnoses=rng.sample(codes, rng.randint(0, 3)),
        inactive_diagnoses=rng.sample(codes, rng.randint(0, 1)),
        extra_observations=extra,
        extra_conditions=conditions,
        coverage_changes=rng.choice(
            [{}, {"type": {"coding": [{"system": SOPT, "code": rng.choice(["1", "111", "5"])}]}}]
        ),
    )


def defibrillator_record(rng: random.Random, today: date) -> Record:
    observations = [
        _observation(
            f"lvef-{i}",
            "10230-1",
            (today - timedelta(days=10 * i + 1)).isoformat(),
            valueQuantity={"value": rng.randint(15, 60), "unit": "%", "system": UCUM, "code": "%"},
        )
        for i in range(rng.randint(0, 2))
    ]
    conditions = [
        {**condition(code), "id": f"cond-{i}"}
        for i, code in enumerate(rng.sample(["I21.4", "I25.2", "I42.1", "I10"], rng.randint(0, 2)))
    ]
    return Record(
        code="33249",
        authored=today.isoformat(),
        extra_observations=observations,
        extra_conditions=conditions,
        coverage_changes={"type": {"coding": [{"system": SOPT, "code": rng.choice(["1", "2"])}]}},
    )


def massage_record(rng: random.Random, today: date) -> Record:
    return Record(
        code="97124",
        authored=today.isoformat(),
        category=rng.choice([None, "Rehabilitation", "Physical therapy"]),
        coverage_changes=rng.choice(
            [{}, {"type": {"coding": [{"system": SOPT, "code": rng.choice(["1", "3"])}]}}]
        ),
    )


def the_case(record: Record, questionnaire: dict[str, Any]) -> dict[str, Any]:
    """What a DTR client launched on the order holds: the patient, the
    coverage and the order in the launch's fhirContext, the rest searchable."""
    resources = [
        record.patient(),
        record.coverage_resource(),
        record.order(),
        *record.conditions(),
        *record.observations(),
    ]
    return {
        "questionnaire": questionnaire,
        "patient": record.patient(),
        "record": resources,
        "fhirContext": ["Coverage/cov-1", f"ServiceRequest/{record.order_id}"],
    }


def service_reads(decisions: Decisions, policy: str, record: Record) -> dict[str, object]:
    """The facts the service reads from the record for `policy` (and accepts)."""
    resources = Resources(
        record.order(),
        record.patient(),
        record.coverage_resource(),
        record.conditions(),
        record.observations(),
    )
    read = decisions.mappings[policy].read(resources, date.fromisoformat(record.authored))
    facts = decisions.policies[policy].facts
    accepted = {}
    for name, value in read.items():
        try:
            check_value(facts[name], value)
        except CaseError:
            continue
        accepted[name] = value
    return accepted


def normalised(facts: dict[str, object]) -> dict[str, object]:
    return {k: sorted(v) if isinstance(v, list) else v for k, v in facts.items()}


GENERATORS = {
    "bariatric-surgery": bariatric_record,
    "bariatric-surgery-medicare": bariatric_record,
    "implantable-defibrillators": defibrillator_record,
    "massage-therapy": massage_record,
}


def test_sdc_populate_fills_what_the_service_reads(
    client: TestClient, decisions: Decisions
) -> None:
    """For 120 generated records over four policies: the answers CSIRO's
    SDC implementation fills from the record, read back by dtr.answers, are
    exactly the facts the service reads from the same record."""
    rng = random.Random(31)
    today = date.today()
    cases: list[tuple[str, Record]] = []
    for policy, generate in GENERATORS.items():
        cases += [(policy, generate(rng, today)) for _ in range(30)]
    questionnaires = {
        policy: client.get(f"/fhir/Questionnaire/{policy}").json() for policy in GENERATORS
    }
    responses = populate([the_case(r, questionnaires[p]) for p, r in cases])
    filled_any: set[str] = set()
    for (policy, record), response in zip(cases, responses, strict=True):
        assert response is not None
        answered = dtr.answers(response, decisions.policies[policy], "QuestionnaireResponse")
        expected = service_reads(decisions, policy, record)
        assert normalised(answered) == normalised(expected), (policy, record)
        filled_any |= {f"{policy}:{fact}" for fact in answered}
    # every fact a mapping reads was filled at least once: none is vacuous
    read = {f"{p}:{rule.fact}" for p in GENERATORS for rule in decisions.mappings[p].rules}
    assert read == filled_any


def test_a_quantity_in_another_unit_is_left_to_the_clinician(
    client: TestClient, decisions: Decisions
) -> None:
    """The service converts a BMI in [lb_av]/[in_i]2; the Questionnaire's
    prefill takes only its own unit (FHIRPath has no UCUM here), so the item
    stays empty and the clinician answers it, never with a wrong number."""
    record = Record(
        authored=date.today().isoformat(),
        extra_observations=[bmi(0.0583, "2026-05-01", code="[lb_av]/[in_i]2")],
    )
    questionnaire = client.get("/fhir/Questionnaire/bariatric-surgery").json()
    (response,) = populate([the_case(record, questionnaire)])
    assert response is not None
    answered = dtr.answers(response, decisions.policies["bariatric-surgery"], "QR")
    assert "bmi" in service_reads(decisions, "bariatric-surgery", record)
    assert "bmi" not in answered


def test_the_questionnaire_declares_every_variable_it_uses(client: TestClient) -> None:
    """Every %name an expression reads is a launch context, a variable
    declared before it, or FHIRPath's own; the types are the facts' own."""
    from fhirpathpy.parser import parse

    builtin = {"resource", "context", "rootResource", "ucum", "sct", "loinc", "factory"}
    for policy in GENERATORS | {"home-oxygen": None}:
        questionnaire = client.get(f"/fhir/Questionnaire/{policy}").json()
        declared: set[str] = set()
        expressions: list[str] = []
        for extension in questionnaire.get("extension", []):
            if extension["url"] == LAUNCH_CONTEXT:
                declared.add(extension["extension"][0]["valueCoding"]["code"])
            elif extension["url"] == VARIABLE:
                expression = extension["valueExpression"]
                if expression["language"] == "text/fhirpath":
                    expressions.append(expression["expression"])
                else:  # an x-fhir-query embeds FHIRPath in {{ }}
                    inner = expression["expression"].split("{{")[1].split("}}")[0]
                    expressions.append(inner)
                for text in expressions:
                    assert _variables(parse, text) <= declared | builtin, (policy, text)
                declared.add(expression["name"])
                expressions.clear()
        for item in questionnaire["item"]:
            local = set()
            for extension in item.get("extension", []):
                value = extension.get("valueExpression")
                if value is None:
                    continue
                used = _variables(parse, value["expression"])
                assert used <= declared | local | builtin, (policy, item["linkId"], used)
                if extension["url"] == VARIABLE:
                    local.add(value["name"])
        items = {item["linkId"]: item for item in questionnaire["item"]}
        assert all(item["type"] != "choice" or item["answerOption"] for item in items.values())


def _variables(parse: Any, text: str) -> set[str]:
    found: set[str] = set()
    stack = [parse(text)]
    while stack:
        node = stack.pop()
        if node.get("type") == "ExternalConstant":
            name = "".join(str(n.get("text", "")) for n in node.get("children", []))
            found.add(name.strip("`'\""))
        stack.extend(node.get("children", []))
    return found


# -- answers with units ------------------------------------------------------------


def _quantity_response(quantity: dict[str, Any], link: str = "bmi") -> dict[str, Any]:
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": link, "answer": [{"valueQuantity": quantity}]}],
    }


@pytest.mark.parametrize(
    ("quantity", "expected"),
    [
        ({"value": 41.5, "system": UCUM, "code": "kg/m2"}, 41.5),
        ({"value": 41, "code": "kg/m2"}, 41),
        ({"value": 0.0583, "system": UCUM, "code": "[lb_av]/[in_i]2"}, None),  # converted
        ({"value": 40, "system": UCUM, "code": "kg/m2", "comparator": ">"}, "unknown"),
    ],
)
def test_quantity_answers_read_their_unit_and_comparator(
    decisions: Decisions, quantity: dict[str, Any], expected: object
) -> None:
    policy = decisions.policies["bariatric-surgery"]
    answered = dtr.answers(_quantity_response(quantity), policy, "QR")
    if expected == "unknown":
        assert "bmi" not in answered
    elif expected is None:
        value = answered["bmi"]
        assert isinstance(value, float)
        assert abs(value - 0.0583 * 703.0695796) < 1e-3
    else:
        assert answered["bmi"] == expected


@pytest.mark.parametrize(
    ("quantity", "link", "words"),
    [
        ({"value": 41, "system": UCUM, "code": "%"}, "bmi", "not a UCUM unit of the same kind"),
        ({"value": 41, "system": "http://other", "code": "kg/m2"}, "bmi", "same kind"),
        ({"value": 41, "system": UCUM, "code": "no-such-unit"}, "bmi", "no-such-unit"),
        ({"value": 45.5, "system": UCUM, "code": "a"}, "age", "whole number"),
        ({"value": 3, "system": UCUM, "code": "kg"}, "pregnant", "has no unit"),
    ],
)
def test_a_quantity_answer_in_a_wrong_unit_is_a_422_naming_it(
    decisions: Decisions, quantity: dict[str, Any], link: str, words: str
) -> None:
    policy = decisions.policies["bariatric-surgery"]
    with pytest.raises(ServiceError) as raised:
        dtr.answers(_quantity_response(quantity, link), policy, "QR")
    assert raised.value.status == 422
    assert words in str(raised.value)
    assert raised.value.where == "QR.item[0].valueQuantity"


def test_a_year_of_age_in_months_converts(decisions: Decisions) -> None:
    policy = decisions.policies["bariatric-surgery"]
    response = _quantity_response({"value": 540, "system": UCUM, "code": "mo"}, "age")
    assert dtr.answers(response, policy, "QR") == {"age": 45}
