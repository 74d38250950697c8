"""DTR spec-33 and spec-41: what an adaptive form concludes.

Each walk answers what `$next-question` asks from a complete case drawn so
that the draws reach covered and not covered, for a policy stating that
prior authorization is required (bariatric-surgery) and for policies that
state nothing of it (colorectal-cancer-screening, bariatric-surgery-medicare).
Oracles, none of them service/dtr_determination.py:
- the bridge's `evaluate` on the answers given: the verdict the
  coverage-information states, and whether prior authorization is met;
- the policy's own statement (`policy(prior_authorization, ...)`);
- ext-coverage-information's published invariants (crd-ci-q1..q9) and its
  differential (tests/crd_profile.py), fhir.resources and FHIR.js;
- the audit log: the identifier issued names the entry that decided it;
- spec-43: the orders a CRD call made before the walk was answered for
  (the hook log), against orders and patients it never saw.

The DTR IG publishes no example of a coverage-information on a
QuestionnaireResponse nor of spec-41's question, so the IG's own material
used is the extension's definition and invariants (CRD 2.2.1).
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.result import Verdict
from policykb.service.app import create_app
from policykb.service.dtr_determination import PA_QUESTION, YES_NO
from policykb.service.settings import ServiceSettings
from tests import crd_profile
from tests.crd_ig import FHIRPATH_OPTIONS, crd_invariants
from tests.fhir_records import Record
from tests.sampling import knob
from tests.service.test_dtr_adaptive import asked, form_items, next_question, start, truth_of
from tests.service.test_service import fhir_js, r4b

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
COVERAGE_INFORMATION = (
    "http://hl7.org/fhir/us/davinci-crd/StructureDefinition/ext-coverage-information"
)
COVERAGE = {"reference": "Coverage/cov1"}
PATIENT = "pat-1"
"""The patient of tests.fhir_records.Record's CRD calls and of the responses."""
ORDER = "sr1"
"""The order CRD is called for before the walks (`crd_called_for`)."""
EHR = "https://ehr.example/fhir"
ORDER_IDENTIFIER = {"system": "urn:example:ehr-orders", "value": "A-17"}
WITH_PA = {
    "url": f"{DTR}/intendedUse",
    "valueCodeableConcept": {
        "coding": [
            {
                "system": "http://hl7.org/fhir/us/davinci-crd/CodeSystem/coverage-information-codes",
                "code": "withpa",
            }
        ]
    },
}


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


def settings_for(audit_path: Path) -> ServiceSettings:
    return ServiceSettings(
        audit=str(audit_path),
        audit_sync=False,
        hook_log=f"{audit_path}.hooks.sqlite",
        ehr_timeout=0.0,
    )


def crd_called_for(client: TestClient, order: str = ORDER, patient: str = PATIENT) -> None:
    """An order-sign call for `order` (bariatric surgery, an identifier, the
    EHR's fhirServer named) about `patient`, answered with coverage-information."""
    record = Record(
        order_id=order, bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"]
    )
    drafted = record.order() | {"identifier": [ORDER_IDENTIFIER]}
    body = record.hook(orders=[drafted]) | {"fhirServer": EHR}
    body["context"]["patientId"] = patient
    answer = client.post("/cds-services/policykb-order-sign", json=body)
    assert answer.status_code == 200, answer.text
    (action,) = answer.json()["systemActions"]
    assert action["resource"]["id"] == order
    assert action["resource"]["extension"][-1]["url"] == COVERAGE_INFORMATION


@pytest.fixture(scope="module")
def client(audit_path: Path) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(audit_path))) as test_client:
        crd_called_for(test_client)
        yield test_client


def begun(client: TestClient, name: str, coverages: int = 1) -> dict[str, Any]:
    """A first response as the package gives it: its Coverage(s) and intended use."""
    response = start(client, name) | {"subject": {"reference": f"Patient/{PATIENT}"}}
    response["extension"] = [
        {"url": f"{DTR}/qr-coverage", "valueReference": {"reference": f"Coverage/cov{n + 1}"}}
        for n in range(coverages)
    ] + [
        {"url": f"{DTR}/qr-context", "valueReference": {"reference": f"ServiceRequest/{ORDER}"}},
        WITH_PA,
    ]
    return response


