"""DTR spec-17, exact: the adaptive form's `$next-question` asks exactly
the questions the answers so far still need.

Three oracles, none of them service/dtr_needed.py:
- brute force over every completion of a small policy's facts (each fact
  over one value per region the policy tells apart): F is needed when some
  completion of the other unanswered facts makes the verdict differ between
  two values of F;
- the bridge's `evaluate` (its missing facts) on generated answer sets for
  bundled policies with numbers, dates, lists, codes, defaults and histories;
- a walk: answering what is asked until nothing is left gives the verdict
  of the complete case the answers were drawn from.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from datetime import date
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Fact, FactType, Policy
from policykb.bridge.model.typed import Interval
from policykb.service.app import create_app
from policykb.service.decisions import Decisions
from policykb.service.dtr_determination import PA_QUESTION
from policykb.service.dtr_histories import level_facts
from policykb.service.settings import ServiceSettings
from tests.service.test_dtr import DTR_INVARIANTS
from tests.service.test_dtr_enable import value_of
from tests.service.test_service import fhir_js, r4b

DAY = date.today()
DRAWS = 12
SDC = "http://hl7.org/fhir/uv/sdc/StructureDefinition/"
ADAPTIVE_POLICIES = (
    "massage-therapy",
    "bariatric-surgery",
    "bone-mass-measurement",
    "home-oxygen",
    "colorectal-cancer-screening",
    "glp1-step-therapy",
)


@pytest.fixture(scope="module")
def client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings())) as test_client:
        yield test_client


@pytest.fixture(scope="module")
def decisions(client: TestClient) -> Decisions:
    return client.app.state.decisions  # type: ignore[attr-defined,no-any-return]


# -- the operation as a client calls it ----------------------------------------


def answers_of(fact: Fact, value: object) -> list[dict[str, Any]]:
    """A case value as typed QuestionnaireResponse answers, as the item's type asks."""
    values = value if isinstance(value, list) else [value]
    if fact.type is FactType.BOOL:
        return [{"valueBoolean": v} for v in values]
    if fact.type in (FactType.ENUM, FactType.LIST):
        return [{"valueCoding": {"code": v}} for v in values]
    if fact.type is FactType.INT:
        return [{"valueInteger": int(str(v))} for v in values]
    if fact.type is FactType.DECIMAL:
        return [{"valueDecimal": float(str(v))} for v in values]
    if fact.type is FactType.DATE:
        return [{"valueDate": str(v)} for v in values]
    return [{"valueString": str(v)} for v in values]


def start(client: TestClient, policy: str) -> dict[str, Any]:
    """A first QuestionnaireResponse: no answers, the adaptive Questionnaire
    contained and derived from the canonical the read gives."""
    read = client.get(f"/fhir/Questionnaire/{policy}-adaptive")
    assert read.status_code == 200, read.text
    searched = read.json()
    return {
        "resourceType": "QuestionnaireResponse",
        "status": "in-progress",
        "questionnaire": "#adaptive",
        "subject": {"reference": "Patient/p1"},
        "contained": [
            {
                "resourceType": "Questionnaire",
                "id": "adaptive",
                "status": "active",
                "subjectType": ["Patient"],
                "derivedFrom": [f"{searched['url']}|{searched['version']}"],
            }
        ],
    }


def next_question(client: TestClient, response: dict[str, Any]) -> dict[str, Any]:
    answer = client.post(
        "/fhir/Questionnaire/$next-question",
        json={
            "resourceType": "Parameters",
            "parameter": [{"name": "questionnaire-response", "resource": response}],
        },
    )
    assert answer.status_code == 200, answer.text
    output = answer.json()
    assert output["resourceType"] == "Parameters"
    (returned,) = output["parameter"]
    assert returned["name"] == "return"
    return returned["resource"]  # type: ignore[no-any-return]


def answered(policy: Policy, facts: Mapping[str, object]) -> list[dict[str, Any]]:
    return [
        {"linkId": name, "answer": answers_of(policy.facts[name], value)}
        for name, value in facts.items()
    ]


def stated(facts: Mapping[str, object]) -> dict[str, object]:
    """The facts a QuestionnaireResponse can state: an empty list is no
    answer at all (a repeating item with no answers is unanswered)."""
    return {name: value for name, value in facts.items() if value != []}


