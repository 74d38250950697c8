"""Findings about number and date ranges no comparison of the policy
speaks to, between ranges that some do."""

from __future__ import annotations

import clingo
from clingo import Function

from policykb.bridge.analysis.checker import Checker
from policykb.bridge.analysis.findings import Finding, Kind
from policykb.bridge.loading.region_facts import passes


def range_gaps(checker: Checker) -> list[Finding]:
    """Ranges of a number or date that no comparison of the policy speaks to,
    between ranges that some do: 5-14 and 15 or more leave 14 < AHI < 15 out.
    Only for facts compared with constants alone (not with reference dates)."""
    policy = checker.policy
    found: list[Finding] = []
    for name, fact in policy.facts.items():
        if not fact.type.numeric:
            continue
        anchors = checker.evaluator.anchors
        tests = [c for c in checker.evaluator.comparisons if c.fact == name]
        if name in anchors or any(c.reference is not None for c in tests):
            # Its regions move with the reference dates: values no comparison
            # passes at one placement are decided (failed) by the comparisons
            # that pass at another, so a gap here would be the placement's.
            continue
        tested = [
            any(passes(fact, region, test, anchors) for test in tests) for region in fact.regions
        ]
        for index in range(1, len(fact.regions) - 1):
            if tested[index] or not (tested[index - 1] and tested[index + 1]):
                continue
            region = fact.regions[index]
            span = fact.span(region)
            condition = Function("value", [Function(name), clingo.Number(index)])
            witnessed = checker.witness(condition)
            facts, verdict = witnessed if witnessed else (None, None)
            found.append(
                Finding(
                    Kind.RANGE_GAP,
                    (),
                    f"{name} {span.words}: no comparison of the policy speaks to these "
                    "values, though values on both sides are compared; no criterion "
                    "decides them",
                    facts,
                    verdict,
                )
            )
    return found
