"""PAS as the Claim-submit operation defines it (PAS 2.2.1): a response Bundle
starting with the ClaimResponse, item by item, checked by the PAS profiles'
published FHIRPath invariants and their FSH rules, by fhir.resources and by
FHIR.js; on the IG's own example and the reference implementation's
requests (tests/fixtures/davinci, origins in its README)."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fhirpathpy
import pytest
from fastapi.testclient import TestClient
from fhirpathpy.models import models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.service.app import create_app
from policykb.service.pas import REVIEW_ACTION, REVIEW_ACTION_CODE
from policykb.service.settings import ServiceSettings
from tests.fhir_records import CPT, Record, questionnaire_response
from tests.sampling import examples
from tests.service.test_service import fhir_js, r4b

R4 = models["r4"]
DAVINCI = Path(__file__).parents[1] / "fixtures" / "davinci"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"

# The PAS invariants (HL7/davinci-pas input/fsh, commit 46be73e4), by their
# published FHIRPath, each with the elements it constrains in a response.
PAS_INVARIANTS = {
    # Bundle.fsh: PASResponseBundle obeys ClaimResponseFirst
    "ClaimResponseFirst": ("Bundle", "entry.first().resource is ClaimResponse"),
    # ClaimResponse.fsh: the item dates obey FullDateRule
    "FullDateRule": (
        "ClaimResponse.item.extension.value.ofType(date)",
        "$this.toString().length() = 10",
    ),
}
# The rules of the FSH profiles that bear on what the service writes
# (Bundle.fsh PASResponseBundle; ClaimResponse.fsh PASClaimResponseBase and
# PASClaimResponse; Terminology.fsh ClaimResponseOutcome), as FHIRPath on the
# response Bundle: the profiles checked offline from their source.
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
PROFILE_RULES = {
    "bundle identifier 1..1": "identifier.exists()",
    "bundle type = collection (exactly)": "type = 'collection'",
    "bundle timestamp 1..1": "timestamp.exists()",
    "entry.fullUrl 1..1, entry.resource 1..1": "entry.all(fullUrl.exists() and resource.exists())",
    "entry.search, request, response 0..0": "entry.search.empty() and entry.request.empty() "
    "and entry.response.empty()",
    "entry contains ClaimResponse 1..1": "entry.resource.ofType(ClaimResponse).count() = 1",
    "status = active": "entry[0].resource.status = 'active'",
    "use = preauthorization": "entry[0].resource.use = 'preauthorization'",
    "request 1..1": "entry[0].resource.request.exists()",
    "outcome from ClaimResponseOutcome (required)": "entry[0].resource.outcome.exists() and "
    "entry[0].resource.outcome.all($this = 'complete' or $this = 'error' or $this = 'partial')",
    "item.adjudication.category = adjudication#submitted": "entry[0].resource.item.adjudication"
    ".all(category.coding.where(system = 'http://terminology.hl7.org/CodeSystem/adjudication' "
    "and code = 'submitted').exists())",
    "item.extension[authorizedProvider] 1..*": "entry[0].resource.item.all(extension.where("
    f"url = '{PAS}extension-itemAuthorizedProvider').exists())",
    "authorizedProvider.providerType 1..1": "entry[0].resource.item.extension.where("
    f"url = '{PAS}extension-itemAuthorizedProvider').all(extension.where("
    f"url = '{PAS}extension-authorizedProviderType').count() = 1)",
    "reviewAction 0..1 per adjudication": "entry[0].resource.item.adjudication.all(extension.where("
    f"url = '{PAS}extension-reviewAction').count() <= 1)",
    "reviewActionCode from X12 306": "entry[0].resource.item.adjudication.extension.where("
    f"url = '{PAS}extension-reviewAction').extension.where(url = '{PAS}extension-reviewActionCode')"
    ".all(value.coding.system = 'https://codesystem.x12.org/005010/306')",
    "processNote.number 1..1": "entry[0].resource.processNote.all(number.exists())",
    "every noteNumber names a processNote": "entry[0].resource.item.noteNumber.all("
    "%resource.entry[0].resource.processNote.number contains $this)",
}


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings())) as test_client:
        yield test_client


def conforms(answer: dict[str, Any]) -> None:
    """The response Bundle meets PAS's invariants and FSH rules, and validates
    with fhir.resources (R4B) and FHIR.js."""
    for name, (context, expression) in PAS_INVARIANTS.items():
        if context == "Bundle":
            assert fhirpathpy.evaluate(answer, expression, model=R4) == [True], name
        else:
            path = context.removeprefix("ClaimResponse.")
            for node in fhirpathpy.evaluate(answer["entry"][0]["resource"], path, model=R4):
                assert fhirpathpy.evaluate(node, expression, model=R4) == [True], (name, node)
    for rule, expression in PROFILE_RULES.items():
        found = fhirpathpy.evaluate(answer, expression, {"resource": answer}, model=R4)
        assert found == [True], (rule, found)
    r4b(answer)
    (result,) = fhir_js([answer])
    assert result["valid"], result["messages"]


def items(answer: dict[str, Any]) -> list[tuple[int, str, str]]:
    """Each item's sequence, X12 306 action code and processNote text."""
    claim_response = answer["entry"][0]["resource"]
    notes = {note["number"]: note["text"] for note in claim_response["processNote"]}
    found = []
    for item in claim_response["item"]:
        (review,) = [e for e in item["adjudication"][0]["extension"] if e["url"] == REVIEW_ACTION]
        (code,) = [e for e in review["extension"] if e["url"] == REVIEW_ACTION_CODE]
        action = code["valueCodeableConcept"]["coding"][0]["code"]
        found.append((item["itemSequence"], action, notes[item["noteNumber"][0]]))
    return found


