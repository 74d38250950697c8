"""Combined durations (months(3) - days(29)) against brute force, and their refusals.

A small policy written here compares two dates with the date of service
moved by the same two steps in both orders: `months(-3) + days(29)` (three
months back, with the month rule, then 29 days on) and `days(29) -
months(3)` (29 days on, then three months back). The two differ on some days
(month ends), which is why the order is part of the meaning. The oracle has
its own calendar arithmetic; every day of 2023-2025 near a month's end (and
every leap day) is a date of service, and the compared dates run across the
moved day on both sides.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from pathlib import Path

import pytest

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.typed import Duration, Step

VOCABULARY = """
fact(date_of_service, date).   rank(date_of_service, 1).
bounds(date_of_service, "2020-01-01", "2030-12-31").
question(date_of_service, "On what date?").
fact(device_date, date).       rank(device_date, 2).
question(device_date, "When was the last device supplied?").
fact(fitting_date, date).      rank(fitting_date, 3).
question(fitting_date, "When was the fitting?").
"""
CRITERIA = """
criterion("WAIT", "Rule 1", "The last device is at least 3 months less 29 days old.").
role("WAIT", indication).
met("WAIT") :- on_or_before(device_date, date_of_service, months(-3) + days(29)).

criterion("FIT", "Rule 2", "A fitting after 29 days on from the date of service, 3 months back.").
role("FIT", prerequisite).
met("FIT") :- after(fitting_date, date_of_service, days(29) - months(3)).
"""


def write_policy(folder: Path, criteria: str = CRITERIA) -> Path:
    folder.mkdir(parents=True)
    (folder / "policy.lp").write_text('#include "vocabulary.lp".\n#include "criteria.lp".\n')
    (folder / "vocabulary.lp").write_text(VOCABULARY)
    (folder / "criteria.lp").write_text(criteria)
    return folder


def months_from(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def oracle(dos: date, device: date, fitting: date) -> bool:
    wait = device <= months_from(dos, -3) + timedelta(days=29)
    fit = fitting > months_from(dos + timedelta(days=29), -3)
    return wait and fit


def service_days() -> list[date]:
    days = []
    for year in (2023, 2024, 2025):
        for month in range(1, 13):
            last = calendar.monthrange(year, month)[1]
            days += [date(year, month, d) for d in range(max(1, last - 4), last + 1)]
            days.append(date(year, month, 1))
    return days


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase([write_policy(tmp_path_factory.mktemp("kb") / "combined")])


def test_the_two_orders_differ_on_some_days() -> None:
    """The order of the steps matters (else the test below proves less)."""
    first = Duration((Step(-3, "months"), Step(29, "days")))
    second = Duration((Step(29, "days"), Step(-3, "months")))
    assert any(first.after(day) != second.after(day) for day in service_days())


def test_every_month_end_and_leap_day_matches_the_oracle(kb: KnowledgeBase) -> None:
    evaluator = kb.evaluator("combined")
    for dos in service_days():
        wait = months_from(dos, -3) + timedelta(days=29)
        fit = months_from(dos + timedelta(days=29), -3)
        for device in (wait + timedelta(days=k) for k in (-1, 0, 1)):
            for fitting in (fit + timedelta(days=k) for k in (-1, 0, 1)):
                facts = {
                    "date_of_service": dos.isoformat(),
                    "device_date": device.isoformat(),
                    "fitting_date": fitting.isoformat(),
                }
                verdict = evaluator.evaluate(kb.case({"policy": "combined", "facts": facts}))
                expected = Verdict.COVERED if oracle(dos, device, fitting) else Verdict.NOT_COVERED
                assert verdict.verdict is expected, facts


def test_a_proof_shows_the_combined_move_and_the_day_it_gives(kb: KnowledgeBase) -> None:
    case = kb.case(
        {
            "policy": "combined",
            "facts": {
                "date_of_service": "2024-05-31",
                "device_date": "2024-03-29",
                "fitting_date": "2024-03-30",
            },
        }
    )
    verdict, proof = kb.prove(case)
    assert verdict is Verdict.COVERED
    texts: list[str] = []

    def walk(node: dict[str, object]) -> None:
        texts.append(str(node["text"]))
        for child in node["children"]:  # type: ignore[attr-defined]
            walk(child)

    walk(proof["root"])
    # 2024-05-31 three months back is 2024-02-29 (leap), 29 days on 2024-03-29.
    assert any("minus 3 months plus 29 days (2024-03-29)" in text for text in texts), texts
    # 29 days on is 2024-06-29, three months back 2024-03-29.
    assert any("plus 29 days minus 3 months (2024-03-29)" in text for text in texts), texts


@pytest.mark.parametrize(
    "written",
    [
        "months(3) * 2",
        "months(3) - 2",
        "months(x) - days(1)",
        "years(1) + days(2)",
        "months(3) - days(1, 2)",
        "-(months(3) / days(1))",
    ],
)
def test_a_duration_not_well_formed_is_refused_with_file_and_line(
    tmp_path: Path, written: str
) -> None:
    criteria = (
        'criterion("WAIT", "Rule 1", "Text.").\nrole("WAIT", indication).\n'
        f'met("WAIT") :- on_or_before(device_date, date_of_service, {written}).\n'
    )
    folder = write_policy(tmp_path / "wrong", criteria)
    with pytest.raises(PolicyError, match=re.escape("days(N), weeks(N) or months(N)")) as error:
        KnowledgeBase([folder]).evaluator("wrong")
    assert "criteria.lp:3" in str(error.value)


def test_durations_read_back_from_their_terms() -> None:
    for duration in (
        Duration.of(-6, "months"),
        Duration((Step(3, "months"), Step(-29, "days"))),
        Duration((Step(-1, "weeks"), Step(2, "days"), Step(1, "months"))),
    ):
        assert Duration.parse(duration.term) == duration
    assert Duration.parse("steps(months(3))") is None
    assert Duration.parse("years(1)") is None
    assert Duration((Step(3, "months"), Step(-29, "days"))).signed == "plus 3 months minus 29 days"


def test_the_prolog_engine_agrees_on_combined_durations(kb: KnowledgeBase) -> None:
    """Leap day, month ends of 31 and 30 days, a year end."""
    for dos in (date(2024, 5, 31), date(2024, 3, 31), date(2025, 4, 30), date(2024, 12, 31)):
        wait = months_from(dos, -3) + timedelta(days=29)
        fit = months_from(dos + timedelta(days=29), -3)
        for device, fitting in ((wait, fit + timedelta(days=1)), (wait + timedelta(days=1), fit)):
            facts = {
                "date_of_service": dos.isoformat(),
                "device_date": device.isoformat(),
                "fitting_date": fitting.isoformat(),
            }
            case = kb.case({"policy": "combined", "facts": facts})
            expected = Verdict.COVERED if oracle(dos, device, fitting) else Verdict.NOT_COVERED
            assert kb.cross_check(case) is expected, facts
