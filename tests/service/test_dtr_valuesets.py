"""DTR conf-1's `ValueSet/$expand`: every choice fact's options as a
ValueSet the service reads and expands, equal to the Questionnaire's
answerOption; `filter`, `offset` and `count` against a brute-force model
over generated requests; an item with many options naming its ValueSet
(answerValueSet) and a client answering from the expansion; and 400/404
OperationOutcomes for bad and unknown requests."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge.model.policy import Fact, Policy
from policykb.service import dtr, dtr_valuesets
from policykb.service.app import create_app
from policykb.service.decisions import Decisions
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record
from tests.service.test_dtr import package, package_conforms
from tests.service.test_service import fhir_js, r4b

BASE = "http://testserver"


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def decisions(client: TestClient) -> Decisions:
    return client.app.state.decisions  # type: ignore[attr-defined,no-any-return]


def choice_facts(decisions: Decisions) -> list[tuple[Policy, Fact]]:
    return [
        (policy, fact)
        for policy in decisions.policies.values()
        for fact in policy.facts.values()
        if fact.type in dtr_valuesets.CHOICES
    ]


def expand(client: TestClient, url: str, **given: Any) -> dict[str, Any]:
    response = client.get("/fhir/ValueSet/$expand", params={"url": url, **given})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def codes(expanded: dict[str, Any]) -> list[str]:
    return [concept["code"] for concept in expanded["expansion"].get("contains", [])]


def test_every_choice_fact_expands_to_the_questionnaires_options(
    client: TestClient, decisions: Decisions
) -> None:
    facts = choice_facts(decisions)
    assert facts  # the premise: the bundled policies have choice facts
    checked = []
    for policy, fact in facts:
        url = dtr_valuesets.valueset_url(BASE, policy.name, fact.name)
        expanded = expand(client, url)
        questionnaire = client.get(f"/fhir/Questionnaire/{policy.name}").json()
        (item,) = [i for i in questionnaire["item"] if i["linkId"] == fact.name]
        options = [o["valueCoding"] for o in item["answerOption"]]
        contains = expanded["expansion"]["contains"]
        assert [{"code": c["code"], "display": c["display"]} for c in contains] == options
        system = expanded["compose"]["include"][0]["system"]
        assert {c["system"] for c in contains} == {system}
        assert expanded["expansion"]["total"] == len(fact.options)
        assert expanded["url"] == url and expanded["status"] == "active"
        read = client.get(f"/fhir/ValueSet/{expanded['id']}").json()
        assert read == {k: v for k, v in expanded.items() if k != "expansion"}
        r4b(expanded)
        checked.append(expanded)
    assert all(result["valid"] for result in fhir_js(checked)), fhir_js(checked)


def brute_force(fact: Fact, text: str) -> list[str]:
    """The codes `filter=text` keeps, by the documented rule, written anew:
    every word of the filter starts some word of the display or code."""
    wanted = re.findall(r"[0-9a-z]+", text.lower())
    kept = []
    for option in fact.options:
        words = re.findall(
            r"[0-9a-z]+", f"{fact.option_texts.get(option, option)} {option}".lower()
        )
        if all(any(word.startswith(w) for word in words) for w in wanted):
            kept.append(option)
    return kept


def test_filter_and_paging_agree_with_brute_force_on_generated_requests(
    client: TestClient, decisions: Decisions
) -> None:
    rng = random.Random(31)
    facts = choice_facts(decisions)
    for _ in range(60):
        policy, fact = rng.choice(facts)
        url = dtr_valuesets.valueset_url(BASE, policy.name, fact.name)
        option = rng.choice(fact.options)
        words = re.findall(r"\w+", fact.option_texts.get(option, option)) or [option]
        text = " ".join(word[: rng.randint(1, len(word))] for word in rng.sample(words, 1))
        text = rng.choice([text, text.upper(), "", "zzqx"])
        offset, count = rng.randint(0, 4), rng.randint(0, 4)
        expanded = expand(client, url, filter=text, offset=offset, count=count)
        kept = brute_force(fact, text)
        assert expanded["expansion"]["total"] == len(kept)
        assert codes(expanded) == kept[offset : offset + count]
        posted = client.post(
            f"/fhir/ValueSet/{expanded['id']}/$expand",
            json={
                "resourceType": "Parameters",
                "parameter": [
                    {"name": "filter", "valueString": text},
                    {"name": "offset", "valueInteger": offset},
                    {"name": "count", "valueInteger": count},
                ],
            },
        )
        assert codes(posted.json()) == codes(expanded)


def test_many_options_name_the_valueset_and_an_answer_from_it_is_read(
    client: TestClient, decisions: Decisions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Above OPTION_LIMIT options (DTR spec-83) the item names its ValueSet
    instead of embedding them (never both: FHIR que-5); a client expands it
    by that canonical and answers with an expanded Coding, read as the fact."""
    policy, fact = choice_facts(decisions)[0]
    monkeypatch.setattr(dtr_valuesets, "OPTION_LIMIT", 0)
    questionnaire = client.get(f"/fhir/Questionnaire/{policy.name}").json()
    (item,) = [i for i in questionnaire["item"] if i["linkId"] == fact.name]
    assert "answerOption" not in item
    r4b(questionnaire)
    expanded = client.post(
        "/fhir/ValueSet/$expand",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "url", "valueUri": item["answerValueSet"]}],
        },
    ).json()
    chosen = expanded["expansion"]["contains"][-1]
    response = {
        "resourceType": "QuestionnaireResponse",
        "status": "completed",
        "item": [{"linkId": fact.name, "answer": [{"valueCoding": chosen}]}],
    }
    read = dtr.answers(response, policy, "QuestionnaireResponse")[fact.name]
    assert read == chosen["code"] or read == [chosen["code"]]


