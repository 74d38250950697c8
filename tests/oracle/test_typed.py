"""Typed facts (numbers, dates, codes) against brute force.

Two policies: the bundled bariatric-surgery policy (an int, a decimal, an
enum and an ICD-10-CM code list) and the sleep-apnea fixture (a decimal with
a gap, a date, a single HCPCS code and exclusive thresholds). Each has an
oracle written here from its text, in plain Python, so the reference shares
no code with the regions the KB computes. Unknown facts range over grids of
values chosen from the texts' boundaries; one-dimensional sweeps check every
value of a fine grid.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from itertools import combinations, product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# -- the oracles -------------------------------------------------------------------


def _category(code: str) -> str:
    return code.upper().replace(".", "")[:3]


def bariatric(f: dict[str, Any]) -> bool:
    """WAC 182-531-1600 stage one, as the issue pins its readings."""
    if f["epsdt"]:
        return bool(f["medically_necessary"] and f["safe_and_effective"] and f["not_experimental"])
    age, bmi = f["age"], Decimal(str(f["bmi"]))
    age_ok = 21 <= age <= 59 or (18 <= age <= 20 and f["procedure"] == "lagb")
    diabetes = any("E08" <= _category(c) <= "E13" for c in f["diagnoses"])
    joints = any(_category(c) in ("M16", "M17") for c in f["diagnoses"])
    diagnosis = (
        diabetes
        or (joints and f["joint_replacement_candidate"])
        or f["rare_comorbidity_with_evidence"]
    )
    return bool(age_ok and bmi >= 35 and not f["pregnant"] and diagnosis)


def sleep_apnea(f: dict[str, Any]) -> bool:
    """The sleep-apnea fixture's four rules."""
    ahi = Decimal(str(f["ahi"]))
    indicated = ahi >= 15 or (5 <= ahi <= 14 and f["symptomatic"])
    code = f["device"].upper()
    device = code == "E0601" or ("E0470" <= code <= "E0472" and ahi > Decimal("30.5"))
    study = date(2020, 1, 1) <= date.fromisoformat(f["study_date"]) < date(2030, 1, 1)
    return bool(indicated and device and study)


BOOL = [True, False]
CODES = ["E07.9", "E08.00", "E11.65", "E13.9", "E14", "M16.0", "M17.11", "M18.9", "I10"]
BARIATRIC_GRID: dict[str, list[Any]] = {
    "epsdt": BOOL,
    "medically_necessary": BOOL,
    "safe_and_effective": BOOL,
    "not_experimental": BOOL,
    "age": [0, 17, 18, 20, 21, 59, 60, 130],
    "procedure": ["lagb", "sleeve_gastrectomy", "gastric_bypass", "other"],
    "bmi": [0, 34.9, 35, 200],
    "pregnant": BOOL,
    "diagnoses": [[], ["E11.65"], ["M17.11"], ["I10"], ["E11.65", "M17.11"]],
    "joint_replacement_candidate": BOOL,
    "rare_comorbidity_with_evidence": BOOL,
}
BARIATRIC_VALUES: dict[str, list[Any]] = {
    **BARIATRIC_GRID,
    "age": [0, 10, 17, 18, 19, 20, 21, 22, 40, 58, 59, 60, 61, 100, 130],
    "bmi": [0, 20.5, 34, 34.9, 34.99, 35, 35.01, 50, 200],
    "diagnoses": [list(s) for n in range(3) for s in combinations(CODES, n)],
}
SLEEP_GRID: dict[str, list[Any]] = {
    "device": ["E0601", "E0470", "E0472", "E0473", "A4604"],
    "ahi": [0, 4.9, 5, 14, 14.5, 15, 30.5, 31, 200],
    "symptomatic": BOOL,
    "study_date": ["2000-01-01", "2019-12-31", "2020-01-01", "2029-12-31", "2030-01-01"],
}
POLICIES: dict[
    str, tuple[Callable[[dict[str, Any]], bool], dict[str, list[Any]], dict[str, list[Any]]]
] = {
    "bariatric-surgery": (bariatric, BARIATRIC_GRID, BARIATRIC_VALUES),
    "sleep-apnea": (sleep_apnea, SLEEP_GRID, SLEEP_GRID),
}


