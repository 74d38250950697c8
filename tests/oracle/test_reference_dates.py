"""Dates compared with a reference date plus or minus a duration, against brute force.

The rehab-visits fixture compares three dates with the date of service, in
days, weeks and months, beside a constant date and a boolean. Its oracle is
written here from the fixture's text with its own calendar arithmetic.

Semantics under test: a case is judged as of its reference date, so every
comparison with the date of service reads the case's own date of service
(the *frame*). The date of service is also an ordinary fact for its own
comparisons with constants: an explanation may set it aside, and then only
those comparisons range over its values.
"""

from __future__ import annotations

import calendar
import json
import re
from datetime import date, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.limits import SolvingLimits
from policykb.cli.main import app
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb" / "rehab-visits"
SETTINGS = settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
FRAME = "frame"  # the oracle's key for the date of service comparisons read


# -- the oracle --------------------------------------------------------------------


def months_from(day: date, months: int) -> date:
    """The same day of the month `months` later (earlier when negative), or the
    month's last day when it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def rehab(f: dict[str, Any]) -> bool:
    """The fixture's four rules; comparisons with the date of service read f[FRAME]."""
    dos = f[FRAME]
    evaluation, surgery, referral = (
        date.fromisoformat(f[name]) for name in ("evaluation_date", "surgery_date", "referral_date")
    )
    from_july_2021 = date.fromisoformat(f["date_of_service"]) >= date(2021, 7, 1)
    evaluated = months_from(dos, -6) <= evaluation <= dos
    twelve_weeks = dos - timedelta(weeks=12)
    post_op = twelve_weeks < surgery <= dos or (surgery <= twelve_weeks and f["home_program"])
    referred = dos - timedelta(days=30) <= referral <= dos
    return from_july_2021 and evaluated and post_op and referred


SERVICE_DAYS = [date(2021, 6, 30), date(2024, 8, 31), date(2025, 3, 31)]


def _around(days: list[date]) -> list[str]:
    return sorted({(d + timedelta(days=k)).isoformat() for d in days for k in (-1, 0, 1)})


# Every boundary of every comparison, for every date of service drawn, with its
# neighbours: each region of each date is on the grid whatever the frame.
GRID: dict[str, list[Any]] = {
    "date_of_service": ["2020-01-01", "2021-06-30", "2021-07-01", "2030-12-31"],
    "evaluation_date": [
        "2019-01-01",
        "2040-01-01",
        *_around([d for s in SERVICE_DAYS for d in (s, months_from(s, -6))]),
    ],
    "surgery_date": [
        "1990-01-01",
        "2040-01-01",
        *_around([d for s in SERVICE_DAYS for d in (s, s - timedelta(weeks=12))]),
    ],
    "referral_date": [
        "1990-01-01",
        "2040-01-01",
        *_around([d for s in SERVICE_DAYS for d in (s, s - timedelta(days=30))]),
    ],
    "home_program": [True, False],
}
CASE_VALUES = {**GRID, "date_of_service": [d.isoformat() for d in SERVICE_DAYS]}


def brute(known: dict[str, Any], grid: dict[str, list[Any]] = GRID) -> Verdict:
    """The three-valued verdict over every completion of `known` on the grid."""
    unknown = [f for f in grid if f not in known]
    seen: set[bool] = set()
    for values in product(*(grid[f] for f in unknown)):
        seen.add(rehab({**known, **dict(zip(unknown, values, strict=True))}))
        if len(seen) == 2:
            return Verdict.NEEDS_INFORMATION
    return Verdict.COVERED if seen == {True} else Verdict.NOT_COVERED


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


@pytest.fixture(scope="module")
def evaluator(kb: KnowledgeBase) -> Evaluator:
    return kb.evaluator("rehab-visits")


