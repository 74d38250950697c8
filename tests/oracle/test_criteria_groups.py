"""Criteria structures: all-of, any-of and at-least-k groups, shared parts,
nested headings, and count aggregates proved by the second engine.

The hearing-aids fixture uses every structure; its oracle is written here
from the fixture's text. Verdicts, missing facts and every minimal
explanation are checked against brute force over all completions, and the
two engines against each other on every complete scenario. Engine agreement
also runs on every bundled policy and every fixture.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from itertools import combinations, product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase, PolicyError, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.policy import FactType
from policykb.bridge.model.result import Status
from policykb.bridge.solving.evaluator import Evaluator
from policykb.cli.main import app
from tests.oracle.test_compiled import every_policy, policy_id
from tests.sampling import examples, knob

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# -- the oracle ------------------------------------------------------------------------

VALUES: dict[str, list[Any]] = {
    "member": ["adult", "child"],
    "review_type": ["initial", "renewal"],
    "loss": ["none", "mild", "moderate", "severe"],
    **{
        name: [True, False]
        for name in (
            "tinnitus",
            "speech_test_failed",
            "occupational_need",
            "face_to_face",
            "device_over_five_years",
            "speech_delay",
            "cosmetic_only",
        )
    },
}


def hearing_aids(f: dict[str, Any]) -> bool:
    adult, child = f["member"] == "adult", f["member"] == "child"
    functional = [f["tinnitus"], f["speech_test_failed"], f["occupational_need"]]
    initial = (
        adult
        and f["review_type"] == "initial"
        and f["loss"] in ("moderate", "severe")
        and sum(functional) >= 2
        and f["face_to_face"]
    )
    renewal = (
        adult
        and f["review_type"] == "renewal"
        and f["device_over_five_years"]
        and f["face_to_face"]
    )
    children = child and (f["loss"] != "none" or f["speech_delay"])
    return bool((initial or renewal or children) and not f["cosmetic_only"])


def completions(known: dict[str, Any]) -> Iterator[dict[str, Any]]:
    unknown = [f for f in VALUES if f not in known]
    for values in product(*(VALUES[f] for f in unknown)):
        yield {**known, **dict(zip(unknown, values, strict=True))}


def brute(known: dict[str, Any]) -> Verdict:
    seen = {hearing_aids(full) for full in completions(known)}
    if seen == {True}:
        return Verdict.COVERED
    if seen == {False}:
        return Verdict.NOT_COVERED
    return Verdict.NEEDS_INFORMATION


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURES / "hearing-aids"])


@pytest.fixture(scope="module")
def hearing(kb: KnowledgeBase) -> Evaluator:
    return kb.evaluator("hearing-aids")


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    return {
        fact: draw(st.sampled_from(options))
        for fact, options in VALUES.items()
        if draw(st.integers(0, 9)) < 6
    }


def case_of(evaluator: Evaluator, facts: dict[str, Any]) -> Any:
    return validate_case({"policy": evaluator.policy.name, "facts": facts}, evaluator.policy, "c")


# -- properties against brute force -----------------------------------------------------


@SETTINGS
@given(facts=cases())
def test_verdict_and_missing_facts_equal_brute_force(
    hearing: Evaluator, facts: dict[str, Any]
) -> None:
    evaluation = hearing.evaluate(case_of(hearing, facts))
    assert evaluation.verdict is brute(facts)
    missing = set()
    if evaluation.verdict is Verdict.NEEDS_INFORMATION:
        for fact in (f for f in VALUES if f not in facts):
            for full in completions(facts):
                if len({hearing_aids({**full, fact: v}) for v in VALUES[fact]}) == 2:
                    missing.add(fact)
                    break
    assert {m.fact for m in evaluation.missing} == missing


@SETTINGS
@given(facts=cases())
def test_explanations_are_exactly_the_minimal_sufficient_sets(
    hearing: Evaluator, facts: dict[str, Any]
) -> None:
    verdict = brute(facts)
    sufficient = [
        frozenset(subset)
        for size in range(len(facts) + 1)
        for subset in combinations(facts, size)
        if brute({f: facts[f] for f in subset}) is verdict
    ]
    minimal = {s for s in sufficient if not any(t < s for t in sufficient)}
    known, _ = hearing.known_facts(case_of(hearing, facts))
    assert {frozenset(e) for e in hearing.explanations(known, verdict)} == minimal


@SETTINGS
@given(facts=cases())
def test_statuses_follow_the_groups_of_parts(hearing: Evaluator, facts: dict[str, Any]) -> None:
    """A group's status is what its kind makes of its parts' statuses, in
    every case: all, any and at least 2 in Kleene's three values."""
    statuses = hearing.evaluate(case_of(hearing, facts)).criteria
    rank = {Status.NOT_MET: 0, Status.UNKNOWN: 1, Status.MET: 2}
    for criterion in hearing.policy.criteria.values():
        if criterion.combines is None or statuses[criterion.id] is Status.NOT_APPLICABLE:
            continue
        parts = [statuses[p] for p in criterion.parts]
        if Status.NOT_APPLICABLE in parts:
            continue
        met = sum(s is Status.MET for s in parts)
        maybe = sum(s is Status.UNKNOWN for s in parts)
        own = rank[statuses[criterion.id]]
        needed = criterion.needed
        if met >= needed:
            assert own == 2, criterion.id
        elif met + maybe < needed:
            assert own == 0, criterion.id