@pytest.fixture(scope="module", params=list(POLICIES))
def policy(request: pytest.FixtureRequest) -> Evaluator:
    return KnowledgeBase([FIXTURES / "sleep-apnea"]).evaluator(str(request.param))


def brute(name: str, known: dict[str, Any], grid: dict[str, list[Any]] | None = None) -> Verdict:
    """The three-valued verdict over every completion of `known` on the grid."""
    oracle, default_grid, _ = POLICIES[name]
    grid = grid or default_grid
    unknown = [f for f in grid if f not in known]
    seen: set[bool] = set()
    for values in product(*(grid[f] for f in unknown)):
        seen.add(oracle({**known, **dict(zip(unknown, values, strict=True))}))
        if len(seen) == 2:
            return Verdict.NEEDS_INFORMATION
    return Verdict.COVERED if seen == {True} else Verdict.NOT_COVERED


def case_of(evaluator: Evaluator, facts: dict[str, Any]) -> Case:
    document = {"policy": evaluator.policy.name, "facts": facts}
    return validate_case(document, evaluator.policy, "c")


def known_of(evaluator: Evaluator, facts: dict[str, Any]) -> dict[str, Any]:
    """The raw facts with the policy's defaults filled in (as the evaluator reads them)."""
    filled = dict(facts)
    for name, fact in evaluator.policy.facts.items():
        if name not in filled and fact.default is not None:
            filled[name] = fact.default
    return filled


@st.composite
def partial_cases(draw: st.DrawFn, name: str) -> dict[str, Any]:
    values = POLICIES[name][2]
    return {
        fact: draw(st.sampled_from(options))
        for fact, options in values.items()
        if draw(st.integers(0, 9)) < 7
    }


# -- properties ----------------------------------------------------------------------


@SETTINGS
@given(data=st.data())
def test_verdict_and_missing_facts_equal_brute_force(
    policy: Evaluator, data: st.DataObject
) -> None:
    name = policy.policy.name
    facts = data.draw(partial_cases(name))
    evaluation = policy.evaluate(case_of(policy, facts))
    known = known_of(policy, facts)
    assert evaluation.verdict is brute(name, known)
    if evaluation.verdict is not Verdict.NEEDS_INFORMATION:
        assert evaluation.missing == ()
        return
    grid = POLICIES[name][1]
    missing = set()
    for fact in (f for f in grid if f not in known):
        others = [f for f in grid if f not in known and f != fact]
        for values in product(*(grid[f] for f in others)):
            rest = {**known, **dict(zip(others, values, strict=True))}
            if len({POLICIES[name][0]({**rest, fact: v}) for v in grid[fact]}) == 2:
                missing.add(fact)
                break
    assert {m.fact for m in evaluation.missing} == missing


@SETTINGS
@given(data=st.data())
def test_the_explanation_is_a_minimal_sufficient_set(
    policy: Evaluator, data: st.DataObject
) -> None:
    name = policy.policy.name
    facts = data.draw(partial_cases(name))
    evaluation = policy.evaluate(case_of(policy, facts))
    known = known_of(policy, facts)
    chosen = {item.fact: known[item.fact] for item in evaluation.explanation}
    assert all(
        item.value == policy.known_facts(case_of(policy, facts))[0][item.fact]
        for item in evaluation.explanation
    )
    assert brute(name, chosen) is evaluation.verdict
    for fact in chosen:
        smaller = {f: v for f, v in chosen.items() if f != fact}
        assert brute(name, smaller) is not evaluation.verdict