def asked(response: Mapping[str, Any]) -> set[str]:
    """The clinical questions the returned form asks: its items the response
    leaves unanswered (spec-41's identifier question is not one)."""
    (form,) = [r for r in response["contained"] if r["id"] == response["questionnaire"][1:]]
    given = {item["linkId"] for item in response.get("item", []) if item.get("answer")}
    links = {
        item["linkId"]
        for item in form["item"]
        if item["type"] != "display" and item["linkId"] != PA_QUESTION
    }
    for item in form["item"]:
        assert "enableWhen" not in item, "the server narrows; the form carries no stale logic"
    assert given <= links, "every answered item stays in the form"
    return links - given


# -- oracle 1: brute force -----------------------------------------------------


def representatives(fact: Fact) -> list[object]:
    """One case value per region of the fact the policy tells apart."""
    if fact.type is FactType.BOOL:
        return [True, False]
    if fact.type is FactType.ENUM:
        return list(fact.options)
    if fact.type in (FactType.INT, FactType.DECIMAL):
        points = []
        for region in fact.regions:
            assert isinstance(region, Interval)
            low = region.low if region.low_closed else region.low + 1
            points.append(int(low) if fact.type is FactType.INT else float(low))
        return points
    if fact.type is FactType.CODE_LIST:
        samples = sorted(cell.sample for cell in fact.regions if getattr(cell, "sample", None))
        sizes = range(len(samples) + 1)
        return [list(s) for n in sizes for s in itertools.combinations(samples, n)]
    raise AssertionError(f"{fact.name}: a type the brute force does not enumerate")


def brute_needed(
    knowledge: KnowledgeBase, name: str, given: Mapping[str, object], table: dict[Any, str]
) -> set[str]:
    policy = knowledge.policy(name)
    evaluator = knowledge.named_evaluator(name)
    domains = {fact: representatives(policy.facts[fact]) for fact in policy.facts}

    def verdict(full: Mapping[str, object]) -> str:
        key = tuple(repr(full[fact]) for fact in policy.facts)
        if key not in table:
            case = knowledge.case({"policy": name, "facts": dict(full)})
            with evaluator.lock:
                known, _ = evaluator.known_facts(case)
                table[key] = evaluator.verdict_of(known).value
        return table[key]

    needed = set()
    for fact in policy.facts:
        if fact in given:
            continue
        fixed = dict(given)
        for other, declared in policy.facts.items():
            if other != fact and other not in given and declared.default is not None:
                fixed[other] = declared.default
        free = [f for f in policy.facts if f not in fixed and f != fact]
        for filling in itertools.product(*(domains[f] for f in free)):
            full = {**fixed, **dict(zip(free, filling, strict=True))}
            verdicts = {verdict({**full, fact: value}) for value in domains[fact]}
            if len(verdicts) > 1:
                needed.add(fact)
                break
    return needed


def test_next_question_asks_what_brute_force_finds_needed(client: TestClient) -> None:
    """bariatric-surgery-medicare (a defaulted yes/no, a 10-option choice,
    a number, a code list): over generated answer sets of every size, the
    questions asked are exactly those some completion makes the verdict
    turn on."""
    name = "bariatric-surgery-medicare"
    knowledge = KnowledgeBase()
    policy = knowledge.policy(name)
    table: dict[Any, str] = {}
    draw = random.Random("adaptive brute force")
    narrowed = 0
    for _ in range(30):
        share = draw.random()
        given = {
            fact: draw.choice(representatives(declared))
            for fact, declared in policy.facts.items()
            if draw.random() < share
        }
        response = start(client, name) | {"item": answered(policy, given)}
        expected = brute_needed(knowledge, name, given, table)
        assert asked(next_question(client, response)) == expected, given
        narrowed += len(set(policy.facts) - set(given) - expected)
    assert narrowed > 0, "some draw leaves an unanswered question unneeded"


# -- oracle 2: the bridge's evaluate ------------------------------------------


