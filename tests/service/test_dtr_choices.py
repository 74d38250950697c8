"""DTR spec-17, answer choices: the adaptive form offers a list fact only the
options whose membership can still change the verdict, exactly.

Oracle: brute force over every completion of generated policies (yes/no
facts, a three-option choice, a four-option list read in rules both ways):
option o of the unanswered list is needed when some completion of the other
unanswered facts and some value L of the list without o give different
verdicts with and without o. The real policy with a list fact
(immunomodulators-step-therapy, eight preferred drugs) is checked against
the bridge's missing facts: every offered option is one whose answer alone
can move the list's missing status.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests.sampling import examples, knob
from tests.service.test_dtr_adaptive import answered, asked, next_question, start
from tests.service.test_service import r4b

BOOLS = ["a", "b", "c"]
LEVELS = ["low", "mid", "high"]
SIGNS = ["s0", "s1", "s2", "s3"]
POLICIES = 12


def literal(draw: random.Random) -> str:
    kind = draw.choice(["bool", "bool", "level", "sign", "sign"])
    negated = draw.random() < 0.4
    if kind == "bool":
        return f"{draw.choice(['holds', 'fails'])}({draw.choice(BOOLS)})"
    if kind == "level":
        atom = f"value(level, {draw.choice(LEVELS)})"
    else:
        atom = f"value(signs, {draw.choice(SIGNS)})"
    return f"not {atom}" if negated else atom


def policy_text(draw: random.Random) -> str:
    lines = ['policy(title, "Generated choices").']
    for rank, fact in enumerate([*BOOLS, "level", "signs"], start=1):
        kind = {"level": "enum", "signs": "list"}.get(fact, "bool")
        lines += [
            f"fact({fact}, {kind}). rank({fact}, {rank}).",
            f'question({fact}, "{fact}?"). clause({fact}, "X").',
        ]
    lines += [f"option(level, {option})." for option in LEVELS]
    lines += [f"option(signs, {option})." for option in SIGNS]
    roles = ["indication"] * draw.randint(1, 3) + ["exclusion"] * draw.randint(0, 2)
    for number, role in enumerate(roles):
        ident = f"C{number}"
        lines += [f'criterion("{ident}", "{number}", "Criterion {number}.").']
        lines += [f'role("{ident}", {role}).']
        for _ in range(draw.randint(1, 3)):
            body = ", ".join(literal(draw) for _ in range(draw.randint(1, 3)))
            lines.append(f'met("{ident}") :- {body}.')
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("choices")
    draw = random.Random("dtr choices")
    names = []
    for number in range(examples(POLICIES) + 1):
        name = f"choices-{number}"
        (root / name).mkdir()
        (root / name / "policy.lp").write_text(policy_text(draw), encoding="utf-8")
        names.append(name)
    return [str(root), *names]


@pytest.fixture(scope="module")
def client(generated: list[str]) -> Iterator[TestClient]:
    root, *names = generated
    settings = ServiceSettings(kb_dirs=(root,), policies=(*names, "immunomodulators-step-therapy"))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


def domain(fact: str) -> list[object]:
    if fact == "level":
        return list(LEVELS)
    if fact == "signs":
        return [sorted(s) for n in range(5) for s in itertools.combinations(SIGNS, n)]
    return [True, False]


def brute_options(
    knowledge: KnowledgeBase, name: str, given: Mapping[str, object]
) -> tuple[set[str], list[str]]:
    """The needed facts and, when the list is unanswered, its needed options."""
    evaluator = knowledge.named_evaluator(name)
    facts = [*BOOLS, "level", "signs"]
    table: dict[tuple[str, ...], str] = {}

    def verdict(full: Mapping[str, object]) -> str:
        key = tuple(repr(full[f]) for f in facts)
        if key not in table:
            case = knowledge.case({"policy": name, "facts": dict(full)})
            with evaluator.lock:
                known, _ = evaluator.known_facts(case)
                table[key] = evaluator.verdict_of(known).value
        return table[key]

    free = [f for f in facts if f not in given]
    fillings = [
        {**given, **dict(zip(free, values, strict=True))}
        for values in itertools.product(*(domain(f) for f in free))
    ]
    needed = set()
    for fact in free:
        for full in fillings:
            if len({verdict({**full, fact: value}) for value in domain(fact)}) > 1:
                needed.add(fact)
                break
    options = []
    if "signs" in free:
        for option in SIGNS:
            for full in fillings:
                without = sorted(set(full["signs"]) - {option})  # type: ignore[call-overload]
                with_it = sorted({*without, option})
                if verdict({**full, "signs": without}) != verdict({**full, "signs": with_it}):
                    options.append(option)
                    break
    return needed, options


def offered(response: Mapping[str, Any], link: str) -> list[str]:
    (form,) = response["contained"]
    (item,) = [i for i in form["item"] if i["linkId"] == link]
    return [option["valueCoding"]["code"] for option in item["answerOption"]]


def test_the_list_offers_exactly_the_options_brute_force_finds_needed(
    client: TestClient, generated: list[str]
) -> None:
    """Generated policies, answer sets of every size: the list item, when
    asked, offers exactly the options some completion makes the verdict turn
    on; the rest of the form is as before (exactly the needed facts)."""
    _, *names = generated
    knowledge = client.app.state.decisions.knowledge  # type: ignore[attr-defined]
    draw = random.Random("dtr choices answers")
    narrowed = full = 0
    for name in names:
        policy = knowledge.policy(name)
        for _ in range(6):
            share = draw.random()
            given = {
                fact: draw.choice(domain(fact))
                for fact in [*BOOLS, "level"]
                if draw.random() < share
            }
            response = start(client, name) | {"item": answered(policy, given)}
            returned = next_question(client, response)
            needed, options = brute_options(knowledge, name, given)
            assert asked(returned) == needed, given
            if "signs" in needed:
                assert offered(returned, "signs") == options, given
                narrowed += len(options) < len(SIGNS)
                r4b(returned)
                full += len(options) == len(SIGNS)
    assert narrowed > 0, "some draw narrows the list"


def test_a_left_out_option_changes_nothing_on_a_bundled_policy(client: TestClient) -> None:
    """immunomodulators-step-therapy (eight preferred drugs, numbers, dates):
    a drug the narrowed list leaves out changes nothing, whatever else the
    list holds: with it and without it, the bridge gives the same verdict
    and the same missing facts (a narrowing that dropped a drug that matters
    fails here on the subsets where it does)."""
    from policykb.bridge.model.errors import CaseError
    from tests.service.test_dtr_enable import value_of

    name = "immunomodulators-step-therapy"
    knowledge = client.app.state.decisions.knowledge  # type: ignore[attr-defined]
    policy = knowledge.policy(name)
    options = policy.facts["preferred_drugs_failed"].options
    draw = random.Random("dtr choices immunomodulators")

    def outcome(facts: Mapping[str, object]) -> tuple[str, list[str]]:
        evaluation = knowledge.evaluate(knowledge.case({"policy": name, "facts": dict(facts)}))
        return evaluation.verdict.value, [item.fact for item in evaluation.missing]

    narrowed = 0
    for _ in range(knob("DTR_CHOICES_CASES", 60, at_least=20)):
        given = {
            fact: value_of(declared, draw)
            for fact, declared in policy.facts.items()
            if fact != "preferred_drugs_failed" and draw.random() < 0.4
        }
        given = {fact: value for fact, value in given.items() if value != []}
        given["date_of_service"] = value_of(policy.facts["date_of_service"], draw)
        if draw.random() < 0.5:
            given["requested_drug"] = "taltz"  # step therapy: two drugs of eight matter
        try:
            knowledge.evaluate(knowledge.case({"policy": name, "facts": given}))
        except CaseError:
            continue
        returned = next_question(client, start(client, name) | {"item": answered(policy, given)})
        if "preferred_drugs_failed" not in asked(returned):
            continue
        kept = offered(returned, "preferred_drugs_failed")
        assert kept, "a needed list offers some option"
        for left_out in (o for o in options if o not in kept):
            narrowed += 1
            for _ in range(3):
                others = sorted(o for o in options if o != left_out and draw.random() < 0.5)
                without = outcome({**given, "preferred_drugs_failed": others} if others else given)
                with_it = outcome({**given, "preferred_drugs_failed": sorted([*others, left_out])})
                assert with_it == without, (given, left_out, others)
    assert narrowed > 0, "some draw leaves a drug out"


def test_every_bundled_policy_needs_the_adaptive_form_for_exactness() -> None:
    """Why orders get the adaptive form: for every bundled policy (a fresh
    sample of them at the everyday share) some
    answers leave the standard form's enableWhen (evaluated as FHIR defines
    it, tests/service/test_dtr_enable.py) enabling an unanswered question
    that the verdict no longer depends on (the bridge's missing facts)."""
    from policykb.bridge.model.errors import CaseError
    from policykb.service.dtr_histories import level_facts
    from tests.service.test_dtr_adaptive import bridge_needed
    from tests.service.test_dtr_enable import DAY, as_answers, enabled_items, form, partial_answers

    knowledge = KnowledgeBase()
    names = knowledge.policy_names()
    chosen = random.Random().sample(names, min(len(names), knob("DTR_INEXACT", len(names), 2)))
    for name in chosen:
        policy = knowledge.policy(name)
        questionnaire = form(knowledge, name)
        evaluator = knowledge.named_evaluator(name)
        plain = set(policy.facts) - set(level_facts(policy)) - set(policy.histories)
        draw = random.Random(f"inexact {name}")
        witness = None
        for _ in range(200):
            answers = {k: v for k, v in partial_answers(policy, draw).items() if k in plain}
            answers = {k: v for k, v in answers.items() if v != []}
            for reference in evaluator.references:
                answers[reference] = DAY.isoformat()
            given = {link: as_answers(policy.facts[link], v) for link, v in answers.items()}
            try:
                needed = bridge_needed(knowledge, name, answers)
            except CaseError:
                continue
            idle = (enabled_items(questionnaire, given) & plain) - set(answers) - needed
            if idle:
                witness = (answers, idle)
                break
        assert witness is not None, f"{name}: the standard form looked exact on every draw"
