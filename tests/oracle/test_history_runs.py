"""run_at_least (kb/core/history.lp) against brute force over completions.

The usage-history fixture covers a prescribed device (PRESCRIBED), from 2021
on (DOS), used 4 hours or more on 2 of 3 consecutive nights in the 90 days
before the date of service (ADHERENT), unless 2 consecutive nights in those
90 days were shorter (LAPSE). The oracle below is written from that text with
its own calendar arithmetic: it enumerates the completions of the log (the
stated nights plus any multiset of up to four extra nights from a pool of
long and short nights on the last four days and on each side of the 90-day
edge) and the values of prescribed.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.result import Status
from policykb.bridge.solving.evaluator import Evaluator
from tests.oracle import history_harness as harness

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb"
POLICY = "usage-history"
SETTINGS = harness.property_settings(40)
Night = tuple[date, int]  # (night, hours)


# -- the oracle, from the criteria's text -----------------------------------------------


def has_run(days: Iterable[date], count: int, span: int) -> bool:
    """Whether some `span` consecutive days hold `count` of the different `days`."""
    found = set(days)
    return any(
        sum(1 for d in found if start <= d < start + timedelta(days=span)) >= count
        for start in found
    )


def usage_rules(dos: date, nights: Iterable[Night]) -> tuple[bool, bool]:
    """(ADHERENT, LAPSE) for a complete log."""
    recent = [(d, h) for d, h in nights if dos - timedelta(days=90) <= d < dos]
    adherent = has_run([d for d, h in recent if h >= 4], 2, 3)
    lapse = has_run([d for d, h in recent if h < 4], 2, 2)
    return adherent, lapse


def pool(dos: date) -> list[Night]:
    days = [dos - timedelta(days=k) for k in (1, 2, 3, 4, 90, 91)]
    return [(d, h) for d in days for h in (3, 5)]


def covered(dos: date, usage: tuple[bool, bool], prescribed: bool) -> bool:
    adherent, lapse = usage
    return dos >= date(2021, 1, 1) and prescribed and adherent and not lapse


def outcomes(facts: dict[str, Any]) -> list[tuple[bool, bool]]:
    records, complete = facts["usage"]
    dos = facts["dos"]
    return sorted(
        {usage_rules(dos, c) for c in harness.completions(records, complete, pool(dos), 4)}
    )


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    dos = facts["dos"]
    choices = {"usage": outcomes(facts), "prescribed": harness.truth_values(facts["prescribed"])}
    return harness.verdict_and_missing(choices, lambda v: covered(dos, v["usage"], v["prescribed"]))


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [date(2020, 12, 31), date(2021, 3, 1), date(2024, 2, 29), date(2024, 3, 31)]
NAMES = ("ADHERENT", "LAPSE")
CASES = harness.cases_of(SERVICE_DAYS, ["prescribed"], {"usage": pool}, max_size=4)


def document(facts: dict[str, Any]) -> dict[str, Any]:
    return harness.document_of(
        POLICY, facts, {"prescribed": "prescribed"}, {"usage": ("night", "hours")}
    )


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return harness.knowledge_base(FIXTURE).evaluator(POLICY)


# -- properties --------------------------------------------------------------------------


@SETTINGS
@given(facts=CASES)
def test_verdict_and_missing_equal_brute_force(evaluator: Evaluator, facts: dict[str, Any]) -> None:
    harness.assert_verdict_and_missing(evaluator, document(facts), oracle(facts))


@SETTINGS
@given(facts=CASES)
def test_each_criterion_equals_brute_force(evaluator: Evaluator, facts: dict[str, Any]) -> None:
    harness.assert_statuses(
        evaluator, document(facts), harness.statuses_over(outcomes(facts), NAMES)
    )


@pytest.mark.prolog
@harness.property_settings(10)
@given(facts=CASES)
def test_the_second_engine_agrees(facts: dict[str, Any]) -> None:
    harness.assert_second_engine_agrees(
        harness.knowledge_base(FIXTURE), document(facts), oracle(facts)[0]
    )


@harness.property_settings(10)
@given(facts=CASES)
def test_explanations_decide_and_changes_reach_their_target(facts: dict[str, Any]) -> None:
    harness.assert_explanations_decide_and_changes_reach_their_target(
        harness.knowledge_base(FIXTURE), POLICY, document(facts)
    )


# -- named edges ----------------------------------------------------------------------


def _status(evaluator: Evaluator, rows: list[tuple[str, float]], complete: bool) -> Status:
    records = [{"night": d, "hours": h} for d, h in rows]
    usage: object = {"complete": True, "records": records} if complete else records
    stated = {"date_of_service": "2024-03-31", "prescribed": True, "usage": usage}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return evaluator.evaluate(case).criteria["ADHERENT"]


def test_nights_count_once_and_within_the_span(evaluator: Evaluator) -> None:
    assert _status(evaluator, [("2024-03-01", 5), ("2024-03-03", 5)], True) is Status.MET
    assert _status(evaluator, [("2024-03-01", 5), ("2024-03-04", 5)], True) is Status.NOT_MET
    assert _status(evaluator, [("2024-03-01", 5), ("2024-03-01", 6)], True) is Status.NOT_MET
    assert _status(evaluator, [("2024-03-01", 5), ("2024-03-01", 6)], False) is Status.UNKNOWN
    # 2024-01-01 is 90 days before 2024-03-31; the night before it is not read.
    assert _status(evaluator, [("2023-12-31", 5), ("2024-01-01", 5)], True) is Status.NOT_MET
    assert _status(evaluator, [("2024-01-01", 5), ("2024-01-02", 5)], False) is Status.MET


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
record_field(h, day, date).
record_condition(a, h, "an a").
condition_test(a, kind, is(a)).
record_condition(a_today, h, "an a on the date of service").
condition_test(a_today, kind, is(a)).
condition_test(a_today, day, on_or_after(date_of_service, days(0))).
condition_test(a_today, day, on_or_before(date_of_service, days(0))).
criterion("C", "1", "c"). role("C", indication).
"""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('met("C") :- run_at_least(h, a_today, 1, 3).', "2 <= N <= Days"),
        ('met("C") :- run_at_least(h, a_today, 4, 3).', "2 <= N <= Days"),
        ('met("C") :- run_at_least(h, a_today, 2, 400).', "2 <= N <= Days <= 366"),
        ('met("C") :- run_at_least(h, a, 2, 3).', "can also meet a_today"),
        (
            'met("C") :- run_at_least(h, a_today, 2, 3), count_at_least(h, a_today, 2).',
            "a count of two or more",
        ),
        ('met("C") :- run_at_most(h, a_today, 2, 3).', "a run bounded above"),
    ],
)
def test_uses_that_cannot_be_exact_are_refused_with_file_and_line(
    tmp_path: Path, rule: str, message: str
) -> None:
    folder = tmp_path / "bad-run"
    folder.mkdir()
    text = VOCABULARY + rule + "\n"
    (folder / "policy.lp").write_text(text)
    line = text.count("\n")
    with pytest.raises(PolicyError, match=f"policy.lp:{line}: run_at_.*{message}"):
        KnowledgeBase([tmp_path]).evaluator("bad-run")