def bridge_needed(knowledge: KnowledgeBase, name: str, facts: Mapping[str, object]) -> set[str]:
    """The missing facts `evaluate` reports for the case, and each unanswered
    defaulted fact the bridge finds missing once its default is removed; a
    case the policy refuses while a reference date is unknown needs that date."""
    case = knowledge.case({"policy": name, "facts": dict(facts)})
    evaluator = knowledge.case_evaluator(case)
    try:
        evaluation = knowledge.evaluate(case)
    except CaseError:
        return {ref for ref in evaluator.references if ref not in facts}
    needed = {item.fact for item in evaluation.missing}
    with evaluator.lock:
        known, assumed = evaluator.known_facts(case)
    for fact in assumed:
        without = {k: v for k, v in known.items() if k != fact}
        with evaluator.lock:
            anchored = evaluator.for_known(without)
        with anchored.lock:
            if fact in anchored.missing_facts(without):
                needed.add(fact)
    return needed


@pytest.mark.parametrize("name", ADAPTIVE_POLICIES)
def test_next_question_asks_exactly_the_bridges_missing_facts(
    client: TestClient, name: str
) -> None:
    """Generated answer sets (numbers and dates from every region, lists,
    codes, history classes, the date of service stated or not): the
    questions asked equal the bridge's missing facts."""
    knowledge = KnowledgeBase()
    policy = knowledge.policy(name)
    draw = random.Random(f"adaptive {name}")
    computed = {use.fact for use in policy.arithmetic} | set(level_facts(policy))
    for _ in range(DRAWS):
        share = draw.random()
        given = stated(
            {
                fact: value_of(declared, draw)
                for fact, declared in policy.facts.items()
                if draw.random() < share and fact not in computed
            }
        )
        if "date_of_service" in policy.facts and draw.random() < 0.8:
            given["date_of_service"] = DAY.isoformat()
        try:
            expected = bridge_needed(knowledge, name, given)
        except CaseError:
            continue  # values a case may not combine; the 422 test covers refusals
        response = start(client, name) | {"item": answered(policy, given)}
        assert asked(next_question(client, response)) == as_items(policy, expected), given


def as_items(policy: Policy, facts: set[str]) -> set[str]:
    """Facts as the form asks them: a history's yes/no facts as its group."""
    levels = level_facts(policy)
    return {levels.get(fact, fact) for fact in facts}


# -- oracle 3: a walk to the end ------------------------------------------------


def field_value(declared: Fact, draw: random.Random) -> object:
    """A value of a history's field within its bounds."""
    if declared.type in (FactType.INT, FactType.DECIMAL):
        low = int(declared.low) if declared.low is not None else 0
        high = int(declared.high) if declared.high is not None else low + 400
        number = draw.randint(low, min(high, low + 400))
        return number if declared.type is FactType.INT else float(number)
    return value_of(declared, draw)


def records_of(policy: Policy, name: str, draw: random.Random) -> list[dict[str, object]]:
    fields = policy.histories[name].fields
    return [
        {field: field_value(declared, draw) for field, declared in fields.items()}
        for _ in range(draw.randint(1, 4))
    ]


def truth_of(policy: Policy, draw: random.Random) -> dict[str, object]:
    """A complete case: every fact, and some records of every history (a
    list drawn empty is drawn again: a response cannot answer a repeating
    item with nothing)."""
    skipped = {use.fact for use in policy.arithmetic} | set(level_facts(policy))
    truth: dict[str, object] = {}
    for fact, declared in policy.facts.items():
        if fact in skipped:
            continue
        value = value_of(declared, draw)
        while value == []:
            value = value_of(declared, draw)
        truth[fact] = value
    if "date_of_service" in truth:
        truth["date_of_service"] = DAY.isoformat()
    for name in policy.histories:
        truth[name] = records_of(policy, name, draw)
    return truth


def form_items(policy: Policy, facts: Mapping[str, object]) -> list[dict[str, Any]]:
    """Answers as the form's items: a history as one group repetition per record."""
    items: list[dict[str, Any]] = []
    for name, value in facts.items():
        if name in policy.histories:
            assert isinstance(value, list)
            items += [
                {
                    "linkId": name,
                    "item": [
                        {
                            "linkId": f"{name}.{field}",
                            "answer": answers_of(policy.histories[name].fields[field], v),
                        }
                        for field, v in record.items()
                    ],
                }
                for record in value
            ]
        else:
            items += answered(policy, {name: value})
    return items


