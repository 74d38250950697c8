"""`why`: smallest change sets, answers for missing facts, and the JSON contract."""

from __future__ import annotations

import json
from itertools import combinations, product
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.solving.evaluator import Evaluator
from policykb.cli.main import app
from policykb.explain.why import render_why_text
from tests import reference
from tests.oracle.test_properties import cases
from tests.sampling import examples

SETTINGS = settings(
    max_examples=examples(200),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _values(fact: str) -> list[Any]:
    return list(reference.REVIEW_TYPES) if fact == "review_type" else [True, False]


def _valid_change_sets(
    known: dict[str, Any], target: str, size: int, keep: tuple[str, ...] = ()
) -> set[frozenset[Any]]:
    """Brute force: every set of `size` changes that gives the target verdict."""
    found = set()
    for facts in combinations([f for f in reference.AXES if f not in keep], size):
        options = [[v for v in _values(f) if known.get(f) != v] for f in facts]
        for values in product(*options):
            changed = {**known, **dict(zip(facts, values, strict=True))}
            if reference.verdict(changed) == target:
                found.add(frozenset(zip(facts, values, strict=True)))
    return found


@SETTINGS
@given(facts=cases())
def test_changes_are_smallest_and_give_the_target(
    massage: Evaluator, facts: dict[str, Any]
) -> None:
    answer = massage.why(Case("c", "massage-therapy", facts), max_changes=50)
    known = reference.with_defaults(facts)
    target = "not_covered" if answer.verdict is Verdict.COVERED else "covered"
    assert answer.target.value == target
    assert answer.changes, "the massage policy can always be flipped"
    size = len(answer.changes[0])
    for changes in answer.changes:
        assert len(changes) == size
        changed = {**known, **{c.fact: c.value for c in changes}}
        assert reference.verdict(changed) == target
        assert all(known.get(c.fact) != c.value for c in changes)
    for smaller in range(size):
        assert not _valid_change_sets(known, target, smaller)
    if size <= 2:
        listed = {frozenset((c.fact, c.value) for c in changes) for changes in answer.changes}
        assert listed == _valid_change_sets(known, target, size)
        assert not answer.changes_capped


@settings(
    max_examples=examples(100),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=cases())
def test_changes_that_keep_medicare_status(massage: Evaluator, facts: dict[str, Any]) -> None:
    keep = ("medicare_member",)
    answer = massage.why(Case("c", "massage-therapy", facts), max_changes=50, keep=keep)
    known = reference.with_defaults(facts)
    target = answer.target.value
    assert answer.changes, "without touching Medicare status a case can still be flipped"
    size = len(answer.changes[0])
    for changes in answer.changes:
        assert all(c.fact not in keep for c in changes)
        assert reference.verdict({**known, **{c.fact: c.value for c in changes}}) == target
    # Brute force over smaller sets is costly past size 4: no valid set below
    # min(size, 5) changes may exist.
    for smaller in range(min(size, 5)):
        assert not _valid_change_sets(known, target, smaller, keep)


@SETTINGS
@given(facts=cases())
def test_each_answer_to_a_missing_fact_gives_its_verdict(
    massage: Evaluator, facts: dict[str, Any]
) -> None:
    answer = massage.why(Case("c", "massage-therapy", facts))
    known = reference.with_defaults(facts)
    for missing in answer.missing:
        assert {a.value for a in missing.answers} == set(_values(missing.fact))
        for option in missing.answers:
            assert option.verdict.value == reference.verdict({**known, missing.fact: option.value})


def test_capped_change_lists_say_so(massage: Evaluator) -> None:
    covered = {
        "medicare_member": True,
        "delivered_by_physical_therapist": True,
        "part_of_rehab_plan_of_care": True,
    }
    full = massage.why(Case("c", "massage-therapy", covered), max_changes=50)
    assert len(full.changes) == 4 and not full.changes_capped
    capped = massage.why(Case("c", "massage-therapy", covered), max_changes=2)
    assert len(capped.changes) == 2 and capped.changes_capped
    assert set(capped.changes) <= set(full.changes)
    assert capped.changes_left_out == 2 and capped.changes_left_out_exact
    # Exactly as many sets as the limit: all of them, and not capped.
    exact = massage.why(Case("c", "massage-therapy", covered), max_changes=4)
    assert exact.changes == full.changes and not exact.changes_capped
    assert exact.changes_left_out == 0
    one_short = massage.why(Case("c", "massage-therapy", covered), max_changes=3)
    assert set(one_short.changes) < set(full.changes) and one_short.changes_capped
    assert one_short.changes_left_out == 1


def test_a_capped_list_shows_each_set_of_facts_before_more_values_of_one(
    tmp_path: Path,
) -> None:
    """Many values of one fact must not hide a change of another fact."""
    folder = tmp_path / "levels"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(level, enum).\n"
        + "".join(f"option(level, l{n}).\n" for n in range(8))
        + "fact(waiver, bool).\n"
        'criterion("L", "1", "A level from l1 up, or a waiver.").  role("L", indication).\n'
        'met("L") :- value(level, L), L != l0.\n'
        'met("L") :- holds(waiver).\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "levels", "facts": {"level": "l0", "waiver": False}})
    answer = kb.why(case, max_changes=3)
    facts = [{change.fact for change in changes} for changes in answer.changes]
    assert {"waiver"} in facts and {"level"} in facts
    assert answer.changes_capped
    assert answer.changes_left_out == 8 - 3 and answer.changes_left_out_exact
    text = render_why_text(answer, kb.policy("levels"))
    assert "(5 more sets of this size left out; raise --max-changes to list them)" in text


def test_why_json_contract() -> None:
    result = CliRunner().invoke(app, ["why", "examples/needs-information.yaml", "-f", "json"])
    assert result.exit_code == 0, result.stderr
    answer = json.loads(result.stdout)
    assert {"id", "verdict", "explanations", "changes", "missing"} <= set(answer)
    assert answer["explanations"] == [[]]
    assert answer["changes"] == [[{"fact": "part_of_rehab_plan_of_care", "value": True}]]
    assert answer["missing"][0]["answers"] == [
        {"value": True, "verdict": "covered"},
        {"value": False, "verdict": "not_covered"},
    ]


def test_why_with_proof_and_dot() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["why", "examples/denied-no-order.json", "-f", "json", "--proof"])
    assert json.loads(result.stdout)["proof"]["engine"] == "swi-prolog"
    dot = runner.invoke(app, ["evaluate", "examples/denied-no-order.json", "-f", "dot"])
    assert dot.exit_code == 0 and dot.stdout.startswith("digraph proof {")


