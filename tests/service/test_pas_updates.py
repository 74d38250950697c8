"""PAS Claim updates (PAS 2.2.1 spec-65 to spec-72) and $inquire (spec-44 to
spec-48, spec-53): each $submit answer is kept; an update naming the earlier
Claim in `related.claim` is decided against it; an inquiry finds the current
answer by the patient's and provider's identifiers. On the IG's Homecare
request, its update and its inquiry example (tests/fixtures/davinci, origins
in its README), and on generated stores checked against a brute-force match."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.service import pas_inquiry
from policykb.service.app import create_app
from policykb.service.pas_keys import AUTHORIZATION_NUMBER
from policykb.service.pas_store import AuthorizationStore, Keys
from policykb.service.settings import ServiceSettings
from tests.fhir_records import CPT, questionnaire_response
from tests.sampling import examples
from tests.service.test_pas import conforms, items
from tests.service.test_service import fhir_js, r4b

DAVINCI = Path(__file__).parents[1] / "fixtures" / "davinci"
PAS = "http://hl7.org/fhir/us/davinci-pas/StructureDefinition/"
MASSAGE = {"coding": [{"system": CPT, "code": "97124"}]}
MASSAGE_ANSWERS = {
    "type_of_service": "massage",
    "medicare_member": True,
    "delivered_by_physical_therapist": True,
    "part_of_rehab_plan_of_care": True,
}
ACTION = {"covered": "A1", "not_covered": "A3", "needs_information": "A4"}


def load(name: str) -> dict[str, Any]:
    return json.loads((DAVINCI / name).read_text())  # type: ignore[no-any-return]


@pytest.fixture
def client(kb: KnowledgeBase) -> Iterator[TestClient]:
    """A service of its own per test: its PAS store starts empty."""
    with TestClient(create_app(ServiceSettings(), knowledge=kb)) as test_client:
        yield test_client


def submit(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    conforms(answer)
    return answer


def inquire(client: TestClient, bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The inquiry's response Bundles, each checked as its profile says."""
    response = client.post("/fhir/Claim/$inquire", json=bundle)
    assert response.status_code == 200, response.text
    parameters: dict[str, Any] = response.json()
    assert parameters["resourceType"] == "Parameters"
    r4b(parameters)
    found = []
    for parameter in parameters.get("parameter", []):
        assert parameter["name"] == "return"
        found.append(parameter["resource"])
    for bundle_ in found:
        inquiry_response_conforms(bundle_)
    if found:
        results = fhir_js([parameters])
        assert all(r["valid"] for r in results), results
    return found


def inquiry_response_conforms(bundle: dict[str, Any]) -> None:
    """PAS Inquiry Response Bundle: a collection whose first entry is a Claim
    Inquiry Response, every entry with a fullUrl; the ClaimResponse refers to
    its Claim, which is in the Bundle (spec-44, spec-45)."""
    assert bundle["meta"]["profile"] == [f"{PAS}profile-pas-inquiry-response-bundle"]
    assert bundle["type"] == "collection" and bundle["identifier"] and bundle["timestamp"]
    assert all(e.get("fullUrl") and e.get("resource") for e in bundle["entry"])
    answer = bundle["entry"][0]["resource"]
    assert answer["resourceType"] == "ClaimResponse"
    assert answer["meta"]["profile"] == [f"{PAS}profile-claiminquiryresponse"]
    reference = answer["request"]["reference"]
    claims = [
        e
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "Claim"
        and (
            e["fullUrl"] == reference
            or e["fullUrl"].endswith(f"/{reference}")
            or f"Claim/{e['resource'].get('id')}" == reference
        )
    ]
    assert len(claims) == 1, reference


def homecare(first: dict[str, Any] | None = None) -> dict[str, Any]:
    """The IG's Homecare request, its first item optionally replaced."""
    bundle = load("pas-HomecareAuthorizationBundleExample.json")
    if first is not None:
        bundle["entry"][0]["resource"]["item"][0].update(first)
    return bundle