@pytest.mark.parametrize(
    "name", ["bariatric-surgery", "colorectal-cancer-screening", "glp1-step-therapy"]
)
def test_answering_what_is_asked_ends_in_the_complete_cases_verdict(
    client: TestClient, decisions: Decisions, name: str
) -> None:
    """A clinician answers what each call asks from a complete case, a
    history with all its records; the form ends when it asks nothing new
    (`completed` with a display item, or only histories already given, which
    a partial history can leave open), and the verdict on the answers given
    is the complete case's: no question left unasked could have changed it."""
    knowledge = decisions.knowledge
    policy = knowledge.policy(name)
    complete = {rule.history for rule in decisions.mappings[name].histories if rule.complete}
    draw = random.Random(f"walk {name}")
    walked = 0
    for _ in range(4):
        truth = truth_of(policy, draw)

        def as_case(facts: Mapping[str, object]) -> dict[str, object]:
            return {
                k: {"complete": k in complete, "records": v} if k in policy.histories else v
                for k, v in facts.items()
            }

        try:
            whole = knowledge.evaluate(knowledge.case({"policy": name, "facts": as_case(truth)}))
        except CaseError:
            continue
        response = start(client, name)
        given: dict[str, object] = {}
        for _ in range(len(policy.facts) + 1):
            response = next_question(client, response)
            questions = asked(response) | (
                {item["linkId"] for item in response["contained"][0]["item"]}
                & set(policy.histories)
            )
            new = questions - set(given)
            if not new:
                break
            given.update({fact: truth[fact] for fact in new})
            response["item"] = form_items(policy, given)
        if response["status"] == "completed":
            (form,) = response["contained"]
            assert form["item"][-1]["type"] == "display"
        else:
            assert set(asked(response)) <= set(policy.histories)
        partial = knowledge.evaluate(knowledge.case({"policy": name, "facts": as_case(given)}))
        assert partial.verdict == whole.verdict, (given, truth)
        walked += 1
    assert walked > 0, "every drawn case was refused"


# -- conformance and refusals ------------------------------------------------------


def test_the_adaptive_forms_conform(client: TestClient) -> None:
    """The read is DTR's AdaptiveQuestionnaire-Search (no items, the
    questionnaireAdaptive base); the returned response DTR's adaptive
    QuestionnaireResponse with a contained DTR Adaptive Questionnaire derived
    from it; both pass fhir.resources, FHIR.js and DTR's item invariants."""
    import fhirpathpy
    from fhirpathpy.models import models

    r4 = models["r4"]
    for name in ("colorectal-cancer-screening", "glp1-step-therapy", "bariatric-surgery"):
        searched = client.get(f"/fhir/Questionnaire/{name}-adaptive").json()
        assert "item" not in searched
        assert any(
            e["url"] == f"{SDC}sdc-questionnaire-questionnaireAdaptive"
            and e["valueUrl"] == "http://testserver/fhir"
            for e in searched["extension"]
        )
        response = start(client, name)
        if name != "bariatric-surgery":
            response["item"] = [
                {"linkId": "date_of_service", "answer": [{"valueDate": DAY.isoformat()}]}
            ]
        returned = next_question(client, response)
        (form,) = returned["contained"]
        assert form["derivedFrom"] == [f"{searched['url']}|{searched['version']}"]
        assert returned["questionnaire"] == f"#{form['id']}"
        assert form["meta"]["profile"] == [
            "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-questionnaire-adapt"
        ]
        assert returned["meta"]["profile"] == [
            "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/dtr-questionnaireresponse-adapt"
        ]
        for invariant, (context, expression) in DTR_INVARIANTS.items():
            if context == "Questionnaire.item":
                for item in form["item"]:
                    assert fhirpathpy.evaluate(item, expression, model=r4) == [True], invariant
        for resource in (searched, returned):
            r4b(resource)
        results = fhir_js([searched, returned])
        assert all(result["valid"] for result in results), results


def _post(client: TestClient, body: object) -> tuple[int, str]:
    answer = client.post("/fhir/Questionnaire/$next-question", json=body)
    outcome = answer.json()
    assert outcome["resourceType"] == "OperationOutcome"
    return answer.status_code, outcome["issue"][0]["diagnostics"]


