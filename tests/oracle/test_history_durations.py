"""Combined durations in a record condition's date test, against brute force.

A frequency limit that counts calendar months ("after at least 11 months
have passed following the month in which the last test was performed")
compares a record's date with `months(-12) + month_end` from the date of
service, as the rules' own comparisons do (docs/language.md). Written in a
condition_test/3 fact, `months(-12) + month_end` is a sum clingo leaves
undefined, so the grounded program drops the fact without a word; the
loader must read it from the written program instead, or a window would
silently match every date. The oracle counts months by hand: a record
blocks the date of service exactly when it lies in the month of service or
the 11 months before it, and not after the date of service.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

PROGRAM = """
fact(date_of_service, date).
history(tests).
record_field(tests, kind, enum). field_option(tests, kind, fobt). field_option(tests, kind, other).
record_field(tests, day, date).
record_condition(recent, tests, "an FOBT in the month of service or the 11 months before it").
condition_test(recent, kind, is(fobt)).
condition_test(recent, day, {window}).
condition_test(recent, day, on_or_before(date_of_service, days(0))).
criterion("FREQ", "1", "11 months have passed following the month of the last FOBT.").
role("FREQ", indication).
met("FREQ") :- none(tests, recent).
"""
WRITTEN = "after(date_of_service, months(-12) + month_end)"
GROUNDED = "after(date_of_service, steps(months(-12), month_end))"
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _evaluator(root: Path, window: str) -> Evaluator:
    folder = root / "calendar-months"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.lp").write_text(PROGRAM.replace("{window}", window))
    return KnowledgeBase([root]).evaluator("calendar-months")


@pytest.fixture(scope="module", params=[WRITTEN, GROUNDED], ids=["written", "grounded"])
def evaluator(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Evaluator:
    return _evaluator(tmp_path_factory.mktemp("kb"), str(request.param))


def blocks(service: date, record: date) -> bool:
    """The text's count: the record is in the month of service or one of the
    11 months before it, and not after the date of service."""
    months = (service.year * 12 + service.month) - (record.year * 12 + record.month)
    return months < 12 and record <= service


def _verdict(evaluator: Evaluator, service: date, records: list[date], complete: bool) -> Verdict:
    stated = [{"kind": "fobt", "day": d.isoformat()} for d in records]
    facts = {
        "date_of_service": service.isoformat(),
        "tests": {"complete": complete, "records": stated},
    }
    case = validate_case({"policy": "calendar-months", "facts": facts}, evaluator.policy, "c")
    return evaluator.evaluate(case).verdict


EDGES = [
    date(2024, 2, 29),
    date(2024, 3, 31),
    date(2025, 1, 1),
    date(2025, 2, 28),
    date(2024, 12, 31),
]


@st.composite
def cases(draw: st.DrawFn) -> tuple[date, list[date]]:
    service = draw(st.sampled_from(EDGES) | st.dates(date(2023, 1, 1), date(2026, 12, 31)))
    # Records around the edge: the last day of the month 12 months back, the
    # first day of the next month, and nearby days.
    around = draw(st.lists(st.integers(-420, 40), max_size=3))
    return service, [service + timedelta(days=offset) for offset in around]


@SETTINGS
@given(chosen=cases())
def test_complete_history_matches_the_month_count(
    evaluator: Evaluator, chosen: tuple[date, list[date]]
) -> None:
    service, records = chosen
    expected = Verdict.NOT_COVERED if any(blocks(service, r) for r in records) else Verdict.COVERED
    assert _verdict(evaluator, service, records, complete=True) is expected


@SETTINGS
@given(chosen=cases())
def test_partial_history_is_decided_only_by_a_blocking_record(
    evaluator: Evaluator, chosen: tuple[date, list[date]]
) -> None:
    """At least these records: a blocking one decides, none leaves it open."""
    service, records = chosen
    expected = (
        Verdict.NOT_COVERED
        if any(blocks(service, r) for r in records)
        else Verdict.NEEDS_INFORMATION
    )
    assert _verdict(evaluator, service, records, complete=False) is expected


@pytest.mark.parametrize(
    ("service", "record", "expected"),
    [
        # A test in March 2024: 11 months pass (April 2024 - February 2025).
        ("2025-03-01", "2024-03-31", Verdict.COVERED),
        ("2025-02-28", "2024-03-01", Verdict.NOT_COVERED),
        # Leap day: February 2024 is the month (March 2024 - January 2025
        # pass); February 2025 is the first month paid.
        ("2025-01-31", "2024-02-29", Verdict.NOT_COVERED),
        ("2025-02-01", "2024-02-29", Verdict.COVERED),
        # A record after the date of service is not an earlier test.
        ("2025-03-01", "2025-03-02", Verdict.COVERED),
        ("2025-03-01", "2025-03-01", Verdict.NOT_COVERED),
    ],
)
def test_named_edges(evaluator: Evaluator, service: str, record: str, expected: Verdict) -> None:
    assert (
        _verdict(evaluator, date.fromisoformat(service), [date.fromisoformat(record)], True)
        is expected
    )


def test_a_malformed_combined_duration_is_refused_with_file_and_line(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policy\.lp:8: condition_test\(recent, day, after"):
        _evaluator(tmp_path, "after(date_of_service, months(-12) + 3)")


def test_a_bare_number_is_not_a_duration(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="the duration must be days"):
        _evaluator(tmp_path, "after(date_of_service, 3)")
