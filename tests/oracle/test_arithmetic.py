"""Products and ratios of number facts (kb/core/arithmetic.lp) against brute force.

The apnea-ratio fixture derives event_rate (the AHI) = apnea_events / sleep_hours (an int
over a decimal) and total_dose = daily_dose * supply_days (a decimal times
an int). Its oracle below is written from the fixture's rules in plain
Python with fractions, sharing no code with bridge/model/arithmetic.py.
Unknown operands range over grids holding every bound, every value that
puts the derived value on one of the rules' constants, and neighbours.
"""

from __future__ import annotations

from fractions import Fraction
from functools import cache
from itertools import product
from math import ceil, floor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
SETTINGS = settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def oracle(f: dict[str, Any]) -> bool:
    """The fixture's two rules over exact operand values."""
    ahi = Fraction(f["apnea_events"]) / Fraction(str(f["sleep_hours"]))
    indicated = 15 <= ahi <= 120 or (5 <= ahi < 15 and f["symptomatic"])
    total = Fraction(str(f["daily_dose"])) * f["supply_days"]
    return bool(indicated and 0 < total <= 1500)


BOOL = [True, False]
# Every bound, and values that put ahi or the dose on 5, 15, 120, 0 or 1500
# from the other operand's values in the grid, with neighbours.
GRID: dict[str, list[Any]] = {
    "sleep_hours": [0.5, 1, 2, 3, 5.9, 6, 6.1, 8, 12],
    "symptomatic": BOOL,
    "daily_dose": [0, 0.5, 10, 16.6, 16.7, 25, 50, 100],
    "supply_days": [1, 2, 15, 30, 60, 89, 90],
}
# apnea_events: for every sleep_hours of the grid, the whole numbers on and
# next to each event count that puts ahi on 5, 15 or 120, so that every
# region of ahi any sleep_hours value meets is met by some grid pair.
GRID["apnea_events"] = sorted(
    {0, 600}
    | {
        k
        for hours in GRID["sleep_hours"]
        for cut in (5, 15, 120)
        for at in (Fraction(cut) * Fraction(str(hours)),)
        for k in (floor(at) - 1, floor(at), ceil(at), ceil(at) + 1)
        if 0 <= k <= 600
    }
)
# Values a case states: a subset of the grid, so that brute force over the
# grid is exact for the known part.
VALUES = {k: v for k, v in GRID.items()}


def brute(known: dict[str, Any]) -> Verdict:
    unknown = [f for f in GRID if f not in known]
    seen: set[bool] = set()
    for values in product(*(GRID[f] for f in unknown)):
        seen.add(oracle({**known, **dict(zip(unknown, values, strict=True))}))
        if len(seen) == 2:
            return Verdict.NEEDS_INFORMATION
    return Verdict.COVERED if seen == {True} else Verdict.NOT_COVERED


@cache
def _kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURES / "apnea-ratio"])


@pytest.fixture(scope="module")
def policy() -> Evaluator:
    return _kb().evaluator("apnea-ratio")


def case_of(evaluator: Evaluator, facts: dict[str, Any]) -> Case:
    return validate_case({"policy": evaluator.policy.name, "facts": facts}, evaluator.policy, "c")


@st.composite
def partial_cases(draw: st.DrawFn) -> dict[str, Any]:
    return {
        fact: draw(st.sampled_from(options))
        for fact, options in VALUES.items()
        if draw(st.integers(0, 9)) < 7
    }


@SETTINGS
@given(data=st.data())
def test_verdict_equals_brute_force(policy: Evaluator, data: st.DataObject) -> None:
    facts = data.draw(partial_cases())
    assert policy.evaluate(case_of(policy, facts)).verdict is brute(facts)


@SETTINGS
@given(data=st.data())
def test_the_explanation_is_a_minimal_sufficient_set(
    policy: Evaluator, data: st.DataObject
) -> None:
    facts = data.draw(partial_cases())
    evaluation = policy.evaluate(case_of(policy, facts))
    chosen = {item.fact: facts[item.fact] for item in evaluation.explanation}
    assert brute(chosen) is evaluation.verdict
    for fact in chosen:
        smaller = {f: v for f, v in chosen.items() if f != fact}
        assert brute(smaller) is not evaluation.verdict