def submit_conforming(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    conforms(answer)
    return answer


ACTION = {"covered": "A1", "not_covered": "A3", "needs_information": "A4"}


# -- the response Bundle -----------------------------------------------------------


def test_the_answer_is_a_response_bundle_starting_with_the_claim_response(
    client: TestClient,
) -> None:
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    bundle = record.claim_bundle()
    bundle["identifier"] = {"system": "urn:example:trn", "value": "T1"}
    answer = submit_conforming(client, bundle)
    claim_response = answer["entry"][0]["resource"]
    assert claim_response["resourceType"] == "ClaimResponse"
    assert answer["identifier"] == {"system": "urn:example:trn", "value": "T1"}
    assert claim_response["request"] == {"reference": "Claim/claim-1"}
    assert claim_response["outcome"] == "complete"
    # the patient it names travels with it, under the request's fullUrl
    patient_entry = bundle["entry"][1]
    assert {"fullUrl": patient_entry["fullUrl"], "resource": patient_entry["resource"]} in answer[
        "entry"
    ]


def test_request_is_always_present(client: TestClient) -> None:
    """request is 1..1 since PAS 2.1: the Claim by id, else by its fullUrl,
    else a data-absent-reason."""
    bundle = Record(pregnant=False).claim_bundle()
    del bundle["entry"][0]["resource"]["id"]
    answer = submit_conforming(client, bundle)
    assert answer["entry"][0]["resource"]["request"] == {"reference": "urn:uuid:0"}
    del bundle["entry"][0]["fullUrl"]
    answer = client.post("/fhir/Claim/$submit", json=bundle).json()
    request = answer["entry"][0]["resource"]["request"]
    assert request["extension"][0]["url"].endswith("data-absent-reason")
    r4b(answer)


def test_two_items_with_their_own_questionnaire_responses(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """A bariatric item and a massage item, each with the QuestionnaireResponse
    of its own Questionnaire (which answers facts the other policy does not
    have): each is applied to its own item, and each item is decided as
    `evaluate` decides its facts."""
    record = Record(bmis=[("2026-05-01", 41.0)], diagnoses=["E11.9"])
    bundle = record.claim_bundle()
    claim = bundle["entry"][0]["resource"]
    claim["item"].append(
        {
            "sequence": 2,
            "productOrService": {"coding": [{"system": CPT, "code": "97124"}]},
            "servicedDate": record.authored,
        }
    )
    base = "http://payer.example/fhir/Questionnaire"
    bariatric = questionnaire_response({"pregnant": False}, f"{base}/bariatric-surgery|1")
    massage = questionnaire_response(
        {"type_of_service": "massage", "medicare_member": False}, f"{base}/massage-therapy"
    )
    bundle["entry"] += [{"fullUrl": "urn:uuid:qr-b", "resource": bariatric}]
    bundle["entry"] += [{"fullUrl": "urn:uuid:qr-m", "resource": massage}]
    answer = submit_conforming(client, bundle)
    (first, second) = items(answer)
    expected_first = kb.evaluate(
        {"policy": "bariatric-surgery", "facts": {**record.facts(), "pregnant": False}}
    )
    expected_second = kb.evaluate(
        {
            "policy": "massage-therapy",
            "facts": {"cpt_code": "97124", "type_of_service": "massage", "medicare_member": False},
        }
    )
    assert first[1] == ACTION[expected_first.verdict.value]
    assert second[1] == ACTION[expected_second.verdict.value]
    assert answer["entry"][0]["resource"]["outcome"] == "complete"


def test_each_items_age_is_counted_to_its_own_date_of_service(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """Two sleeve gastrectomies, the day before the 21st birthday and on it:
    the policy counts age on the date of service, so the first is refused
    (20: (6)(a)(ii) allows only LAGB) and the second covered, each as
    `evaluate` decides the facts of its own day (before, the claim's first
    date counted for both)."""
    record = Record(
        birth_date="2005-06-10", bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"]
    )
    bundle = record.claim_bundle()
    claim = bundle["entry"][0]["resource"]
    first = claim["item"][0]
    claim["item"] = [
        first | {"servicedDate": "2026-06-09"},
        first | {"sequence": 2, "servicedDate": "2026-06-10"},
    ]
    answer = submit_conforming(client, bundle)
    actions = [action for _, action, _ in items(answer)]
    expected = [
        kb.evaluate(
            {
                "policy": "bariatric-surgery",
                "facts": {**record.facts(), "age": age, "date_of_service": day},
            }
        ).verdict.value
        for age, day in ((20, "2026-06-09"), (21, "2026-06-10"))
    ]
    assert expected == ["not_covered", "covered"]
    assert actions == [ACTION[verdict] for verdict in expected]


def test_the_claims_diagnosis_codes_are_the_patients_diagnoses(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """X12 carries diagnoses in Claim.diagnosis: an ICD-10-CM code there
    decides as a Condition with that code does."""
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False)
    with_conditions = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    bundle = record.claim_bundle()
    bundle["entry"][0]["resource"]["diagnosis"] = [
        {
            "sequence": 1,
            "diagnosisCodeableConcept": {"coding": [{"system": ICD10, "code": "E11.9"}]},
        }
    ]
    by_claim = items(submit_conforming(client, bundle))
    by_condition = items(submit_conforming(client, with_conditions.claim_bundle()))
    expected = kb.evaluate({"policy": "bariatric-surgery", "facts": with_conditions.facts()})
    assert by_claim[0][1] == by_condition[0][1] == ACTION[expected.verdict.value]
    without = items(submit_conforming(client, record.claim_bundle()))
    assert without[0][1] == "A4"  # no diagnosis at all: asked for


def test_a_response_to_another_payers_questionnaire_is_noted_not_read(
    client: TestClient,
) -> None:
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    bundle = record.claim_bundle()
    foreign = questionnaire_response({"1": "yes"}, "http://other.example/Questionnaire/home-o2")
    bundle["entry"].append({"fullUrl": "urn:uuid:qr-x", "resource": foreign})
    answer = submit_conforming(client, bundle)
    notes = [n["text"] for n in answer["entry"][0]["resource"]["processNote"]]
    assert any("home-o2" in note and "not read" in note for note in notes)
    assert items(answer)[0][1] == items(submit_conforming(client, record.claim_bundle()))[0][1]


# -- each item on its own, against evaluate ------------------------------------------

CODES = ["43775", "43644", "97124", "99999", "E0250"]


@settings(max_examples=examples(12), deadline=None, suppress_health_check=list(HealthCheck))
@given(
    codes=st.lists(st.sampled_from(CODES), min_size=1, max_size=4),
    pregnant=st.sampled_from([None, True, False]),
    answered=st.sampled_from([None, "E11.9", "I10"]),
)
def test_each_item_is_answered_as_evaluate_decides_it(
    client: TestClient,
    kb: KnowledgeBase,
    codes: list[str],
    pregnant: bool | None,
    answered: str | None,
) -> None:
    """Items of any codes, routed or not, with answers for the bariatric
    Questionnaire: a routed item gets evaluate's verdict on its facts; an
    unrouted one is pended naming its code; outcome is partial exactly when
    some item was not decided."""
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=pregnant)
    answers = {"diagnoses": [answered]} if answered else {}
    bundle = record.claim_bundle()
    if answers:
        bundle["entry"].append(
            {
                "fullUrl": "urn:uuid:qr",
                "resource": questionnaire_response(
                    answers, "http://x/fhir/Questionnaire/bariatric-surgery"
                ),
            }
        )
    claim = bundle["entry"][0]["resource"]
    template = claim["item"][0]
    claim["item"] = [
        {
            **copy.deepcopy(template),
            "sequence": i + 1,
            "productOrService": {"coding": [{"system": CPT, "code": c}]},
        }
        for i, c in enumerate(codes)
    ]
    answer = submit_conforming(client, bundle)
    procedures = {"43775": "sleeve_gastrectomy", "43644": "gastric_bypass"}
    found = items(answer)
    assert [sequence for sequence, _, _ in found] == list(range(1, len(codes) + 1))
    for (_, action, note), code in zip(found, codes, strict=True):
        if code in procedures:
            facts = {**Record(code=code, bmis=record.bmis, pregnant=pregnant).facts(), **answers}
            expected = kb.evaluate({"policy": "bariatric-surgery", "facts": facts})
            assert action == ACTION[expected.verdict.value], (code, facts, note)
        elif code == "97124":
            expected = kb.evaluate({"policy": "massage-therapy", "facts": {"cpt_code": "97124"}})
            assert action == ACTION[expected.verdict.value]
        else:
            assert action == "A4" and code in note and "no policy decides" in note
    undecided = any(code not in ("43775", "43644", "97124") for code in codes)
    assert answer["entry"][0]["resource"]["outcome"] == ("partial" if undecided else "complete")


# -- the IG's example and the reference implementation's requests -------------------


def load(name: str) -> dict[str, Any]:
    return json.loads((DAVINCI / name).read_text())  # type: ignore[no-any-return]


def test_the_pas_igs_referral_request_is_answered_item_by_item(client: TestClient) -> None:
    """PAS's ReferralAuthorizationBundleExample (a consultation, X12 service
    type 3, that no policy here decides): answered 200 with a conforming
    response Bundle, the item pended naming its code, the Claim referred to
    by id, the request's identifier echoed, the G89.4 diagnosis read."""
    bundle = load("pas-ReferralAuthorizationBundleExample.json")
    answer = submit_conforming(client, bundle)
    ((sequence, action, note),) = items(answer)
    assert (sequence, action) == (1, "A4") and "no policy decides" in note
    claim_response = answer["entry"][0]["resource"]
    assert claim_response["request"] == {"reference": "Claim/ReferralAuthorizationExample"}
    assert claim_response["outcome"] == "partial"
    assert answer["identifier"] == bundle["identifier"]
    referred = {e["fullUrl"] for e in answer["entry"][1:]}
    assert referred == {
        "http://example.org/fhir/Patient/SubscriberExample",
        "http://example.org/fhir/Organization/InsurerExample",
        "http://example.org/fhir/Organization/UMOExample",
    }


def test_the_pas_igs_referral_request_adapted_to_a_routed_code(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """The same request with its item's code set to 43775 (sleeve
    gastrectomy): decided, the facts it lacks asked for in the reason."""
    bundle = load("pas-ReferralAuthorizationBundleExample.json")
    item = bundle["entry"][0]["resource"]["item"][0]
    item["productOrService"] = {"coding": [{"system": CPT, "code": "43775"}]}
    answer = submit_conforming(client, bundle)
    ((_, action, note),) = items(answer)
    expected = kb.evaluate(
        {
            "policy": "bariatric-surgery",
            "facts": {"procedure": "sleeve_gastrectomy", "diagnoses": ["G89.4"]},
        }
    )
    assert action == ACTION[expected.verdict.value]
    for missing in expected.missing:
        assert missing.question in note
    assert answer["entry"][0]["resource"]["outcome"] == "complete"


def test_the_reference_implementations_two_item_request(client: TestClient) -> None:
    """prior-auth's bundle-items.json: two items (G0154, B4184, coded under
    CPT's URI) no policy here decides, and a QuestionnaireResponse naming no
    Questionnaire: both items pended, each naming its code."""
    answer = submit_conforming(client, load("prior-auth-bundle-items.json"))
    found = items(answer)
    assert [(s, a) for s, a, _ in found] == [(1, "A4"), (2, "A4")]
    assert "G0154" in found[0][2] and "B4184" in found[1][2]
    assert answer["entry"][0]["resource"]["outcome"] == "partial"


def test_the_reference_implementations_claim_without_items_is_a_422(
    client: TestClient,
) -> None:
    response = client.post("/fhir/Claim/$submit", json=load("prior-auth-bundle-prior-auth.json"))
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == ["Claim.item"]


def test_the_invariants_catch_a_broken_response(client: TestClient) -> None:
    """The checks are not rubber stamps: a Bundle with the Claim first, an
    outcome of queued, or a missing request each fails."""
    answer = submit_conforming(client, Record(pregnant=False).claim_bundle())
    for breaking in (
        lambda a: a["entry"].reverse(),
        lambda a: a["entry"][0]["resource"].update(outcome="queued"),
        lambda a: a["entry"][0]["resource"].pop("request"),
        lambda a: a.pop("identifier"),
    ):
        broken = copy.deepcopy(answer)
        broken["entry"].append({"fullUrl": "urn:uuid:c", "resource": {"resourceType": "Claim"}})
        breaking(broken)
        with pytest.raises(AssertionError):
            conforms(broken)


@pytest.mark.parametrize(
    ("answers", "named"),
    [({"colour": "red"}, "'colour'"), ({"age": "old"}, "age"), ({"bmi": "high"}, "bmi")],
)
def test_answers_that_are_not_the_policys_pend_the_item_naming_them(
    client: TestClient, answers: dict[str, Any], named: str
) -> None:
    """An answer to no fact of the item's policy, or of the wrong type, was a
    422 for the whole request; now that item is pended (A4), its note names
    the answer, and the outcome is partial."""
    bundle = Record(bmis=[("2026-05-01", 41.0)], pregnant=False).claim_bundle(answers)
    answer = submit_conforming(client, bundle)
    ((_, action, note),) = items(answer)
    assert action == "A4" and "Not decided" in note and named in note
    assert answer["entry"][0]["resource"]["outcome"] == "partial"
