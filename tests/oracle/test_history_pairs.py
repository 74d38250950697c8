"""follows_within (kb/core/history.lp) against brute force over completions.

The followup-history fixture covers a member who consented (CONSENT), from
2021 on (DOS), with an in-person evaluation between the 31st and the 91st day
after a therapy start (REEVAL) or a biopsy on the date of service within 30
days after a scan of the 7 days before (BIOPSY), unless a therapy start
follows an evaluation by 1 day to 12 months (RESTART) or two therapy starts
are within 30 days of each other (DOUBLE). The oracle below is
written from that text with its own calendar arithmetic: it enumerates the
completions of the history (the stated events plus any multiset of up to
four extra events from a pool with events on each side of every window edge
of the text, and far before and after) and the values of consent.
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
POLICY = "followup-history"
SETTINGS = harness.property_settings(40)
Event = tuple[str, date]  # (kind, date)


# -- the oracle, from the criteria's text -----------------------------------------------


def event_rules(dos: date, events: Iterable[Event]) -> tuple[bool, bool, bool, bool]:
    """(REEVAL, BIOPSY, RESTART, DOUBLE) for a complete list of events."""
    events = list(events)

    def days(kind: str) -> list[date]:
        return [d for k, d in events if k == kind]

    reeval = any(
        s + timedelta(days=31) <= e <= s + timedelta(days=91)
        for s in days("start")
        for e in days("evaluation")
    )
    scans = [d for d in days("scan") if dos - timedelta(days=7) <= d < dos]
    biopsies = [d for d in days("biopsy") if d == dos]
    biopsy = any(s <= b <= s + timedelta(days=30) for s in scans for b in biopsies)
    restart = any(
        e + timedelta(days=1) <= s <= months_from(e, 12)
        for e in days("evaluation")
        for s in days("start")
    )
    starts = days("start")
    double = any(
        i != j and a <= b <= a + timedelta(days=30)
        for i, a in enumerate(starts)
        for j, b in enumerate(starts)
    )
    return reeval, biopsy, restart, double


def pool(dos: date) -> list[Event]:
    starts = [dos - timedelta(days=120), dos - timedelta(days=100), dos + timedelta(days=1000)]
    found: list[Event] = [("start", d) for d in starts]
    evaluations = {s + timedelta(days=k) for s in starts[:2] for k in (30, 31, 91, 92)}
    evaluations |= {dos - timedelta(days=2000), months_from(starts[1], -12)}
    found += [("evaluation", d) for d in sorted(evaluations)]
    found += [("scan", dos - timedelta(days=k)) for k in (8, 7, 1, 0)]
    found += [("biopsy", dos + timedelta(days=k)) for k in (-1, 0, 1)]
    return found


def covered(dos: date, events: tuple[bool, bool, bool, bool], consent: bool) -> bool:
    reeval, biopsy, restart, double = events
    indicated = reeval or biopsy
    return dos >= date(2021, 1, 1) and consent and indicated and not (restart or double)


def outcomes(facts: dict[str, Any]) -> list[tuple[bool, bool, bool, bool]]:
    records, complete = facts["events"]
    dos = facts["dos"]
    return sorted(
        {event_rules(dos, c) for c in harness.completions(records, complete, pool(dos), 4)}
    )


def oracle(facts: dict[str, Any]) -> tuple[Verdict, set[str]]:
    dos = facts["dos"]
    choices = {"events": outcomes(facts), "consent": harness.truth_values(facts["consent"])}
    return harness.verdict_and_missing(choices, lambda v: covered(dos, v["events"], v["consent"]))


# -- cases -------------------------------------------------------------------------------

SERVICE_DAYS = [date(2020, 12, 31), date(2021, 3, 1), date(2024, 2, 29), date(2024, 3, 31)]


CASES = harness.cases_of(SERVICE_DAYS, ["consent"], {"events": pool}, max_size=3)


def document(facts: dict[str, Any]) -> dict[str, Any]:
    return harness.document_of(POLICY, facts, {"consent": "consent"}, {"events": ("kind", "date")})


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
    names = ("REEVAL", "BIOPSY", "RESTART", "DOUBLE")
    harness.assert_statuses(
        evaluator, document(facts), harness.statuses_over(outcomes(facts), names)
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


def _status(evaluator: Evaluator, rows: list[Event], complete: bool, criterion: str) -> Status:
    records = [{"kind": k, "date": d} for k, d in rows]
    events: object = {"complete": True, "records": records} if complete else records
    stated = {"date_of_service": "2024-03-31", "consent": True, "events": events}
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    return evaluator.evaluate(case).criteria[criterion]


def test_the_window_edges_count_from_the_first_record(evaluator: Evaluator) -> None:
    """2024-01-01 plus 31 days is 2024-02-01, plus 91 days 2024-04-01."""
    start = ("start", "2024-01-01")
    for day, expected in (
        ("2024-01-31", Status.NOT_MET),
        ("2024-02-01", Status.MET),
        ("2024-04-01", Status.MET),
        ("2024-04-02", Status.NOT_MET),
    ):
        assert _status(evaluator, [start, ("evaluation", day)], True, "REEVAL") is expected
    assert _status(evaluator, [start, ("evaluation", "2024-02-01")], False, "REEVAL") is (
        Status.MET
    )
    assert _status(evaluator, [start, ("evaluation", "2024-01-31")], False, "REEVAL") is (
        Status.UNKNOWN
    )


def test_two_records_of_one_condition_are_two_different_records(evaluator: Evaluator) -> None:
    one = ("start", "2024-01-01")
    assert _status(evaluator, [one], True, "DOUBLE") is Status.NOT_MET
    assert _status(evaluator, [one, one], True, "DOUBLE") is Status.MET
    assert _status(evaluator, [one, ("start", "2024-01-31")], True, "DOUBLE") is Status.MET
    assert _status(evaluator, [one, ("start", "2024-02-01")], True, "DOUBLE") is Status.NOT_MET
    assert _status(evaluator, [one, ("start", "2024-02-01")], False, "DOUBLE") is Status.UNKNOWN


def test_added_records_that_cannot_avoid_a_pair_decide(evaluator: Evaluator) -> None:
    """Every biopsy on the date of service is within 30 days after every scan
    of the week before: a stated scan and a biopsy pair whatever their days."""
    scan = ("scan", "2024-03-30")
    assert _status(evaluator, [scan, ("biopsy", "2024-03-31")], False, "BIOPSY") is Status.MET
    assert _status(evaluator, [scan], True, "BIOPSY") is Status.NOT_MET
    assert _status(evaluator, [scan], False, "BIOPSY") is Status.UNKNOWN


VOCABULARY = """
fact(date_of_service, date).
history(h).
record_field(h, kind, enum). field_option(h, kind, a). field_option(h, kind, b).
field_option(h, kind, c). field_option(h, kind, d).
record_field(h, day, date).
record_condition(a, h, "an a").
condition_test(a, kind, is(a)).
record_condition(b, h, "a b").
condition_test(b, kind, is(b)).
record_condition(c_today, h, "a c on the date of service").
condition_test(c_today, kind, is(c)).
condition_test(c_today, day, on_or_after(date_of_service, days(0))).
condition_test(c_today, day, on_or_before(date_of_service, days(0))).
record_condition(d_today, h, "a d on the date of service").
condition_test(d_today, kind, is(d)).
condition_test(d_today, day, on_or_after(date_of_service, days(0))).
condition_test(d_today, day, on_or_before(date_of_service, days(0))).
criterion("C", "1", "c"). role("C", indication).
"""
OLD_B = """record_condition(old_b, h, "a b before 2020").
condition_test(old_b, kind, is(b)). condition_test(old_b, day, before("2020-01-01")).
"""
ANY = """record_condition(any, h, "any record").
condition_test(any, day, on_or_after("2000-01-01")).
"""


@pytest.mark.parametrize(
    ("extra", "rule", "message"),
    [
        ("", 'met("C") :- follows_within(h, a, b, days(3), days(1)).', "the window is empty"),
        (
            "",
            'met("C") :- follows_within(h, a, b, days(0), years(1)).',
            "years\\(1\\) must be days\\(N\\)",
        ),
        (
            ANY,
            'met("C") :- follows_within(h, a, any, days(0), days(9)).',
            "can meet both a and any",
        ),
        (
            OLD_B,
            'met("C") :- follows_within(h, a, b, days(0), days(9)), exists(h, old_b).',
            "records meeting b can also meet old_b",
        ),
        (
            "",
            'met("C") :- follows_within(h, a, b, days(0), days(9)), count_at_least(h, a, 2).',
            "a count of two or more",
        ),
        (
            "",
            'met("C") :- follows_within(h, c_today, c_today, days(0), days(9)).',
            "need dates without a first or without a last day",
        ),
    ],
)
def test_uses_that_cannot_be_exact_are_refused_with_file_and_line(
    tmp_path: Path, extra: str, rule: str, message: str
) -> None:
    folder = tmp_path / "bad-pair"
    folder.mkdir()
    text = VOCABULARY + extra + rule + "\n"
    (folder / "policy.lp").write_text(text)
    line = text.count("\n")
    with pytest.raises(PolicyError, match=f"policy.lp:{line}: follows_within.*{message}"):
        KnowledgeBase([tmp_path]).evaluator("bad-pair")


def test_dates_that_cannot_pair_are_false_whatever_the_history(tmp_path: Path) -> None:
    """Two records of one day are never 60 days apart (kb_history_unpaired/2)."""
    folder = tmp_path / "never"
    folder.mkdir()
    rule = 'met("C") :- follows_within(h, c_today, d_today, days(60), days(90)).'
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("never")
    for stated in ({}, {"h": []}, {"h": [{"kind": "c", "day": "2024-03-31"}]}):
        facts = {"date_of_service": "2024-03-31", **stated}
        case = validate_case({"policy": "never", "facts": facts}, evaluator.policy, "c")
        assert evaluator.evaluate(case).criteria["C"] is Status.NOT_MET


def test_dates_that_always_pair_are_true_with_both_kinds(tmp_path: Path) -> None:
    """Two records of one day are always 0 days apart
    (kb_history_paired_always/2): both kinds without a pair is impossible."""
    folder = tmp_path / "always"
    folder.mkdir()
    rule = (
        'met("C") :- exists(h, c_today), exists(h, d_today), '
        "not follows_within(h, c_today, d_today, days(0), days(0))."
    )
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("always")
    for stated in ({}, {"h": []}, {"h": [{"kind": "c", "day": "2024-03-31"}]}):
        facts = {"date_of_service": "2024-03-31", **stated}
        case = validate_case({"policy": "always", "facts": facts}, evaluator.policy, "c")
        assert evaluator.evaluate(case).criteria["C"] is Status.NOT_MET


def test_a_stated_record_that_every_added_one_pairs_with_decides(tmp_path: Path) -> None:
    """A stated a ten days before the date of service has every d of the
    date of service in its 30-day window: a d added later pairs with it."""
    folder = tmp_path / "forced"
    folder.mkdir()
    rule = (
        'met("C") :- exists(h, a), exists(h, d_today), '
        "not follows_within(h, a, d_today, days(0), days(30))."
    )
    (folder / "policy.lp").write_text(VOCABULARY + rule + "\n")
    evaluator = KnowledgeBase([tmp_path]).evaluator("forced")

    def status(day: str) -> Status:
        facts = {"date_of_service": "2024-03-31", "h": [{"kind": "a", "day": day}]}
        case = validate_case({"policy": "forced", "facts": facts}, evaluator.policy, "c")
        return evaluator.evaluate(case).criteria["C"]

    assert status("2024-03-21") is Status.NOT_MET
    assert status("2024-02-21") is Status.UNKNOWN
    facts = {"date_of_service": "2024-03-31"}
    case = validate_case({"policy": "forced", "facts": facts}, evaluator.policy, "c")
    assert evaluator.evaluate(case).criteria["C"] is Status.UNKNOWN


def test_missing_pair_is_asked_in_words(evaluator: Evaluator) -> None:
    from policykb.explain.render import questions

    stated = {
        "date_of_service": "2024-03-31",
        "consent": True,
        "events": [{"kind": "start", "date": "2024-01-01"}],
    }
    case = validate_case({"policy": POLICY, "facts": stated}, evaluator.policy, "c")
    asked = " ".join(q for q, _, _ in questions(evaluator.evaluate(case), evaluator.policy))
    assert (
        "is a record that is an in-person evaluation dated from 31 days to 91 days after "
        "a record that is a therapy start" in asked
    )


def test_a_change_may_add_the_missing_pair() -> None:
    """With a start and an evaluation 19 days after it (a complete history),
    the one smallest change to covered is the pair the rule asks for."""
    kb = harness.knowledge_base(FIXTURE)
    stated = {
        "date_of_service": "2024-03-31",
        "consent": True,
        "events": {
            "complete": True,
            "records": [
                {"kind": "start", "date": "2024-01-01"},
                {"kind": "evaluation", "date": "2024-01-20"},
            ],
        },
    }
    answer = kb.why(kb.case({"policy": POLICY, "facts": stated}))
    assert answer.verdict is Verdict.NOT_COVERED
    assert [[c.fact for c in changes] for changes in answer.changes] == [
        ["events_pair_start_evaluation_days31_days91"]
    ]
