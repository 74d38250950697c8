"""Every comparison of kb/core/typed.lp, each where a verdict turns on it, against brute force.

The iron-infusion fixture (tests/fixtures/kb/iron-infusion) uses at_least,
at_most, above, below and between on numbers; between, on_or_after,
on_or_before, after and before on dates against constants and against the
date of service moved by days, weeks and months; and has_code_in on a code
list. Each stands in a prerequisite or an exclusion, so a comparison that
ignored the case's value, or tested the wrong side of its constant, changes
some verdict below. The oracle is written here from the fixture's text with
its own calendar arithmetic; it shares no code with the regions.

Two kinds of test: sweeps that move one fact of a covered case across every
value near each of its boundaries (both sides of every constant, every day
around every moved date of service, leap days and month ends), and
three-valued verdicts and missing facts over generated partial cases.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb" / "iron-infusion"
SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# -- the oracle --------------------------------------------------------------------


def months_from(day: date, months: int) -> date:
    """The same day of the month `months` later (earlier when negative), or the
    month's last day when it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def labs_drawn(dos: date, lab: date) -> bool:
    """Rule 6."""
    return date(2024, 1, 1) <= lab <= date(2025, 4, 30) and months_from(dos, -3) <= lab <= dos


def oral_trial(dos: date, trial: date) -> bool:
    """Rule 7."""
    return (
        date(2023, 11, 30) < trial < date(2025, 2, 15)
        and trial <= dos - timedelta(weeks=8)
        and trial > months_from(dos, -6)
    )


def iron(f: dict[str, Any]) -> bool:
    """The fixture's eight rules, read from their text."""
    dos = _day(f["date_of_service"])
    reviewed = date(2022, 1, 1) <= dos <= date(2029, 12, 31)
    age_ok = f["age"] <= 75
    weight_ok = Decimal(str(f["weight"])) < Decimal("140.5")
    anemia = any(code.upper().replace(".", "").startswith("D50") for code in f["diagnoses"])
    ferritin, drop = f["ferritin"], Decimal(str(f["hemoglobin_drop"]))
    indicated = ferritin > 500 or (30 <= ferritin <= 500 and drop >= 2)
    labs = labs_drawn(dos, _day(f["lab_date"]))
    oral = oral_trial(dos, _day(f["oral_trial_start"]))
    last = _day(f["last_infusion"])
    recent = f["prior_infusion"] and dos - timedelta(days=28) < last < dos + timedelta(days=1)
    return (
        bool(reviewed and age_ok and weight_ok and anemia and indicated and labs and oral)
        and not recent
    )


# Days of service at which a case can be covered, each constant of the rules
# falling inside some window: 2023-11-30 and 2024-01-01 as of 2024-02-29,
# 2025-02-15 and 2025-04-30 as of 2025-05-31.
SWEEP_DAYS = [date(2024, 2, 29), date(2024, 8, 31), date(2025, 3, 31), date(2025, 5, 31)]
# For three values, also days outside the period reviewed.
SERVICE_DAYS = [*SWEEP_DAYS, date(2022, 1, 1), date(2030, 1, 1)]
LAB_DAYS = [date(2024, 1, 1), date(2025, 4, 30)]
ORAL_DAYS = [date(2023, 11, 30), date(2025, 2, 15)]


def _around(days: list[date], reach: int = 1) -> list[str]:
    return sorted(
        {(d + timedelta(days=k)).isoformat() for d in days for k in range(-reach, reach + 1)}
    )


def grid_for(dos: date) -> dict[str, list[Any]]:
    """Values of every fact that meet every region of it as of `dos`: each
    constant and each moved date of service with its neighbours."""
    return {
        "age": [0, 75, 76, 120],
        "weight": [0, 140.49, 140.5, 400],
        "ferritin": [0, 29, 30, 500, 501, 5000],
        "hemoglobin_drop": [0, 1.99, 2.0, 20],
        "diagnoses": [[], ["D50.0"], ["D51.0", "I10"]],
        "lab_date": _around([*LAB_DAYS, months_from(dos, -3), dos]),
        "oral_trial_start": _around([*ORAL_DAYS, dos - timedelta(weeks=8), months_from(dos, -6)]),
        "prior_infusion": [True, False],
        "last_infusion": _around([dos - timedelta(days=28), dos]),
    }