# -- structures -------------------------------------------------------------------------


def test_a_shared_part_applies_wherever_one_of_its_parents_does(hearing: Evaluator) -> None:
    assert hearing.policy.criteria["EVAL"].parents == ("I", "R")
    base = {"face_to_face": True, "member": "adult"}
    for review in ("initial", "renewal"):
        statuses = hearing.evaluate(case_of(hearing, {**base, "review_type": review})).criteria
        assert statuses["EVAL"] is Status.MET
    child = hearing.evaluate(case_of(hearing, {**base, "member": "child"})).criteria
    assert child["EVAL"] is Status.NOT_APPLICABLE
    assert child["I"] is child["R"] is Status.NOT_APPLICABLE


def test_a_nested_heading_applies_only_inside_its_outer_heading(hearing: Evaluator) -> None:
    # A child's initial request: "Initial" holds, but not the "Adults" it stands in.
    statuses = hearing.evaluate(
        case_of(hearing, {"member": "child", "review_type": "initial"})
    ).criteria
    assert statuses["I"] is Status.NOT_APPLICABLE
    assert hearing.policy.heading_path("Initial") == ["Adults", "Initial"]


def test_the_tree_labels_each_group_with_its_kind_and_count() -> None:
    facts = {"member": "adult", "review_type": "initial", "tinnitus": True}
    result = CliRunner().invoke(
        app,
        ["evaluate", "-", "--kb", str(FIXTURES / "hearing-aids")],
        input=f'{{"policy": "hearing-aids", "facts": {_json(facts)}}}',
    )
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert "F (part, at least 2 of 3: 1 met, unknown)" in text
    assert "I (covered when, all of 3: 0 met, unknown)" in text
    assert "C (covered when, any of 2: 0 met, not applicable)" in text
    assert "Adults > Initial" in text


def _json(facts: dict[str, Any]) -> str:
    return json.dumps(facts)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ('combines("A", some).', "use all, any or at_least(K) with K from 1 to its 2 parts"),
        ('combines("A", at_least(3)).', "use all, any or at_least(K)"),
        ('combines("A", at_least(0)).', "use all, any or at_least(K)"),
        ('combines("B1", all).', "B1 has no parts"),
        ('combines("Z", all).', "combines/2 names Z, which is not a declared criterion"),
        ('part_of("B1", "Q").', "part_of(B1, Q): Q is not a declared criterion"),
    ],
)
def test_a_wrong_group_declaration_is_refused_with_its_line(
    tmp_path: Path, declaration: str, message: str
) -> None:
    folder = tmp_path / "groups"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(a, bool). fact(b, bool).\n"
        'criterion("A", "1", "A.").  role("A", indication).\n'
        'criterion("A1", "1a", "A1.").  role("A1", requirement).  part_of("A1", "A").\n'
        'criterion("A2", "1b", "A2.").  role("A2", requirement).  part_of("A2", "A").\n'
        'criterion("B1", "2", "B1.").  role("B1", indication).\n'
        'met("A1") :- holds(a).  met("A2") :- holds(b).  met("B1") :- holds(a).\n'
        f"{declaration}\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as raised:
        KnowledgeBase([folder]).evaluator("groups")
    assert message in str(raised.value)
    assert f"{folder / 'policy.lp'}:7" in str(raised.value)


# -- the second engine --------------------------------------------------------------------


