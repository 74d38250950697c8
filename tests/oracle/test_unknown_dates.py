"""A case that leaves its reference date unknown, against brute force.

Semantics under test (bridge/solving/unknown_dates.py): the unknown date of
service is a fact like any other. The verdict is over every completion, the
date of service included; a fact is missing when, for some filling of the
other unknowns, changing it changes coverage; an explanation is a set of
known facts that alone gets the verdict; a change set gives the target
verdict over every completion of what it leaves unknown.

Two shapes. The device-wait fixture (tests/fixtures/dates/device-wait, a shape
no bundled policy has: which indication applies turns on the date of service
itself, so a case can need information on every day and still turn on the
day) is checked against an oracle written here from its text, enumerating
every day of the date of service's bounds and, for each day, every region of
the other dates counted from it. The bundled implantable-defibrillators
policy is checked against tests/oracle/ncd_20_4.py, written from the NCD
text, on every day of service from the policy's first day through the last
day any stated event can still move.
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.errors import LimitError
from tests.oracle import ncd_20_4 as icd
from tests.oracle import unknown_date_harness as harness
from tests.oracle.unknown_date_harness import every_day, in_answer, months_back, verdict_over
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "dates" / "device-wait"
SETTINGS = settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

# -- the device-wait oracle, from the fixture's text ---------------------------------

DOS = "date_of_service"
BOUNDS = {
    DOS: (date(2024, 1, 1), date(2024, 6, 30)),
    "mi_date": (date(2023, 10, 1), date(2024, 9, 30)),
    "therapy_start": (date(2023, 6, 1), date(2024, 9, 30)),
}
BOOLS = ("pacemaker", "urgent", "planned")
DATES = ("mi_date", "therapy_start")
FACTS = (DOS, *DATES, *BOOLS)
SWITCH = date(2024, 4, 1)


def covered(f: dict[str, Any]) -> bool:
    """Rule 1 (no MI in the 40 days before, unless with a pacemaker) and one of
    rule 2 (urgent, before 2024-04-01) or rule 3 (planned, from 2024-04-01, at
    least 3 calendar months of therapy)."""
    dos = f[DOS]
    wait = f["pacemaker"] or f["mi_date"] < dos - timedelta(days=40)
    early = f["urgent"] and dos < SWITCH
    late = f["planned"] and dos >= SWITCH and f["therapy_start"] <= months_back(dos, 3)
    return bool(wait and (early or late))


ALL_DAYS = every_day(*BOUNDS[DOS])


def grid(fact: str, dos: date) -> list[Any]:
    """One value per region of a fact as of a date of service (both ends of
    the bounds, each edge counted from the day and its neighbours)."""
    if fact in BOOLS:
        return [True, False]
    low, high = BOUNDS[fact]
    edge = dos - timedelta(days=40) if fact == "mi_date" else months_back(dos, 3)
    near = {edge + timedelta(days=k) for k in (-1, 0, 1)}
    return sorted({low, high, *(d for d in near if low <= d <= high)})


def outcomes(known: dict[str, Any], stop: bool = True) -> set[bool]:
    """Coverage over every completion: every day of service, then for it one
    value per region of each other unknown."""
    seen: set[bool] = set()
    for dos in [known[DOS]] if DOS in known else ALL_DAYS:
        unknown = [f for f in FACTS if f != DOS and f not in known]
        for values in product(*(grid(f, dos) for f in unknown)):
            seen.add(covered({**known, DOS: dos, **dict(zip(unknown, values, strict=True))}))
            if stop and len(seen) == 2:
                return seen
    return seen


def verdict(known: dict[str, Any]) -> Verdict:
    return verdict_over(outcomes(known))


def missing(known: dict[str, Any]) -> set[str]:
    if verdict(known) is not Verdict.NEEDS_INFORMATION:
        return set()
    found = set()
    unknown = [f for f in FACTS if f not in known]
    for fact in unknown:
        others = [f for f in unknown if f != fact]
        if fact == DOS:
            # The other unknowns are days, fixed while the day of service
            # moves: each over every region edge of every day of service.
            domains = [
                sorted({v for d in ALL_DAYS for v in grid(f, d)}) if f in DATES else [True, False]
                for f in others
            ]
            for values in product(*domains):
                rest = dict(zip(others, values, strict=True))
                if len({covered({**known, **rest, DOS: d}) for d in ALL_DAYS}) == 2:
                    found.add(fact)
                    break
            continue
        turned = False
        for dos in [known[DOS]] if DOS in known else ALL_DAYS:
            rest_names = [f for f in others if f != DOS]
            for values in product(*(grid(f, dos) for f in rest_names)):
                rest = {**known, DOS: dos, **dict(zip(rest_names, values, strict=True))}
                if len({covered({**rest, fact: v}) for v in grid(fact, dos)}) == 2:
                    turned = True
                    break
            if turned:
                found.add(fact)
                break
    return found


def days_of(change: dict[str, Any], fact: str) -> list[date]:
    """Every day of a date change's range within the fact's bounds."""
    low, high = BOUNDS[fact]
    return [d for d in every_day(low, high) if in_answer(d, change)]


def sampled(days: list[date]) -> list[date]:
    """The days of a range of another date than the date of service, beside
    one: its ends and every fifth day (the date of service keeps every day)."""
    return sorted({*days[::5], days[0], days[-1]}) if days else []


# -- device-wait cases ---------------------------------------------------------------

DAY_CHOICES = {
    "mi_date": [
        date(2023, 10, 1),
        date(2023, 11, 21),
        date(2023, 11, 22),
        date(2024, 2, 10),
        date(2024, 4, 30),
        date(2024, 6, 30),
    ],
    "therapy_start": [
        date(2023, 6, 1),
        date(2023, 10, 1),
        date(2024, 1, 1),
        date(2024, 1, 2),
        date(2024, 3, 31),
        date(2024, 9, 30),
    ],
}


@st.composite
def device_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case without its date of service; at most one of the two other dates
    left out; each boolean given or not."""
    facts: dict[str, Any] = {}
    left_out = draw(st.sampled_from([None, *DATES]))
    for fact in DATES:
        if fact != left_out:
            facts[fact] = draw(st.sampled_from(DAY_CHOICES[fact]))
    for fact in BOOLS:
        value = draw(st.sampled_from([None, True, False]))
        if value is not None:
            facts[fact] = value
    return facts


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


