"""sum_at_least (kb/core/history.lp) against brute force over completions.

The supply-history fixture covers a diagnosed member (DIAGNOSIS), from 2021 on
(DOS), with 90 days' supply or more of preferred drugs filled in the 12
months before the date of service, of two different drugs (TRIAL), or 30 days
or more of non-preferred drugs at any time (OTHER), unless drug c was ever
filled as preferred (BANNED). The oracle below is written from that text with
its own calendar arithmetic: it enumerates the completions of the history
(the stated fills plus any multiset of up to three extra fills from a pool
with a fill of each kind on each side of the 12-month edge, of 0, 29, 30 and
60 days) and the values of diagnosed.
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
POLICY = "supply-history"
SETTINGS = harness.property_settings(40)
Fill = tuple[str, bool, date, int]  # (drug, preferred, date, days_supply)


# -- the oracle, from the criteria's text -----------------------------------------------


def fill_rules(dos: date, fills: Iterable[Fill]) -> tuple[bool, bool, bool]:
    """(TRIAL, OTHER, BANNED) for a complete list of fills."""
    fills = list(fills)
    recent = [f for f in fills if f[1] and months_from(dos, -12) <= f[2] < dos]
    trial = sum(f[3] for f in recent) >= 90 and len({f[0] for f in recent}) >= 2
    other = sum(f[3] for f in fills if not f[1]) >= 30
    banned = any(d == "c" and p for d, p, _, _ in fills)
    return trial, other, banned


def pool(dos: date) -> list[Fill]:
    edge = months_from(dos, -12)
    days = [edge - timedelta(days=1), edge, dos - timedelta(days=1), dos]
    kinds = [("a", True), ("b", True), ("c", True), ("a", False)]
    return [(d, p, day, s) for d, p in kinds for day in days for s in (0, 29, 30, 60)]


def covered(dos: date, fills: tuple[bool, bool, bool], diagnosed: bool) -> bool:
    trial, other, banned = fills
    return dos >= date(2021, 1, 1) and diagnosed and (trial or other) and not banned


def outcomes(facts: dict[str, Any]) -> list[tuple[bool, bool, bool]]:
    records, complete = facts["fills"]
    dos = facts["dos"]
    return sorted(
        {fill_rules(dos, c) for c in harness.completions(records, complete, pool(dos), 3)}
    )


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    dos = facts["dos"]
    choices = {"fills": outcomes(facts), "diagnosed": harness.truth_values(facts["diagnosed"])}
    return harness.verdict_and_missing(choices, lambda v: covered(dos, v["fills"], v["diagnosed"]))


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [date(2020, 12, 31), date(2021, 2, 28), date(2024, 2, 29), date(2024, 3, 31)]
NAMES = ("TRIAL", "OTHER", "BANNED")
CASES = harness.cases_of(SERVICE_DAYS, ["diagnosed"], {"fills": pool}, max_size=4)


def document(facts: dict[str, Any]) -> dict[str, Any]:
    fields = ("drug", "preferred", "date", "days_supply")
    return harness.document_of(POLICY, facts, {"diagnosed": "diagnosed"}, {"fills": fields})


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


def _status(evaluator: Evaluator, rows: list[Fill], complete: bool, criterion: str) -> Status:
    records = [{"drug": d, "preferred": p, "date": day, "days_supply": s} for d, p, day, s in rows]
    fills: object = {"complete": True, "records": records} if complete else records
    stated = {"date_of_service": "2024-03-31", "diagnosed": True, "fills": fills}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return evaluator.evaluate(case).criteria[criterion]


def test_the_sum_reaches_its_threshold_exactly(evaluator: Evaluator) -> None:
    a, b = ("a", True, "2024-01-01", 60), ("b", True, "2024-02-01", 30)
    short = ("b", True, "2024-02-01", 29)
    assert _status(evaluator, [a, b], True, "TRIAL") is Status.MET
    assert _status(evaluator, [a, short], True, "TRIAL") is Status.NOT_MET
    assert _status(evaluator, [a, b], False, "TRIAL") is Status.MET
    assert _status(evaluator, [a, short], False, "TRIAL") is Status.UNKNOWN
    # A fill on the date of service or 12 months and a day before is not summed
    # (2023-03-31 is 12 months before 2024-03-31).
    outside = [("a", True, "2023-03-30", 60), ("b", True, "2024-03-31", 30)]
    assert _status(evaluator, outside, True, "TRIAL") is Status.NOT_MET
    inside = [("a", True, "2023-03-31", 60), ("b", True, "2024-03-30", 30)]
    assert _status(evaluator, inside, True, "TRIAL") is Status.MET
    assert _status(evaluator, [], True, "OTHER") is Status.NOT_MET


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
record_field(h, amount, int). field_bounds(h, amount, 0, 100).
record_field(h, signed, int). field_bounds(h, signed, -5, 100).
record_field(h, dose, decimal). field_bounds(h, dose, 0, "10.5").
record_condition(m, h, "an a").
condition_test(m, kind, is(a)).
record_condition(big_b, h, "a b of a big amount").
condition_test(big_b, kind, is(b)).
condition_test(big_b, amount, at_least(50)).
criterion("C", "1", "c"). role("C", indication).
"""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('met("C") :- sum_at_least(h, m, kind, 3).', "policy.lp:14: .*kind is not a number field"),
        (
            'met("C") :- sum_at_least(h, m, signed, 3).',
            "policy.lp:14: .*signed must be declared with field_bounds from 0",
        ),
        ('met("C") :- sum_at_least(h, m, amount, 0).', "policy.lp:14: .*above 0"),
        ('met("C") :- sum_at_least(h, m, amount, "2.5").', "policy.lp:14: .*whole number"),
        (
            'record_condition(big, h, "big"). condition_test(big, amount, at_least(50)). '
            'met("C") :- sum_at_least(h, m, amount, 30), exists(h, big).',
            "policy.lp:14: .*can meet big .*which tests amount",
        ),
        (
            'met("C") :- sum_at_least(h, m, amount, 30), count_at_least(h, m, 2).',
            "policy.lp:14: .*a count of two or more",
        ),
        (
            'met("C") :- sum_at_most(h, m, amount, 30).',
            "policy.lp:14: sum_at_most over a history cannot be made exact",
        ),
    ],
)
def test_uses_that_cannot_be_exact_are_refused_with_file_and_line(
    tmp_path: Path, rule: str, message: str
) -> None:
    folder = tmp_path / "bad-sum"
    folder.mkdir()
    text = VOCABULARY.replace('record_condition(big, h, "a big amount").\n', "")
    text = text.replace("condition_test(big, amount, at_least(50)).\n", "")
    if "big" in rule:
        text = VOCABULARY.replace('criterion("C"', 'criterion("C"', 1)
    (folder / "policy.lp").write_text(text.rstrip("\n").replace("\n\n", "\n") + "\n" + rule + "\n")
    with pytest.raises(PolicyError, match=message):
        KnowledgeBase([tmp_path]).evaluator("bad-sum")