def test_a_count_aggregate_in_a_rule_body_proves_and_cross_checks(tmp_path: Path) -> None:
    """Any policy with `2 { ... }` or #count in a body, not only the fixture."""
    folder = tmp_path / "counting"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(a, bool). fact(b, bool). fact(c, bool). fact(level, enum).\n"
        "option(level, low). option(level, high).\n"
        'criterion("T", "1", "Two of a, b, c.").  role("T", indication).\n'
        'met("T") :- 2 { holds(a); holds(b); holds(c) }.\n'
        'criterion("N", "2", "Not all three fail at a high level.").  role("N", exclusion).\n'
        'met("N") :- value(level, high), #count { F : fails(F), F != level } = 3.\n'
        'criterion("M", "3", "At most one holds at a low level.").  role("M", exclusion).\n'
        'met("M") :- value(level, low), not 2 <= #count { F : holds(F) }.\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    evaluator = kb.evaluator("counting")
    prover = kb.prover("counting")
    facts = evaluator.decision_facts
    choices = [prover.scenario_choices(f) for f in facts]
    assert prover.covered_scenarios(facts) == evaluator.covered_scenarios(facts, choices)
    for values in product([True, False, None], [True, False, None], [True, False, None]):
        for level in ("low", "high", None):
            given_facts = {k: v for k, v in zip("abc", values, strict=True) if v is not None} | (
                {"level": level} if level else {}
            )
            case = kb.case({"policy": "counting", "facts": given_facts})
            assert kb.cross_check(case) is evaluator.evaluate(case).verdict, given_facts
    case = kb.case({"policy": "counting", "facts": {"a": True, "b": False, "level": "high"}})
    _, proof = kb.prove(case)
    texts = list(_texts(proof["root"]))
    assert "at least 2 of 3 needed; holds: a; fails: b; unknown: c" in texts


def _texts(node: dict[str, Any]) -> Iterator[str]:
    yield node["text"]
    for child in node["children"]:
        yield from _texts(child)


SAMPLE = knob("POLICYKB_ENGINE_SAMPLE", 1024)
"""Complete scenarios compared per policy; a larger space is sampled evenly
(every (size // SAMPLE)-th). `make test` keeps 1,024 per policy so the run
stays within its time; POLICYKB_ENGINE_SAMPLE=4096 (or more) widens it."""