def test_too_few_days_for_the_run_is_false_whatever_the_history(tmp_path: Path) -> None:
    """A condition of one day cannot hold 2 days (kb_history_unrun/2)."""
    folder = tmp_path / "short"
    folder.mkdir()
    rule = 'met("C") :- run_at_least(h, a_today, 2, 3).'
    text = VOCABULARY.replace('record_condition(a, h, "an a").\n', "")
    text = text.replace("condition_test(a, kind, is(a)).\n", "")
    (folder / "policy.lp").write_text(text + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("short")
    for stated in ({}, {"h": []}, {"h": [{"kind": "a", "day": "2024-03-31"}]}):
        facts = {"date_of_service": "2024-03-31", **stated}
        case = validate_case({"policy": "short", "facts": facts}, evaluator.policy, "c")
        assert evaluator.evaluate(case).criteria["C"] is Status.NOT_MET


def test_missing_run_is_asked_in_words(evaluator: Evaluator) -> None:
    from policykb.explain.render import questions

    stated = {
        "date_of_service": "2024-03-31",
        "prescribed": True,
        "usage": [{"night": "2024-03-01", "hours": 5}],
    }
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    asked = " ".join(q for q, _, _ in questions(evaluator.evaluate(case), evaluator.policy))
    assert "on each of 2 of 3 consecutive days" in asked