@SETTINGS
@given(data=st.data())
def test_missing_facts_equal_brute_force(policy: Evaluator, data: st.DataObject) -> None:
    """The missing facts are the unknown operands (never the derived facts)
    and other facts on which some completion's verdict turns."""
    facts = data.draw(partial_cases())
    evaluation = policy.evaluate(case_of(policy, facts))
    if evaluation.verdict is not Verdict.NEEDS_INFORMATION:
        assert evaluation.missing == ()
        return
    missing = set()
    for fact in (f for f in GRID if f not in facts):
        others = [f for f in GRID if f not in facts and f != fact]
        for values in product(*(GRID[f] for f in others)):
            rest = {**facts, **dict(zip(others, values, strict=True))}
            if len({oracle({**rest, fact: v}) for v in GRID[fact]}) == 2:
                missing.add(fact)
                break
    assert {m.fact for m in evaluation.missing} == missing


@pytest.mark.prolog
@settings(max_examples=examples(15), deadline=None)
@given(data=st.data())
def test_the_second_engine_agrees(data: st.DataObject) -> None:
    """SWI-Prolog proves the fixture's rules, each derived fact narrowed to
    the regions its stated operands reach, and agrees with clingo and the
    oracle on complete and partial cases."""
    kb = _kb()
    facts = data.draw(partial_cases())
    assert kb.cross_check(kb.case({"policy": "apnea-ratio", "facts": facts})) is brute(facts)


def _inside(data: dict[str, Any], value: Any) -> bool:
    exact = Fraction(str(value))
    checks = [
        ("min", lambda e: exact >= e),
        ("above", lambda e: exact > e),
        ("max", lambda e: exact <= e),
        ("below", lambda e: exact < e),
    ]
    return all(check(Fraction(str(data[key]))) for key, check in checks if key in data)


@settings(SETTINGS, max_examples=examples(15))
@given(data=st.data())
def test_answers_to_a_missing_operand_give_their_verdicts(
    policy: Evaluator, data: st.DataObject
) -> None:
    """Each answer range of a missing operand holds exactly the grid values
    that lead to its verdict, and the ranges cover every grid value."""
    facts = data.draw(partial_cases())
    answer = policy.why(case_of(policy, facts), max_changes=1)
    for missing in answer.missing:
        if missing.fact not in ("apnea_events", "sleep_hours", "daily_dose", "supply_days"):
            continue
        for value in GRID[missing.fact]:
            holding = [a for a in missing.answers if _inside(a.value.data, value)]
            assert len(holding) == 1, (missing.fact, value, missing.answers)
            assert brute({**facts, missing.fact: value}) is holding[0].verdict


# -- refusals ----------------------------------------------------------------------

SMALL = """policy(title, "t"). policy(source, "s").
fact(a, int). bounds(a, 0, 100). rank(a, 1).
fact(b, decimal). bounds(b, 1, 10). rank(b, 2).
fact(d, decimal). rank(d, 3).
fact(e, bool). rank(e, 4).
criterion("C", "Rule 1", "d is 5 or more"). role("C", indication).
met("C") :- at_least(d, 5).
"""