def walk(
    client: TestClient, name: str, truth: Mapping[str, object], response: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, object]]:
    """Answer what each call asks from `truth` until nothing new is asked:
    the last response and the answers given."""
    policy = client.app.state.decisions.knowledge.policy(name)  # type: ignore[attr-defined]
    given: dict[str, object] = {}
    for _ in range(len(policy.facts) + 1):
        response = next_question(client, response)
        questions = asked(response) | (
            {item["linkId"] for item in response["contained"][0]["item"]} & set(policy.histories)
        )
        new = questions - set(given)
        if not new:
            break
        given.update({fact: truth[fact] for fact in new})
        response["item"] = form_items(policy, given)
    return response, given


def informations(response: Mapping[str, Any]) -> list[dict[str, list[Any]]]:
    found = []
    for extension in response.get("extension", []):
        if extension["url"] == COVERAGE_INFORMATION:
            parts: dict[str, list[Any]] = {}
            for part in extension["extension"]:
                value = next(v for k, v in part.items() if k.startswith("value"))
                parts.setdefault(part["url"], []).append(value)
            found.append(parts)
    return found


SINGLETON = (
    "extension.where(url = 'pa-needed' and "
    "(value = 'satisfied' or value = 'noauth' or value = 'not-covered'))"
)


def invariants_hold(extension: dict[str, Any]) -> dict[str, list[Any]]:
    """crd-ci-q1..q9 as published. crd-ci-q4 uses a `where(...)` as a
    boolean: FHIRPath's singleton evaluation of collections makes one item
    true, which fhirpathpy refuses ("Expected boolean"), so for it the same
    test is run with `.exists()`, which means the same for zero or one item."""
    import fhirpathpy
    from fhirpathpy.models import models

    results = {}
    for key, expression in crd_invariants().items():
        if key == "crd-ci-q4":
            assert SINGLETON in expression
            expression = expression.replace(SINGLETON, f"{SINGLETON}.exists()")
        results[key] = fhirpathpy.evaluate(
            extension, expression, model=models["r4"], options=FHIRPATH_OPTIONS
        )
    return results


def conforms(response: dict[str, Any]) -> None:
    for extension in response.get("extension", []):
        if extension["url"] == COVERAGE_INFORMATION:
            results = invariants_hold(extension)
            assert all(r == [True] for r in results.values()), results
            assert crd_profile.problems(extension) == []
    r4b(response)


def answer_pa(response: dict[str, Any], code: str) -> dict[str, Any]:
    answered = dict(response)
    answered["item"] = [
        *response.get("item", []),
        {"linkId": PA_QUESTION, "answer": [{"valueCoding": {"system": YES_NO, "code": code}}]},
    ]
    return answered


def drawn_cases(
    client: TestClient, name: str, per_verdict: int
) -> list[tuple[dict[str, object], Verdict]]:
    """Complete cases of the policy, `per_verdict` covered and as many not
    covered (as far as 400 draws find them)."""
    knowledge = client.app.state.decisions.knowledge  # type: ignore[attr-defined]
    policy = knowledge.policy(name)
    draw = random.Random(f"determination {name}")
    found: dict[Verdict, list[dict[str, object]]] = {Verdict.COVERED: [], Verdict.NOT_COVERED: []}
    for _ in range(400):
        truth = truth_of(policy, draw)
        try:
            verdict = knowledge.evaluate(knowledge.case({"policy": name, "facts": truth})).verdict
        except CaseError:
            continue
        if verdict in found and len(found[verdict]) < per_verdict:
            found[verdict].append(truth)
        if all(len(v) == per_verdict for v in found.values()):
            break
    assert all(found.values()), f"{name}: the draws reach both verdicts"
    return [(truth, verdict) for verdict, truths in found.items() for truth in truths]


def entries(audit_path: Path) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in audit_path.read_bytes().splitlines()]


