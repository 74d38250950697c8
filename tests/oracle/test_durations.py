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

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.typed import Duration, Step
from tests.sampling import stride

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


# -- month_start and month_end ---------------------------------------------------
#
# A second policy moves the date of service to its month's start or end, alone
# and combined with month steps in both orders: `months(-12) + month_end` (the
# last day of the month a year back: a calendar-month count), `month_start`
# alone, and `month_end - months(1)` (the month's last day, then a month back
# with the month rule: 2024-04-30 gives 2024-03-30, where `months(-1) +
# month_end` gives 2024-03-31). Every day of 2023-2025 is a date of service.

CALENDAR_VOCABULARY = (
    VOCABULARY
    + """
fact(visit_date, date).        rank(visit_date, 4).
question(visit_date, "When was the visit?").
"""
)
CALENDAR_CRITERIA = """
criterion("YEAR", "Rule 1", "The last device is from the month a year back or earlier.").
role("YEAR", indication).
met("YEAR") :- on_or_before(device_date, date_of_service, months(-12) + month_end).

criterion("MONTH", "Rule 2", "The fitting is in the month of service or later.").
role("MONTH", prerequisite).
met("MONTH") :- on_or_after(fitting_date, date_of_service, month_start).

criterion("BACK", "Rule 3", "The visit is after the month's end moved a month back.").
role("BACK", prerequisite).
met("BACK") :- after(visit_date, date_of_service, month_end - months(1)).
"""


def write_calendar_policy(folder: Path, criteria: str = CALENDAR_CRITERIA) -> Path:
    folder.mkdir(parents=True)
    (folder / "policy.lp").write_text('#include "vocabulary.lp".\n#include "criteria.lp".\n')
    (folder / "vocabulary.lp").write_text(CALENDAR_VOCABULARY)
    (folder / "criteria.lp").write_text(criteria)
    return folder


def first_day(day: date) -> date:
    return date(day.year, day.month, 1)


def last_day(day: date) -> date:
    return date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])


def calendar_edges(dos: date) -> tuple[date, date, date]:
    """The oracle's edges: the last device day allowed, the first fitting day
    allowed, and the day a visit must come after."""
    return last_day(months_from(dos, -12)), first_day(dos), months_from(last_day(dos), -1)


def calendar_oracle(dos: date, device: date, fitting: date, visit: date) -> bool:
    year, month, back = calendar_edges(dos)
    return device <= year and fitting >= month and visit > back


def every_day() -> list[date]:
    first = date(2023, 1, 1)
    return [first + timedelta(days=n) for n in range((date(2025, 12, 31) - first).days + 1)]


@pytest.fixture(scope="module")
def calendar_kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase([write_calendar_policy(tmp_path_factory.mktemp("kb") / "calendar")])


def test_month_start_and_end_move_every_day_as_the_calendar_does() -> None:
    """Duration.after against the oracle's calendar on every day of 2023-2025."""
    start, end = Step.calendar("month_start"), Step.calendar("month_end")
    year_back = Duration((Step(-12, "months"), end))
    end_back = Duration((end, Step(-1, "months")))
    back_end = Duration((Step(-1, "months"), end))
    differ = 0
    for day in every_day():
        assert Duration((start,)).after(day) == first_day(day)
        assert Duration((end,)).after(day) == last_day(day)
        assert year_back.after(day) == last_day(date(day.year - 1, day.month, 1))
        assert end_back.after(day) == months_from(last_day(day), -1)
        assert back_end.after(day) == last_day(months_from(first_day(day), -1))
        differ += end_back.after(day) != back_end.after(day)
    # The order matters on the months after a shorter one (April after March...).
    assert differ > 0


def edge_cases(dos: date) -> list[tuple[date, date, date]]:
    """Every compared date at its edge (all rules met), and each one in turn
    a day past it (that rule failing): both sides of each comparison."""
    year, month, back = calendar_edges(dos)
    after_back = back + timedelta(days=1)
    return [
        (year, month, after_back),
        (year + timedelta(days=1), month, after_back),
        (year, month - timedelta(days=1), after_back),
        (year, month, back),
    ]


def calendar_case(kb: KnowledgeBase, dos: date, device: date, fitting: date, visit: date) -> Case:
    facts = {
        "date_of_service": dos.isoformat(),
        "device_date": device.isoformat(),
        "fitting_date": fitting.isoformat(),
        "visit_date": visit.isoformat(),
    }
    return kb.case({"policy": "calendar", "facts": facts})