def test_a_bad_next_question_request_is_a_4xx_naming_it(client: TestClient) -> None:
    good = start(client, "massage-therapy")
    foreign = dict(good)
    foreign["contained"] = [good["contained"][0] | {"derivedFrom": ["http://other.example/Q"]}]
    cases: list[tuple[object, str]] = [
        ({"resourceType": "Bundle"}, "takes a FHIR Parameters resource"),
        ({"resourceType": "Parameters", "parameter": []}, "give one 'questionnaire-response'"),
        (
            {"resourceType": "Parameters", "parameter": [{"name": "questionnaire-response"}]},
            "must hold a QuestionnaireResponse",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [{"name": "questionnaire-response", "resource": foreign}],
            },
            "not one of this service's adaptive Questionnaires",
        ),
        (
            {
                "resourceType": "Parameters",
                "parameter": [
                    {
                        "name": "questionnaire-response",
                        "resource": good
                        | {"item": [{"linkId": "shoe_size", "answer": [{"valueInteger": 9}]}]},
                    }
                ],
            },
            "'shoe_size', not a fact of massage-therapy",
        ),
    ]
    for body, words in cases:
        status, diagnostics = _post(client, body)
        # spec-147: answers the Questionnaire refuses are a 400, the rest a 422
        assert status == (400 if "shoe_size" in words else 422), (status, diagnostics)
        assert words in diagnostics, diagnostics
    option = {"valueCoding": {"code": "sometimes"}}
    refused = good | {"item": [{"linkId": "review_type", "answer": [option]}]}
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "questionnaire-response", "resource": refused}],
    }
    status, diagnostics = _post(client, body)
    assert status == 400 and "sometimes" in diagnostics, diagnostics


def test_a_package_for_the_adaptive_canonical_starts_the_adaptive_form(
    client: TestClient,
) -> None:
    """`$questionnaire-package` with a policy's adaptive canonical: the
    bundle's Questionnaire is the AdaptiveQuestionnaire-Search, and the
    draft response (spec-25: `#adaptive`, contained, derived from it)
    already asks what the payer's pre-filled answers (a Medicare Coverage)
    leave needed, as the bridge finds it; $next-question carries on from it.
    The rest of the package rules and DTR's invariants hold, and
    fhir.resources and FHIR.js accept it."""
    from tests.service.test_dtr import MEDICARE, PACKAGE_RULES, package, package_conforms

    name = "colorectal-cancer-screening"
    url = f"http://testserver/fhir/Questionnaire/{name}-adaptive"
    coverage = {
        "resourceType": "Coverage",
        "id": "cov1",
        "status": "active",
        "beneficiary": {"reference": "Patient/p1"},
        "payor": [{"display": "A payer"}],
        **MEDICARE,
    }
    output = package(
        client,
        {"name": "coverage", "resource": coverage},
        {"name": "questionnaire", "valueCanonical": url},
    )
    spec_122 = "QR.questionnaire 1..1, the package's, version-specific (spec-122, oper-16)"
    rules = dict(PACKAGE_RULES)
    del rules[spec_122]  # adaptive: spec-25's contained reference instead
    (bundle,) = package_conforms(output, rules)
    searched, draft = bundle["entry"][0]["resource"], bundle["entry"][1]["resource"]
    assert searched["url"] == url and "item" not in searched
    (form,) = draft["contained"]
    assert draft["questionnaire"] == "#adaptive"
    assert form["derivedFrom"] == [f"{url}|{searched['version']}"]
    knowledge = KnowledgeBase()
    policy = knowledge.policy(name)
    prefilled = {
        item["linkId"]: answer_value(policy.facts[item["linkId"]], item["answer"])
        for item in draft.get("item", [])
    }
    assert prefilled, "the Medicare Coverage pre-fills an answer"
    assert asked(draft) == as_items(policy, bridge_needed(knowledge, name, prefilled))
    draft["item"] = [
        *draft.get("item", []),
        {"linkId": "date_of_service", "answer": [{"valueDate": DAY.isoformat()}]},
    ]
    following = next_question(client, draft)
    prefilled["date_of_service"] = DAY.isoformat()
    assert asked(following) == as_items(policy, bridge_needed(knowledge, name, prefilled))


def answer_value(fact: Fact, answers: list[dict[str, Any]]) -> object:
    values = [
        answer["valueCoding"]["code"] if "valueCoding" in answer else answer[key]
        for answer in answers
        for key in answer
        if key.startswith("value")
    ]
    return values if fact.type.many else values[0]