@SETTINGS
@given(data=st.data())
def test_every_change_set_reaches_its_target(policy: Evaluator, data: st.DataObject) -> None:
    """Each smallest change set gives the target verdict for every grid value in
    its ranges, and no single fact of it can be left out."""
    name = policy.policy.name
    facts = data.draw(partial_cases(name))
    answer = policy.why(case_of(policy, facts), max_changes=5)
    known = known_of(policy, facts)
    grid = POLICIES[name][1]
    for changes in answer.changes:
        settings_of_change = [_grid_values(policy, grid, change) for change in changes]
        for values in product(*settings_of_change):
            changed = {**known, **dict(zip((c.fact for c in changes), values, strict=True))}
            assert brute(name, changed) is answer.target, (changes, values)


def _grid_values(policy: Evaluator, grid: dict[str, list[Any]], change: Any) -> list[Any]:
    """The grid values of a change: its value, or every grid value in its range or codes."""
    data = change.to_dict()
    if "value" in data:
        return [data["value"]]
    declared = policy.policy.facts[change.fact]
    inside = []
    for raw in grid[change.fact]:
        value = validate_case({"facts": {change.fact: raw}}, policy.policy, "c").facts[change.fact]
        if policy.value_key(change.fact, value) == policy.value_key(
            change.fact, _example(declared, data)
        ):
            inside.append(raw)
    assert inside or data.get("example") is not None
    return inside or [data["example"]]


def _example(declared: Any, data: dict[str, Any]) -> Any:
    example = data["example"]
    if declared.type.value == "date":
        return date.fromisoformat(example)
    if declared.type.value == "decimal":
        return Decimal(str(example))
    if declared.type.value == "code_list":
        return frozenset(example)
    return example


# -- fine grids ------------------------------------------------------------------------

COVERED_BASE = {
    "age": 34,
    "procedure": "sleeve_gastrectomy",
    "bmi": 40,
    "pregnant": False,
    "diagnoses": ["E11.9"],
}


@pytest.mark.parametrize(
    ("fact", "values", "others"),
    [
        ("age", list(range(131)), {**COVERED_BASE, "procedure": "lagb"}),
        ("age", list(range(131)), COVERED_BASE),
        ("bmi", [float(Decimal(n) / 10) for n in range(2001)], COVERED_BASE),
    ],
    ids=["age-lagb", "age-sleeve", "bmi-tenths"],
)
def test_fine_grid_sweeps_equal_the_oracle(
    fact: str, values: list[Any], others: dict[str, Any]
) -> None:
    evaluator = KnowledgeBase().evaluator("bariatric-surgery")
    for value in values:
        facts = {**others, fact: value}
        known, _ = evaluator.known_facts(case_of(evaluator, facts))
        expected = bariatric(
            {
                **known_of(evaluator, facts),
                "joint_replacement_candidate": False,
                "rare_comorbidity_with_evidence": False,
                "medically_necessary": False,
                "safe_and_effective": False,
                "not_experimental": False,
            }
        )
        assert (evaluator.verdict_of(known) is Verdict.COVERED) == expected, value


def test_sleep_apnea_fine_grid_over_ahi_and_dates() -> None:
    evaluator = KnowledgeBase([FIXTURES / "sleep-apnea"]).evaluator("sleep-apnea")
    days = [date(2019, 12, 30).toordinal() + n for n in range(4)] + [
        date(2029, 12, 30).toordinal() + n for n in range(4)
    ]
    for tenth, day, device, symptomatic in product(
        range(0, 400, 3), days, ["E0601", "E0471", "E0473"], BOOL
    ):
        facts = {
            "device": device,
            "ahi": float(Decimal(tenth) / 10),
            "symptomatic": symptomatic,
            "study_date": date.fromordinal(day).isoformat(),
        }
        known, _ = evaluator.known_facts(case_of(evaluator, facts))
        assert (evaluator.verdict_of(known) is Verdict.COVERED) == sleep_apnea(facts), facts


# -- the second engine -------------------------------------------------------------------


def test_engines_agree_on_every_complete_scenario_of_typed_policies(policy: Evaluator) -> None:
    kb = KnowledgeBase([FIXTURES / "sleep-apnea"])
    prover = kb.prover(policy.policy.name)
    facts = policy.decision_facts
    choices = [prover.scenario_choices(f) for f in facts]
    by_clingo = policy.covered_scenarios(facts, choices)
    assert prover.covered_scenarios(facts) == by_clingo
    assert by_clingo


