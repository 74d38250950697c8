"""Properties on policies of one's own, so they are not tied to the massage policy.

Four fixture policies, each a shape the massage policy does not have:
- physio-visits: an enum fact and a default;
- knee-brace: a string fact that decides the verdict (its "other" value
  included) and a prerequisite under a heading;
- wound-care: a list fact that decides the verdict (compiled as one variable
  over the subsets of its options);
- two-routes: two exclusive routes to coverage that read the same facts.

For each: the compiled policy equals the evaluator; the
explanations are exactly the minimal sufficient sets, the missing facts
exactly those the verdict can turn on, and `why`'s changes exactly the
smallest sets that flip the verdict, each found here by brute force over the
evaluator's verdicts of complete scenarios.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from itertools import chain, combinations, product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.batch.runner import run_batch
from policykb.bridge.batch.settings import BatchSettings
from policykb.bridge.compile import circuit as circuit_module
from policykb.bridge.compile.circuit import TooComplex
from policykb.bridge.compile.compiled import CompiledPolicy, compile_policy
from policykb.bridge.model.formats import InputFormat
from policykb.bridge.model.policy import FactType, Value
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
POLICIES = ("physio-visits", "knee-brace", "wound-care", "two-routes")
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
OTHER_STRING = "not-one-of-the-options"


@pytest.fixture(scope="module", params=POLICIES)
def policy(request: pytest.FixtureRequest) -> Evaluator:
    name = str(request.param)
    return KnowledgeBase([FIXTURES / name]).evaluator(name)


def values_of(evaluator: Evaluator, fact: str) -> list[Value]:
    """Every value a case may give a fact, one stand-in for 'any other string'."""
    declared = evaluator.policy.facts[fact]
    if declared.type is FactType.BOOL:
        return [True, False]
    if declared.type is FactType.ENUM:
        return list(declared.options)
    if declared.type is FactType.STRING:
        return [*declared.options, OTHER_STRING]
    options = list(declared.options)
    subsets = chain.from_iterable(combinations(options, k) for k in range(len(options) + 1))
    return [frozenset(s) for s in subsets]


def raw(value: Value) -> Any:
    return sorted(value) if isinstance(value, frozenset) else value


@st.composite
def facts_of(draw: st.DrawFn, evaluator: Evaluator) -> dict[str, Any]:
    chosen = {
        fact: draw(st.sampled_from([None, *values_of(evaluator, fact)]))
        for fact in evaluator.policy.facts
    }
    return {fact: raw(value) for fact, value in chosen.items() if value is not None}


def completions(evaluator: Evaluator, known: dict[str, Value]) -> Iterator[dict[str, Value]]:
    unknown = [f for f in evaluator.policy.facts if f not in known]
    for values in product(*(values_of(evaluator, f) for f in unknown)):
        yield {**known, **dict(zip(unknown, values, strict=True))}


def brute_verdict(evaluator: Evaluator, known: dict[str, Value]) -> Verdict:
    """The three-valued verdict from the two-valued verdicts of every completion."""
    seen = {evaluator.verdict_of(full) for full in completions(evaluator, known)}
    if seen == {Verdict.COVERED}:
        return Verdict.COVERED
    if seen == {Verdict.NOT_COVERED}:
        return Verdict.NOT_COVERED
    return Verdict.NEEDS_INFORMATION


def case_of(evaluator: Evaluator, facts: dict[str, Any]) -> Case:
    from policykb.bridge.loading.case import validate_case

    document = {"policy": evaluator.policy.name, "facts": facts}
    return validate_case(document, evaluator.policy, "c")


def test_every_fixture_compiles(policy: Evaluator) -> None:
    assert compile_policy(policy) is not None


@SETTINGS
@given(data=st.data())
def test_compiled_equals_evaluator_and_brute_force(policy: Evaluator, data: st.DataObject) -> None:
    case = case_of(policy, data.draw(facts_of(policy)))
    evaluation = policy.evaluate(case)
    known, _ = policy.known_facts(case)
    assert evaluation.verdict is brute_verdict(policy, known)
    compiled = compile_policy(policy)
    if compiled is not None:
        assert compiled.evaluate(case) == evaluation


@SETTINGS
@given(data=st.data())
def test_explanations_are_the_minimal_sufficient_sets(
    policy: Evaluator, data: st.DataObject
) -> None:
    known, _ = policy.known_facts(case_of(policy, data.draw(facts_of(policy))))
    verdict = brute_verdict(policy, known)
    sufficient = [
        frozenset(subset)
        for size in range(len(known) + 1)
        for subset in combinations(known, size)
        if brute_verdict(policy, {f: known[f] for f in subset}) is verdict
    ]
    minimal = {s for s in sufficient if not any(t < s for t in sufficient)}
    assert {frozenset(e) for e in policy.explanations(known, verdict)} == minimal


@SETTINGS
@given(data=st.data())
def test_missing_facts_are_those_the_verdict_can_turn_on(
    policy: Evaluator, data: st.DataObject
) -> None:
    case = case_of(policy, data.draw(facts_of(policy)))
    known, _ = policy.known_facts(case)
    unknown = [f for f in policy.policy.facts if f not in known]
    turns = set()
    for full in completions(policy, known):
        verdict = policy.verdict_of(full)
        for fact in unknown:
            for other in values_of(policy, fact):
                if policy.verdict_of({**full, fact: other}) is not verdict:
                    turns.add(fact)
    evaluation = policy.evaluate(case)
    expected = turns if evaluation.verdict is Verdict.NEEDS_INFORMATION else set()
    assert {m.fact for m in evaluation.missing} == expected


def change_values(evaluator: Evaluator, fact: str) -> list[Value]:
    """The values a change may give a fact: a string fact takes one of its options."""
    values = values_of(evaluator, fact)
    return [v for v in values if v != OTHER_STRING]


def _flips(
    evaluator: Evaluator, known: dict[str, Value], target: Verdict, size: int
) -> set[frozenset[tuple[str, Any]]]:
    """Brute force: every set of `size` changes that gives the target verdict."""
    found = set()
    for facts in combinations(evaluator.policy.facts, size):
        options = [[v for v in change_values(evaluator, f) if known.get(f) != v] for f in facts]
        for values in product(*options):
            changed = {**known, **dict(zip(facts, values, strict=True))}
            if brute_verdict(evaluator, changed) is target:
                found.add(frozenset(zip(facts, values, strict=True)))
    return found


@settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_why_lists_exactly_the_smallest_change_sets(policy: Evaluator, data: st.DataObject) -> None:
    case = case_of(policy, data.draw(facts_of(policy)))
    answer = policy.why(case, max_changes=1000)
    known, _ = policy.known_facts(case)
    target = Verdict.NOT_COVERED if answer.verdict is Verdict.COVERED else Verdict.COVERED
    assert answer.target is target
    sizes = range(len(policy.policy.facts) + 1)
    size = next((n for n in sizes if _flips(policy, known, target, n)), None)
    listed = {frozenset(_listed(c) for c in changes) for changes in answer.changes}
    if size is None:
        assert not listed
    else:
        assert listed == _summarised(policy, known, _flips(policy, known, target, size))
    assert not answer.changes_capped


def _listed(change: Any) -> tuple[str, Any]:
    """A listed change: (fact, value), or for a list fact (fact, its smallest edits)."""
    data = change.to_dict()
    if "edits" not in data:
        return change.fact, change.value
    edits = frozenset(
        (frozenset(e.get("add", ())), frozenset(e.get("remove", ())))
        for e in data["edits"]["any_of"]
    )
    return change.fact, edits


def _summarised(
    evaluator: Evaluator, known: dict[str, Value], flips: set[frozenset[tuple[str, Any]]]
) -> set[frozenset[tuple[str, Any]]]:
    """Brute-force change sets with each list fact's values replaced by the
    inclusion-smallest edits (added, removed) among the values that work with
    the same other changes: what `why` lists for a list fact."""
    many = {f for f, d in evaluator.policy.facts.items() if d.type.many}
    groups: dict[frozenset[tuple[str, Any]], list[frozenset[str]]] = {}
    for flip in flips:
        lists = [(f, v) for f, v in flip if f in many]
        assert len(lists) <= 1, "one list fact per change set in these fixtures"
        if not lists:
            groups.setdefault(flip, [])
            continue
        fact, value = lists[0]
        rest = frozenset((f, v) for f, v in flip if f not in many) | {(fact, None)}
        base = frozenset(known.get(fact, frozenset()))  # type: ignore[arg-type]
        groups.setdefault(rest, []).append(frozenset(base ^ frozenset(value)))
    result = set()
    for rest, toggles in groups.items():
        if not toggles:
            result.add(rest)
            continue
        smallest = [t for t in toggles if not any(o < t for o in toggles)]
        fact = next(f for f, v in rest if v is None)
        base = frozenset(known.get(fact, frozenset()))  # type: ignore[arg-type]
        edits = frozenset((t - base, t & base) for t in smallest)
        result.add(frozenset((f, v) for f, v in rest if v is not None) | {(fact, edits)})
    return result


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_batch_equals_evaluate(policy: Evaluator, data: st.DataObject) -> None:
    name = policy.policy.name
    records = [
        {"id": f"r{i}", "policy": name, "facts": data.draw(facts_of(policy))} for i in range(5)
    ]
    source = io.BytesIO(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    out = io.BytesIO()
    run_batch(source, out, InputFormat.JSONL, BatchSettings(kb_dirs=(str(FIXTURES / name),)))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    kb = KnowledgeBase([FIXTURES / name])
    expected = [json.loads(json.dumps(kb.evaluate(r).to_dict())) for r in records]
    assert lines == expected


def test_a_circuit_past_its_node_limit_falls_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy whose circuit needs more than MAX_NODES nodes is not compiled;
    batch then evaluates it case by case, with the same answers."""
    evaluator = KnowledgeBase([FIXTURES / "two-routes"]).evaluator("two-routes")
    monkeypatch.setenv("POLICYKB_CACHE_DIR", "off")
    needed = len(CompiledPolicy(evaluator).circuit)
    assert needed > 2
    monkeypatch.setattr(circuit_module, "MAX_NODES", 2)
    with pytest.raises(TooComplex, match="more than 2 nodes"):
        CompiledPolicy(evaluator)
    assert compile_policy(evaluator) is None
    records = [{"id": str(n), "facts": f} for n, f in enumerate([{}, {"referred": True}])]
    source = io.BytesIO(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    out = io.BytesIO()
    settings = BatchSettings(kb_dirs=(str(FIXTURES / "two-routes"),), policy="two-routes")
    run_batch(source, out, InputFormat.JSONL, settings)
    kb = KnowledgeBase([FIXTURES / "two-routes"])
    expected = [
        json.loads(json.dumps(kb.evaluate({**r, "policy": "two-routes"}).to_dict()))
        for r in records
    ]
    assert [json.loads(line) for line in out.getvalue().splitlines()] == expected


def test_compiled_missing_facts_when_the_routes_share_literals() -> None:
    """Two exclusive routes read the same facts (referred with not self-pay,
    against referred with self-pay): the circuit decides on them, and the
    missing facts must still be exactly those the verdict turns on."""
    evaluator = KnowledgeBase([FIXTURES / "two-routes"]).evaluator("two-routes")
    compiled = compile_policy(evaluator)
    assert compiled is not None
    for facts, missing in [
        ({}, ["referred", "self_pay", "excluded"]),
        ({"excluded": False}, ["referred", "self_pay"]),
        ({"referred": True}, ["self_pay", "excluded"]),
    ]:
        case = case_of(evaluator, facts)
        assert [m.fact for m in compiled.evaluate(case).missing] == missing
        assert [m.fact for m in evaluator.evaluate(case).missing] == missing


@SETTINGS
@given(data=st.data())
def test_answers_for_a_missing_list_are_its_smallest_answers_per_verdict(
    policy: Evaluator, data: st.DataObject
) -> None:
    """For a list fact, why gives, for covered and for not_covered, exactly the
    inclusion-smallest answers that lead to that verdict (no subset flood)."""
    many = [f for f, d in policy.policy.facts.items() if d.type.many]
    if not many:
        return
    case = case_of(policy, data.draw(facts_of(policy)))
    known, _ = policy.known_facts(case)
    for fact in many:
        if fact in known:
            continue
        listed = {a.verdict: a.to_dict()["edits"]["any_of"] for a in policy.answers(known, fact)}
        for verdict in (Verdict.COVERED, Verdict.NOT_COVERED):
            giving = [
                frozenset(v)  # type: ignore[arg-type]
                for v in values_of(policy, fact)
                if brute_verdict(policy, {**known, fact: v}) is verdict
            ]
            smallest = {v for v in giving if not any(o < v for o in giving)}
            got = {frozenset(e.get("add", ())) for e in listed.get(verdict, [])}
            assert got == smallest, (fact, verdict)
