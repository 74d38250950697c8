"""Encoding unit tests, clintest style: per criterion, a table of
(name, scenario facts, criteria that must be met, criteria that must not).

Each row is a complete program (core + policy + the row's value/2 facts) run
through clingo directly, without the Python bridge. A scenario fixes every
fact it names; unnamed facts stay free, so `met` must hold in every model
(cautious) and `not met` in none (brave).
"""

from __future__ import annotations

import clingo
import pytest

from policykb.bridge.loading.files import core_files, policy_source, show_file

BASE = {
    "medicare_member": "false",
    "review_type": "initial",
}

ROWS = [
    # name, facts, must be met, must not be met
    ("A1 met", {"objective_limitations_documented": "true"}, ["A1"], []),
    ("A1 not met", {"objective_limitations_documented": "false"}, [], ["A1", "A"]),
    ("A2 not met", {"physical_therapeutic_benefit": "false"}, [], ["A2", "A"]),
    ("A3 not met", {"ordered_by_treating_physician": "false"}, [], ["A3", "A"]),
    ("A4 not met", {"significant_improvement_expected": "false"}, [], ["A4", "A"]),
    (
        "A needs all four",
        {
            "objective_limitations_documented": "true",
            "physical_therapeutic_benefit": "true",
            "ordered_by_treating_physician": "true",
            "significant_improvement_expected": "true",
        },
        ["A1", "A2", "A3", "A4", "A"],
        [],
    ),
    ("B met", {"terminally_ill": "true", "needed_for_comfort": "true"}, ["B"], []),
    ("B needs comfort", {"terminally_ill": "true", "needed_for_comfort": "false"}, [], ["B"]),
    ("B needs terminal illness", {"terminally_ill": "false"}, [], ["B"]),
    ("E1 prevention", {"for_prevention": "true"}, ["E1"], []),
    ("E1 recreation", {"for_recreation": "true"}, ["E1"], []),
    ("E1 stress", {"for_stress_reduction": "true"}, ["E1"], []),
    (
        "E1 none",
        {"for_prevention": "false", "for_recreation": "false", "for_stress_reduction": "false"},
        [],
        ["E1"],
    ),
    ("E2 maintenance", {"directed_at_maintenance": "true"}, ["E2"], []),
    ("E2 not maintenance", {"directed_at_maintenance": "false"}, [], ["E2"]),
    ("E3 never on initial", {"therapeutic_goals_achieved": "true"}, [], ["E3"]),
    (
        "E3 goals achieved on continuation",
        {"review_type": "continuation", "therapeutic_goals_achieved": "true"},
        ["E3"],
        [],
    ),
    (
        "E3 no progress on continuation",
        {"review_type": "continuation", "showing_meaningful_progress": "false"},
        ["E3"],
        [],
    ),
    (
        "E3 progress, goals ahead",
        {
            "review_type": "continuation",
            "showing_meaningful_progress": "true",
            "therapeutic_goals_achieved": "false",
        },
        [],
        ["E3"],
    ),
    ("BEN needs the benefit", {"benefit_in_contract": "false"}, [], ["BEN"]),
    ("BEN needs the referral", {"health_plan_referral": "false"}, [], ["BEN"]),
    (
        "M1 met",
        {
            "medicare_member": "true",
            "delivered_by_physical_therapist": "true",
            "part_of_rehab_plan_of_care": "true",
        },
        ["M1"],
        ["M2"],
    ),
    (
        "M2 massage therapist",
        {"medicare_member": "true", "delivered_by_physical_therapist": "false"},
        ["M2"],
        ["M1"],
    ),
]


def consequences(facts: dict[str, str], mode: str) -> set[str]:
    ctl = clingo.Control(["--models=0", f"--enum-mode={mode}"])
    for path in [*core_files(), policy_source("massage-therapy").entry, show_file()]:
        ctl.load(str(path))
    with ctl.backend() as backend:
        for fact, value in facts.items():
            atom = backend.add_atom(
                clingo.Function("value", [clingo.Function(fact), clingo.Function(value)])
            )
            backend.add_rule([atom])
    ctl.ground([("base", [])])
    last: list[clingo.Symbol] = []
    with ctl.solve(yield_=True) as handle:
        for model in handle:
            last = model.symbols(shown=True)
    return {str(s) for s in last}


@pytest.mark.parametrize(("name", "facts", "met", "not_met"), ROWS, ids=[r[0] for r in ROWS])
def test_criterion(name: str, facts: dict[str, str], met: list[str], not_met: list[str]) -> None:
    scenario = {**BASE, **facts}
    certain = consequences(scenario, "cautious")
    possible = consequences(scenario, "brave")
    for criterion in met:
        assert f'met("{criterion}")' in certain, f"{name}: {criterion} should be met"
    for criterion in not_met:
        assert f'met("{criterion}")' not in possible, f"{name}: {criterion} should not be met"


VERDICT_ROWS = [
    ("exclusion overrides A", {"for_stress_reduction": "true"}, "not_covered"),
    (
        "exclusion overrides B",
        {"terminally_ill": "true", "needed_for_comfort": "true", "directed_at_maintenance": "true"},
        "not_covered",
    ),
    (
        "Medicare ignores the non-Medicare exclusions",
        {
            "medicare_member": "true",
            "delivered_by_physical_therapist": "true",
            "part_of_rehab_plan_of_care": "true",
            "for_stress_reduction": "true",
            "benefit_in_contract": "true",
            "health_plan_referral": "true",
        },
        "covered",
    ),
    (
        "BEN blocks Medicare too",
        {
            "medicare_member": "true",
            "delivered_by_physical_therapist": "true",
            "part_of_rehab_plan_of_care": "true",
            "health_plan_referral": "false",
        },
        "not_covered",
    ),
]


@pytest.mark.parametrize(
    ("name", "facts", "verdict"), VERDICT_ROWS, ids=[r[0] for r in VERDICT_ROWS]
)
def test_verdict_rule(name: str, facts: dict[str, str], verdict: str) -> None:
    certain = consequences({**BASE, **facts}, "cautious")
    assert f"verdict({verdict})" in certain, name