COVERED_AT = {
    "age": 40,
    "weight": 80.5,
    "ferritin": 200,
    "hemoglobin_drop": 2.5,
    "diagnoses": ["D50.9"],
    "prior_infusion": True,
}


def covered_case(dos: date) -> dict[str, Any]:
    """A case the policy covers as of `dos`, every fact stated: the latest lab
    and oral trial start the rules allow."""
    facts: dict[str, Any] = {
        "date_of_service": dos.isoformat(),
        **COVERED_AT,
        "last_infusion": (dos - timedelta(days=60)).isoformat(),
    }
    for fact, rule in (("lab_date", labs_drawn), ("oral_trial_start", oral_trial)):
        day = dos
        while not rule(dos, day):
            day -= timedelta(days=1)
            assert day > dos - timedelta(days=400), (dos, fact)
        facts[fact] = day.isoformat()
    assert iron(facts)
    return facts


def brute(known: dict[str, Any]) -> Verdict:
    """The three-valued verdict over every completion of `known` on the grid
    of its date of service."""
    grid = grid_for(_day(known["date_of_service"]))
    unknown = [f for f in grid if f not in known]
    seen: set[bool] = set()
    for values in product(*(grid[f] for f in unknown)):
        seen.add(iron({**known, **dict(zip(unknown, values, strict=True))}))
        if len(seen) == 2:
            return Verdict.NEEDS_INFORMATION
    return Verdict.COVERED if seen == {True} else Verdict.NOT_COVERED


@pytest.fixture(scope="module")
def evaluator() -> Evaluator:
    return KnowledgeBase([FIXTURE]).evaluator("iron-infusion")


def case_of(evaluator: Evaluator, facts: dict[str, Any]) -> Case:
    return validate_case({"policy": "iron-infusion", "facts": facts}, evaluator.policy, "c")


# -- sweeps: one fact across its boundaries, the rest covered ------------------------------


def _sweeps(dos: date) -> Iterator[tuple[str, Any]]:
    for age in range(70, 81):
        yield "age", age
    for weight in (0, 140, 140.4, 140.49, 140.5, 140.51, 141, 400):
        yield "weight", weight
    for ferritin in [*range(25, 36), *range(495, 506)]:
        yield "ferritin", ferritin
    for drop in (0, 1.9, 1.99, 2, 2.01, 20):
        yield "hemoglobin_drop", drop
    for codes in ([], ["D50"], ["D50.8"], ["D51.0"], ["I10", "D50.1"], ["E11.9"]):
        yield "diagnoses", codes
    for day in _around([*LAB_DAYS, months_from(dos, -3), dos], 3):
        yield "lab_date", day
    for day in _around([*ORAL_DAYS, dos - timedelta(weeks=8), months_from(dos, -6)], 3):
        yield "oral_trial_start", day
    for day in _around([dos - timedelta(days=28), dos], 3):
        yield "last_infusion", day


def test_each_fact_swept_across_its_boundaries_matches_the_oracle(evaluator: Evaluator) -> None:
    """Every value near every boundary, as of each day of SWEEP_DAYS."""
    for dos in SWEEP_DAYS:
        base = covered_case(dos)
        for fact, value in _sweeps(dos):
            facts = {**base, fact: value}
            expected = iron(facts)
            verdict = evaluator.evaluate(case_of(evaluator, facts)).verdict
            assert verdict is (Verdict.COVERED if expected else Verdict.NOT_COVERED), (
                dos,
                fact,
                value,
            )