@pytest.mark.parametrize(
    ("change", "declaration", "message"),
    [
        ("", "ratio(d, a, z).", r"policy.lp:8: ratio\(d, a, z\): z is not a declared fact"),
        ("", "ratio(d, a, e).", "e is bool; an operand is int or decimal"),
        ("", "ratio(e, a, b).", "e is bool; a derived fact is decimal"),
        ("", "ratio(d, a, a).", "the derived fact and its two operands must differ"),
        ("bounds(b, 1, 10).", "ratio(d, a, b).", "b needs both bounds"),
        ("bounds(b, 1, 10).", "bounds(b, -1, 10). ratio(d, a, b).", "bounds of the divisor b"),
        ("bounds(a, 0, 100).", "bounds(a, 0, 20000). ratio(d, a, b).", "more than 10000"),
        ("rank(d, 3).", "rank(d, 3). bounds(d, 0, 50). ratio(d, a, b).", "no bounds and no"),
        ("", 'ratio(d, a, b). met("C") :- at_least(a, 3).', "the rules compare a itself"),
        ("", "ratio(d, a, b). product(d, b, a).", "each fact may take part in one"),
        ("", "ratio(d, a, b) :- holds(e).", "ratio/3 is a declaration"),
    ],
)
def test_what_cannot_be_exact_is_refused_with_file_and_line(
    tmp_path: Path, change: str, declaration: str, message: str
) -> None:
    folder = tmp_path / "bad-ratio"
    folder.mkdir()
    text = SMALL.replace(change, "") if change else SMALL
    (folder / "policy.lp").write_text(text + declaration + "\n")
    with pytest.raises(PolicyError, match=message) as raised:
        KnowledgeBase([tmp_path]).evaluator("bad-ratio")
    assert "policy.lp:" in str(raised.value)


# -- units: the derived fact's unit is its operands' units multiplied or divided ------

UNITS = """policy(title, "t"). policy(source, "s").
fact(x, decimal). bounds(x, 1, 100). rank(x, 1).
fact(y, decimal). bounds(y, 1, 10). rank(y, 2).
fact(d, decimal). rank(d, 3).
criterion("C", "Rule 1", "d is 5 or more"). role("C", indication).
met("C") :- at_least(d, 5).
"""


def _unit_policy(
    tmp_path: Path, kind: str, units: tuple[str | None, str | None, str | None]
) -> Path:
    folder = tmp_path / "units"
    folder.mkdir()
    declared = "".join(
        f'unit({name}, "{unit}"). '
        for name, unit in zip(("x", "y", "d"), units, strict=True)
        if unit is not None
    )
    (folder / "policy.lp").write_text(UNITS + declared + "\n" + f"{kind}(d, x, y).\n")
    return tmp_path


@pytest.mark.parametrize(
    ("kind", "units"),
    [
        ("product", ("mg/d", "d", "mg")),  # dimension and scale
        ("product", ("mg/d", "days", "mg")),  # a declared word read as UCUM (days: d)
        ("ratio", ("{events}", "hours", "{events}/h")),  # an annotation is UCUM's 1
        ("ratio", ("{events}", "h", "/h")),
        ("ratio", ("kg", "m2", "kg/m2")),
        ("ratio", ("g", "dL", "cg/mL")),  # spelled apart, equal by UCUM
        ("ratio", ("g", "L", "kg/m3")),
        ("product", (None, "h", "h")),  # no unit is 1
        ("ratio", ("mg", "mg", None)),
        ("product", (None, None, None)),  # nothing declared, nothing to check
    ],
)
def test_units_that_agree_by_ucum_are_accepted(
    tmp_path: Path, kind: str, units: tuple[str | None, str | None, str | None]
) -> None:
    evaluator = KnowledgeBase([_unit_policy(tmp_path, kind, units)]).evaluator("units")
    assert [use.fact for use in evaluator.policy.arithmetic] == ["d"]


