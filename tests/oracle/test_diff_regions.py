"""diff's regions are as general as the change allows (lists as "contains
... of", codes by the policy's set names, ranges merged), and stay sound and
complete: on a list-heavy fixture, one threshold change is one region, where
one region per subset of the findings would pass diff's cap."""

from __future__ import annotations

import itertools
from pathlib import Path

from policykb.bridge import KnowledgeBase
from policykb.bridge.analysis.diff import MAX_REGIONS, diff_policies
from policykb.bridge.analysis.regions import ListCondition, _union_condition, _union_interval
from policykb.bridge.batch.impact import Region
from policykb.bridge.model.typed import Interval

FIXTURE = Path(__file__).parents[1] / "fixtures" / "list-heavy"
INDICATING = ("sleepiness", "insomnia", "hypertension", "stroke", "heart_disease")


def _covered(ahi: int, findings: frozenset[str], device: str, threshold: int) -> bool:
    """The fixture's verdict, written again (version 1: threshold 15; 2: 14)."""
    indicated = ahi >= threshold or (5 <= ahi < threshold and bool(findings & set(INDICATING)))
    return (
        indicated
        and device in ("E0601", "E0470", "E0471", "E0472")
        and "central_apnea" not in findings
    )


def test_one_threshold_change_on_a_list_heavy_policy_is_one_region() -> None:
    knowledge = KnowledgeBase((str(FIXTURE),))
    old, new = knowledge.evaluator("v1"), knowledge.evaluator("v2")
    report = diff_policies(old, new)
    assert not report.capped and len(report.changes) == 1
    change = report.changes[0]
    assert change.summary == (
        "ahi=14 and findings=contains none of sleepiness, insomnia, hypertension, stroke, "
        "heart_disease, central_apnea and device=a code in bilevel or cpap: "
        "not_covered -> covered"
    )
    assert report.policy is not None
    facts = report.policy.facts
    options = facts["findings"].options
    region = Region(tuple(change.region.items()))
    # Brute force over every subset of the findings, grouped by what the
    # verdicts read of it and whether the region's own condition on it holds.
    relevant = frozenset((*INDICATING, "central_apnea"))
    on_findings = Region(tuple((f, v) for f, v in change.region.items() if f == "findings"))
    groups: dict[tuple[frozenset[str], bool], list[frozenset[str]]] = {}
    for size in range(len(options) + 1):
        for chosen in itertools.combinations(options, size):
            findings = frozenset(chosen)
            key = (findings & relevant, on_findings.holds({"findings": findings}, facts))
            groups.setdefault(key, []).append(findings)
    changed_sets: set[frozenset[str]] = set()
    for members in groups.values():
        findings = members[0]
        for ahi, device in itertools.product(
            (0, 4, 5, 13, 14, 15, 150), ("E0601", "E0470", "E0472", "A0000", "E0473")
        ):
            before = _covered(ahi, findings, device, 15)
            after = _covered(ahi, findings, device, 14)
            known = {"ahi": ahi, "findings": findings, "device": device}
            inside = region.holds(known, facts)
            # Sound: every case in the region changes as stated; complete:
            # every case that changes is in it.
            assert inside == (before != after), known
            assert not inside or (not before and after)
            if before != after:
                changed_sets.update(members)
                case = {"policy": "v1", "facts": {**known, "findings": sorted(findings)}}
                assert knowledge.evaluate(case).verdict.value == "not_covered"
                case["policy"] = "v2"
                assert knowledge.evaluate(case).verdict.value == "covered"
    # A region per subset of the findings would pass the cap.
    assert len(changed_sets) > MAX_REGIONS


def test_list_unions_are_one_condition_only_when_they_are() -> None:
    options = ("a", "b", "c")
    single = [ListCondition(frozenset({o}), frozenset()) for o in options]
    assert _union_condition(options, single) == ListCondition(any_of=frozenset(options))
    exact = [
        ListCondition(frozenset(), frozenset(options)),
        ListCondition(frozenset("a"), frozenset("bc")),
    ]
    assert _union_condition(options, exact) == ListCondition(none_of=frozenset("bc"))
    # {a} or {b, c} exactly: no one condition says it.
    apart = [
        ListCondition(frozenset("a"), frozenset("bc")),
        ListCondition(frozenset("bc"), frozenset("a")),
    ]
    assert _union_condition(options, apart) is None
    for merged in (_union_condition(options, single), _union_condition(options, exact)):
        assert merged is not None


def test_ranges_merge_only_when_they_touch() -> None:
    assert _union_interval([Interval(1, True, 3, True), Interval(4, True, 9, True)]) == Interval(
        1, True, 9, True
    )
    assert _union_interval([Interval(1, True, 3, True), Interval(5, True, 9, True)]) is None
    assert _union_interval([Interval(1, True, 3, False), Interval(3, True, None, False)]) == (
        Interval(1, True, None, False)
    )


def test_a_boolean_true_in_one_region_and_false_in_the_other_drops_out() -> None:
    from policykb.bridge.analysis.regions import merge

    policy = KnowledgeBase((str(FIXTURE),)).evaluator("v1").policy
    facts = dict(policy.facts)
    import dataclasses

    from policykb.bridge.model.policy import FactType

    flag = dataclasses.replace(facts["ahi"], name="flag", type=FactType.BOOL)
    policy = dataclasses.replace(policy, facts={**facts, "flag": flag})
    merged = merge(
        policy,
        [({"flag": True, "device": "x"}, "c"), ({"flag": False, "device": "x"}, "c")],
    )
    assert merged == [({"device": "x"}, "c", [0, 1])]
    apart = merge(policy, [({"flag": True}, "c"), ({"flag": False}, "d")])
    assert len(apart) == 2