def case_of(evaluator: Evaluator, facts: dict[str, Any]) -> Case:
    return validate_case({"policy": "rehab-visits", "facts": facts}, evaluator.policy, "c")


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case that states its date of service; each other fact given or not."""
    facts = {"date_of_service": draw(st.sampled_from(CASE_VALUES["date_of_service"]))}
    for fact, options in CASE_VALUES.items():
        if fact != "date_of_service" and draw(st.integers(0, 9)) < 6:
            facts[fact] = draw(st.sampled_from(options))
    return facts


def framed(facts: dict[str, Any]) -> dict[str, Any]:
    return {**facts, FRAME: date.fromisoformat(facts["date_of_service"])}


# -- properties ----------------------------------------------------------------------


@SETTINGS
@given(facts=cases())
def test_verdict_and_missing_facts_equal_brute_force(
    evaluator: Evaluator, facts: dict[str, Any]
) -> None:
    evaluation = evaluator.evaluate(case_of(evaluator, facts))
    known = framed(facts)
    assert evaluation.verdict is brute(known)
    missing = set()
    if evaluation.verdict is Verdict.NEEDS_INFORMATION:
        unknown = [f for f in GRID if f not in known]
        for fact in unknown:
            others = [f for f in unknown if f != fact]
            for values in product(*(GRID[f] for f in others)):
                rest = {**known, **dict(zip(others, values, strict=True))}
                if len({rehab({**rest, fact: v}) for v in GRID[fact]}) == 2:
                    missing.add(fact)
                    break
    assert {m.fact for m in evaluation.missing} == missing


@SETTINGS
@given(facts=cases())
def test_every_minimal_explanation_is_sufficient_and_minimal(
    evaluator: Evaluator, facts: dict[str, Any]
) -> None:
    answer = evaluator.why(case_of(evaluator, facts), max_changes=3)
    frame = framed({"date_of_service": facts["date_of_service"]})
    for explanation in answer.explanations:
        chosen = {item.fact: facts[item.fact] for item in explanation}
        assert brute({**chosen, FRAME: frame[FRAME]}) is answer.verdict
        for fact in chosen:
            smaller = {f: v for f, v in chosen.items() if f != fact}
            assert brute({**smaller, FRAME: frame[FRAME]}) is not answer.verdict


@SETTINGS
@given(facts=cases())
def test_every_change_set_reaches_its_target_and_keeps_the_date_of_service(
    evaluator: Evaluator, facts: dict[str, Any]
) -> None:
    answer = evaluator.why(case_of(evaluator, facts), max_changes=5)
    known = framed(facts)
    for changes in answer.changes:
        assert all(change.fact != "date_of_service" for change in changes)
        settings_of_change = []
        for change in changes:
            data = change.to_dict()
            if "value" in data:
                settings_of_change.append([data["value"]])
                continue
            bounds = data["range"]
            inside = [
                v
                for v in GRID[change.fact]
                if bounds.get("min", "0000") <= v <= bounds.get("max", "9999")
            ]
            assert inside, change
            settings_of_change.append(inside)
        for values in product(*settings_of_change):
            changed = {**known, **dict(zip((c.fact for c in changes), values, strict=True))}
            assert brute(changed) is answer.target, (changes, values)


def test_a_fine_sweep_of_each_date_around_its_reference_equals_the_oracle(
    evaluator: Evaluator,
) -> None:
    base = {
        "date_of_service": "2024-03-31",
        "evaluation_date": "2024-01-15",
        "surgery_date": "2024-02-01",
        "referral_date": "2024-03-15",
        "home_program": False,
    }
    for fact in ("evaluation_date", "surgery_date", "referral_date"):
        for offset in range(-250, 10):
            day = date(2024, 3, 31) + timedelta(days=offset)
            facts = {**base, fact: day.isoformat()}
            known, _ = evaluator.known_facts(case_of(evaluator, facts))
            covered = evaluator.for_known(known).verdict_of(known) is Verdict.COVERED
            assert covered == rehab(framed(facts)), facts


def test_a_month_step_takes_the_last_day_of_a_shorter_month(evaluator: Evaluator) -> None:
    facts = {
        "date_of_service": "2024-08-31",
        "surgery_date": "2024-07-01",
        "referral_date": "2024-08-15",
    }
    for day, verdict in (("2024-02-28", "not_covered"), ("2024-02-29", "covered")):
        case = case_of(evaluator, {**facts, "evaluation_date": day})
        assert evaluator.evaluate(case).verdict.value == verdict


# -- the second engine -------------------------------------------------------------------


def test_engines_agree_on_every_complete_scenario_as_of_a_day(
    kb: KnowledgeBase, evaluator: Evaluator
) -> None:
    anchored = evaluator.at({"date_of_service": date(2024, 8, 31).toordinal()}, fixed=True)
    prover = kb.prover_for(anchored)
    facts = anchored.decision_facts
    choices = [prover.scenario_choices(f) for f in facts]
    by_clingo = anchored.covered_scenarios(facts, choices)
    assert prover.covered_scenarios(facts) == by_clingo
    assert by_clingo


@SETTINGS
@given(facts=cases())
def test_engines_agree_on_cases_with_unknowns(
    kb: KnowledgeBase, evaluator: Evaluator, facts: dict[str, Any]
) -> None:
    case = case_of(evaluator, facts)
    assert kb.cross_check(case) is evaluator.evaluate(case).verdict


def test_a_proof_shows_the_moved_reference_date(kb: KnowledgeBase) -> None:
    case = kb.case(
        {
            "policy": "rehab-visits",
            "facts": {"date_of_service": "2024-08-31", "evaluation_date": "2024-02-28"},
        }
    )
    _, proof = kb.prove(case)
    texts = list(_texts(proof["root"]))
    assert (
        "evaluation_date 2024-02-28 >= date_of_service 2024-08-31 minus 6 months "
        "(2024-02-29): false"
    ) in texts


def _texts(node: dict[str, Any]) -> Any:
    yield node["text"]
    for child in node["children"]:
        yield from _texts(child)


# -- errors, analyses and the command line -------------------------------------------------


def test_a_case_without_its_reference_date_is_answered_over_its_days(
    evaluator: Evaluator,
) -> None:
    """Issue 29: the date of service is a fact like any other; left out, it is
    asked (tests/oracle/test_unknown_dates.py checks it against brute force)."""
    case = case_of(evaluator, {"evaluation_date": "2024-01-01"})
    evaluation = evaluator.evaluate(case)
    assert evaluation.verdict is Verdict.NEEDS_INFORMATION
    assert "date_of_service" in {item.fact for item in evaluation.missing}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("on_or_after(evaluation_date, date_of_service, years(1))", "days(N), weeks(N) or"),
        ("on_or_after(evaluation_date, date_of_service, months(x))", "days(N), weeks(N) or"),
        ("on_or_after(evaluation_date, home_program, days(1))", "home_program is bool"),
        ("before(evaluation_date, evaluation_date, days(1))", "compares a date with itself"),
        ('after(evaluation_date, "2024-01-01", days(1))', "must be a declared date fact"),
        ("after(home_program, date_of_service, days(1))", "home_program is bool"),
    ],
)
def test_a_wrong_reference_comparison_is_refused_with_file_and_line(
    tmp_path: Path, body: str, message: str
) -> None:
    folder = tmp_path / "wrong"
    folder.mkdir()
    for name in ("vocabulary.lp", "policy.lp"):
        (folder / name).write_text((FIXTURE / name).read_text())
    (folder / "criteria.lp").write_text(
        f'criterion("X", "Rule", "Text.").\nrole("X", indication).\nmet("X") :- {body}.\n'
    )
    with pytest.raises(PolicyError, match=re.escape(message)) as error:
        KnowledgeBase([folder]).evaluator("wrong")
    assert "criteria.lp:3" in str(error.value)


def test_check_needs_a_day_and_gives_witnesses_that_state_it(tmp_path: Path) -> None:
    runner = CliRunner()
    base = ["check", "--policy", "rehab-visits", "--kb", str(FIXTURE)]
    refused = runner.invoke(app, base)
    assert refused.exit_code == 2
    assert "give --as-of" in refused.stderr
    bad = runner.invoke(app, [*base, "--as-of", "2024-02-30"])
    assert bad.exit_code == 2
    assert "not a date" in bad.stderr
    checked = runner.invoke(app, [*base, "--as-of", "2024-08-31", "--export", str(tmp_path)])
    assert checked.exit_code == 1
    exported = sorted(tmp_path.iterdir())
    assert exported
    kb = KnowledgeBase([FIXTURE])
    for path in exported:
        case = kb.read_case(str(path))
        assert case.facts["date_of_service"] == date(2024, 8, 31)
        assert kb.evaluate(case).verdict is Verdict.NOT_COVERED


def test_diff_as_of_a_day_finds_a_shorter_window(tmp_path: Path) -> None:
    newer = tmp_path / "rehab-visits-3-months"
    newer.mkdir()
    for name in ("vocabulary.lp", "policy.lp"):
        (newer / name).write_text((FIXTURE / name).read_text())
    (newer / "criteria.lp").write_text(
        (FIXTURE / "criteria.lp").read_text().replace("months(-6)", "months(-3)")
    )
    result = CliRunner().invoke(
        app,
        ["diff", str(FIXTURE), str(newer), "--as-of", "2024-08-31", "--format", "json"],
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["changes"]
    for change in report["changes"]:
        # Relative to the date of service, so it holds on a case of any day;
        # as of 2024-08-31, from 2024-02-29 to 2024-05-30.
        tests = change["conditions"]["evaluation_date"]["tests"]
        assert tests == (
            "on_or_after date_of_service minus 6 months and on_or_before date_of_service "
            "and not on_or_after date_of_service minus 3 months"
        )
        assert (change["old"], change["new"]) == ("covered", "not_covered")
        facts = change["witness"]["facts"]
        assert facts["date_of_service"] == "2024-08-31"
        assert "2024-02-29" <= facts["evaluation_date"] <= "2024-05-30"


def test_questions_wait_for_the_reference_dates_to_be_resolved(evaluator: Evaluator) -> None:
    """Resolving a case's reference dates is an explicit step: unresolved, every
    question about known facts is refused (never answered over the program
    without anchors); for_known resolves to the grounding at the case's days,
    whose answers are evaluate's, and which resolves to itself."""
    facts = {
        "date_of_service": "2024-03-31",
        "evaluation_date": "2024-01-15",
        "surgery_date": "2024-02-01",
    }
    known, _ = evaluator.known_facts(case_of(evaluator, facts))
    questions = {
        "verdict_of": lambda e: e.verdict_of(known),
        "notes_of": lambda e: e.notes_of(known),
        "consequences": lambda e: e.consequences(known),
        "missing_facts": lambda e: e.missing_facts(known),
        "explanations": lambda e: list(e.explanations(known, Verdict.NOT_COVERED)),
        "smallest_changes": lambda e: e.smallest_changes(known, Verdict.COVERED, 3),
        "answers": lambda e: e.answers(known, "home_program"),
    }
    for ask in questions.values():
        with pytest.raises(ValueError, match="for_known"):
            ask(evaluator)
    anchored = evaluator.for_known(known)
    # grounded with the dependencies passed to its base, not assigned later
    assert anchored.limits is evaluator.limits
    assert anchored.compiler is evaluator.compiler is not None
    assert anchored.anchors == {"date_of_service": date(2024, 3, 31).toordinal()}
    assert anchored.for_known(known) is anchored
    evaluation = evaluator.evaluate(case_of(evaluator, facts))
    assert anchored.verdict_of(known) is evaluation.verdict
    assert anchored.missing_facts(known) == [item.fact for item in evaluation.missing]
    with pytest.raises(CaseError, match="the case must state date_of_service"):
        evaluator.for_known({})


def test_the_days_grounded_last_are_kept_and_the_least_recent_dropped() -> None:
    """Evaluator.at grounds once per day and keeps the `anchored_kept` days used
    last: a day used again is the same evaluator, a dropped one is grounded anew."""
    evaluator = KnowledgeBase([FIXTURE], limits=SolvingLimits(anchored_kept=2)).evaluator(
        "rehab-visits"
    )

    def at(day: str) -> Evaluator:
        return evaluator.at({"date_of_service": date.fromisoformat(day).toordinal()})

    march, april = at("2024-03-01"), at("2024-04-01")
    assert at("2024-03-01") is march  # used again: now the most recent
    may = at("2024-05-01")  # past two days: April, the least recent, is dropped
    assert at("2024-03-01") is march
    assert at("2024-05-01") is may
    assert at("2024-04-01") is not april
    assert at("2024-04-01").anchors == april.anchors