@pytest.mark.parametrize(
    "name", ["bariatric-surgery", "colorectal-cancer-screening", "bariatric-surgery-medicare"]
)
def test_a_completed_form_carries_the_coverage_information_of_its_answers(
    client: TestClient, audit_path: Path, name: str
) -> None:
    """spec-33 and spec-41 over walks to the end: a response still asking
    clinical questions carries no coverage-information; a complete one
    carries one for its Coverage stating the bridge's verdict on the answers
    and the policy's prior-authorization statement. Covered under a policy
    requiring prior authorization, the last item is the identifier question,
    the response stays in progress until it is answered, Y gives `satisfied`
    with an identifier the audit log decided, N `auth-needed`."""
    knowledge = client.app.state.decisions.knowledge  # type: ignore[attr-defined]
    policy = knowledge.policy(name)
    stated = policy.info.get("prior_authorization", ("",))[0]
    requires = stated == "required"
    for truth, verdict in drawn_cases(client, name, knob("DTR_DETERMINATION_CASES", 6, 1)):
        first = next_question(client, begun(client, name))
        if asked(first):
            assert informations(first) == [] and first["status"] == "in-progress"
        last, given = walk(client, name, truth, begun(client, name))
        assert knowledge.evaluate(knowledge.case({"policy": name, "facts": given})).verdict is (
            verdict
        )
        (form,) = last["contained"]
        offered = [item for item in form["item"] if item["linkId"] == PA_QUESTION]
        conforms(last)
        if verdict is Verdict.COVERED and requires:
            assert form["item"][-1]["linkId"] == PA_QUESTION and form["item"][-2]["type"] == (
                "display"
            )
            assert last["status"] == "in-progress" and informations(last) == []
            (question,) = offered
            assert {o["valueCoding"]["code"] for o in question["answerOption"]} == {"Y", "N"}
            declined = next_question(client, answer_pa(last, "N"))
            (info,) = informations(declined)
            assert declined["status"] == "completed"
            assert info["covered"] == ["covered"] and info["pa-needed"] == ["auth-needed"]
            assert "satisfied-pa-id" not in info
            assert declined["extension"][-2] == WITH_PA
            issued = next_question(client, answer_pa(last, "Y"))
            conforms(issued)
            (info,) = informations(issued)
            assert issued["status"] == "completed"
            assert info["pa-needed"] == ["satisfied"]
            (identifier,) = info["satisfied-pa-id"]
            (entry,) = [e for e in entries(audit_path) if e["coverage_assertion_id"] == identifier]
            assert entry["channel"] == "dtr" and entry["verdict"] == "covered"
            assert entry["policy"] == name
            uses = [e for e in issued["extension"] if e["url"] == f"{DTR}/intendedUse"]
            assert [u["valueCodeableConcept"]["coding"][0]["code"] for u in uses] == ["withorder"]
            again = next_question(client, issued)
            assert informations(again)[0]["satisfied-pa-id"] != [identifier]  # spec-45
            assert len(informations(again)) == 1
            fhir = fhir_js([issued])
            assert all(result["valid"] for result in fhir), fhir
            continue
        assert offered == []
        assert last["status"] == "completed"
        (info,) = informations(last)
        assert info["coverage"] == [COVERAGE]
        assert info["covered"] == [verdict.value.replace("_", "-")]
        if verdict is Verdict.COVERED:
            assert info["pa-needed"] == ["no-auth" if stated == "not required" else "conditional"]
        else:
            assert "pa-needed" not in info  # crd-ci-q2
        assert "satisfied-pa-id" not in info
        fhir = fhir_js([last])
        assert all(result["valid"] for result in fhir), fhir


def covered_case(client: TestClient, name: str) -> dict[str, object]:
    ((truth, _),) = [c for c in drawn_cases(client, name, 1) if c[1] is Verdict.COVERED]
    return truth


