"""Table tests of the meta-programs in kb/meta/, one table per program.

Each runs the meta-program with the core over a small policy written here
(covered iff "a" holds or "c" is x, unless "b" holds), so every row can be
checked by hand.
"""

from __future__ import annotations

from pathlib import Path

import clingo
import pytest
from clingo import Function

from policykb.bridge.loading.files import core_files, meta_file
from policykb.bridge.loading.parsing import policy_statements
from policykb.bridge.model.policy import PolicySource
from policykb.bridge.solving.transform import ground_twin, ground_with, renamed_copy

VOCABULARY = """
policy(title, "Meta table fixture").
fact(a, bool). fact(b, bool). fact(c, enum). option(c, x). option(c, y).
criterion("I1", "1", "A holds."). role("I1", indication). met("I1") :- holds(a).
criterion("X1", "3", "B excludes."). role("X1", exclusion). met("X1") :- holds(b).
"""
SECOND_INDICATION = """
criterion("I2", "2", "C is x."). role("I2", indication). met("I2") :- value(c, x).
"""

Scenario = dict[str, str]


def _policy(folder: Path, text: str) -> PolicySource:
    folder.mkdir()
    (folder / "policy.lp").write_text(text, encoding="utf-8")
    return PolicySource(folder.name, folder / "policy.lp")


@pytest.fixture
def policy(tmp_path: Path) -> PolicySource:
    return _policy(tmp_path / "toy", VOCABULARY + SECOND_INDICATION)


@pytest.fixture
def old_policy(tmp_path: Path) -> PolicySource:
    return _policy(tmp_path / "toy-old", VOCABULARY)


def _value(fact: str, value: str) -> clingo.Symbol:
    return Function("value", [Function(fact), Function(value)])


def _pins(ctl: clingo.Control, scenario: Scenario) -> list[int]:
    """Assumptions giving each fact of `scenario` its value (and no other)."""
    pins = []
    for atom in ctl.symbolic_atoms.by_signature("value", 2):
        fact, value = (str(argument) for argument in atom.symbol.arguments)
        if fact in scenario:
            pins.append(atom.literal if scenario[fact] == value else -atom.literal)
    return pins


def _brave(ctl: clingo.Control, assumptions: list[int], name: str, arity: int) -> set[str]:
    """The atoms name/arity that hold in some answer set under `assumptions`."""
    ctl.configuration.solve.enum_mode = "brave"  # type: ignore[union-attr]
    last: list[clingo.Symbol] = []
    with ctl.solve(assumptions=assumptions, yield_=True) as handle:
        for model in handle:
            last = model.symbols(atoms=True)
    return {str(s) for s in last if s.match(name, arity)}


# -- closest.lp: the closest counterexample -------------------------------------

CLOSEST = [
    # case, verdict forced, every optimal set of facts the scenario changes
    ({"a": "true", "b": "false", "c": "y"}, "not_covered", [{"a"}, {"b"}]),
    ({"a": "true", "b": "false", "c": "x"}, "not_covered", [{"b"}]),
    ({"b": "true"}, "covered", [{"b"}]),
    ({}, "covered", [set()]),
    ({"a": "false", "b": "false", "c": "y"}, "covered", [{"a"}, {"c"}]),
]


@pytest.mark.parametrize(("case", "verdict", "closest"), CLOSEST)
def test_closest_counterexamples_change_the_fewest_stated_facts(
    policy: PolicySource, case: Scenario, verdict: str, closest: list[set[str]]
) -> None:
    ctl = clingo.Control(["--opt-mode=optN", "--models=0"])
    for path in [*core_files(), policy.entry, meta_file("closest")]:
        ctl.load(str(path))
    ctl.ground([("base", [])])
    for fact, value in case.items():
        ctl.assign_external(Function("kb_stated", [Function(fact)]), True)
        ctl.assign_external(Function("kb_case", [Function(fact), Function(value)]), True)
    goal = ctl.symbolic_atoms[Function("verdict", [Function(verdict)])]
    assert goal is not None
    found: set[frozenset[str]] = set()
    with ctl.solve(assumptions=[goal.literal], yield_=True) as handle:
        for model in handle:
            if model.optimality_proven:
                shown = model.symbols(shown=True)
                found.add(
                    frozenset(str(s.arguments[0]) for s in shown if s.match("kb_disagree", 1))
                )
    assert found == {frozenset(facts) for facts in closest}


# -- twin.lp: the facts a verdict still turns on ----------------------------------

TWIN = [
    # known facts, the facts whose value can still flip the verdict
    ({}, {"a", "b", "c"}),
    ({"b": "true"}, set()),
    ({"a": "true"}, {"b"}),
    ({"a": "false"}, {"b", "c"}),
    ({"b": "false"}, {"a", "c"}),
    ({"a": "true", "b": "false", "c": "y"}, set()),
]


@pytest.mark.parametrize(("known", "flips"), TWIN)
def test_twin_flips_exactly_the_facts_the_verdict_turns_on(
    policy: PolicySource, known: Scenario, flips: set[str]
) -> None:
    ctl = ground_twin(policy_statements(policy), policy.name)
    keep = [-ctl.symbolic_atoms[Function("flip", [Function(f)])].literal for f in known]  # type: ignore[union-attr]
    assert {
        s.removeprefix("flip(")[:-1] for s in _brave(ctl, [*_pins(ctl, known), *keep], "flip", 1)
    } == flips


# -- check.lp: overlaps, effective indications, gaps ------------------------------

CHECK = [
    # a complete scenario, what check.lp finds in it
    ({"a": "true", "b": "true", "c": "x"}, {'kb_overlap("I1","X1")', 'kb_overlap("I2","X1")'}),
    ({"a": "true", "b": "false", "c": "y"}, {'kb_effective("I1")'}),
    ({"a": "true", "b": "false", "c": "x"}, {'kb_effective("I1")', 'kb_effective("I2")'}),
    ({"a": "false", "b": "false", "c": "y"}, {"kb_gap"}),
    ({"a": "false", "b": "true", "c": "y"}, set()),
]


@pytest.mark.parametrize(("scenario", "found"), CHECK)
def test_check_program_findings_per_scenario(
    policy: PolicySource, scenario: Scenario, found: set[str]
) -> None:
    ctl = ground_with(policy_statements(policy), [meta_file("check")], "check table")
    pins = _pins(ctl, scenario)
    atoms = set()
    for name, arity in (("kb_overlap", 2), ("kb_effective", 1), ("kb_gap", 0)):
        atoms |= _brave(ctl, pins, name, arity)
    assert atoms == found


# -- diff.lp: where two versions decide differently --------------------------------

DIFF = [
    # a complete scenario, the change of verdict from the old version to the new
    ({"a": "false", "b": "false", "c": "x"}, {"kb_change(not_covered,covered)"}),
    ({"a": "false", "b": "false", "c": "y"}, set()),
    ({"a": "true", "b": "false", "c": "x"}, set()),
    ({"a": "false", "b": "true", "c": "x"}, set()),
]


@pytest.mark.parametrize(("scenario", "change"), DIFF)
def test_diff_program_marks_changed_verdicts(
    policy: PolicySource, old_policy: PolicySource, scenario: Scenario, change: set[str]
) -> None:
    statements = [
        *policy_statements(policy),
        *renamed_copy(policy_statements(old_policy), "kb_old_"),
    ]
    ctl = ground_with(statements, [meta_file("diff")], "diff table")
    assert _brave(ctl, _pins(ctl, scenario), "kb_change", 2) == change