@pytest.mark.parametrize(
    ("dos", "fact", "passes", "fails"),
    [
        (date(2024, 8, 31), "age", 75, 76),  # at_most
        (date(2024, 8, 31), "weight", 140.49, 140.5),  # below
        (date(2024, 8, 31), "ferritin", 501, 29),  # above, between
        (date(2024, 8, 31), "hemoglobin_drop", 2.0, 1.99),  # at_least
        (date(2024, 8, 31), "diagnoses", ["D50.8"], ["D51.0"]),  # has_code_in
        (date(2024, 2, 29), "lab_date", "2024-01-01", "2023-12-31"),  # between (dates)
        (date(2025, 5, 31), "lab_date", "2025-04-30", "2025-05-01"),  # between (dates)
        (date(2024, 8, 31), "lab_date", "2024-05-31", "2024-05-30"),  # on_or_after/3
        (date(2024, 8, 31), "lab_date", "2024-08-31", "2024-09-01"),  # on_or_before/2
        (date(2024, 2, 29), "oral_trial_start", "2023-12-01", "2023-11-30"),  # after/2
        (date(2025, 5, 31), "oral_trial_start", "2025-02-14", "2025-02-15"),  # before/2
        (date(2024, 8, 31), "oral_trial_start", "2024-07-06", "2024-07-07"),  # on_or_before/3
        (date(2024, 8, 31), "oral_trial_start", "2024-03-01", "2024-02-29"),  # after/3
        (date(2024, 8, 31), "last_infusion", "2024-08-03", "2024-08-04"),  # after/3
        (date(2024, 8, 31), "last_infusion", "2024-09-01", "2024-08-31"),  # before/3
    ],
)
def test_each_comparison_decides_on_both_sides_of_its_constant(
    evaluator: Evaluator, dos: date, fact: str, passes: Any, fails: Any
) -> None:
    """One comparison at a time, its constant between two neighbouring values
    (for an exclusion, passing the comparison denies): each comparison is
    live, and one that ignored the case's value would give both the same
    verdict."""
    base = covered_case(dos)
    verdicts = []
    for value in (passes, fails):
        facts = {**base, fact: value}
        verdicts.append(evaluator.evaluate(case_of(evaluator, facts)).verdict)
        assert verdicts[-1] is (Verdict.COVERED if iron(facts) else Verdict.NOT_COVERED)
    assert verdicts[0] is not verdicts[1], (fact, passes, fails)


def test_the_date_of_service_swept_across_its_own_constants(evaluator: Evaluator) -> None:
    """on_or_after and on_or_before with constant dates: the other dates move
    with the date of service, so only the review period decides."""
    for dos in (date.fromisoformat(d) for d in _around([date(2022, 1, 1), date(2029, 12, 31)])):
        facts = covered_case(date(2024, 6, 15))
        facts.update(
            {
                "date_of_service": dos.isoformat(),
                "lab_date": (dos - timedelta(days=10)).isoformat(),
                "oral_trial_start": max(dos - timedelta(weeks=10), date(2020, 1, 1)).isoformat(),
                "last_infusion": (dos - timedelta(days=60)).isoformat(),
            }
        )
        expected = iron(facts)
        verdict = evaluator.evaluate(case_of(evaluator, facts)).verdict
        assert verdict is (Verdict.COVERED if expected else Verdict.NOT_COVERED), dos


# -- three values: unknown facts range over their regions --------------------------------


@st.composite
def partial_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case that states its date of service and all but at most three facts."""
    dos = draw(st.sampled_from(SERVICE_DAYS))
    grid = grid_for(dos)
    unknown = set(draw(st.lists(st.sampled_from(sorted(grid)), max_size=3, unique=True)))
    facts: dict[str, Any] = {"date_of_service": dos.isoformat()}
    for fact, options in grid.items():
        if fact not in unknown:
            facts[fact] = draw(st.sampled_from(options))
    return facts


@SETTINGS
@given(facts=partial_cases())
def test_verdict_and_missing_facts_equal_brute_force(
    evaluator: Evaluator, facts: dict[str, Any]
) -> None:
    evaluation = evaluator.evaluate(case_of(evaluator, facts))
    assert evaluation.verdict is brute(facts)
    missing = set()
    if evaluation.verdict is Verdict.NEEDS_INFORMATION:
        grid = grid_for(_day(facts["date_of_service"]))
        unknown = [f for f in grid if f not in facts]
        for fact in unknown:
            others = [f for f in unknown if f != fact]
            for values in product(*(grid[f] for f in others)):
                rest = {**facts, **dict(zip(others, values, strict=True))}
                if len({iron({**rest, fact: v}) for v in grid[fact]}) == 2:
                    missing.add(fact)
                    break
    assert {m.fact for m in evaluation.missing} == missing


# -- the second engine ----------------------------------------------------------------


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=partial_cases())
def test_the_prolog_engine_agrees_with_clingo_and_the_oracle(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    case = kb.case({"policy": "iron-infusion", "facts": facts})
    verdict, proof = kb.prove(case)
    assert verdict is brute(facts)
    assert kb.cross_check(case) is verdict
    assert proof["engine"] == "swi-prolog"