@SETTINGS
@given(data=st.data())
def test_engines_agree_on_typed_cases_with_unknowns(policy: Evaluator, data: st.DataObject) -> None:
    kb = KnowledgeBase([FIXTURES / "sleep-apnea"])
    facts = data.draw(partial_cases(policy.policy.name))
    case = case_of(policy, facts)
    assert kb.cross_check(case, policy.policy.name) is policy.evaluate(case).verdict


def test_a_proof_shows_the_comparison_that_decided() -> None:
    kb = KnowledgeBase()
    case = kb.case({"policy": "bariatric-surgery", "facts": {**COVERED_BASE, "bmi": 34.9}})
    _, proof = kb.prove(case)
    texts = list(_texts(proof["root"]))
    assert "bmi 34.9 >= 35: false" in texts


def _texts(node: dict[str, Any]) -> Iterator[str]:
    yield node["text"]
    for child in node["children"]:
        yield from _texts(child)


# -- outputs in the analyst's terms -----------------------------------------------------------


def test_explanation_items_carry_the_case_value_and_its_range() -> None:
    evaluation = KnowledgeBase().evaluate(
        {"policy": "bariatric-surgery", "facts": {**COVERED_BASE, "bmi": 34.9}}
    )
    items = [item.to_dict() for item in evaluation.explanation]
    assert {k: v for k, v in items[-1].items() if k in ("fact", "value", "range")} == {
        "fact": "bmi",
        "value": 34.9,
        "range": {"below": 35},
    }


def test_why_gives_ranges_of_answers_for_a_missing_number() -> None:
    facts = {k: v for k, v in COVERED_BASE.items() if k != "bmi"}
    kb = KnowledgeBase()
    answer = kb.why(kb.case({"policy": "bariatric-surgery", "facts": facts}))
    (bmi,) = [m.to_dict() for m in answer.missing]
    assert bmi["fact"] == "bmi"
    assert [(a.get("range"), a["verdict"]) for a in bmi["answers"]] == [
        ({"below": 35}, "not_covered"),
        ({"min": 35}, "covered"),
    ]
    assert [[c.to_dict() for c in changes] for changes in answer.changes] == [
        [{"fact": "bmi", "range": {"min": 35}, "words": "35 or more kg/m2", "example": 35}]
    ]


def test_age_answers_merge_neighbouring_ranges_with_one_verdict() -> None:
    facts = {k: v for k, v in COVERED_BASE.items() if k != "age"}
    kb = KnowledgeBase()
    answer = kb.why(kb.case({"policy": "bariatric-surgery", "facts": facts}))
    (age,) = [m.to_dict() for m in answer.missing]
    assert [(a.get("range"), a["verdict"]) for a in age["answers"]] == [
        ({"max": 20}, "not_covered"),
        ({"min": 21, "max": 59}, "covered"),
        ({"min": 60}, "not_covered"),
    ]


# -- refused when the policy loads ---------------------------------------------------------