def test_one_coverage_information_per_coverage_and_none_without_one(client: TestClient) -> None:
    """Two qr-coverage: two coverage-informations with distinct ids when an
    identifier is issued; no qr-coverage: nothing to attach it to, so no
    coverage-information and no identifier question; no qr-context: no
    order CRD was called for (spec-43), so none either."""
    name = "bariatric-surgery"
    truth = covered_case(client, name)
    last, _ = walk(client, name, truth, begun(client, name, coverages=2))
    issued = next_question(client, answer_pa(last, "Y"))
    found = informations(issued)
    assert [i["coverage"] for i in found] == [
        [{"reference": "Coverage/cov1"}],
        [{"reference": "Coverage/cov2"}],
    ]
    ids = [i["satisfied-pa-id"][0] for i in found]
    assert len(set(ids)) == 2
    orderless = begun(client, name)
    orderless["extension"] = [e for e in orderless["extension"] if "qr-context" not in e["url"]]
    for first in (start(client, name), orderless):
        bare, _ = walk(client, name, truth, first)
        assert bare["status"] == "completed" and informations(bare) == []
        assert all(item["linkId"] != PA_QUESTION for item in bare["contained"][0]["item"])


def test_the_identifier_answer_is_checked_and_dropped_once_it_no_longer_applies(
    client: TestClient,
) -> None:
    """An answer to the identifier question that is not Y or N is a 400
    naming the item (spec-147); an answer given while clinical questions are
    open again (an answer was removed) is dropped with the question."""
    name = "bariatric-surgery"
    truth = covered_case(client, name)
    last, _ = walk(client, name, truth, begun(client, name))
    wrong = answer_pa(last, "maybe")
    reply = client.post(
        "/fhir/Questionnaire/$next-question",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "questionnaire-response", "resource": wrong}],
        },
    )
    assert reply.status_code == 400
    assert PA_QUESTION in reply.json()["issue"][0]["diagnostics"]
    reopened = answer_pa(last, "Y")
    reopened["item"] = reopened["item"][-1:]  # the clinical answers taken back
    again = next_question(client, reopened)
    assert again["status"] == "in-progress" and informations(again) == []
    assert all(item["linkId"] != PA_QUESTION for item in again.get("item", []))
    assert all(item["linkId"] != PA_QUESTION for item in again["contained"][0]["item"])


def test_pas_reads_the_completed_adaptive_response(client: TestClient) -> None:
    """A completed adaptive response sent with a PAS request (its answers in
    the contained form's items, `questionnaire` '#id', the identifier
    question answered) decides the Claim's item as the walk's answers do:
    A1 for a covered case, A3 for one not covered; one whose contained form
    derives from no Questionnaire of the service is not read."""
    from tests.service.test_service import INCOMPLETE, review_code, submit

    name = "bariatric-surgery"
    for truth, verdict in drawn_cases(client, name, 1):
        last, _ = walk(client, name, truth, begun(client, name))
        if verdict is Verdict.COVERED:
            last = next_question(client, answer_pa(last, "Y"))
        assert last["status"] == "completed"
        bundle = INCOMPLETE.claim_bundle()
        bundle["entry"].append({"fullUrl": "urn:uuid:qr", "resource": last})
        expected = "A1" if verdict is Verdict.COVERED else "A3"
        assert review_code(submit(client, bundle)) == expected
    foreign = dict(last)
    foreign["contained"] = [last["contained"][0] | {"derivedFrom": ["http://other.example/Q"]}]
    bundle = INCOMPLETE.claim_bundle()
    bundle["entry"].append({"fullUrl": "urn:uuid:qr", "resource": foreign})
    answer = client.post("/fhir/Claim/$submit", json=bundle).json()
    notes = [n["text"] for n in answer["entry"][0]["resource"].get("processNote", [])]
    assert any("not a Questionnaire of this service" in note for note in notes), notes


def naming(response: dict[str, Any], *orders: dict[str, Any]) -> dict[str, Any]:
    """The response with its qr-context naming `orders` (References)."""
    kept = [e for e in response["extension"] if e["url"] != f"{DTR}/qr-context"]
    named = [{"url": f"{DTR}/qr-context", "valueReference": order} for order in orders]
    return response | {"extension": named + kept}


