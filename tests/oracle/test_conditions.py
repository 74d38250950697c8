"""check on circuits (bridge/compile/conditions.py) against brute force.

For generated policies (tests/oracle/test_compiled.py's: booleans and an enum read
in several places, every role, headings, groups of parts) and the
benchmark's shapes: every full scenario is solved by clingo on the check
program, which gives each condition's set of scenarios. From those sets,
by enumeration: which conditions can hold, and each condition's smallest
forcing set of facts (fewest facts, lowest ranks, first values), the
witness check must give; and the witness's verdict is the Evaluator's.
The whole report must also equal, finding for finding, the report clingo
alone gives, but for witnesses, which clingo gives within one scenario it
finds: never smaller than the circuit's.
"""

from __future__ import annotations

import itertools
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import clingo
import pytest
from clingo import Function, Number, String
from hypothesis import given, note, settings

from policykb.bridge import KnowledgeBase
from policykb.bridge.analysis import checker as checker_module
from policykb.bridge.analysis import diff as diff_module
from policykb.bridge.analysis.check import check_policy
from policykb.bridge.analysis.checker import Checker
from policykb.bridge.analysis.diff import diff_policies
from policykb.bridge.analysis.findings import Finding, Kind
from policykb.bridge.compile.conditions import condition_circuits
from policykb.bridge.model.case import Case
from policykb.bridge.model.policy import Role
from policykb.bridge.model.result import Verdict
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.query import QueryProgram
from tests.oracle.test_compiled import policies

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic import write_policy

from tests.sampling import examples


def _conditions(checker: Checker) -> list[clingo.Symbol]:
    policy = checker.policy
    indications = [c.id for c in policy.criteria.values() if c.role is Role.INDICATION]
    blockers = [
        c.id for c in policy.criteria.values() if c.role in (Role.EXCLUSION, Role.PREREQUISITE)
    ]
    found = [Function("kb_fires", [Number(rule.index)]) for rule in checker.rules]
    found += [Function("indicated", [String(i)]) for i in indications]
    found += [Function("kb_effective", [String(i)]) for i in indications]
    found += [Function("kb_overlap", [String(i), String(b)]) for i in indications for b in blockers]
    return [*found, Function("kb_gap")]


def _scenarios(checker: Checker, facts: Sequence[str]) -> Iterator[dict[str, object]]:
    keys = [checker.evaluator.value_keys(fact) for fact in facts]
    for values in itertools.product(*keys):
        yield dict(zip(facts, values, strict=True))


def _holding(checker: Checker, scenario: dict[str, object], shown: list[clingo.Symbol]) -> set:
    """The conditions that hold in a full scenario, solved by clingo."""
    program = checker.program
    assumptions = [*checker.keep_all, *program.literals.assumptions(scenario)]
    literals = {s: program.literal(s) for s in shown if program.has(s)}
    with program.ctl.solve(assumptions=assumptions, yield_=True) as handle:
        model = next(iter(handle))
        return {s for s, lit in literals.items() if model.is_true(lit)}


def _smallest_forcing(
    facts: Sequence[str], keys: dict[str, list[object]], holding: set[tuple[object, ...]]
) -> dict[str, object]:
    """The first partial scenario, by size, then fact order, then value order,
    all of whose completions are in `holding`."""
    for size in range(len(facts) + 1):
        for chosen in itertools.combinations(range(len(facts)), size):
            for values in itertools.product(*(keys[facts[i]] for i in chosen)):
                fixed = dict(zip(chosen, values, strict=True))
                free = [i for i in range(len(facts)) if i not in fixed]
                completions = (
                    {**fixed, **dict(zip(free, rest, strict=True))}
                    for rest in itertools.product(*(keys[facts[i]] for i in free))
                )
                if all(tuple(c[i] for i in range(len(facts))) in holding for c in completions):
                    return {facts[i]: v for i, v in fixed.items()}
    raise AssertionError("no partial scenario forces a condition that holds everywhere")


def _never(*_: object, **__: object) -> None:
    raise AssertionError("asked clingo's search although the circuits answer")


def _check_against_brute_force(kb: KnowledgeBase, evaluator: Evaluator) -> None:
    checker = Checker(evaluator)
    checker.program.implicants = _never  # type: ignore[method-assign]
    assert checker.circuits is not None
    facts = list(evaluator.policy.facts)  # rank order
    keys = {f: list(checker.circuits.domain.keys[n]) for n, f in enumerate(facts)}
    shown = _conditions(checker)
    holding: dict[clingo.Symbol, set[tuple[object, ...]]] = {s: set() for s in shown}
    for scenario in _scenarios(checker, facts):
        for symbol in _holding(checker, scenario, shown):
            holding[symbol].add(tuple(scenario[f] for f in facts))
    possible = checker.possible(shown)
    assert possible == {s for s in shown if holding[s]}
    for symbol in shown:
        found = checker.witness(symbol)
        if not holding[symbol]:
            assert found is None, symbol
            continue
        assert found is not None, symbol
        witness, verdict = found
        as_keys = {f: evaluator.value_key(f, v) for f, v in witness.items()}
        assert as_keys == _smallest_forcing(facts, keys, holding[symbol]), symbol
        filled, _ = evaluator.known_facts(Case("w", evaluator.policy.name, witness))
        assert verdict is evaluator.verdict_of(filled), symbol