@pytest.mark.parametrize(
    ("kind", "units", "message"),
    [
        ("product", ("mg/d", "d", "g"), r"'mg/d' \* 'd' is 0.001 times 'g': the scales differ"),
        (
            "product",
            ("mg/d", "d", "mg/d"),
            r"measures \[mass\], and 'mg/d' measures \[mass\] / \[time\]",
        ),
        ("ratio", ("{events}", "h", "{events}/min"), "is 0.0166667 times '{events}/min'"),
        ("ratio", ("kg", "cm2", "kg/m2"), "is 10000 times 'kg/m2'"),
        ("product", ("mg/d", "wk", "mg"), "'mg/d' \\* 'wk' is 7 times 'mg'"),
        ("ratio", ("g", "dL", "mg/mL"), "is 10 times 'mg/mL'"),
        ("ratio", ("events", "hours", "events/hour"), r"'events' is not a UCUM unit"),
        ("ratio", ("{events}", "h", None), r"and 1 \(no unit\) measures no dimension"),
        ("product", ("mg/d", "d", None), r"measures \[mass\], and 1 \(no unit\)"),
        ("ratio", ("[lb_av]", "[in_i]2", "kg/m2"), "is 703.07 times 'kg/m2'"),
    ],
)
def test_units_that_do_not_agree_are_refused_with_file_and_line(
    tmp_path: Path, kind: str, units: tuple[str | None, str | None, str | None], message: str
) -> None:
    with pytest.raises(PolicyError, match=message) as raised:
        KnowledgeBase([_unit_policy(tmp_path, kind, units)]).evaluator("units")
    text = str(raised.value)
    assert text.startswith(f"{tmp_path / 'units' / 'policy.lp'}:8: {kind}(d, x, y): ")
    assert "the units do not agree" in text
    assert "\n" not in text


def test_a_case_stating_the_derived_fact_is_refused(policy: Evaluator) -> None:
    with pytest.raises(CaseError, match="the case states event_rate, which the policy computes as"):
        policy.evaluate(case_of(policy, {"event_rate": 20}))


DERIVED = {
    "event_rate": ("apnea_events", "sleep_hours"),
    "total_dose": ("daily_dose", "supply_days"),
}


def _derived(fact: str, left: Any, right: Any) -> Fraction:
    a, b = Fraction(str(left)), Fraction(str(right))
    return a / b if fact == "event_rate" else a * b


@settings(SETTINGS, max_examples=examples(15))
@given(data=st.data())
def test_every_change_set_reaches_its_target(policy: Evaluator, data: st.DataObject) -> None:
    """A change of a derived fact stands for its operands changed to fit:
    every grid pair of operand values putting it in the range, with the
    set's other changes, gives the target verdict, and some pair does."""
    facts = data.draw(partial_cases())
    answer = policy.why(case_of(policy, facts), max_changes=5)
    for changes in answer.changes:
        changed = dict(facts)
        derived = []
        for change in changes:
            if change.fact in DERIVED:
                derived.append(change)
                continue
            value = change.value
            changed[change.fact] = value.example if hasattr(value, "example") else value
        choices: list[dict[str, Any]] = [{}]
        for change in derived:
            left, right = DERIVED[change.fact]
            pairs = [
                {left: a, right: b}
                for a in GRID[left]
                for b in GRID[right]
                if _inside(change.value.data, _derived(change.fact, a, b))
            ]
            assert pairs, change
            choices = [{**c, **p} for c in choices for p in pairs]
        for choice in choices:
            assert brute({**changed, **choice}) is answer.target, (changes, choice)


def test_a_change_of_a_derived_fact_names_its_operands(policy: Evaluator) -> None:
    from policykb.explain.why import render_why_text

    facts = {"apnea_events": 60, "sleep_hours": 6, "symptomatic": False}
    answer = policy.why(case_of(policy, facts), max_changes=5)
    text = render_why_text(answer, policy.policy)
    assert "event_rate (apnea_events / sleep_hours) = 15 to 120 {events}/h" in text


def test_batch_gives_the_evaluator_verdicts(policy: Evaluator) -> None:
    """The batch's compiled path (compile/) would not hold the operands'
    restriction, so a policy with a product or ratio is not compiled and
    batch answers as evaluate does."""
    from policykb.bridge.compile.compiled import CompiledPolicies, compile_policy

    assert compile_policy(policy) is None
    compiled = CompiledPolicies()
    for facts in ({"apnea_events": 120, "sleep_hours": 6}, {"apnea_events": 3}, {}):
        case = case_of(policy, facts)
        assert compiled.evaluate(policy, case).verdict is policy.evaluate(case).verdict