def as_case(facts: dict[str, Any]) -> dict[str, Any]:
    return harness.as_case("device-wait", facts)


@SETTINGS
@given(facts=device_cases())
def test_verdict_missing_facts_and_explanations_equal_brute_force(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    harness.assert_verdict_missing_and_explanations(kb, "device-wait", facts, verdict, missing)


@SETTINGS
@given(facts=device_cases())
def test_the_date_of_service_answers_are_its_days_verdicts(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    answer = kb.why(kb.case(as_case(facts)), max_changes=5)
    for item in answer.missing:
        entries = [a.to_dict() for a in item.answers]
        if item.fact == DOS:
            for day in ALL_DAYS:
                holding = [e for e in entries if in_answer(day, e)]
                assert len(holding) == 1, (day, entries)
                assert holding[0]["verdict"] == verdict({**facts, DOS: day}).value, day
        elif item.fact in BOOLS:
            for entry in entries:
                assert entry["verdict"] == verdict({**facts, item.fact: entry["value"]}).value


@SETTINGS
@given(facts=device_cases())
def test_every_change_set_reaches_its_target_and_the_smallest_are_found(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    answer = kb.why(kb.case(as_case(facts)), max_changes=200)
    sizes = {len(changes) for changes in answer.changes}
    assert len(sizes) <= 1
    for changes in answer.changes:
        settings_of = []
        for change in changes:
            data = change.to_dict()
            settings_of.append([data["value"]] if "value" in data else days_of(data, change.fact))
            assert settings_of[-1], change
        for values in product(*settings_of):
            changed = {**facts, **dict(zip((c.fact for c in changes), values, strict=True))}
            assert verdict(changed) is answer.target, (changes, values)
    # Single changes of the date of service or a boolean: exactly those found.
    single_days = {day for day in ALL_DAYS if verdict({**facts, DOS: day}) is answer.target}
    single_bools = {
        (fact, value)
        for fact in BOOLS
        for value in (True, False)
        if facts.get(fact) is not value and verdict({**facts, fact: value}) is answer.target
    }
    if sizes == {1}:
        listed_days = {
            day
            for changes in answer.changes
            if changes[0].fact == DOS
            for day in days_of(changes[0].to_dict(), DOS)
        }
        listed_bools = {
            (changes[0].fact, changes[0].to_dict()["value"])
            for changes in answer.changes
            if changes[0].fact in BOOLS
        }
        assert listed_days == single_days
        assert listed_bools == single_bools
    else:
        assert not single_days and not single_bools


def test_every_day_needs_information_yet_the_verdict_turns_on_the_day(kb: KnowledgeBase) -> None:
    """Both routes' booleans unknown: each day's class needs information, and
    only a scenario shared across days (urgent, not planned) shows the day
    matters (the product program of date_product.py)."""
    facts = {"mi_date": date(2023, 10, 1), "therapy_start": date(2023, 6, 1)}
    evaluation = kb.evaluate(kb.case(as_case(facts)))
    assert evaluation.verdict is Verdict.NEEDS_INFORMATION
    assert {m.fact for m in evaluation.missing} == {DOS, "urgent", "planned"} == missing(facts)
    evaluator = kb.evaluator("device-wait")
    known, _ = evaluator.known_facts(kb.case(as_case(facts)))
    split = evaluator.unknown_date(known)
    assert set(split.class_verdicts(known)) == {Verdict.NEEDS_INFORMATION}
    # With planned false, the late days are not covered whatever the rest.
    facts["planned"] = False
    assert {m.fact for m in kb.evaluate(kb.case(as_case(facts))).missing} == missing(facts)


def test_the_day_classes_cover_every_day_once(kb: KnowledgeBase) -> None:
    evaluator = kb.evaluator("device-wait")
    known, _ = evaluator.known_facts(kb.case(as_case({"mi_date": date(2024, 2, 10)})))
    split = evaluator.unknown_date(known)
    days = sorted(d for c in split.classes for a, b in c.runs for d in range(a, b + 1))
    assert days == [d.toordinal() for d in ALL_DAYS]
    assert len(split.classes) < len(ALL_DAYS) // 10


def test_the_second_engine_agrees_on_complete_scenarios_as_of_class_days(
    kb: KnowledgeBase,
) -> None:
    evaluator = kb.evaluator("device-wait")
    known, _ = evaluator.known_facts(kb.case(as_case({"mi_date": date(2024, 2, 10)})))
    split = evaluator.unknown_date(known)
    for _, anchored in split.cases[:4]:
        prover = kb.prover_for(anchored)
        facts = anchored.decision_facts
        choices = [prover.scenario_choices(f) for f in facts]
        assert prover.covered_scenarios(facts) == anchored.covered_scenarios(facts, choices)


def test_two_unknown_references_are_answered_over_pairs_of_days(
    tmp_path: Path,
) -> None:
    """therapy_start becomes a reference date too (a visit is compared with
    it): a case leaving both out is answered over the pairs of their days
    (tests/oracle/test_unknown_date_pairs.py checks such answers against
    brute force)."""
    folder = tmp_path / "two-references"
    folder.mkdir()
    (folder / "policy.lp").write_text('#include "vocabulary.lp".\n#include "criteria.lp".\n')
    (folder / "vocabulary.lp").write_text(
        (FIXTURE / "vocabulary.lp").read_text()
        + "fact(visit_date, date). rank(visit_date, 7).\n"
        + 'question(visit_date, "When was the visit?").\n'
    )
    (folder / "criteria.lp").write_text(
        (FIXTURE / "criteria.lp").read_text()
        + 'criterion("VISIT", "Rule 4", "A visit within 30 days after therapy starts.").\n'
        + 'role("VISIT", prerequisite).\n'
        + 'met("VISIT") :- on_or_before(visit_date, therapy_start, days(30)).\n'
    )
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "two-references", "facts": {"urgent": True}})
    evaluation = kb.evaluate(case)
    assert evaluation.verdict is Verdict.NEEDS_INFORMATION
    assert {DOS, "therapy_start"} <= {m.fact for m in evaluation.missing}
    stated = kb.case(
        {"policy": "two-references", "facts": {"therapy_start": "2024-01-01", "urgent": True}}
    )
    assert kb.evaluate(stated).verdict is Verdict.NEEDS_INFORMATION


# -- implantable-defibrillators against the NCD oracle -----------------------------------


@pytest.fixture(scope="module")
def bundled() -> KnowledgeBase:
    return KnowledgeBase()


def service_days(facts: dict[str, Any]) -> list[date]:
    """The days of service that cover every boundary: the policy's first day
    and, for each stated date, the days around its waiting periods' edges (40
    days, 3 calendar months), and one day past them all. The oracle reads the
    day of service only through those comparisons, so every other day gives
    the verdicts of its neighbours."""
    days = {icd.FIRST_DAY, icd.FIRST_DAY + timedelta(days=1)}
    for value in facts.values():
        if not isinstance(value, date):
            continue
        forward = months_back(value, -3)
        for k in range(-4, 5):
            days |= {value + timedelta(days=40 + k), forward + timedelta(days=k)}
    stated = [v for v in facts.values() if isinstance(v, date)]
    days.add(max([icd.FIRST_DAY, *stated]) + timedelta(days=125))
    return sorted(d for d in days if d >= icd.FIRST_DAY)


def icd_verdict(known: dict[str, Any], days: list[date]) -> str:
    seen = {icd.verdict(known, day) for day in days}
    return seen.pop() if len(seen) == 1 else "needs_information"


@st.composite
def icd_cases(draw: st.DrawFn) -> dict[str, Any]:
    """A complete scenario as of some day, without its date of service, one or
    two other facts (none a date) left out."""
    day = draw(st.sampled_from([date(2024, 5, 31), date(2024, 3, 1), date(2021, 5, 31)]))
    values = {f: draw(st.sampled_from(icd.domain(f, day))) for f in icd.FACTS}
    facts = {f: v for f, v in values.items() if f != DOS}
    droppable = [f for f in facts if f not in icd.DATE_FACTS]
    for fact in draw(st.lists(st.sampled_from(droppable), min_size=1, max_size=2, unique=True)):
        del facts[fact]
    return facts


def icd_json(facts: dict[str, Any]) -> dict[str, Any]:
    shown = {f: v.isoformat() if isinstance(v, date) else v for f, v in facts.items()}
    return {"policy": "implantable-defibrillators", "facts": shown}


@settings(
    max_examples=examples(8),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(facts=icd_cases())
def test_defibrillators_without_a_date_of_service_equal_the_ncd_oracle(
    bundled: KnowledgeBase, facts: dict[str, Any]
) -> None:
    case = bundled.case(icd_json(facts))
    known = icd.with_defaults(facts)
    days = service_days(known)
    expected = icd_verdict(known, days)
    try:
        answer = bundled.why(case, max_changes=30)
    except LimitError:
        # The change search's stated budget (unknown_date_changes.MAX_TRIALS);
        # evaluate still answers such a case, and is compared below.
        assert bundled.evaluate(case).verdict.value == expected
        reject()
    assert answer.verdict.value == expected
    if expected == "needs_information":
        turns = set().union(*(icd.missing(known, day) for day in days))
        unknown = [f for f in icd.FACTS if f not in known and f != DOS]
        for values in product(*(icd.domain(f, days[0]) for f in unknown)):
            scenario = {**known, **dict(zip(unknown, values, strict=True))}
            if len({icd.covered(scenario, day) for day in days}) == 2:
                turns.add(DOS)
                break
        assert {m.fact for m in answer.missing} == turns
    else:
        assert not answer.missing
    for explanation in answer.explanations:
        chosen = {item.fact: known[item.fact] for item in explanation}
        assert icd_verdict(chosen, days) == expected
        for fact in chosen:
            smaller = {f: v for f, v in chosen.items() if f != fact}
            assert icd_verdict(smaller, days) != expected
    for changes in answer.changes:
        for change in changes:
            data = change.to_dict()
            if change.fact == DOS:
                sample = [d for d in days if in_answer(d, data)] or [days[-1]]
                for day in sample:
                    changed = {
                        **known,
                        **{c.fact: c.to_dict().get("value") for c in changes if c.fact != DOS},
                    }
                    assert icd.verdict(changed, day) == answer.target.value


def test_defibrillators_answer_the_mi_example_with_its_waiting_period(
    bundled: KnowledgeBase,
) -> None:
    """examples/defibrillator-mi-waiting-period.json without its date of service:
    the date is asked, covered from 2024-06-01 (40 days after the MI)."""
    document = {
        "policy": "implantable-defibrillators",
        "facts": {
            "icd_service": "initial",
            "prior_mi": True,
            "last_mi_date": "2024-04-22",
            "lvef": 30,
            "nyha_class": "iii",
            "prior_revascularization": False,
            "revascularization_candidate": False,
            "combined_with_pacemaker": False,
            "shared_decision_making": True,
            "sustained_vt_history": "none",
            "vf_arrest_history": "none",
            "severe_dilated_cardiomyopathy": "none",
            "familial_high_risk_disorder": False,
            "unos_heart_transplant_candidate": False,
            "lvef_method": "echocardiography",
            "clinically_stable": True,
            "irreversible_brain_damage": False,
            "noncardiac_limited_survival": False,
            "svt_poorly_controlled_rate": False,
        },
    }
    answer = bundled.why(bundled.case(document))
    assert answer.verdict is Verdict.NEEDS_INFORMATION
    (asked,) = [m for m in answer.missing if m.fact == DOS]
    assert [(a.to_dict()["range"], a.verdict.value) for a in asked.answers] == [
        ({"max": "2024-05-31"}, "not_covered"),  # from the bound, 2018-02-15
        ({"min": "2024-06-01"}, "covered"),
    ]
    assert answer.covered_from is None


def test_a_date_compared_with_the_unknown_date_is_explained_by_its_value(
    kb: KnowledgeBase,
) -> None:
    """An MI after every day of service: not covered on any day. The MI's
    date is shown by its value, not by its region as of one day of service."""
    facts = {"mi_date": date(2024, 6, 20), "pacemaker": False, "urgent": True}
    evaluation = kb.evaluate(kb.case(as_case(facts)))
    assert evaluation.verdict is verdict(facts) is Verdict.NOT_COVERED
    (item,) = [i for i in evaluation.explanation if i.fact == "mi_date"]
    assert item.region is None
    assert "range" not in item.to_dict()


def test_a_history_window_moved_from_an_unknown_date_is_answered_over_its_days() -> None:
    """Windows of a history relative to the date of service move with its
    days: a case that leaves it out is answered over them
    (test_unknown_date_windows.py tests this against brute force)."""
    folder = Path(__file__).parents[1] / "fixtures" / "kb" / "screening-history"
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "screening-history", "facts": {}})
    evaluation = kb.evaluate(case)
    assert evaluation.verdict is Verdict.NEEDS_INFORMATION
    assert "date_of_service" in {m.fact for m in evaluation.missing}