def test_every_day_of_three_years_matches_the_calendar_oracle(calendar_kb: KnowledgeBase) -> None:
    """Each compared date on both sides of its edge, on dates of service of
    2023-2025: every month's first and last two days and the leap day, and
    of the other days an evenly spread share (every day at full width,
    `CALENDAR_DAY_STEP=1`; tests/sampling.py)."""
    evaluator = calendar_kb.evaluator("calendar")
    step = stride("CALENDAR_DAY_STEP", 1)
    days = every_day()
    chosen = [
        dos
        for n, dos in enumerate(days)
        if n % step == 0 or dos.day <= 1 or (dos + timedelta(days=2)).month != dos.month
    ]
    for dos in chosen:
        for device, fitting, visit in edge_cases(dos):
            case = calendar_case(calendar_kb, dos, device, fitting, visit)
            expected = calendar_oracle(dos, device, fitting, visit)
            got = evaluator.evaluate(case).verdict
            assert got is (Verdict.COVERED if expected else Verdict.NOT_COVERED), case.facts


def test_a_date_left_unknown_is_asked_and_each_answer_decides_as_the_oracle(
    calendar_kb: KnowledgeBase,
) -> None:
    """Exact under unknowns: with the device date unknown the verdict is
    needs_information and the date is missing; each day around the edge,
    stated, decides as the oracle, so the unknown was undecided exactly."""
    evaluator = calendar_kb.evaluator("calendar")
    for dos in (date(2024, 2, 29), date(2025, 3, 31), date(2024, 12, 1), date(2025, 4, 30)):
        year, month, back = calendar_edges(dos)
        facts = {
            "date_of_service": dos.isoformat(),
            "fitting_date": month.isoformat(),
            "visit_date": (back + timedelta(days=1)).isoformat(),
        }
        evaluation = evaluator.evaluate(calendar_kb.case({"policy": "calendar", "facts": facts}))
        assert evaluation.verdict is Verdict.NEEDS_INFORMATION
        assert [item.fact for item in evaluation.missing] == ["device_date"]
        for device in (year - timedelta(days=40), year, year + timedelta(days=1)):
            stated = {**facts, "device_date": device.isoformat()}
            got = evaluator.evaluate(calendar_kb.case({"policy": "calendar", "facts": stated}))
            expected = Verdict.COVERED if device <= year else Verdict.NOT_COVERED
            assert got.verdict is expected, stated


def test_the_compiled_path_agrees_at_month_ends_and_the_leap_day(
    calendar_kb: KnowledgeBase,
) -> None:
    from policykb.bridge.compile.compiled import CompiledPolicies

    compiled = CompiledPolicies()
    evaluator = calendar_kb.evaluator("calendar")
    for dos in [day for day in every_day() if day in (first_day(day), last_day(day))]:
        for device, fitting, visit in edge_cases(dos):
            case = calendar_case(calendar_kb, dos, device, fitting, visit)
            expected = calendar_oracle(dos, device, fitting, visit)
            got = compiled.evaluate(evaluator, case).verdict
            assert got is (Verdict.COVERED if expected else Verdict.NOT_COVERED), case.facts


def test_covered_from_is_the_first_day_of_the_month_a_year_on(
    calendar_kb: KnowledgeBase,
) -> None:
    """A device dated mid-month lets the year rule pass from the first day of
    that month a year on, whatever its day; the other rules are kept met by a
    visit and a fitting far enough on."""
    for device, expected in (
        (date(2024, 1, 15), date(2025, 1, 1)),
        (date(2024, 1, 31), date(2025, 1, 1)),
        (date(2024, 2, 29), date(2025, 2, 1)),
    ):
        facts = {
            "date_of_service": "2024-06-10",
            "device_date": device.isoformat(),
            "fitting_date": "2030-01-01",
            "visit_date": "2030-01-01",
        }
        case = calendar_kb.case({"policy": "calendar", "facts": facts})
        assert calendar_kb.evaluate(case).verdict is Verdict.NOT_COVERED
        found = calendar_kb.covered_from(case)
        assert found is not None and found.day == expected, device


def test_a_proof_says_the_move_to_the_months_end(calendar_kb: KnowledgeBase) -> None:
    facts = {
        "date_of_service": "2025-02-28",
        "device_date": "2024-02-10",
        "fitting_date": "2025-02-01",
        "visit_date": "2025-01-29",
    }
    verdict, proof = calendar_kb.prove(calendar_kb.case({"policy": "calendar", "facts": facts}))
    assert verdict is Verdict.COVERED
    texts: list[str] = []

    def walk(node: dict[str, object]) -> None:
        texts.append(str(node["text"]))
        for child in node["children"]:  # type: ignore[attr-defined]
            walk(child)

    walk(proof["root"])
    # A year back is 2024-02-28; that month's end is the leap day.
    assert any("minus 12 months, to the month's end (2024-02-29)" in text for text in texts)
    assert any("to the month's start (2025-02-01)" in text for text in texts), texts
    # The month's end 2025-02-28, a month back 2025-01-28.
    assert any("to the month's end minus 1 month (2025-01-28)" in text for text in texts)