def test_a_package_carries_the_valuesets_its_questionnaire_names(
    client: TestClient, decisions: Decisions, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DTR oper-14: every ValueSet an item names is in the package Bundle,
    after the Questionnaire and its draft response; without such items
    (the bundled policies' option lists are short) there is none."""
    policy, fact = choice_facts(decisions)[0]
    questionnaire = client.get(f"/fhir/Questionnaire/{policy.name}").json()
    canonical = {"name": "questionnaire", "valueCanonical": questionnaire["url"]}
    coverage = {"name": "coverage", "resource": Record().coverage_resource()}
    (plain,) = package_conforms(package(client, coverage, canonical))
    assert [e["resource"]["resourceType"] for e in plain["entry"]] == [
        "Questionnaire",
        "QuestionnaireResponse",
    ]
    monkeypatch.setattr(dtr_valuesets, "OPTION_LIMIT", 0)
    (bundle,) = package_conforms(package(client, coverage, canonical))
    named = {
        item["answerValueSet"]
        for item in bundle["entry"][0]["resource"]["item"]
        if "answerValueSet" in item
    }
    carried = {e["resource"]["url"] for e in bundle["entry"][2:]}
    assert dtr_valuesets.valueset_url(BASE, policy.name, fact.name) in named
    assert carried == named


@pytest.mark.parametrize(
    ("url", "query", "status", "names"),
    [
        ("/fhir/ValueSet/$expand", {}, 400, "url"),
        ("/fhir/ValueSet/$expand", {"url": "http://hl7.org/fhir/ValueSet/x"}, 404, "ValueSet"),
        ("/fhir/ValueSet/$expand", {"url": f"{BASE}/fhir/ValueSet/nope"}, 404, "nope"),
        ("/fhir/ValueSet/nope/$expand", {}, 404, "nope"),
        ("/fhir/ValueSet/nope", {}, 404, "nope"),
        ("/fhir/ValueSet/{id}/$expand", {"count": "-1"}, 400, "count"),
        ("/fhir/ValueSet/{id}/$expand", {"count": "5000"}, 400, "count"),
        ("/fhir/ValueSet/{id}/$expand", {"offset": "x"}, 400, "offset"),
    ],
)
def test_bad_or_unknown_expansions_are_operation_outcomes(
    client: TestClient,
    decisions: Decisions,
    url: str,
    query: dict[str, str],
    status: int,
    names: str,
) -> None:
    policy, fact = choice_facts(decisions)[0]
    url = url.replace("{id}", dtr_valuesets.valueset_id(policy.name, fact.name))
    response = client.get(url, params=query)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert names in response.text


def test_a_post_whose_body_is_not_parameters_is_a_400(client: TestClient) -> None:
    response = client.post("/fhir/ValueSet/$expand", json={"resourceType": "Bundle"})
    assert response.status_code == 400
    assert "Parameters" in response.text


def test_ids_are_valid_and_name_one_fact() -> None:
    long = "x" * 70
    assert dtr_valuesets.valueset_id("p", "a_b") == "p-a-b"
    ident = dtr_valuesets.valueset_id(long, "fact")
    assert dtr_valuesets.FHIR_ID.fullmatch(ident)
    assert ident != dtr_valuesets.valueset_id(long, "other")


def test_the_capability_statement_offers_expand(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    (resource,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "ValueSet"]
    assert [o["name"] for o in resource["operation"]] == ["expand"]
