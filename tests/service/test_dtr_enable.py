"""DTR spec-17: the Questionnaire's enableWhen, evaluated as FHIR R4 defines
it, against the bridge's missing facts over generated partial answers.

The enableWhen evaluator here is written from the FHIR text alone
(QuestionnaireItemOperator: "= True if at least one answer has a value that
is equal", "!= True if no answer has a value that is equal"; an item whose
enableWhen depends on a disabled item proceeds as though it were not
valued), not from service/dtr_enable.py.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.model.policy import Fact, FactType, Policy
from policykb.bridge.model.typed import Interval
from policykb.bridge.solving.evaluator import Evaluator
from policykb.service import dtr, dtr_enable
from policykb.service.dtr_histories import level_facts
from policykb.service.fhir_facts import load_mapping

DAY = date.today()
DRAWS = 25


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


def form(knowledge: KnowledgeBase, name: str) -> dict[str, Any]:
    policy = knowledge.policy(name)
    return dtr.questionnaire(
        policy,
        policy.version.hash,
        load_mapping(policy),
        "http://payer.example",
        narrowing=dtr_enable.conditions(knowledge, name, DAY),
    )


# -- FHIR R4 enableWhen, from the specification's text -----------------------


def _equal(answer: Mapping[str, Any], condition: Mapping[str, Any]) -> bool:
    if "answerBoolean" in condition:
        return answer.get("valueBoolean") is condition["answerBoolean"]
    if "answerCoding" in condition:
        coding = answer.get("valueCoding") or {}
        wanted = condition["answerCoding"]
        return bool(
            coding.get("code") == wanted["code"] and coding.get("system") == wanted.get("system")
        )
    raise AssertionError(f"an enableWhen answer this test does not read: {condition}")


def _holds(condition: Mapping[str, Any], answers: list[Mapping[str, Any]]) -> bool:
    operator = condition["operator"]
    if operator == "exists":
        return bool(answers) is condition["answerBoolean"]
    if operator == "=":
        return any(_equal(answer, condition) for answer in answers)
    if operator == "!=":
        return not any(_equal(answer, condition) for answer in answers)
    raise AssertionError(f"an operator this test does not read: {operator}")


def enabled_items(questionnaire: Mapping[str, Any], given: Mapping[str, list[Any]]) -> set[str]:
    """The linkIds enabled for the answers `given` (linkId -> answers).
    Items are taken in order: every condition in this Questionnaire refers
    to an earlier item, which the test checks on the way."""
    enabled: set[str] = set()
    seen: set[str] = set()
    for item in questionnaire["item"]:
        link = item["linkId"]
        when = item.get("enableWhen", [])
        for condition in when:
            assert condition["question"] in seen, f"{link} depends on a later item"
        results = [
            _holds(c, given.get(c["question"], []) if c["question"] in enabled else [])
            for c in when
        ]
        behaviour = item.get("enableBehavior", "all" if len(when) <= 1 else None)
        assert behaviour is not None, f"{link}: enableBehavior is required (que-12)"
        if not when or (all(results) if behaviour == "all" else any(results)):
            enabled.add(link)
        seen.add(link)
    return enabled


# -- generated partial answers -------------------------------------------------


def _in(region: Interval, fact: Fact, draw: random.Random) -> object:
    low, high = region.low, region.high
    if fact.type is FactType.INT:
        first = int(low) if region.low_closed else int(low) + 1
        last = int(high) if region.high_closed else int(high) - 1
        return draw.randint(first, max(first, last))
    middle = (Decimal(low) + Decimal(high)) / 2
    return float(draw.choice([x for x in (low, middle, high) if _inside(region, Decimal(x))]))


def _inside(region: Interval, x: Decimal) -> bool:
    above = x >= region.low if region.low_closed else x > region.low
    below = x <= region.high if region.high_closed else x < region.high
    return bool(above and below)


def value_of(fact: Fact, draw: random.Random) -> object:
    """A value of the fact as a case writes it, from each of its regions."""
    kind = fact.type
    if kind is FactType.BOOL:
        return draw.random() < 0.5
    if kind in (FactType.ENUM, FactType.STRING) and fact.options:
        return draw.choice(fact.options)
    if kind is FactType.LIST:
        return sorted(draw.sample(fact.options, draw.randint(0, len(fact.options))))
    if kind is FactType.CODE_LIST:
        samples = [cell.sample for cell in fact.regions if getattr(cell, "sample", None)]
        return sorted(set(draw.sample(samples, draw.randint(0, len(samples)))))
    if kind is FactType.CODE:
        samples = [cell.sample for cell in fact.regions if getattr(cell, "sample", None)]
        return draw.choice(samples or ["A00"])
    if kind is FactType.DATE:
        back = draw.choice([0, 20, 45, 100, 200, 400, 800, 2000, 4000])
        return (DAY - timedelta(days=back)).isoformat()
    if kind in (FactType.INT, FactType.DECIMAL):
        intervals = [r for r in fact.regions if isinstance(r, Interval)]
        if intervals:
            return _in(draw.choice(intervals), fact, draw)
        return draw.randint(0, 100)
    return "unknown"


def partial_answers(policy: Policy, draw: random.Random) -> dict[str, object]:
    """Some of the policy's facts answered: each with a probability drawn
    per case, so that nearly empty and nearly complete answers both occur."""
    share = draw.random()
    return {
        name: value_of(fact, draw) for name, fact in policy.facts.items() if draw.random() < share
    }


def as_answers(fact: Fact, value: object) -> list[dict[str, Any]]:
    """A case value as QuestionnaireResponse answers (only the booleans and
    codings an enableWhen of this Questionnaire reads need be exact)."""
    values = value if isinstance(value, list) else [value]
    if fact.type is FactType.BOOL:
        return [{"valueBoolean": v} for v in values]
    if fact.options:
        return [{"valueCoding": {"code": v}} for v in values]
    return [{"valueString": str(v)} for v in values]


def verdict(knowledge: KnowledgeBase, name: str, facts: Mapping[str, object]) -> str:
    case = knowledge.case({"policy": name, "facts": dict(facts)}, as_of=DAY)
    return knowledge.evaluate(case, policy=name).verdict.value


def effective_case(
    evaluator: Evaluator, knowledge: KnowledgeBase, name: str, facts: dict[str, object]
) -> tuple[dict[str, Any], Evaluator]:
    """The known facts of the case these answers make (the policy's
    defaults filled in) and the evaluator anchored at its reference dates."""
    case = knowledge.case({"policy": name, "facts": facts}, as_of=DAY)
    with evaluator.lock:
        known, _ = evaluator.known_facts(case)
        anchored = evaluator.for_known(known)
    return dict(known), anchored


def policies() -> Iterator[str]:
    yield from KnowledgeBase().policy_names()


@pytest.mark.parametrize("name", list(policies()))
def test_a_disabled_question_cannot_change_the_verdict(knowledge: KnowledgeBase, name: str) -> None:
    """Over generated partial answers: every item enableWhen disables is
    not a missing fact of the case the enabled answers make (with the
    policy's defaults for the unanswered), so the verdict with only the
    enabled answers is the verdict with all of them; and some item is
    disabled in some draw (the conditions narrow)."""
    policy = knowledge.policy(name)
    questionnaire = form(knowledge, name)
    evaluator = knowledge.named_evaluator(name)
    draw = random.Random(f"spec-17 {name}")
    disabled_seen = 0
    for _ in range(DRAWS):
        answers = partial_answers(policy, draw)
        for reference in evaluator.references:
            answers[reference] = DAY.isoformat()
        given = {link: as_answers(policy.facts[link], value) for link, value in answers.items()}
        enabled = enabled_items(questionnaire, given)
        # a history's yes/no facts are asked as its group of records
        enabled |= {fact for fact, group in level_facts(policy).items() if group in enabled}
        kept = {link: value for link, value in answers.items() if link in enabled}
        assert verdict(knowledge, name, kept) == verdict(knowledge, name, answers), (
            f"{name}: dropping the disabled answers changed the verdict; answers {answers}"
        )
        for link in set(policy.facts) - enabled:
            disabled_seen += 1
            without = {k: v for k, v in kept.items() if k != link}
            known, anchored = effective_case(evaluator, knowledge, name, without)
            known.pop(link, None)  # its default too: answering it would override it
            with anchored.lock:
                still_missing = anchored.missing_facts(known)
            assert link not in still_missing, (
                f"{name}: {link} is disabled but the verdict still depends on it; "
                f"enabled answers {kept}"
            )
    assert disabled_seen > 0, f"{name}: no draw disabled any question"


def test_each_condition_names_an_earlier_boolean_or_choice_item(
    knowledge: KnowledgeBase,
) -> None:
    """Conditions refer only to earlier items of the form (acyclic), with
    the item's own answer type, and enableBehavior is given with more than one."""
    for name in knowledge.policy_names():
        questionnaire = form(knowledge, name)
        kinds: dict[str, str] = {}
        for item in questionnaire["item"]:
            for condition in item.get("enableWhen", []):
                kind = kinds[condition["question"]]
                assert kind in ("boolean", "choice"), (name, item["linkId"], condition)
                key = "answerBoolean" if kind == "boolean" else "answerCoding"
                assert key in condition, (name, item["linkId"], condition)
            if len(item.get("enableWhen", [])) > 1:
                assert item["enableBehavior"] == "all"
            kinds[item["linkId"]] = item["type"]


def test_answering_a_question_that_settles_the_verdict_hides_the_rest(
    knowledge: KnowledgeBase,
) -> None:
    """A worked case, the massage policy. With nothing answered only the
    continuation-review questions are disabled (review_type defaults to
    initial); answering review_type continuation enables them; a member who
    is not a Medicare member is decided by the non-Medicare criteria, so the
    Medicare-only questions are disabled and the others stay."""
    questionnaire = form(knowledge, "massage-therapy")
    everything = {item["linkId"] for item in questionnaire["item"]}
    continuation = {"therapeutic_goals_achieved", "showing_meaningful_progress"}
    assert enabled_items(questionnaire, {}) == everything - continuation
    review = {"review_type": [{"valueCoding": {"code": "continuation"}}]}
    assert continuation <= enabled_items(questionnaire, review)
    narrowed = enabled_items(questionnaire, {"medicare_member": [{"valueBoolean": False}]})
    assert "delivered_by_physical_therapist" not in narrowed
    assert "objective_limitations_documented" in narrowed