@pytest.mark.parametrize(
    "written",
    [
        "-month_end",
        "months(-12) - month_end",
        "month_end(1)",
        "month_middle + days(1)",
        "month_start * 2",
    ],
)
def test_a_calendar_step_not_well_formed_is_refused_with_file_and_line(
    tmp_path: Path, written: str
) -> None:
    criteria = (
        'criterion("WAIT", "Rule 1", "Text.").\nrole("WAIT", indication).\n'
        f'met("WAIT") :- on_or_before(device_date, date_of_service, {written}).\n'
    )
    folder = write_calendar_policy(tmp_path / "wrong", criteria)
    with pytest.raises(PolicyError, match=re.escape("month_start or month_end")) as error:
        KnowledgeBase([folder]).evaluator("wrong")
    assert "criteria.lp:3" in str(error.value)


def test_calendar_steps_read_back_from_their_terms() -> None:
    end, start = Step.calendar("month_end"), Step.calendar("month_start")
    for duration in (
        Duration((end,)),
        Duration((start,)),
        Duration((Step(-12, "months"), end)),
        Duration((end, Step(-1, "months"), start)),
    ):
        assert Duration.parse(duration.term) == duration
    assert Duration.parse("month_end(1)") is None
    assert Duration.parse("month_middle") is None
    assert Duration((end,)).signed == "to the month's end"
    assert Duration((Step(-12, "months"), end)).signed == "minus 12 months, to the month's end"


def test_the_prolog_engine_agrees_on_calendar_steps(calendar_kb: KnowledgeBase) -> None:
    """Leap day, month ends of 31 and 30 days, a year's first and last days."""
    for dos in (
        date(2024, 2, 29),
        date(2025, 2, 28),
        date(2024, 3, 31),
        date(2025, 4, 30),
        date(2024, 12, 31),
        date(2025, 1, 1),
    ):
        for device, fitting, visit in edge_cases(dos):
            case = calendar_case(calendar_kb, dos, device, fitting, visit)
            covered = calendar_oracle(dos, device, fitting, visit)
            assert (calendar_kb.cross_check(case) is Verdict.COVERED) is covered, case.facts


PLACED_VOCABULARY = """
fact(date_of_service, date).   rank(date_of_service, 1).
bounds(date_of_service, "2020-01-01", "2030-12-31").
question(date_of_service, "On what date?").
fact(start_date, date).        rank(start_date, 2).
bounds(start_date, "2020-01-01", "2030-12-31").
question(start_date, "When did therapy start?").
fact(visit_date, date).        rank(visit_date, 3).
question(visit_date, "When was the visit?").
"""
PLACED_CRITERIA = """
criterion("VISIT", "Rule 1", "A visit after the start's month, within two months of service.").
role("VISIT", indication).
met("VISIT") :- after(visit_date, start_date, month_end),
    on_or_after(visit_date, date_of_service, months(-2) + days(9)),
    before(visit_date, date_of_service, month_start - days(3)).
"""


def test_check_places_a_reference_date_moved_to_its_months_end_in_every_class(
    tmp_path: Path,
) -> None:
    """check and diff ground a policy with two reference dates once per class
    of placements; with a cut at the start date's month end, the placements
    found are one per class that trying every day of the start date, 500 on
    either side of the date of service, reaches."""
    from policykb.bridge.analysis.placements import placements, signature

    folder = tmp_path / "placed"
    folder.mkdir()
    (folder / "policy.lp").write_text('#include "vocabulary.lp".\n#include "criteria.lp".\n')
    (folder / "vocabulary.lp").write_text(PLACED_VOCABULARY)
    (folder / "criteria.lp").write_text(PLACED_CRITERIA)
    evaluator = KnowledgeBase([folder]).evaluator("placed")
    policy, comparisons = evaluator.policy, evaluator.comparisons
    for day in (date(2024, 6, 1), date(2024, 3, 31), date(2025, 2, 28)):
        found = placements(policy, comparisons, list(evaluator.references), day)
        got = {signature(policy, comparisons, placement) for placement in found}
        assert len(got) == len(found)
        service = day.toordinal()
        every = {
            signature(policy, comparisons, {"date_of_service": service, "start_date": service + n})
            for n in range(-500, 501)
        }
        assert got == every, day