CALLED_FOR = [
    {"reference": f"ServiceRequest/{ORDER}"},
    {"reference": f"ServiceRequest/{ORDER}/_history/3"},
    {"reference": f"{EHR}/ServiceRequest/{ORDER}"},
    {"reference": f"{EHR}/ServiceRequest/{ORDER}/_history/3"},
    {"type": "ServiceRequest", "identifier": ORDER_IDENTIFIER},
]
"""References naming the order CRD was called for: relative, versioned,
absolute on the fhirServer the call named, by identifier."""
NEVER_CALLED_FOR = [
    {"reference": "ServiceRequest/never-signed"},
    {"reference": f"https://other-ehr.example/fhir/ServiceRequest/{ORDER}"},
    {"reference": f"{EHR}/MedicationRequest/{ORDER}"},
    {"type": "ServiceRequest", "identifier": ORDER_IDENTIFIER | {"value": "A-18"}},
    {"type": "ServiceRequest", "identifier": {"value": ORDER_IDENTIFIER["value"]}},
    {"display": "an order named by no reference"},
]


def answered(client: TestClient, name: str, truth: Mapping[str, object]) -> list[dict[str, Any]]:
    """The items of a walk to the end from a begun response: every answer."""
    last, _ = walk(client, name, truth, begun(client, name))
    return [item for item in last["item"] if item["linkId"] != PA_QUESTION]


def concluded_with_information(
    client: TestClient, items: list[dict[str, Any]], response: dict[str, Any]
) -> bool:
    """The response with every answer (`items`, a walk's): True if it
    concludes with coverage-information (covered under a PA policy: the
    identifier question, answered N); either way it completes, and one
    without it is never asked that question."""
    last = next_question(client, response | {"item": items})
    asks_pa = any(item["linkId"] == PA_QUESTION for item in last["contained"][0]["item"])
    if asks_pa:
        last = next_question(client, answer_pa(last, "N"))
    assert last["status"] == "completed"
    conforms(last)
    found = informations(last)
    assert len(found) == (1 if found else 0)
    assert asks_pa <= bool(found)
    return bool(found)


def test_coverage_information_only_for_an_order_crd_was_called_for(client: TestClient) -> None:
    """spec-43: the order CRD was called for (module fixture), however the
    response names it, gets coverage-information; an order CRD never saw,
    the same order of another patient, or a response naming two orders one
    of which CRD never saw gets none and no identifier question, and still
    completes (nothing valid is refused)."""
    for name in ("bariatric-surgery", "colorectal-cancer-screening"):
        items = answered(client, name, covered_case(client, name))
        first = begun(client, name)
        for order in CALLED_FOR:
            assert concluded_with_information(client, items, naming(first, order)), order
        contained = begun(client, name)
        contained["contained"].append(
            Record(order_id="local").order() | {"identifier": [ORDER_IDENTIFIER]}
        )
        assert concluded_with_information(client, items, naming(contained, {"reference": "#local"}))
        for order in NEVER_CALLED_FOR:
            assert not concluded_with_information(client, items, naming(first, order)), order
        two = naming(first, CALLED_FOR[0], NEVER_CALLED_FOR[0])
        assert not concluded_with_information(client, items, two)
        other = first | {"subject": {"reference": "Patient/someone-else"}}
        assert not concluded_with_information(client, items, other)
    crd_called_for(client, order="sr-other", patient="someone-else")
    elsewhere = naming(first, {"reference": "ServiceRequest/sr-other"})
    assert not concluded_with_information(client, items, elsewhere)
    assert concluded_with_information(
        client, items, elsewhere | {"subject": {"reference": "Patient/someone-else"}}
    )


def test_the_orders_crd_was_called_for_outlive_a_restart(
    client: TestClient, tmp_path: Path
) -> None:
    """The hook log file keeps them: a service started again on it still
    gives the order CRD was called for its coverage-information, and still
    not another."""
    audit_path = tmp_path / "audit.jsonl"
    name = "colorectal-cancer-screening"
    knowledge = client.app.state.decisions.knowledge  # type: ignore[attr-defined]
    with TestClient(create_app(settings_for(audit_path), knowledge)) as before:
        crd_called_for(before)
        items = answered(before, name, covered_case(before, name))
        assert concluded_with_information(before, items, begun(before, name))
    with TestClient(create_app(settings_for(audit_path), knowledge)) as after:
        assert concluded_with_information(after, items, begun(after, name))
        unseen = naming(begun(after, name), NEVER_CALLED_FOR[0])
        assert not concluded_with_information(after, items, unseen)