@pytest.mark.parametrize(("name", "folder"), every_policy(), ids=policy_id)
def test_engines_agree_on_complete_scenarios_of_every_policy(
    name: str, folder: Path | None
) -> None:
    kb = KnowledgeBase([folder] if folder else [])
    evaluator = kb.evaluator(name)
    if evaluator.references:  # judged as of a day: compare as of one
        day = date(2024, 8, 31).toordinal()
        evaluator = evaluator.at(dict.fromkeys(evaluator.references, day), fixed=True)
    prover = kb.prover_for(evaluator)
    facts = evaluator.decision_facts
    choices = [prover.scenario_choices(f) for f in facts]
    size = 1
    for options in choices:
        size *= len(options)
    if size <= SAMPLE:
        by_clingo = evaluator.covered_scenarios(facts, choices)
        assert prover.covered_scenarios(facts) == by_clingo
    else:
        # Too many to enumerate: every (size // SAMPLE)-th scenario, by both engines.
        for code in range(0, size, size // SAMPLE):
            known = _scenario(evaluator, facts, choices, code)
            assert prover.prove(known)[0] is evaluator.verdict_of(known), known
    # Cases with unknowns (the cross-check): no fact known, and sampled
    # scenarios with every other fact left out.
    assert prover.prove({})[0] is evaluator.verdict_of({})
    for number, code in enumerate(range(0, size, max(1, size // PARTIAL))):
        known = _scenario(evaluator, facts, choices, code)
        partial = {f: v for i, (f, v) in enumerate(known.items()) if (i + number) % 2}
        assert prover.prove(partial)[0] is evaluator.verdict_of(partial), partial


PARTIAL = 40
"""Cases with unknown facts cross-checked per policy."""


def _scenario(
    evaluator: Evaluator, facts: list[str], choices: list[list[Any]], code: int
) -> dict[str, Any]:
    """The complete scenario numbered `code` (mixed radix over `choices`), as case values."""
    known: dict[str, Any] = {}
    for fact, options in zip(facts, choices, strict=True):
        code, index = divmod(code, len(options))
        known[fact] = evaluator.concrete(fact, options[index])
    for fact, declared in evaluator.policy.facts.items():
        if fact not in known and declared.type is FactType.BOOL:
            known[fact] = False
    return known


def test_an_untranslatable_rule_is_a_check_finding_and_exit_7_for_proofs(tmp_path: Path) -> None:
    folder = tmp_path / "summing"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(a, bool). fact(b, bool).\n"
        'criterion("S", "1", "Both.").  role("S", indication).\n'
        'met("S") :- #sum { 1,F : holds(F) } >= 2.\n',
        encoding="utf-8",
    )
    case = tmp_path / "case.json"
    case.write_text('{"policy": "summing", "facts": {"a": true, "b": true}}')
    runner = CliRunner()
    evaluated = runner.invoke(app, ["evaluate", str(case), "--kb", str(folder)])
    assert evaluated.exit_code == 0
    assert "COVERED" in evaluated.stdout
    for flag in ("--proof", "--cross-check"):
        refused = runner.invoke(app, ["evaluate", str(case), "--kb", str(folder), flag])
        assert refused.exit_code == 7
        assert refused.stderr.count("\n") == 1
        assert "policy.lp:3: the Prolog translation does not support the aggregate" in (
            refused.stderr
        )
    checked = runner.invoke(
        app, ["check", "--policy", "summing", "--kb", str(folder), "--format", "json"]
    )
    findings = [f for f in json.loads(checked.stdout)["findings"] if f["kind"] == "unprovable"]
    assert len(findings) == 1
    assert findings[0]["message"].startswith("policy.lp:3: the Prolog translation")


def test_rules_that_read_facts_through_a_variable_decide_on_every_fact(tmp_path: Path) -> None:
    """#count { F : holds(F) } reads any bool fact: why changes them, check
    witnesses them, and none is reported unused."""
    folder = tmp_path / "any-two"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(a, bool). fact(b, bool). fact(c, bool).\n"
        'criterion("T", "1", "Any two of a, b, c.").  role("T", indication).\n'
        'met("T") :- #count { F : holds(F) } >= 2.\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "any-two", "facts": {"a": False, "b": False, "c": False}})
    answer = kb.why(case)
    found = {frozenset((c.fact, c.value) for c in changes) for changes in answer.changes}
    assert found == {
        frozenset({(x, True), (y, True)}) for x, y in (("a", "b"), ("a", "c"), ("b", "c"))
    }
    report = kb.check(kb.evaluator("any-two"))
    assert not [f for f in report.findings if f.kind.value == "vocabulary"]
    gap = next(f for f in report.findings if f.kind.value == "gap")
    assert gap.witness is not None


def test_intervals_prove_and_a_proof_shows_a_given_fact_once(tmp_path: Path) -> None:
    folder = tmp_path / "scores"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(level, enum). option(level, l1). option(level, l2).\n"
        "fact(score, enum). option(score, 1..5).\n"
        "threshold(3..5).\n"
        'criterion("S", "1", "Score 3 or more.").  role("S", indication).\n'
        'met("S") :- value(score, N), threshold(N).\n'
        'criterion("L", "2", "Level l2 with score 1 or 2.").  role("L", indication).\n'
        'met("L") :- value(level, l2), value(score, N), N = 1..2.\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    evaluator, prover = kb.evaluator("scores"), kb.prover("scores")
    facts = evaluator.decision_facts
    choices = [prover.scenario_choices(f) for f in facts]
    covered = evaluator.covered_scenarios(facts, choices)
    assert prover.covered_scenarios(facts) == covered
    assert len(covered) == 3 * 2 + 2  # score 3-5 at either level; 1-2 at l2
    for score in (None, 1, 2, 3, 5):
        for level in (None, "l1", "l2"):
            given = {"score": score, "level": level}
            case = kb.case({"policy": "scores", "facts": {k: v for k, v in given.items() if v}})
            assert kb.cross_check(case) is evaluator.evaluate(case).verdict
    _, proof = kb.prove(kb.case({"policy": "scores", "facts": {"score": 2}}))
    # The case needs information: the proof is a split whose parts are the
    # three-valued proof and the branches that differ.
    parts = proof["root"]["children"] if proof["root"]["rule"] == "cases" else [proof["root"]]
    for part in parts:
        case_nodes = [t for t in _texts(part) if t == "score = 2 (given in the case)"]
        # Once under each criterion's rule, not once per score the case does not have.
        assert len(case_nodes) <= 3


def test_check_findings_on_grouped_criteria_have_witnesses_that_hold(kb: KnowledgeBase) -> None:
    """Each witness of check on the hearing-aids fixture, evaluated again, gets
    the finding's verdict and shows what the finding says (an overlap's
    indication and blocker both hold)."""
    report = kb.check(kb.evaluator("hearing-aids"))
    witnessed = [f for f in report.findings if f.witness is not None]
    assert witnessed
    for finding in witnessed:
        assert finding.witness is not None
        case = kb.case({"policy": "hearing-aids", "facts": _raw(finding.witness)})
        evaluation = kb.evaluate(case)
        assert evaluation.verdict is finding.verdict, finding.message
        assert brute(dict(_raw(finding.witness))) is finding.verdict
        if finding.kind.value == "overlap":
            indication, blocker = finding.criteria
            assert evaluation.criteria[indication] is Status.MET
            blocking = kb.evaluator("hearing-aids").policy.criteria[blocker]
            expected = Status.MET if blocking.role.value == "exclusion" else Status.NOT_MET
            assert evaluation.criteria[blocker] is expected


def _raw(witness: Any) -> dict[str, Any]:
    return {f: sorted(v) if isinstance(v, frozenset) else v for f, v in witness.items()}
