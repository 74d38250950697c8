"""latest_meets and earliest_meets (kb/core/history.lp) against brute force over completions.

The lab-history fixture covers a member who takes metformin (METFORMIN), from
2021 on (DOS), when the most recent A1C of the 6 months up to the date of
service is below 7 (GOAL) or the first lipid result ever was 5 or more
(LIPID), unless an A1C of 12 or more exists (SEVERE). The oracle below is
written from that text with its own calendar arithmetic and its own reading
of ties (records sharing the latest date must all pass): it enumerates the
completions of the history (the stated records plus any multiset of up to
three extra records from a pool with a record on each side of every edge the
text draws, on the date of service, and on the first day records may have)
and the values of on_metformin.
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
from tests.oracle.history_harness import months_from

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb"
POLICY = "lab-history"
FIRST_DAY = date(2015, 1, 1)
SETTINGS = harness.property_settings(60)
Record = tuple[str, date, int]  # (test, date, value)


# -- the oracle, from the criteria's text -----------------------------------------------


def last_passes(records: list[Record], latest: bool, passes: Any) -> bool:
    """Whether the latest (earliest) of `records` passes: every record of that date."""
    if not records:
        return False
    edge = max(d for _, d, _ in records) if latest else min(d for _, d, _ in records)
    return all(passes(r) for r in records if r[1] == edge)


def lab_rules(dos: date, records: Iterable[Record]) -> tuple[bool, bool, bool]:
    """(GOAL, LIPID, SEVERE) for a complete list of lab results."""
    records = list(records)
    recent = [r for r in records if r[0] == "a1c" and months_from(dos, -6) <= r[1] <= dos]
    lipids = [r for r in records if r[0] == "lipid"]
    goal = last_passes(recent, True, lambda r: r[2] < 7)
    lipid = last_passes(lipids, False, lambda r: r[2] >= 5)
    severe = any(t == "a1c" and v >= 12 for t, _, v in records)
    return goal, lipid, severe


def pool(dos: date) -> list[Record]:
    """A result of each kind on each side of every edge of the text."""
    start = months_from(dos, -6)
    a1c_days = sorted({start - timedelta(days=1), start, dos - timedelta(days=1), dos})
    found: list[Record] = [("a1c", d, v) for d in a1c_days for v in (6, 7, 12)]
    lipid_days = [FIRST_DAY, FIRST_DAY + timedelta(days=1), date(2019, 6, 1), dos]
    found += [("lipid", d, v) for d in lipid_days for v in (4, 5)]
    return found


def covered(dos: date, labs: tuple[bool, bool, bool], metformin: bool) -> bool:
    goal, lipid, severe = labs
    return dos >= date(2021, 1, 1) and metformin and (goal or lipid) and not severe


def outcomes(facts: dict[str, Any]) -> list[tuple[bool, bool, bool]]:
    records, complete = facts["labs"]
    dos = facts["dos"]
    # Three extras reach every outcome: one per criterion the history decides.
    return sorted({lab_rules(dos, c) for c in harness.completions(records, complete, pool(dos), 3)})


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    dos = facts["dos"]
    choices = {"labs": outcomes(facts), "on_metformin": harness.truth_values(facts["metformin"])}
    return harness.verdict_and_missing(
        choices, lambda v: covered(dos, v["labs"], v["on_metformin"])
    )


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [date(2020, 12, 31), date(2021, 8, 31), date(2024, 2, 29), date(2024, 3, 31)]
NAMES = ("GOAL", "LIPID", "SEVERE")
CASES = harness.cases_of(SERVICE_DAYS, ["metformin"], {"labs": pool}, max_size=4)


def document(facts: dict[str, Any]) -> dict[str, Any]:
    return harness.document_of(
        POLICY, facts, {"metformin": "on_metformin"}, {"labs": ("test", "date", "value")}
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
    """GOAL, LIPID and SEVERE each met (not met) exactly when every completion
    makes them so: the order facts are exact per criterion, not only in the verdict."""
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


def _goal(evaluator: Evaluator, rows: list[tuple[str, str, int]], complete: bool) -> Status:
    records = [{"test": t, "date": d, "value": v} for t, d, v in rows]
    labs: object = {"complete": True, "records": records} if complete else records
    stated = {"date_of_service": "2024-03-31", "on_metformin": True, "labs": labs}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return evaluator.evaluate(case).criteria["GOAL"]


def test_the_latest_record_decides_and_ties_count_against(evaluator: Evaluator) -> None:
    early, late = ("a1c", "2024-01-01", 8), ("a1c", "2024-02-01", 6)
    assert _goal(evaluator, [early, late], True) is Status.MET
    assert _goal(evaluator, [("a1c", "2024-01-01", 6), ("a1c", "2024-02-01", 8)], True) is (
        Status.NOT_MET
    )
    tie = [("a1c", "2024-02-01", 6), ("a1c", "2024-02-01", 8)]
    assert _goal(evaluator, tie, True) is Status.NOT_MET
    # An A1C before the 6 months (2023-09-30 is 6 months before 2024-03-31) is not read.
    assert _goal(evaluator, [("a1c", "2023-09-29", 8), late], True) is Status.MET
    assert _goal(evaluator, [("a1c", "2023-09-30", 6)], True) is Status.MET
    assert _goal(evaluator, [], True) is Status.NOT_MET


def test_a_partial_history_is_decided_only_at_the_windows_end(evaluator: Evaluator) -> None:
    """A later record may always be added, unless the latest stated one is on
    the date of service (the window's last day): then a failing one decides."""
    assert _goal(evaluator, [("a1c", "2024-02-01", 6)], False) is Status.UNKNOWN
    assert _goal(evaluator, [("a1c", "2024-02-01", 8)], False) is Status.UNKNOWN
    assert _goal(evaluator, [("a1c", "2024-03-31", 8)], False) is Status.NOT_MET
    assert _goal(evaluator, [("a1c", "2024-03-31", 6)], False) is Status.UNKNOWN
    assert _goal(evaluator, [("a1c", "2024-03-31", 6), ("a1c", "2024-03-31", 8)], False) is (
        Status.NOT_MET
    )


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
record_field(h, day, date).
record_field(h, other_day, date).
record_field(h, amount, int). field_bounds(h, amount, 0, 100).
record_condition(m, h, "an a").
condition_test(m, kind, is(a)).
condition_test(m, day, on_or_after(date_of_service, months(-6))).
record_condition(small, h, "a small amount").
condition_test(small, amount, below(10)).
record_condition(old_b, h, "a b before 2020").
condition_test(old_b, kind, is(b)).
condition_test(old_b, day, before("2020-01-01")).
record_condition(undated, h, "a b").
condition_test(undated, kind, is(b)).
criterion("C", "1", "c"). role("C", indication).
"""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            'met("C") :- latest_meets(h, m, nope).',
            "policy.lp:19: latest_meets.*nope is not a record_condition/3 of h",
        ),
        (
            'met("C") :- latest_meets(h, m, old_b).',
            "policy.lp:19: latest_meets.*old_b tests day, the date that orders",
        ),
        (
            'record_condition(old, h, "before 2020"). '
            'condition_test(old, day, before("2020-01-01")).'
            ' met("C") :- latest_meets(h, m, small), exists(h, old).',
            "policy.lp:19: latest_meets.*can also meet old",
        ),
        (
            'met("C") :- latest_meets(h, m, small), count_at_least(h, small, 2).',
            "policy.lp:19: latest_meets.*a count of two or more",
        ),
        (
            'met("C") :- earliest_meets(h, undated, small).',
            "policy.lp:19: earliest_meets.*which date field orders",
        ),
    ],
)
def test_uses_that_cannot_be_exact_are_refused_with_file_and_line(
    tmp_path: Path, rule: str, message: str
) -> None:
    folder = tmp_path / "bad-order"
    folder.mkdir()
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    with pytest.raises(PolicyError, match=message):
        KnowledgeBase([tmp_path]).evaluator("bad-order")


def test_a_condition_exclusive_of_the_ordered_one_may_test_the_date(tmp_path: Path) -> None:
    """old_b holds only for kind b, m only for kind a: the order of m's records
    does not depend on old_b's dates, so the use is admitted."""
    folder = tmp_path / "good-order"
    folder.mkdir()
    rule = 'met("C") :- latest_meets(h, m, small), exists(h, old_b).'
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("good-order")
    assert [u.fact for u in evaluator.policy.histories["h"].ordered] == ["h_latest_m_small"]


def test_one_day_windows_tie_every_record(tmp_path: Path) -> None:
    """A condition whose dates are one day puts every record of it on that
    day: when one of them fails the test, the latest ones do not all pass, so
    "the latest passes and a failing one exists" is impossible, whatever the
    history (kb_history_tied/4)."""
    folder = tmp_path / "one-day"
    folder.mkdir()
    text = """
fact(date_of_service, date).
history(h).
record_field(h, day, date).
record_field(h, amount, int). field_bounds(h, amount, 0, 100).
record_condition(today, h, "a record on the date of service").
condition_test(today, day, on_or_after(date_of_service, days(0))).
condition_test(today, day, on_or_before(date_of_service, days(0))).
record_condition(small, h, "a small amount").
condition_test(small, amount, below(10)).
record_condition(big_today, h, "a big amount on the date of service").
condition_test(big_today, day, on_or_after(date_of_service, days(0))).
condition_test(big_today, day, on_or_before(date_of_service, days(0))).
condition_test(big_today, amount, at_least(10)).
criterion("C", "1", "c"). role("C", indication).
criterion("D", "2", "d"). role("D", indication).
met("C") :- latest_meets(h, today, small), exists(h, big_today).
met("D") :- latest_meets(h, today, small).
"""
    (folder / "policy.lp").write_text(text)
    evaluator = KnowledgeBase([tmp_path]).evaluator("one-day")

    def status(records: list[int] | None, complete: bool) -> dict[str, Status]:
        stated: dict[str, object] = {"date_of_service": "2024-03-31"}
        if records is not None:
            rows = [{"day": "2024-03-31", "amount": a} for a in records]
            stated["h"] = {"complete": True, "records": rows} if complete else rows
        case = validate_case({"policy": "one-day", "facts": stated}, evaluator.policy, "c")
        return dict(evaluator.evaluate(case).criteria)

    assert status(None, False) == {"C": Status.NOT_MET, "D": Status.UNKNOWN}
    assert status([3], False) == {"C": Status.NOT_MET, "D": Status.UNKNOWN}
    assert status([3, 30], False) == {"C": Status.NOT_MET, "D": Status.NOT_MET}
    assert status([3], True) == {"C": Status.NOT_MET, "D": Status.MET}


def test_missing_history_question_names_the_order_in_words(evaluator: Evaluator) -> None:
    from policykb.explain.render import questions

    stated = {
        "date_of_service": "2024-03-31",
        "on_metformin": True,
        "labs": [{"test": "a1c", "date": "2024-02-01", "value": 6}],
    }
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    asked = " ".join(q for q, _, _ in questions(evaluator.evaluate(case), evaluator.policy))
    assert "most recent record that is an A1C in the 6 months up to the date of service" in asked
    assert "a value below 7" in asked