def homecare_update(first: dict[str, Any] | None = None) -> dict[str, Any]:
    """The IG's Homecare update, its first item (and the earlier Claim's, which
    the Bundle carries) optionally replaced."""
    bundle = load("pas-HomecareAuthorizationUpdateBundleExample.json")
    if first is not None:
        bundle["entry"][0]["resource"]["item"][0].update(first)
        bundle["entry"][-1]["resource"]["item"][0].update(first)
    return bundle


def with_answers(bundle: dict[str, Any], answers: dict[str, Any]) -> dict[str, Any]:
    response = questionnaire_response(answers, "http://payer.example/Questionnaire/massage-therapy")
    bundle["entry"].append({"fullUrl": "urn:uuid:qr-massage", "resource": response})
    return bundle


# -- $inquire ---------------------------------------------------------------------


def test_the_igs_inquiry_finds_nothing_before_a_request(client: TestClient) -> None:
    """No match: a Parameters with no `return` (the operation's return is 0..*)."""
    assert inquire(client, load("pas-PASClaimInquiryBundleExample.json")) == []


def test_the_igs_inquiry_finds_the_igs_homecare_request(client: TestClient) -> None:
    """The inquiry example (patient 12345678901, requester NPI 8189991234,
    G0154 and B4184) finds the Homecare request (both items pended here):
    one response Bundle, its ClaimResponse the kept answer, its Claim there."""
    answer = submit(client, homecare())
    kept = answer["entry"][0]["resource"]
    (found,) = inquire(client, load("pas-PASClaimInquiryBundleExample.json"))
    response = found["entry"][0]["resource"]
    assert response["preAuthRef"] == kept["preAuthRef"]
    assert response["item"] == kept["item"]
    assert response["request"] == {"reference": "Claim/HomecareAuthorizationExample"}


def test_an_inquiry_needs_the_same_patient_and_provider(client: TestClient) -> None:
    """spec-53: the patient's member id AND the provider's NPI must match."""
    submit(client, homecare())
    other_patient = load("pas-PASClaimInquiryBundleExample.json")
    other_patient["entry"][4]["resource"]["identifier"][0]["value"] = "99999999999"
    assert inquire(client, other_patient) == []
    other_provider = load("pas-PASClaimInquiryBundleExample.json")
    other_provider["entry"][1]["resource"]["identifier"][0]["value"] = "1111111112"
    assert inquire(client, other_provider) == []


@pytest.mark.parametrize(
    ("entry", "where"), [(4, "Claim.patient"), (1, "Claim.provider")], ids=["patient", "provider"]
)
def test_an_inquiry_without_identifiers_is_a_422(
    client: TestClient, entry: int, where: str
) -> None:
    bundle = load("pas-PASClaimInquiryBundleExample.json")
    del bundle["entry"][entry]["resource"]["identifier"]
    response = client.post("/fhir/Claim/$inquire", json=bundle)
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert outcome["issue"][0]["expression"] == [where]


def test_an_inquiry_is_narrowed_by_code_and_date(client: TestClient) -> None:
    """An item's productOrService and serviced date narrow the search;
    'not-applicable' means any code (spec-43)."""
    request = homecare()
    for item in request["entry"][0]["resource"]["item"]:
        item["servicedDate"] = "2026-03-10"
    submit(client, request)
    bundle = load("pas-PASClaimInquiryBundleExample.json")
    claim = bundle["entry"][0]["resource"]
    claim["item"] = [claim["item"][0]]
    claim["item"][0]["productOrService"]["coding"][0]["code"] = "E0601"
    assert inquire(client, bundle) == []
    claim["item"][0]["productOrService"] = {
        "coding": [
            {
                "system": "http://terminology.hl7.org/CodeSystem/data-absent-reason",
                "code": "not-applicable",
            }
        ]
    }
    assert len(inquire(client, bundle)) == 1
    claim["item"][0]["servicedPeriod"] = {"start": "2026-04-01", "end": "2026-04-30"}
    assert inquire(client, bundle) == []
    claim["item"][0]["servicedPeriod"] = {"start": "2026-03-01", "end": "2026-03-31"}
    assert len(inquire(client, bundle)) == 1