TYPED_VOCABULARY = """fact(bmi, decimal). bounds(bmi, 0, 200).
fact(label, string). option(label, "35").
fact(dx, code_list). code_system(dx, icd10cm). code_set(diabetes, "E08-E13").
fact(seen, date).
criterion("C1", "1", "Covered."). role("C1", indication).
"""


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            'met("C1") :- at_least(label, 35).',
            "at_least compares decimal or int facts; label is string",
        ),
        (
            'met("C1") :- has_code_in(bmi, diabetes).',
            "has_code_in compares code or code_list facts; bmi is decimal",
        ),
        ('met("C1") :- at_least(bmi, X), X = 3.', "at_least(bmi, ...): X must be a constant"),
        ('met("C1") :- at_least(bmi, "abc").', 'at_least(bmi, ...): "abc" is not a number'),
        ('met("C1") :- has_code_in(dx, obesity).', "has_code_in(dx, obesity): no code set obesity"),
        (
            'met("C1") :- on_or_after(seen, "2024-02-30").',
            'on_or_after(seen, ...): "2024-02-30" is not a date',
        ),
        ('met("C1") :- value(bmi, V).', "value(bmi, ...) reads a decimal fact"),
        ('met("C1") :- value(label, V), V >= "35".', "compares the value of fact label as a term"),
        ('met("C1") :- at_least(nope, 3).', "the first argument must be a declared fact"),
    ],
)
def test_a_wrong_comparison_is_refused_with_file_and_line(
    tmp_path: Path, rule: str, message: str
) -> None:
    from policykb.bridge import PolicyError

    folder = tmp_path / "wrong"
    folder.mkdir()
    (folder / "policy.lp").write_text(TYPED_VOCABULARY + rule + "\n", encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        KnowledgeBase().evaluator(folder)
    assert str(raised.value).startswith(f"{folder / 'policy.lp'}:6: ")
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ("fact(n, int). bounds(n, 10, 1).", "bounds of n: 10 > 1"),
        ('fact(n, int). bounds(n, "x", 1).', 'bounds of n: "x" is not a number'),
        ("fact(c, code).", "code fact c needs code_system(c, S)"),
        ("fact(c, code). code_system(c, snomed).", "code fact c needs code_system(c, S)"),
        ('fact(c, code). code_system(c, cpt). code_set(s, "4377X-").', "code set s:"),
        (
            'fact(b, bool). unit(b, "years").',
            "unit of b: only number, date and code facts have one",
        ),
        ("fact(n, int). bounds(n, 0, 10). default(n, 11).", "default of n: 11 is out of"),
        ('fact(n, int). default(n, "x").', 'default of n: "x" is not a number'),
        ('fact(d, date). default(d, "2024-02-30").', 'default of d: "2024-02-30" is not a date'),
        (
            'fact(c, code). code_system(c, hcpcs). default(c, "E1").',
            "default of c: 'E1' is not an HCPCS code",
        ),
        (
            'fact(c, code_list). code_system(c, icd10cm). default(c, "E11.9").',
            "code_list fact c cannot have a default",
        ),
    ],
)
def test_a_wrong_typed_declaration_is_refused(
    tmp_path: Path, declaration: str, message: str
) -> None:
    from policykb.bridge import PolicyError

    folder = tmp_path / "wrong"
    folder.mkdir()
    text = f'{declaration}\ncriterion("C1", "1", "Covered."). role("C1", indication).\n'
    (folder / "policy.lp").write_text(text, encoding="utf-8")
    with pytest.raises(PolicyError) as raised:
        KnowledgeBase().evaluator(folder)
    assert message in str(raised.value)
    assert str(raised.value).startswith(f"{folder / 'policy.lp'}:1: ")


def test_a_typed_default_is_assumed_like_a_stated_value(tmp_path: Path) -> None:
    folder = tmp_path / "defaults"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        'fact(bmi, decimal). bounds(bmi, 0, 200). default(bmi, "25.5").\n'
        'fact(seen, date). default(seen, "2024-01-01").\n'
        'fact(device, code). code_system(device, hcpcs). default(device, "E0601").\n'
        "fact(age, int). bounds(age, 0, 130). default(age, 40).\n"
        'code_set(cpap, "E0601").\n'
        'criterion("C1", "1", "Covered."). role("C1", indication).\n'
        'met("C1") :- at_least(bmi, 25), on_or_after(seen, "2023-06-01"),\n'
        "             has_code_in(device, cpap), between(age, 18, 64).\n",
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    assumed = kb.evaluate(kb.case({"policy": "defaults", "facts": {}}))
    assert assumed.verdict is Verdict.COVERED
    assert {item.fact for item in assumed.explanation} == {"bmi", "seen", "device", "age"}
    assert all(item.assumed for item in assumed.explanation)
    stated = kb.evaluate(
        kb.case(
            {
                "policy": "defaults",
                "facts": {"bmi": 25.5, "seen": "2024-01-01", "device": "E0601", "age": 40},
            }
        )
    )
    assert stated.verdict is Verdict.COVERED
    assert not any(item.assumed for item in stated.explanation)
    overridden = kb.evaluate(kb.case({"policy": "defaults", "facts": {"bmi": 24.9}}))
    assert overridden.verdict is Verdict.NOT_COVERED
    assert [item.fact for item in overridden.explanation] == ["bmi"]