def _report_without_circuits(evaluator: Evaluator, monkeypatch: pytest.MonkeyPatch) -> list:
    with monkeypatch.context() as patch:
        patch.setattr(checker_module, "condition_circuits", lambda *_: None)
        return list(check_policy(evaluator).findings)


def _same_findings(evaluator: Evaluator, monkeypatch: pytest.MonkeyPatch) -> None:
    fast = list(check_policy(evaluator).findings)
    slow = _report_without_circuits(evaluator, monkeypatch)
    assert [(f.kind, f.criteria, f.message) for f in fast] == [
        (f.kind, f.criteria, f.message) for f in slow
    ]
    checker = Checker(evaluator)
    program = checker.program
    for quick, searched in zip(fast, slow, strict=True):
        assert (quick.witness is None) == (searched.witness is None)
        if quick.witness is None or searched.witness is None:
            continue
        assert len(quick.witness) <= len(searched.witness)
        # The witness's verdict is the Evaluator's, and it forces its finding.
        filled, _ = evaluator.known_facts(Case("w", evaluator.policy.name, quick.witness))
        assert quick.verdict is evaluator.verdict_of(filled), quick
        condition = _condition_of(quick)
        if condition is not None:
            # Case values, not their scenario keys: a product's or ratio's
            # operands pin its regions by their exact values.
            pinned = program.literals.assumptions(quick.witness)
            refuted = [*checker.keep_all, *pinned, -program.literal(condition)]
            assert program.scenario(refuted, ()) is None, quick


def _condition_of(finding: Finding) -> clingo.Symbol | None:
    """The check program's condition a finding's witness forces (overlaps,
    shadowed indications and gaps; the others name rules by place)."""
    if finding.kind is Kind.OVERLAP:
        return Function("kb_overlap", [String(c) for c in finding.criteria])
    if finding.kind is Kind.SHADOWED:
        return Function("indicated", [String(finding.criteria[0])])
    if finding.kind is Kind.GAP:
        return Function("kb_gap")
    return None