# -- Claim updates ----------------------------------------------------------------


def test_the_igs_homecare_update(client: TestClient) -> None:
    """The IG's update of its Homecare request: item 2 cancelled (infoCancelled,
    certificationType 3) is answered cancelled, item 3 added is decided,
    item 1 (pended, unchanged) decided again; the answer has a new number
    and an inquiry finds the update's answer, not the original's."""
    original = submit(client, homecare())["entry"][0]["resource"]
    answer = submit(client, homecare_update())
    update = answer["entry"][0]["resource"]
    found = items(answer)
    assert [(s, a) for s, a, _ in found] == [(1, "A4"), (2, "C"), (3, "A4")]
    assert "G0154" in found[0][2] and "cancelled" in found[1][2] and "B4185" in found[2][2]
    assert "Claim.item[2]" in found[2][2]  # where it is in the update
    assert update["preAuthRef"] != original["preAuthRef"]
    assert update["request"] == {"reference": "Claim/HomecareAuthorizationUpdateExample"}
    (current,) = inquire(client, load("pas-PASClaimInquiryBundleExample.json"))
    assert current["entry"][0]["resource"]["preAuthRef"] == update["preAuthRef"]


def test_an_unchanged_final_answer_is_kept_and_a_pended_one_decided_again(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """A massage item answered finally stays so in an update that leaves it
    unchanged, even though the update does not repeat the answers that
    decided it; pended, it is decided again with the update's answers."""
    expected = kb.evaluate(
        {"policy": "massage-therapy", "facts": {"cpt_code": "97124", **MASSAGE_ANSWERS}}
    )
    final = ACTION[expected.verdict.value]
    assert final != "A4"  # the premise: these answers decide it
    submit(client, with_answers(homecare({"productOrService": MASSAGE}), MASSAGE_ANSWERS))
    kept = items(submit(client, homecare_update({"productOrService": MASSAGE})))
    assert kept[0][1] == final and "Unchanged since authorization" in kept[0][2]

    pended = items(submit(client, homecare({"productOrService": MASSAGE})))
    assert pended[0][1] == "A4"
    update = with_answers(homecare_update({"productOrService": MASSAGE}), MASSAGE_ANSWERS)
    update["entry"][0]["resource"]["identifier"][0]["value"] = "111099-UPDATE-2"
    decided = items(submit(client, update))
    assert decided[0][1] == final


def test_a_changed_final_item_is_decided_anew(client: TestClient) -> None:
    """infoChanged = changed: the item is decided again, here without the
    answers, so it is pended."""
    submit(client, with_answers(homecare({"productOrService": MASSAGE}), MASSAGE_ANSWERS))
    changed = {"valueCode": "changed", "url": f"{PAS}extension-infoChanged"}
    update = homecare_update({"productOrService": MASSAGE})
    update["entry"][0]["resource"]["item"][0]["extension"].append(changed)
    assert items(submit(client, update))[0][1] == "A4"


def test_cancelling_the_whole_request(client: TestClient) -> None:
    """certificationType 3 on the Claim: every kept item answered cancelled,
    no items needed; the answer conforms."""
    submit(client, homecare())
    update = homecare_update()
    claim = update["entry"][0]["resource"]
    claim["extension"] = [
        {
            "url": f"{PAS}extension-certificationType",
            "valueCodeableConcept": {
                "coding": [{"system": "https://codesystem.x12.org/005010/1322", "code": "3"}]
            },
        }
    ]
    del claim["item"]
    found = items(submit(client, update))
    assert [(s, a) for s, a, _ in found] == [(1, "C"), (2, "C")]


def test_an_update_of_an_unknown_claim_is_a_422(client: TestClient) -> None:
    """Nothing kept for the Claim it names (never submitted, or another
    patient's): refused, naming Claim.related[0].claim (spec-64)."""
    response = client.post("/fhir/Claim/$submit", json=homecare_update())
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == ["Claim.related[0].claim"]
    submit(client, homecare())
    other = homecare_update()
    other["entry"][4]["resource"]["identifier"][0]["value"] = "99999999999"
    response = client.post("/fhir/Claim/$submit", json=other)
    assert response.status_code == 422


def test_an_update_whose_earlier_claim_is_not_in_the_bundle_is_a_422(
    client: TestClient,
) -> None:
    """spec-65: the updated Claim is included in the Bundle."""
    submit(client, homecare())
    update = homecare_update()
    del update["entry"][-1]
    response = client.post("/fhir/Claim/$submit", json=update)
    assert response.status_code == 422
    assert "spec-65" in response.json()["issue"][0]["diagnostics"]


@pytest.mark.parametrize(
    ("element", "value", "where"),
    [("related", "x", "Claim.related"), ("item", "x", "Claim.item")],
    ids=["related", "item"],
)
def test_an_update_that_is_not_a_claim_update_is_a_422(
    client: TestClient, element: str, value: object, where: str
) -> None:
    submit(client, homecare())
    update = homecare_update()
    update["entry"][0]["resource"][element] = value
    response = client.post("/fhir/Claim/$submit", json=update)
    assert response.status_code == 422
    assert response.json()["issue"][0]["expression"] == [where]


def test_an_inquiry_by_a_replaced_number_finds_the_current_answer(client: TestClient) -> None:
    """spec-47/48: an inquiry quoting the original's number (authorizationNumber)
    answers the update's, the current one."""
    original = submit(client, homecare())["entry"][0]["resource"]["preAuthRef"]
    current = submit(client, homecare_update())["entry"][0]["resource"]["preAuthRef"]
    bundle = load("pas-PASClaimInquiryBundleExample.json")
    item = bundle["entry"][0]["resource"]["item"][0]
    item["extension"].append({"url": AUTHORIZATION_NUMBER, "valueString": original})
    (found,) = inquire(client, bundle)
    assert found["entry"][0]["resource"]["preAuthRef"] == current
    item["extension"][-1]["valueString"] = "not-a-number-given"
    assert inquire(client, bundle) == []


# -- the store ------------------------------------------------------------------


def test_the_store_is_shared_through_its_file(tmp_path: Path) -> None:
    """Two stores on one file (two workers): what one keeps the other finds,
    and an update's chain leads both to the current answer."""
    path = tmp_path / "pas.sqlite"
    first, second = AuthorizationStore(path), AuthorizationStore(path)
    keys = Keys(frozenset({"m|1"}), frozenset({"npi|2"}), frozenset({"c|3"}), frozenset())
    answer = {"entry": [{"resource": {"resourceType": "ClaimResponse", "item": []}}]}
    first.save("one", {"resourceType": "Claim"}, None, answer, keys)
    second.save("two", {"resourceType": "Claim"}, None, answer, keys, replaces="one")
    assert first.matching({"m|1"}, {"npi|2"}) == ["one", "two"]
    current = first.current("one")
    assert current is not None and current.number == "two"
    assert second.with_key("number", "one") == ["one"]
    first.close()
    second.close()


CODES = ["G0154", "B4184", "97124"]
PATIENTS = ["m|1", "m|2"]
PROVIDERS = ["npi|1", "npi|2"]


@st.composite
def stored_and_asked(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    stored = draw(
        st.lists(
            st.fixed_dictionaries(
                {
                    "patient": st.sampled_from(PATIENTS),
                    "provider": st.sampled_from(PROVIDERS),
                    "codes": st.lists(st.sampled_from(CODES), min_size=1, max_size=2),
                    "day": st.integers(1, 28),
                }
            ),
            max_size=5,
        )
    )
    asked = draw(
        st.fixed_dictionaries(
            {
                "patient": st.sampled_from(PATIENTS),
                "provider": st.sampled_from(PROVIDERS),
                "items": st.lists(
                    st.fixed_dictionaries(
                        {
                            "code": st.sampled_from([*CODES, "not-applicable"]),
                            "days": st.none() | st.tuples(st.integers(1, 28), st.integers(0, 5)),
                        }
                    ),
                    max_size=2,
                ),
            }
        )
    )
    return stored, asked


def _party(kind: str, key: str) -> dict[str, Any]:
    system, value = key.split("|")
    return {"resourceType": kind, "id": value, "identifier": [{"system": system, "value": value}]}


@settings(max_examples=examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=stored_and_asked())
def test_inquiry_matches_as_brute_force_says(
    case: tuple[list[dict[str, Any]], dict[str, Any]],
) -> None:
    """Over generated stores and inquiries: $inquire returns exactly the
    authorizations of the same patient and provider that have an item of an
    asked code ('not-applicable': any) on a date within the asked period,
    for some asked item (no items: all of them)."""
    stored, asked = case
    store = AuthorizationStore(None)
    for index, row in enumerate(stored):
        day = f"2026-03-{row['day']:02d}"
        claim = {
            "resourceType": "Claim",
            "item": [
                {
                    "sequence": i + 1,
                    "productOrService": {"coding": [{"code": c}]},
                    "servicedDate": day,
                }
                for i, c in enumerate(row["codes"])
            ],
        }
        answer = {
            "entry": [{"resource": {"resourceType": "ClaimResponse", "preAuthRef": f"n{index}"}}]
        }
        keys = Keys(
            frozenset({row["patient"]}), frozenset({row["provider"]}), frozenset(), frozenset()
        )
        store.save(f"n{index}", claim, None, answer, keys)
    inquiry_items = []
    for item in asked["items"]:
        entry: dict[str, Any] = {"sequence": len(inquiry_items) + 1}
        entry["productOrService"] = {"coding": [{"code": item["code"]}]}
        if item["days"] is not None:
            start, length = item["days"]
            end = min(start + length, 28)
            entry["servicedPeriod"] = {"start": f"2026-03-{start:02d}", "end": f"2026-03-{end:02d}"}
        inquiry_items.append(entry)
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {
                "fullUrl": "urn:uuid:claim",
                "resource": {
                    "resourceType": "Claim",
                    "use": "preauthorization",
                    "patient": {"reference": "Patient/p"},
                    "provider": {"reference": "Organization/o"},
                    "item": inquiry_items,
                },
            },
            {
                "fullUrl": "urn:uuid:p",
                "resource": {**_party("Patient", asked["patient"]), "id": "p"},
            },
            {
                "fullUrl": "urn:uuid:o",
                "resource": {**_party("Organization", asked["provider"]), "id": "o"},
            },
        ],
    }
    answer = pas_inquiry.inquire(copy.deepcopy(bundle), store)
    found = sorted(
        p["resource"]["entry"][0]["resource"]["preAuthRef"] for p in answer.get("parameter", [])
    )

    def item_matches(item: dict[str, Any], code: str, day: int) -> bool:
        if item["code"] != "not-applicable" and item["code"] != code:
            return False
        if item["days"] is None:
            return True
        start, length = item["days"]
        return start <= day <= min(start + length, 28)

    expected = []
    for index, row in enumerate(stored):
        if (row["patient"], row["provider"]) != (asked["patient"], asked["provider"]):
            continue
        criteria = [
            i for i in asked["items"] if i["code"] != "not-applicable" or i["days"] is not None
        ]
        if not criteria or any(
            item_matches(i, c, row["day"]) for i in criteria for c in row["codes"]
        ):
            expected.append(f"n{index}")
    assert found == sorted(expected)