# -- bad case input ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("facts", "message"),
    [
        ({"age": "34"}, "fact 'age' must be a whole number from 0 to 130 years, not a string"),
        ({"age": 34.5}, "fact 'age' must be a whole number, not 34.5 (it has a fraction)"),
        ({"age": 131}, "fact 'age': 131 is out of its bounds (from 0 to 130 years)"),
        ({"age": -1}, "fact 'age': -1 is out of its bounds (from 0 to 130 years)"),
        ({"age": True}, "fact 'age' must be a whole number from 0 to 130 years, not a boolean"),
        ({"bmi": "35"}, "fact 'bmi' must be a number from 0 to 200 kg/m2, not a string"),
        ({"bmi": 200.01}, "fact 'bmi': 200.01 is out of its bounds (from 0 to 200 kg/m2)"),
        (
            {"diagnoses": "E11.9"},
            "fact 'diagnoses' must be a list of ICD-10-CM codes such as E11.9, not a string",
        ),
        (
            {"diagnoses": ["E11.9", "U07.1"]},
            "fact 'diagnoses': 'U07.1' is not an ICD-10-CM code (such as E11.9)",
        ),
        ({"diagnoses": [11]}, "fact 'diagnoses': a number is not an ICD-10-CM code"),
    ],
)
def test_bad_typed_values_are_one_line_errors(facts: dict[str, Any], message: str) -> None:
    from policykb.bridge import CaseError

    with pytest.raises(CaseError) as raised:
        KnowledgeBase().case({"policy": "bariatric-surgery", "facts": facts})
    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2024-02-30", "fact 'study_date': '2024-02-30' is not a real day"),
        ("20240201", "fact 'study_date': '20240201' is not a date YYYY-MM-DD"),
        (
            "1999-12-31",
            "fact 'study_date': '1999-12-31' is out of its bounds (of at least 2000-01-01)",
        ),
        (
            20240201,
            "fact 'study_date' must be a date YYYY-MM-DD of at least 2000-01-01, not a number",
        ),
    ],
)
def test_bad_dates_are_one_line_errors(value: Any, message: str) -> None:
    from policykb.bridge import CaseError

    kb = KnowledgeBase([FIXTURES / "sleep-apnea"])
    with pytest.raises(CaseError) as raised:
        kb.case({"policy": "sleep-apnea", "facts": {"study_date": value}})
    assert str(raised.value) == message


def test_codes_are_read_in_any_case_and_with_or_without_their_dot() -> None:
    kb = KnowledgeBase([FIXTURES / "sleep-apnea"])
    case = kb.case({"policy": "bariatric-surgery", "facts": {"diagnoses": ["e1165", "M17.11"]}})
    assert case.facts["diagnoses"] == frozenset({"E11.65", "M17.11"})
    device = kb.case({"policy": "sleep-apnea", "facts": {"device": "e0601"}})
    assert device.facts["device"] == "E0601"