def test_kept_facts_are_never_changed() -> None:
    runner = CliRunner()
    free = runner.invoke(app, ["why", "examples/denied-no-order.json", "-f", "json"])
    assert json.loads(free.stdout)["changes"][0][0] == {"fact": "medicare_member", "value": True}
    kept = runner.invoke(
        app, ["why", "examples/denied-no-order.json", "-f", "json", "--keep", "medicare_member"]
    )
    changes = json.loads(kept.stdout)["changes"]
    assert changes == [
        [
            {"fact": "ordered_by_treating_physician", "value": True},
            {"fact": "for_prevention", "value": False},
            {"fact": "for_recreation", "value": False},
            {"fact": "for_stress_reduction", "value": False},
            {"fact": "directed_at_maintenance", "value": False},
        ]
    ]
    bad = runner.invoke(app, ["why", "examples/denied-no-order.json", "--keep", "nope"])
    assert bad.exit_code == 1 and "unknown fact 'nope'" in bad.stderr


def test_a_verdict_that_holds_whatever_the_facts_has_the_empty_explanation(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "closed"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(a, bool).\n"
        'criterion("A", "1", "Covered with a.").  role("A", indication).\n'
        'met("A") :- holds(a).\n'
        ":- fails(a).  % a domain constraint: every scenario has a\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "closed", "facts": {"a": True}})
    evaluation = kb.evaluate(case)
    assert evaluation.verdict is Verdict.COVERED
    assert evaluation.explanation == ()
    assert kb.why(case).explanations == ((),)
    result = CliRunner().invoke(
        app,
        ["evaluate", "-", "--kb", str(folder)],
        input=json.dumps({"policy": "closed", "facts": {"a": True}}),
    )
    assert "The verdict holds whatever the facts." in result.stdout
