"""DTR as a client runs it: the service's Questionnaires populated by an
independent SDC implementation (@aehrc/sdc-populate, tests/js/populate.js)
from US Core records, and the answers it fills read back as the facts the
service itself reads from the same records."""

from __future__ import annotations

import dataclasses
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
from policykb.service.request_resources import Resources
from policykb.service.settings import ServiceSettings
from tests.fhir_records import CPT as CPT_URI
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


def _room_air(kind: str) -> dict[str, Any]:
    """A component stating room air: FiO2 21 % (LOINC 3150-0) or no flow (3151-8)."""
    if kind == "fio2":
        code, quantity = "3150-0", {"value": 21, "unit": "%", "system": UCUM, "code": "%"}
    else:
        code, quantity = "3151-8", {"value": 0, "unit": "L/min", "system": UCUM, "code": "L/min"}
    return {"code": {"coding": [{"system": LOINC, "code": code}]}, "valueQuantity": quantity}


def oxygen_record(rng: random.Random, today: date) -> Record:
    """Blood gases and oximetry at rest as the home-oxygen policy reads them:
    with or without room air stated, dated by day or by instant, in mm[Hg]
    or %, some not final; and hematocrits."""
    observations: list[dict[str, Any]] = []
    for index in range(rng.randint(0, 4)):
        code, unit = rng.choice([("2703-7", "mm[Hg]"), ("59408-5", "%")])
        day = today - timedelta(days=rng.randint(1, 400))
        when = day.isoformat() if rng.random() < 0.8 else f"{day.isoformat()}T10:00:00Z"
        value = rng.randint(45, 70) if unit == "mm[Hg]" else rng.randint(82, 95)
        observation = _observation(
            f"gas-{index}",
            code,
            when,
            valueQuantity={"value": value, "unit": unit, "system": UCUM, "code": unit},
            status=rng.choice(["final", "final", "final", "preliminary"]),
        )
        if rng.random() < 0.85:
            observation["component"] = [_room_air(rng.choice(["fio2", "flow"]))]
        observations.append(observation)
    for index in range(rng.randint(0, 2)):
        observations.append(
            _observation(
                f"hct-{index}",
                rng.choice(["4544-3", "20570-8"]),
                (today - timedelta(days=100 + 50 * index)).isoformat(),
                valueQuantity={
                    "value": rng.randint(40, 60),
                    "unit": "%",
                    "system": UCUM,
                    "code": "%",
                },
            )
        )
    return Record(
        code="E1390",
        authored=today.isoformat(),
        extra_observations=observations,
        coverage_changes=rng.choice(
            [{}, {"type": {"coding": [{"system": SOPT, "code": rng.choice(["1", "121", "5"])}]}}]
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
    "home-oxygen": oxygen_record,
}


def test_sdc_populate_fills_what_the_service_reads(
    client: TestClient, decisions: Decisions
) -> None:
    """For 150 generated records over five policies: the answers CSIRO's
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
    for policy in GENERATORS:
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


# -- $questionnaire-package ---------------------------------------------------------

DTR_SD = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
# DTR's invariants (HL7/davinci-dtr input/fsh/DTRInvariants.fsh, commit
# ef91b18f), by their published FHIRPath: where each applies in a package.
DTR_INVARIANTS = {
    "dtrb-1": ("packagebundle", "entry.first().resource.is(Questionnaire)"),
    "dtrq-2": (
        "Questionnaire.item",
        "(type='choice' or type='open-choice') implies answerOption.exists() or "
        "answerValueSet.exists() or extension('http://hl7.org/fhir/uv/sdc/StructureDefinition/"
        "sdc-questionnaire-answerExpression').exists()",
    ),
    "dtrq-3": (
        "Questionnaire.item",
        "(type='quantity') implies extension.where(url='http://hl7.org/fhir/StructureDefinition/"
        "questionnaire-unitOption').exists() or extension.where(url='http://hl7.org/fhir/"
        "StructureDefinition/questionnaire-unitValueSet').exists()",
    ),
    "dtrq-4": (
        "Questionnaire.item",
        "(type='reference') implies extension.where(url='http://hl7.org/fhir/StructureDefinition/"
        "questionnaire-referenceResource').exists()",
    ),
    "dtrq-5": (
        "Questionnaire.item",
        "(type='reference') implies extension.where(url='http://hl7.org/fhir/uv/sdc/"
        "StructureDefinition/sdc-questionnaire-candidateExpression').exists()",
    ),
    "dtrq-6": (
        "Questionnaire",
        "extension.exists(url = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
        "questionnaireAudience' and (value = 'clinical' or value = 'patient')) and "
        "extension.exists(url = 'http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/"
        "estimated-completion-time') implies extension.where(url = 'http://hl7.org/fhir/us/"
        "davinci-dtr/StructureDefinition/estimated-completion-time').extension.where("
        "url = 'clinicalTime').exists()",
    ),
    "dtrx-1": (
        "QuestionnaireResponse.item.answer.extension.where(url = 'http://hl7.org/fhir/us/"
        "davinci-dtr/StructureDefinition/information-origin')",
        "extension.exists(url = 'source' and (value = 'auto-client' or value = 'auto-server')) "
        "!= extension.exists(url = 'author')",
    ),
}
# The DTR profiles' FSH rules that bear on a package (DTRQuestionnairePackageBundle,
# DTRQuestionnaireResponse, DTRBaseQuestionnaire, DTRQuestionnairePackageOutputParameters),
# as FHIRPath on one packagebundle.
PACKAGE_RULES = {
    "type = collection": "type = 'collection'",
    "one Questionnaire": "entry.resource.ofType(Questionnaire).count() = 1",
    "one QuestionnaireResponse": "entry.resource.ofType(QuestionnaireResponse).count() = 1",
    "closed slicing: nothing else": "entry.resource.all(is(Questionnaire) or "
    "is(QuestionnaireResponse) or is(ValueSet) or is(Library))",
    "Questionnaire.subjectType = Patient, 1..1": "entry[0].resource.subjectType = 'Patient'",
    "item.text 1..1": "entry[0].resource.repeat(item).all(text.exists())",
    "QR.questionnaire 1..1, the package's, version-specific (spec-122, oper-16)": (
        "entry[1].resource.questionnaire = entry[0].resource.url + '|' + entry[0].resource.version"
    ),
    "QR.subject 1..1": "entry[1].resource.subject.exists()",
    "QR qr-coverage 1..*": "entry[1].resource.extension.where("
    f"url = '{DTR_SD}qr-coverage').exists()",
    "QR intendedUse 1..*": "entry[1].resource.extension.where("
    f"url = '{DTR_SD}intendedUse').exists()",
    "QR basedOn, partOf 0..0": "entry[1].resource.basedOn.empty() "
    "and entry[1].resource.partOf.empty()",
    "answer information-origin 1..1": "entry[1].resource.repeat(item).answer.all(extension.where("
    f"url = '{DTR_SD}information-origin').count() = 1)",
}


SPEC_122 = "QR.questionnaire 1..1, the package's, version-specific (spec-122, oper-16)"
ADAPTIVE_PACKAGE_RULES = {
    **{rule: e for rule, e in PACKAGE_RULES.items() if rule != SPEC_122},
    "QR.questionnaire '#id' of its one contained form (spec-25)": (
        "entry[1].resource.questionnaire = '#' + entry[1].resource.contained.single().id"
    ),
    "the contained form derived from the package's Questionnaire (spec-25)": (
        "entry[1].resource.contained.single().derivedFrom"
        " = entry[0].resource.url + '|' + entry[0].resource.version"
    ),
}
"""An adaptive form's bundle: spec-25's contained reference instead of spec-122's."""


def is_adaptive(bundle: dict[str, Any]) -> bool:
    profiles = bundle["entry"][0]["resource"].get("meta", {}).get("profile", [])
    return f"{DTR_SD}dtr-questionnaire-adapt-search" in profiles


def package(client: TestClient, *parameters: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post(
        "/fhir/Questionnaire/$questionnaire-package",
        json={"resourceType": "Parameters", "parameter": list(parameters)},
    )
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


def package_conforms(
    output: dict[str, Any], rules: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The packagebundles of an output Parameters, each checked by DTR's
    invariants and FSH rules (`rules`, else PACKAGE_RULES); the whole by
    fhir.resources and FHIR.js."""
    import fhirpathpy
    from fhirpathpy.models import models

    from tests.service.test_service import fhir_js, r4b

    r4 = models["r4"]
    assert output["resourceType"] == "Parameters"
    bundles = [p["resource"] for p in output.get("parameter", []) if p["name"] == "packagebundle"]
    for bundle in bundles:
        chosen = rules or (ADAPTIVE_PACKAGE_RULES if is_adaptive(bundle) else PACKAGE_RULES)
        for rule, expression in chosen.items():
            assert fhirpathpy.evaluate(bundle, expression, model=r4) == [True], rule
        for name, (context, expression) in DTR_INVARIANTS.items():
            if context == "packagebundle":
                nodes = [bundle]
            else:
                kind, _, path = context.partition(".")
                (resource,) = [
                    e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind
                ]
                nodes = fhirpathpy.evaluate(resource, path, model=r4) if path else [resource]
            for node in nodes:
                assert fhirpathpy.evaluate(node, expression, model=r4) == [True], (name, node)
    r4b(output)
    (result,) = fhir_js([output])
    assert result["valid"], result["messages"]
    return bundles


MEDICARE = {"type": {"coding": [{"system": SOPT, "code": "1"}]}}


def test_a_package_per_questionnaire_for_the_orders(client: TestClient) -> None:
    """Two bariatric orders and a massage order: two package Bundles (one per
    Questionnaire, each the policy's adaptive form: orders get exact
    narrowing), each QuestionnaireResponse naming the coverage and its own
    orders, pre-filled (auto-server) with what the payer reads from the
    coverage and the order."""
    record = Record(coverage_changes=MEDICARE, category="massage")
    sleeve = record.order()
    bypass = {
        **record.order(),
        "id": "order-2",
        "code": {"coding": [{"system": CPT_URI, "code": "43644"}]},
    }
    massage = {
        **record.order(),
        "id": "order-3",
        "code": {"coding": [{"system": CPT_URI, "code": "97124"}]},
    }
    output = package(
        client,
        {"name": "coverage", "resource": record.coverage_resource()},
        {"name": "order", "resource": sleeve},
        {"name": "order", "resource": bypass},
        {"name": "order", "resource": massage},
    )
    bundles = package_conforms(output)
    forms = {b["entry"][0]["resource"]["id"]: b["entry"][1]["resource"] for b in bundles}
    # On Medicare coverage the bariatric codes route to the Medicare NCD,
    # which takes precedence over the Washington rule (precedence/2).
    assert set(forms) == {"bariatric-surgery-medicare-adaptive", "massage-therapy-adaptive"}
    forms = {name.removesuffix("-adaptive"): qr for name, qr in forms.items()}
    assert all(is_adaptive(bundle) for bundle in bundles)
    contexts = {
        name: [
            e["valueReference"]["reference"]
            for e in qr["extension"]
            if e["url"].endswith("qr-context")
        ]
        for name, qr in forms.items()
    }
    assert contexts == {
        "bariatric-surgery-medicare": ["ServiceRequest/order-1", "ServiceRequest/order-2"],
        "massage-therapy": ["ServiceRequest/order-3"],
    }
    prefilled = {i["linkId"]: i["answer"][0] for i in forms["massage-therapy"]["item"]}
    assert prefilled["medicare_member"]["valueBoolean"] is True
    assert prefilled["type_of_service"]["valueString"] == "massage"
    assert "outcome" not in {p["name"] for p in output["parameter"]}


def test_a_package_for_a_canonical_and_warnings_for_the_rest(client: TestClient) -> None:
    questionnaire = client.get("/fhir/Questionnaire/bariatric-surgery").json()
    current = f"{questionnaire['url']}|{questionnaire['version']}"
    record = Record()
    output = package(
        client,
        {"name": "coverage", "resource": record.coverage_resource()},
        {"name": "questionnaire", "valueCanonical": current},
        {"name": "questionnaire", "valueCanonical": f"{questionnaire['url']}|0000"},
        {"name": "questionnaire", "valueCanonical": "http://other.example/Questionnaire/x"},
        {"name": "order", "resource": {**record.order(), "code": {"coding": [{"code": "1"}]}}},
    )
    (bundle,) = package_conforms(output)
    assert bundle["entry"][0]["resource"]["url"] == questionnaire["url"]
    (outcome,) = [p["resource"] for p in output["parameter"] if p["name"] == "outcome"]
    issues = [i["diagnostics"] for i in outcome["issue"]]
    assert len(issues) == 3 and all(i["severity"] == "warning" for i in outcome["issue"])
    assert "0000" in issues[1] and "other.example" in issues[2] and "no policy" in issues[0]


def test_a_context_alone_gets_instructions(client: TestClient) -> None:
    """oper-8: no Questionnaire found for a CRD context id: an OperationOutcome
    says how else to get them."""
    output = package(
        client,
        {"name": "coverage", "resource": Record().coverage_resource()},
        {"name": "context", "valueString": "assertion-1"},
    )
    assert [p["name"] for p in output["parameter"]] == ["outcome"]
    assert "send the order" in output["parameter"][0]["resource"]["issue"][0]["diagnostics"]
    package_conforms(output)


@pytest.mark.parametrize(
    ("parameters", "words"),
    [
        ([], "'coverage'"),
        ([{"name": "context", "valueString": "x"}], "'coverage'"),
        ([{"name": "coverage", "resource": {"resourceType": "Patient"}}], "Coverage resource"),
        ([{"name": "coverage", "resource": Record().coverage_resource()}], "dtr-1"),
        (
            [
                {"name": "coverage", "resource": Record().coverage_resource()},
                {"name": "order", "resource": {"resourceType": "Observation"}},
            ],
            "'order' must hold",
        ),
        (
            [
                {"name": "coverage", "resource": Record().coverage_resource()},
                {"name": "questionnaire", "valueString": "x"},
            ],
            "valueCanonical",
        ),
    ],
)
def test_a_bad_package_request_is_a_422_naming_it(
    client: TestClient, parameters: list[dict[str, Any]], words: str
) -> None:
    outcome = package(client, *parameters, status=422)
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]
    response = client.post(
        "/fhir/Questionnaire/$questionnaire-package", json={"resourceType": "Bundle"}
    )
    assert response.status_code == 422


def test_log_questionnaire_errors_records_each_issue(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {
                "name": "questionnaire",
                "valueCanonical": "http://x/fhir/Questionnaire/bariatric-surgery|1",
            },
            {
                "name": "operationOutcome",
                "resource": {
                    "resourceType": "OperationOutcome",
                    "issue": [
                        {"severity": "error", "code": "processing", "diagnostics": "bad expression"}
                    ],
                },
            },
        ],
    }
    with caplog.at_level("WARNING", logger="policykb.service.dtr"):
        response = client.post("/fhir/Questionnaire/$log-questionnaire-errors", json=body)
    assert response.status_code == 200
    assert response.json()["issue"][0]["severity"] == "information"
    assert any(
        "bad expression" in r.getMessage() and "bariatric-surgery" in r.getMessage()
        for r in caplog.records
    )
    body["parameter"].pop()
    assert (
        client.post("/fhir/Questionnaire/$log-questionnaire-errors", json=body).status_code == 422
    )


def test_metadata_names_the_ig_versions_and_profiles(client: TestClient) -> None:
    from tests.service.test_service import fhir_js, r4b

    statement = client.get("/fhir/metadata").json()
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["implementationGuide"] == [
        "http://hl7.org/fhir/us/davinci-dtr/ImplementationGuide/hl7.fhir.us.davinci-dtr|2.2.0",
        "http://hl7.org/fhir/us/davinci-pas/ImplementationGuide/hl7.fhir.us.davinci-pas|2.2.1",
    ]
    resources = {r["type"]: r for r in statement["rest"][0]["resource"]}
    operations = {o["name"] for r in resources.values() for o in r.get("operation", [])}
    assert operations == {
        "questionnaire-package",
        "next-question",
        "log-questionnaire-errors",
        "expand",
        "submit",
        "inquire",
        "status",  # Subscription/{id}/$status and $events: tests/service/test_subscriptions.py
        "events",
    }
    # every operation it names answers (not 404 or 405)
    for path in (
        "/fhir/Questionnaire/$questionnaire-package",
        "/fhir/Questionnaire/$next-question",
        "/fhir/Questionnaire/$log-questionnaire-errors",
        "/fhir/Claim/$submit",
        "/fhir/Claim/$inquire",
    ):
        assert client.post(path, json={}).status_code == 422
    assert client.post("/fhir/ValueSet/$expand", json={}).status_code == 400
    r4b(statement)
    (result,) = fhir_js([statement])
    assert result["valid"], result["messages"]


# -- the DTR IG's own examples (tests/fixtures/davinci, origins in its README) ------

DAVINCI = Path(__file__).parents[1] / "fixtures" / "davinci"


def _example(name: str) -> dict[str, Any]:
    return json.loads((DAVINCI / name).read_text())  # type: ignore[no-any-return]


def test_the_dtr_igs_package_request_gets_warnings(client: TestClient) -> None:
    """DTR's QuestionnairePackageInputParamsExample asks for the IG's own
    home-o2 Questionnaire for a blood gas panel (LOINC 24338-6): neither is
    this service's, so the answer is a 200 whose outcome warns about each
    (oper-9), with no package."""
    response = client.post(
        "/fhir/Questionnaire/$questionnaire-package",
        json=_example("dtr-QuestionnairePackageInputParamsExample.json"),
    )
    assert response.status_code == 200
    output = response.json()
    assert [p["name"] for p in output["parameter"]] == ["outcome"]
    issues = output["parameter"][0]["resource"]["issue"]
    assert [i["expression"] for i in issues] == [
        ["Parameters.parameter[1].resource"],
        ["Parameters.parameter[2]"],
    ]
    package_conforms(output)


def test_the_dtr_igs_package_request_adapted_to_a_routed_code(client: TestClient) -> None:
    """The same request with its order coded E1390 (an oxygen concentrator,
    HCPCS) and the service's home-oxygen Questionnaire asked for: one
    package, the Questionnaire once, the order in its context."""
    parameters = _example("dtr-QuestionnairePackageInputParamsExample.json")
    order = parameters["parameter"][1]["resource"]
    order["code"] = {
        "coding": [
            {"system": "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "code": "E1390"}
        ]
    }
    form = client.get("/fhir/Questionnaire/home-oxygen").json()
    parameters["parameter"][2]["valueCanonical"] = form["url"]
    response = client.post("/fhir/Questionnaire/$questionnaire-package", json=parameters)
    assert response.status_code == 200
    (bundle,) = package_conforms(response.json())
    draft = bundle["entry"][1]["resource"]
    assert bundle["entry"][0]["resource"]["id"] == "home-oxygen"
    assert draft["subject"] == {"reference": "Patient/PatientExample"}
    contexts = [e["valueReference"] for e in draft["extension"] if e["url"].endswith("qr-context")]
    assert contexts == [{"reference": "ServiceRequest/ServiceRequestExample"}]


def test_the_dtr_igs_error_report_is_logged(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level("WARNING", logger="policykb.service.dtr"):
        response = client.post(
            "/fhir/Questionnaire/$log-questionnaire-errors",
            json=_example("dtr-LogQuestionnaireErrorsInputParamsExample.json"),
        )
    assert response.status_code == 200
    assert any("home-o2-std-questionnaire" in r.getMessage() for r in caplog.records)


def test_package_then_sdc_populate_then_pas_decides_as_evaluate(
    client: TestClient, decisions: Decisions
) -> None:
    """The DTR round trip without CRD: $questionnaire-package for the order,
    its Questionnaire populated by sdc-populate from the EHR's record, the
    QuestionnaireResponse (naming the Questionnaire) sent with a PAS claim
    that carries no clinical resources: the item is decided as `evaluate`
    decides the facts the service reads from the record itself."""
    from policykb.service.pas import claim_response

    rng = random.Random(7)
    today = date.today()
    # Coverage that is not Medicare: the Washington rule decides these codes
    # (on Medicare coverage the NCD takes precedence, another vocabulary).
    private = {"type": {"coding": [{"system": SOPT, "code": "5"}]}}
    records = [
        dataclasses.replace(bariatric_record(rng, today), coverage_changes=private)
        for _ in range(8)
    ]
    packaged = []
    standard = "http://testserver/fhir/Questionnaire/bariatric-surgery"
    for record in records:
        output = package(
            client,
            {"name": "coverage", "resource": record.coverage_resource()},
            {"name": "order", "resource": record.order()},
            {"name": "questionnaire", "valueCanonical": standard},  # the form populated here
        )
        (bundle,) = package_conforms(output)
        packaged.append(tuple(e["resource"] for e in bundle["entry"]))
    filled_all = populate(
        [the_case(r, form) for r, (form, _) in zip(records, packaged, strict=True)]
    )
    procedures = {"43775": "sleeve_gastrectomy", "43644": "gastric_bypass", "43770": "lagb"}
    actions = {"covered": "A1", "not_covered": "A3", "needs_information": "A4"}
    for record, (_, draft), filled in zip(records, packaged, filled_all, strict=True):
        assert filled is not None
        response = {**draft, "status": "completed", "item": filled.get("item", [])}
        claim = record.claim_bundle()
        claim["entry"] = [
            e
            for e in claim["entry"]
            if e["resource"]["resourceType"] in ("Claim", "Patient", "Coverage")
        ]
        claim["entry"].append({"fullUrl": "urn:uuid:qr", "resource": response})
        answer = client.post("/fhir/Claim/$submit", json=claim)
        assert answer.status_code == 200, answer.text
        adjudication = claim_response(answer.json())["item"][0]["adjudication"][0]
        code = adjudication["extension"][0]["extension"][0]["valueCodeableConcept"]["coding"][0]
        facts = service_reads(decisions, "bariatric-surgery", record)
        facts |= {"procedure": procedures[record.code], "date_of_service": record.authored}
        expected = decisions.knowledge.evaluate({"policy": "bariatric-surgery", "facts": facts})
        assert code["code"] == actions[expected.verdict.value], (record, facts)


def test_the_questionnaire_states_when_its_rules_are_valid(
    client: TestClient, decisions: Decisions
) -> None:
    """DTR spec-53: effectivePeriod is the version's period (a retirement
    date is the first day it no longer holds)."""
    from datetime import timedelta

    dated = 0
    for name, policy in decisions.policies.items():
        questionnaire = client.get(f"/fhir/Questionnaire/{name}").json()
        version = policy.version
        period = questionnaire.get("effectivePeriod", {})
        assert period.get("start") == (version.effective.isoformat() if version.effective else None)
        retired = version.retired
        assert period.get("end") == ((retired - timedelta(days=1)).isoformat() if retired else None)
        dated += version.effective is not None
    assert dated >= 1


def test_a_coverage_and_order_without_ids_are_referred_to_all_the_same(
    client: TestClient,
) -> None:
    """No profile requires an id (conf-12): a Coverage without one is named
    by its identifier, an order without one by its type."""
    record = Record()
    coverage = {**record.coverage_resource(), "identifier": [{"system": "urn:x", "value": "M1"}]}
    del coverage["id"]
    order = record.order()
    del order["id"]
    output = package(
        client, {"name": "coverage", "resource": coverage}, {"name": "order", "resource": order}
    )
    (bundle,) = package_conforms(output)
    draft = bundle["entry"][1]["resource"]
    references = {e["url"].rsplit("/", 1)[-1]: e.get("valueReference") for e in draft["extension"]}
    assert references["qr-coverage"] == {
        "type": "Coverage",
        "identifier": {"system": "urn:x", "value": "M1"},
    }
    assert references["qr-context"]["type"] == "ServiceRequest"