def test_the_cli_names_a_bad_number_and_exits_1(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app

    result = CliRunner().invoke(
        app, ["evaluate", "-"], input='{"policy": "bariatric-surgery", "facts": {"bmi": "abc"}}'
    )
    assert result.exit_code == 1
    assert result.stderr == "error: fact 'bmi' must be a number from 0 to 200 kg/m2, not a string\n"


@pytest.mark.parametrize(("text", "shown"), [("NaN", "nan"), ("1e999", "inf"), ("-1e999", "-inf")])
def test_a_number_that_is_not_finite_is_refused(text: str, shown: str) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app

    document = '{"policy": "bariatric-surgery", "facts": {"bmi": ' + text + "}}"
    result = CliRunner().invoke(app, ["evaluate", "-"], input=document)
    assert result.exit_code == 1
    assert result.stderr == (
        f"error: fact 'bmi' must be a number from 0 to 200 kg/m2, not {shown}\n"
    )


def test_a_cpt_code_may_be_written_as_a_number(tmp_path: Path) -> None:
    from policykb.bridge import CaseError

    folder = tmp_path / "surgery-codes"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(cpt, code). code_system(cpt, cpt). fact(supply, code). code_system(supply, hcpcs).\n"
        'code_set(banding, "43770").\n'
        'criterion("C1", "1", "Banding is covered."). role("C1", indication).\n'
        'met("C1") :- has_code_in(cpt, banding).\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    case = kb.case({"policy": "surgery-codes", "facts": {"cpt": 43770}})
    assert case.facts == {"cpt": "43770"}
    assert kb.evaluate(case).verdict is Verdict.COVERED
    assert kb.case({"policy": "surgery-codes", "facts": {"cpt": 1234}}).facts == {"cpt": "01234"}
    with pytest.raises(CaseError, match=r"^fact 'cpt': a boolean is not a CPT code$"):
        kb.case({"policy": "surgery-codes", "facts": {"cpt": True}})
    with pytest.raises(CaseError, match=r"^fact 'supply': a number is not an HCPCS code$"):
        kb.case({"policy": "surgery-codes", "facts": {"supply": 4770}})


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ('met("C1") :- value(bmi, V), V >= "35".', "compares the value of fact bmi as a term"),
        (
            'met("C1") :- at_least(bmi, 35).',
            "at_least compares decimal or int facts; bmi is string",
        ),
    ],
)
def test_comparisons_are_checked_in_a_policy_without_typed_facts(
    tmp_path: Path, rule: str, message: str
) -> None:
    """The string-BMI trap: a policy of one's own with no typed fact at all."""
    from policykb.bridge import PolicyError

    folder = tmp_path / "untyped"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        'fact(bmi, string). option(bmi, "35").\n'
        'criterion("C1", "1", "Covered."). role("C1", indication).\n' + rule + "\n",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as raised:
        KnowledgeBase().evaluator(folder)
    assert str(raised.value).startswith(f"{folder / 'policy.lp'}:3: ")
    assert message in str(raised.value)


# -- CSV, check and diff on typed policies ---------------------------------------------------


def test_csv_cells_are_typed_by_the_vocabulary(tmp_path: Path) -> None:
    """Numbers and code lists in CSV; an empty cell is unknown and does not end
    the row; words for booleans."""
    from policykb.bridge.loading.case import csv_document

    policy = KnowledgeBase().policy("bariatric-surgery")
    row = {
        "policy": "",
        "epsdt": "",
        "age": "34",
        "bmi": "34.9",
        "pregnant": "yes",
        "diagnoses": "E11.9; M17.11",
        "rare_comorbidity_with_evidence": "no",
    }
    document = csv_document(row, policy)
    assert document == {
        "facts": {
            "age": 34,
            "bmi": 34.9,
            "pregnant": True,
            "diagnoses": ["E11.9", "M17.11"],
            "rare_comorbidity_with_evidence": False,
        }
    }
    case = validate_case(document, policy, "r1")
    assert case.facts["bmi"] == Decimal("34.9") and case.facts["age"] == 34
    assert csv_document({"policy": "bariatric-surgery", "age": "21.0"}, policy) == {
        "facts": {"age": 21},
        "policy": "bariatric-surgery",
    }
    from policykb.bridge import CaseError

    with pytest.raises(
        CaseError, match=r"^fact 'bmi' must be a number from 0 to 200 kg/m2, not 'high'$"
    ):
        csv_document({"bmi": "high"}, policy)
    # an unknown column does not stop the typing of the cells after it
    with pytest.raises(CaseError, match=r"^fact 'pregnant' must be true or false, not 'maybe'$"):
        csv_document({"weight": "90", "pregnant": "maybe"}, policy)