def test_a_condition_exclusive_of_the_summed_one_may_test_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "good-sum"
    folder.mkdir()
    rule = 'met("C") :- sum_at_least(h, m, amount, 30), exists(h, big_b).'
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("good-sum")
    assert [u.fact for u in evaluator.policy.histories["h"].sums] == ["h_sum_m_amount_30"]


def test_no_record_adds_up_to_nothing(tmp_path: Path) -> None:
    """A sum reaching N needs a record meeting the condition: "sums to 30 and
    no record meets m" holds in no completion, whatever the history."""
    folder = tmp_path / "empty-sum"
    folder.mkdir()
    rule = 'met("C") :- sum_at_least(h, m, amount, 30), none(h, m).'
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("empty-sum")
    for stated in ({}, {"h": []}, {"h": {"complete": True, "records": []}}):
        facts = {"date_of_service": "2024-03-31", **stated}
        case = validate_case({"policy": "empty-sum", "facts": facts}, evaluator.policy, "c")
        assert evaluator.evaluate(case).criteria["C"] is Status.NOT_MET


def test_decimal_sums_are_exact(tmp_path: Path) -> None:
    """Decimals are summed as written (0.1 + 0.2 reaches "0.3")."""
    folder = tmp_path / "dose-sum"
    folder.mkdir()
    text = VOCABULARY + 'met("C") :- sum_at_least(h, m, dose, "0.3").\n'
    (folder / "policy.lp").write_text(text)
    evaluator = KnowledgeBase([tmp_path]).evaluator("dose-sum")

    def status(doses: list[float]) -> Status:
        rows = [{"kind": "a", "amount": 0, "signed": 0, "dose": d} for d in doses]
        stated = {"date_of_service": "2024-03-31", "h": {"complete": True, "records": rows}}
        case = validate_case({"policy": "dose-sum", "facts": stated}, evaluator.policy, "c")
        return evaluator.evaluate(case).criteria["C"]

    assert status([0.1, 0.2]) is Status.MET
    assert status([0.1, 0.1]) is Status.NOT_MET


def test_missing_sum_is_asked_in_words(evaluator: Evaluator) -> None:
    from policykb.explain.render import questions

    rows = [{"drug": "a", "preferred": True, "date": "2024-01-01", "days_supply": 60}]
    stated = {"date_of_service": "2024-03-31", "diagnosed": True, "fills": rows}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    asked = " ".join(q for q, _, _ in questions(evaluator.evaluate(case), evaluator.policy))
    assert "add up to 90 days or more of days supply" in asked