@settings(max_examples=examples(25), deadline=None)
@given(text=policies())
def test_check_on_circuits_equals_brute_force_on_generated_policies(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "generated"
        policy.mkdir()
        (policy / "policy.lp").write_text(text)
        kb = KnowledgeBase([policy])
        _check_against_brute_force(kb, kb.evaluator("generated"))


@settings(max_examples=examples(15), deadline=None)
@given(text=policies())
def test_check_on_circuits_finds_what_clingo_finds(text: str) -> None:
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        policy = Path(folder) / "generated"
        policy.mkdir()
        (policy / "policy.lp").write_text(text)
        _same_findings(KnowledgeBase([policy]).evaluator("generated"), patch)


@pytest.mark.parametrize("shape", ["either", "nested"])
def test_check_on_circuits_on_the_benchmark_shapes(
    shape: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_policy(tmp_path / "synthetic", indications=2, parts=2, exclusions=2, shape=shape)
    kb = KnowledgeBase([tmp_path / "synthetic"])
    evaluator = kb.evaluator("synthetic")
    _check_against_brute_force(kb, evaluator)
    _same_findings(evaluator, monkeypatch)


FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"


@pytest.mark.parametrize(
    "name",
    [
        "massage-therapy",
        "bariatric-surgery",
        *(p.name for p in sorted(FIXTURES.iterdir()) if (p / "policy.lp").exists()),
    ],
)
def test_check_on_circuits_finds_what_clingo_finds_on_every_policy(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bundled policies and fixtures: numbers, dates (as of a day), codes,
    lists, groups, nested headings, range gaps."""
    from datetime import date

    folder = FIXTURES / name
    kb = KnowledgeBase([folder] if folder.exists() else [])
    evaluator = kb.evaluator(name)
    if evaluator.references:
        evaluator = evaluator.for_known(dict.fromkeys(evaluator.references, date(2024, 8, 31)))
    assert Checker(evaluator).circuits is not None, "every bundled policy and fixture compiles"
    _same_findings(evaluator, monkeypatch)


def test_a_program_outside_what_compiling_covers_is_checked_by_clingo(tmp_path: Path) -> None:
    """A policy's own integrity constraint: no circuits, the same questions to clingo."""
    folder = tmp_path / "constrained"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        'policy(title, "Constrained").\n'
        'fact(a, bool). rank(a, 1). question(a, "a?"). clause(a, "I").\n'
        'fact(b, bool). rank(b, 2). question(b, "b?"). clause(b, "E").\n'
        'criterion("I", "I", "Covered when a."). role("I", indication).\n'
        'met("I") :- holds(a).\n'
        'criterion("E", "E", "Not when b."). role("E", exclusion).\n'
        'met("E") :- holds(b).\n'
        ":- holds(a), holds(b).\n"
    )
    evaluator = KnowledgeBase().evaluator(folder)
    assert Checker(evaluator).circuits is None
    report = check_policy(evaluator)
    # E never blocks an indicated case (a and b cannot both hold): redundant.
    assert [(f.kind.value, f.criteria) for f in report.findings] == [
        ("redundant", ("E",)),
        ("gap", ()),
    ]
    assert report.findings[1].witness == {"a": False, "b": False}


def test_a_condition_past_the_node_limit_is_undecided(monkeypatch: pytest.MonkeyPatch) -> None:
    """A condition built on demand that would grow the circuit past its limit
    is Undecided (the analysis then asks clingo); built ones still answer."""
    from policykb.bridge.compile import circuit as circuit_module
    from policykb.bridge.compile.prepared import Undecided
    from policykb.bridge.loading.files import meta_file

    evaluator = KnowledgeBase().evaluator("massage-therapy")
    covered = Function("covered")
    circuits = condition_circuits(
        evaluator.policy, evaluator.statements, "test", [meta_file("check")], [covered]
    )
    assert circuits is not None
    monkeypatch.setattr(circuit_module, "MAX_NODES", len(circuits.circuit))
    with pytest.raises(Undecided):
        circuits.node(Function("kb_gap"))
    assert circuits.possible(circuits.node(covered))


# -- diff ---------------------------------------------------------------------------


def _diff_against_brute_force(old: Evaluator, new: Evaluator) -> None:
    """Every region forces its change and is minimal; together, the regions
    cover every scenario whose verdict changes between covered and not."""
    report = diff_policies(old, new)
    assert not report.capped
    facts = list({**old.policy.facts, **new.policy.facts})
    keys = [old.value_keys(f) if f in old.policy.facts else new.value_keys(f) for f in facts]
    every = [dict(zip(facts, values, strict=True)) for values in itertools.product(*keys)]

    def verdict(evaluator: Evaluator, scenario: dict[str, object]) -> Verdict:
        own = {
            f: evaluator.concrete(f, v) for f, v in scenario.items() if f in evaluator.policy.facts
        }
        filled, _ = evaluator.known_facts(Case("s", evaluator.policy.name, own))
        return evaluator.verdict_of(filled)

    def inside(scenario: dict[str, object], region: Mapping[str, object]) -> bool:
        return all(scenario[f] == v for f, v in region.items())

    pairs = [(verdict(old, s), verdict(new, s)) for s in every]
    for change in report.changes:
        region = dict(change.region)
        goal = (change.old, change.new)
        assert all(p == goal for s, p in zip(every, pairs, strict=True) if inside(s, region)), (
            region
        )
        for dropped in region:
            wider = {f: v for f, v in region.items() if f != dropped}
            assert any(p != goal for s, p in zip(every, pairs, strict=True) if inside(s, wider)), (
                "a region is not minimal",
                region,
                dropped,
            )
    for scenario, (before, after) in zip(every, pairs, strict=True):
        if before != after and Verdict.NEEDS_INFORMATION not in (before, after):
            assert any(
                inside(scenario, c.region)
                for c in report.changes
                if (c.old, c.new) == (before, after)
            ), scenario


@settings(max_examples=examples(25), deadline=None)
@given(old_text=policies(), new_text=policies())
def test_diff_against_brute_force_on_generated_policies(old_text: str, new_text: str) -> None:
    """On circuits, and with clingo alone."""
    note(f"old:\n{old_text}\nnew:\n{new_text}")
    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        for name, text in (("old", old_text), ("new", new_text)):
            (Path(folder) / name).mkdir()
            (Path(folder) / name / "policy.lp").write_text(text.replace("generated", name))
        kb = KnowledgeBase()
        old, new = kb.evaluator(Path(folder) / "old"), kb.evaluator(Path(folder) / "new")
        built = []

        def recorded(*arguments: Any) -> Any:
            built.append(condition_circuits(*arguments))
            return built[-1]

        patch.setattr(diff_module, "condition_circuits", recorded)
        with pytest.MonkeyPatch.context() as searching:
            # On circuits, no region needs clingo's hitting-set search.
            searching.setattr(QueryProgram, "implicants", _never)
            _diff_against_brute_force(old, new)
        assert built and built[0] is not None, "the generated policies compile"
        patch.setattr(diff_module, "condition_circuits", lambda *_: None)
        _diff_against_brute_force(old, new)


@pytest.mark.parametrize("shape", ["either", "nested"])
def test_diff_against_brute_force_on_the_benchmark_shapes(shape: str, tmp_path: Path) -> None:
    """Dropping one route of exclusion E0, and then E1 altogether."""
    old = write_policy(tmp_path / "old", indications=2, parts=2, exclusions=2, shape=shape)
    new = write_policy(tmp_path / "new", indications=2, parts=2, exclusions=2, shape=shape)
    criteria = new / "criteria.lp"
    lines = [line for line in criteria.read_text().splitlines() if 'met("E1")' not in line]
    lines.remove(next(line for line in lines if line.startswith('met("E0")')))
    criteria.write_text("\n".join(lines) + "\n")
    kb = KnowledgeBase()
    _diff_against_brute_force(kb.evaluator(old), kb.evaluator(new))