def test_check_on_a_typed_policy_gives_concrete_witnesses() -> None:
    from policykb.bridge.analysis.check import check_policy
    from policykb.bridge.analysis.findings import Kind

    evaluator = KnowledgeBase([FIXTURES / "sleep-apnea"]).evaluator("sleep-apnea")
    report = check_policy(evaluator)
    (gap,) = [f for f in report.findings if f.kind is Kind.RANGE_GAP]
    assert gap.to_dict()["witness"] == {"facts": {"ahi": 14.5}}
    assert gap.message.startswith("ahi more than 14 and less than 15 events/hour: ")
    for finding in report.findings:
        if finding.witness is not None:
            case = case_of(evaluator, finding.to_dict()["witness"]["facts"])
            assert evaluator.evaluate(case).verdict is finding.verdict


def test_diff_of_two_typed_versions_gives_ranges_and_concrete_witnesses(tmp_path: Path) -> None:
    import shutil

    from policykb.bridge.analysis.diff import diff_policies
    from policykb.bridge.loading.files import bundled_kb

    old = tmp_path / "bariatric-old"
    shutil.copytree(bundled_kb() / "policies" / "bariatric-surgery", old)
    criteria = old / "criteria.lp"
    text = criteria.read_text(encoding="utf-8")
    criteria.write_text(text.replace("at_least(bmi, 35)", "at_least(bmi, 40)"), encoding="utf-8")
    kb = KnowledgeBase()
    new_evaluator = kb.evaluator("bariatric-surgery")
    report = diff_policies(kb.evaluator(old), new_evaluator)
    assert report.changes
    for change in report.changes:
        data = change.to_dict()
        assert data["conditions"]["bmi"] == {"range": {"min": 35, "below": 40}}
        assert (data["old"], data["new"]) == ("not_covered", "covered")
        witness = data["witness"]["facts"]
        assert 35 <= witness["bmi"] < 40
        assert all(isinstance(code, str) for code in witness.get("diagnoses", []))
        assert new_evaluator.evaluate(case_of(new_evaluator, witness)).verdict is Verdict.COVERED


def test_why_merges_answers_into_the_previous_range_not_the_first() -> None:
    facts = {**{k: v for k, v in COVERED_BASE.items() if k != "age"}, "procedure": "lagb"}
    kb = KnowledgeBase()
    answer = kb.why(kb.case({"policy": "bariatric-surgery", "facts": facts}))
    (age,) = [m.to_dict() for m in answer.missing]
    assert [(a.get("range"), a["verdict"]) for a in age["answers"]] == [
        ({"max": 17}, "not_covered"),
        ({"min": 18, "max": 59}, "covered"),
        ({"min": 60}, "not_covered"),
    ]


def test_a_file_that_is_not_utf8_is_a_one_line_error(tmp_path: Path) -> None:
    from policykb.bridge import CaseError

    file = tmp_path / "case.json"
    file.write_bytes(b'{"facts": {"bmi": "\xff"}}')
    with pytest.raises(CaseError, match=r"case.json: not UTF-8 text$"):
        KnowledgeBase().read_case(str(file))


def test_a_negative_cpt_number_is_not_a_code(tmp_path: Path) -> None:
    from policykb.bridge import CaseError

    folder = tmp_path / "cpt-only"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        'fact(cpt, code). code_system(cpt, cpt). code_set(any, "00000-99999").\n'
        'criterion("C1", "1", "Covered."). role("C1", indication).\n'
        'met("C1") :- has_code_in(cpt, any).\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    for number in (-5, -1):
        with pytest.raises(CaseError, match=rf"^fact 'cpt': '{number}' is not a CPT code "):
            kb.case({"policy": "cpt-only", "facts": {"cpt": number}})
    assert kb.case({"policy": "cpt-only", "facts": {"cpt": 0}}).facts == {"cpt": "00000"}
