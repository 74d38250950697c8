"""The second engine on a case that leaves its date of service unknown.

Semantics under test (bridge/prolog/day_cases.py): such a case is proved by
cases over the day classes of the date of service, one SWI-Prolog proof per
class on that class's grounding; the verdict over the union is the classes'
common verdict, else needs_information. Checked against the brute-force
oracle of the device-wait fixture (tests/oracle/test_unknown_dates.py),
written from the fixture's text: the verdict, and each class's proved
verdict on the days of the class; and on the bundled implantable-
defibrillators policy against tests/oracle/ncd_20_4.py, written from the NCD.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import EngineError
from tests.oracle import ncd_20_4 as icd
from tests.oracle.test_unknown_dates import (
    DOS,
    FIXTURE,
    SETTINGS,
    as_case,
    device_cases,
    icd_cases,
    icd_json,
    icd_verdict,
    service_days,
    verdict,
)
from tests.sampling import examples

TRUTH = {
    Verdict.COVERED: "true",
    Verdict.NOT_COVERED: "false",
    Verdict.NEEDS_INFORMATION: "unknown",
}


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


@SETTINGS
@given(facts=device_cases())
def test_the_proof_by_day_classes_equals_brute_force_class_by_class(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    case = kb.case(as_case(facts))
    expected = verdict(facts)
    proved, tree = kb.prove(case)
    assert proved is expected
    assert kb.cross_check(case) is expected
    root = tree["root"]
    assert (root["goal"], root["truth"]) == (f"cases({DOS})", TRUTH[expected])
    evaluator = kb.evaluator("device-wait")
    split = evaluator.unknown_date(evaluator.known_facts(case)[0])
    assert len(root["children"]) == len(split.classes)
    for day_class, branch in zip(split.classes, root["children"], strict=True):
        # Each class's proof holds on every run's first and last day.
        ends = {d for run in day_class.runs for d in run}
        for ordinal in ends:
            day = date.fromordinal(ordinal)
            assert branch["truth"] == TRUTH[verdict({**facts, DOS: day})], (branch["goal"], day)
        assert branch["children"][0]["truth"] == branch["truth"]


class _Lying:
    """A prover that gives the opposite definite verdict of the real one."""

    def __init__(self, real: Any) -> None:
        self.real = real

    def prove(self, known: Any) -> tuple[Verdict, dict[str, Any]]:
        found, raw = self.real.prove(known)
        flipped = {Verdict.COVERED: Verdict.NOT_COVERED, Verdict.NOT_COVERED: Verdict.COVERED}
        return flipped.get(found, Verdict.COVERED), raw


def test_cross_check_names_the_days_where_the_engines_disagree(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    case = kb.case(as_case({"mi_date": date(2024, 2, 10), "pacemaker": False}))
    assert kb.cross_check(case) is Verdict.NEEDS_INFORMATION
    real = kb.prover_for
    lie_on = date(2024, 4, 1).toordinal()

    def prover_for(evaluator: Any) -> Any:
        engine = real(evaluator)
        return _Lying(engine) if evaluator.anchors.get(DOS) == lie_on else engine

    monkeypatch.setattr(kb, "prover_for", prover_for)
    with pytest.raises(EngineError, match=f"with {DOS} in 2024-04-01: clingo says"):
        kb.cross_check(case)


@pytest.fixture(scope="module")
def bundled() -> KnowledgeBase:
    return KnowledgeBase()


@settings(
    max_examples=examples(6),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(facts=icd_cases())
def test_defibrillators_are_proved_and_cross_checked_over_the_days_of_service(
    bundled: KnowledgeBase, facts: dict[str, Any]
) -> None:
    case = bundled.case(icd_json(facts))
    known = icd.with_defaults(facts)
    expected = icd_verdict(known, service_days(known))
    proved, tree = bundled.prove(case)
    assert proved.value == expected
    assert tree["root"]["truth"] == TRUTH[proved]
    assert bundled.cross_check(case).value == expected
