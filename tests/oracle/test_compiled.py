"""The compiled path (decision circuits) equals the Evaluator on every policy shape.

Three sources of policies, each against the Evaluator (which the other
property tests tie to brute force): every bundled policy and every fixture;
the benchmark's synthetic shapes, small enough for the Evaluator (exclusions
met by either of two facts, and `a and (b or not c)`); and policies generated
at random in the documented language: boolean and enum facts read in several
places, indications, exclusions and prerequisites with several rules each,
headings (nested too) and groups of parts (all, any, at least k). For each,
generated cases, some facts unknown: the whole Evaluation (verdict, every
criterion's status, the smallest explanation, the missing facts, notes)
must be equal.
"""

from __future__ import annotations

import decimal
import itertools
import sys
from datetime import date
from pathlib import Path
from typing import Any

import clingo
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from policykb.bridge import Case, KnowledgeBase, Verdict
from policykb.bridge.compile.compiled import CompiledPolicies, CompiledPolicy, compile_policy
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.limits import SolvingLimits

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from synthetic import fact_names, random_case, write_policy

from tests.sampling import budget, examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
SETTINGS = settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
DAYS = [date(2024, 8, 31), date(2024, 2, 29), date(2025, 1, 1)]


# A failure names its policy and case; shrinking one costs minutes of compiling.
NO_SHRINKING = (Phase.explicit, Phase.reuse, Phase.generate)


def every_policy() -> list[tuple[str, Path | None]]:
    bundled: list[tuple[str, Path | None]] = [
        (name, None) for name in KnowledgeBase().policy_names()
    ]
    fixtures = [(p.name, p) for p in sorted(FIXTURES.iterdir()) if (p / "policy.lp").exists()]
    return bundled + fixtures


def policy_id(value: object) -> str:
    """A test id without the folder's path (the mutation harness selects tests by id)."""
    if isinstance(value, Path):
        return "fixture"
    return "bundled" if value is None else str(value)


def _raw(value: object) -> Any:
    """A scenario value as a case writes it."""
    if isinstance(value, clingo.Symbol):
        return "none-of-the-options"
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, frozenset):
        return sorted(value)
    return value


@st.composite
def case_facts(draw: st.DrawFn, evaluator: Evaluator) -> dict[str, Any]:
    """Each fact unknown or one of its scenario values (a region's example
    for a number, date or code; a subset for a list); reference dates given."""
    anchored = evaluator
    facts: dict[str, Any] = {}
    if evaluator.references:
        days = {name: draw(st.sampled_from(DAYS)) for name in evaluator.references}
        anchored = evaluator.at({name: day.toordinal() for name, day in days.items()})
        facts = {name: day.isoformat() for name, day in days.items()}
    derived = {use.fact for use in evaluator.policy.arithmetic}
    for name, declared in evaluator.policy.facts.items():
        # A product or ratio is stated through its operands, never itself.
        if name in facts or name in derived or draw(st.integers(0, 3)) == 0:
            continue
        keys = anchored.value_keys(name)
        if declared.type.many:
            key: object = frozenset(draw(st.lists(st.sampled_from(keys), unique=True)))
        else:
            key = draw(st.sampled_from(keys))
        facts[name] = _raw(anchored.concrete(name, key))
    return facts


@pytest.mark.parametrize(("name", "folder"), every_policy(), ids=policy_id)
def test_compiled_equals_the_evaluator_on_every_policy(name: str, folder: Path | None) -> None:
    kb = KnowledgeBase([folder] if folder else [])
    evaluator = kb.evaluator(name)
    compiled = CompiledPolicies()

    @SETTINGS
    @given(facts=case_facts(evaluator))
    def check(facts: dict[str, Any]) -> None:
        case = kb.case({"id": "c", "facts": facts}, policy=name)
        assert compiled.evaluate(evaluator, case) == evaluator.evaluate(case)

    check()
    anchored = evaluator.for_known(dict.fromkeys(evaluator.references, DAYS[0]))
    if evaluator.policy.arithmetic:
        # A product or ratio restricts the derived fact per case, which a
        # circuit cannot hold: batch answers such a policy per case, as above.
        assert compiled.of(anchored) is None, "a policy with a product or ratio is not compiled"
    else:
        assert compiled.of(anchored) is not None, "every other policy and fixture compiles"


@st.composite
def complete_scenario(draw: st.DrawFn, evaluator: Evaluator) -> dict[str, object]:
    """Every fact at one of its scenario values (an anchored evaluator's
    reference dates at their day)."""
    values: dict[str, object] = {}
    for name, declared in evaluator.policy.facts.items():
        keys = evaluator.value_keys(name)
        if name in evaluator.anchors:
            values[name] = evaluator.value_key(name, date.fromordinal(evaluator.anchors[name]))
        elif declared.type.many:
            values[name] = frozenset(draw(st.lists(st.sampled_from(keys), unique=True)))
        else:
            values[name] = draw(st.sampled_from(keys))
    return values


@pytest.mark.parametrize(("name", "folder"), every_policy(), ids=policy_id)
def test_forcing_parts_are_the_smallest_that_force_the_verdict_on_every_policy(
    name: str, folder: Path | None
) -> None:
    """What why asks the compiled policy about a complete scenario: its
    smallest part forcing its verdict (none for the other verdict), checked
    by clingo to force it and to stop forcing it without any one fact, and
    by enumeration to have no smaller forcing part (in make test, where the
    smaller sets number at most 20,000; every one at full width,
    tests/sampling.py)."""
    from itertools import combinations
    from math import comb

    kb = KnowledgeBase([folder] if folder else [])
    evaluator = kb.evaluator(name)
    evaluator = evaluator.for_known(dict.fromkeys(evaluator.references, DAYS[0]))
    compiled = compile_policy(evaluator)
    if evaluator.policy.arithmetic:
        # Not compiled by design (see the test above): why has no circuit to ask.
        assert compiled is None
        return
    assert compiled is not None

    def clingo_verdict(values: dict[str, object]) -> Verdict:
        return evaluator.verdict_of({f: evaluator.concrete(f, v) for f, v in values.items()})

    @settings(max_examples=examples(12), deadline=None, phases=NO_SHRINKING)
    @given(values=complete_scenario(evaluator))
    def check(values: dict[str, object]) -> None:
        verdict = clingo_verdict(values)
        assert compiled.verdict(values) is verdict is not Verdict.NEEDS_INFORMATION
        covered = verdict is Verdict.COVERED
        assert compiled.forcing_part(values, not covered) is None
        part = compiled.forcing_part(values, covered)
        assert part is not None
        assert clingo_verdict({f: values[f] for f in part}) is verdict
        for left_out in part:
            assert clingo_verdict({f: values[f] for f in part - {left_out}}) is not verdict
        # No smaller part forces it: every smaller set of facts, when they
        # are few enough for the run's budget (all of them at full width).
        subsets = sum(comb(len(values), size) for size in range(len(part)))
        if limit is not None and subsets > limit:
            return
        for size in range(len(part)):
            for smaller in combinations(values, size):
                assert compiled.verdict({f: values[f] for f in smaller}) is not verdict, smaller

    limit = budget("POLICYKB_FORCING_SUBSETS", 20_000)
    check()


def test_compiled_policies_keep_the_days_last_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """A policy with reference dates compiles once per day; the days used
    least recently are dropped past ANCHORS_KEPT, and each answer stays the
    Evaluator's."""
    from policykb.bridge.compile import compiled as module

    kb = KnowledgeBase([FIXTURES / "rehab-visits"])
    evaluator = kb.evaluator("rehab-visits")
    compiled_days: list[str] = []
    compile_once = module.compile_policy

    def counted(anchored: Evaluator, **options: Any) -> CompiledPolicy | None:
        compiled_days.append(date.fromordinal(anchored.anchors["date_of_service"]).isoformat())
        return compile_once(anchored, **options)

    monkeypatch.setattr(module, "compile_policy", counted)
    monkeypatch.setattr(CompiledPolicies, "ANCHORS_KEPT", 2)
    policies = CompiledPolicies()
    days = ["2024-03-01", "2024-04-01", "2024-03-01", "2024-05-01", "2024-03-01", "2024-04-01"]
    for day in days:
        facts = {"date_of_service": day, "surgery_date": "2024-02-20", "home_program": True}
        case = kb.case({"id": day, "facts": facts}, policy="rehab-visits")
        assert policies.evaluate(evaluator, case) == evaluator.evaluate(case)
    # 03-01 was used again before 05-01 came, so 04-01 was the one dropped
    assert compiled_days == ["2024-03-01", "2024-04-01", "2024-05-01", "2024-04-01"]


def test_what_the_circuit_cannot_settle_goes_to_the_evaluator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run past its limits (Undecided): evaluate answers with the
    Evaluator, forcing_part with None (why then asks clingo); a policy past
    its compiling time does not compile."""
    from policykb.bridge.compile.prepared import Undecided
    from policykb.bridge.compile.run import Run

    sizes = {"indications": 2, "parts": 2, "exclusions": 2, "shape": "either"}
    write_policy(tmp_path / "synthetic", **sizes)
    kb = KnowledgeBase([tmp_path / "synthetic"])
    evaluator = kb.evaluator("synthetic")
    assert compile_policy(evaluator, seconds=0) is None
    compiled = compile_policy(evaluator)
    assert compiled is not None

    def undecided(*_args: object) -> None:
        raise Undecided("past the limit")

    monkeypatch.setattr(Run, "missing", undecided)
    monkeypatch.setattr(Run, "explain", undecided)
    names = fact_names(**sizes)  # type: ignore[arg-type]
    for facts in ({}, dict.fromkeys(names, False), dict.fromkeys(names, True)):
        case = kb.case({"id": "u", "facts": facts}, policy="synthetic")
        assert compiled.evaluate(case) == evaluator.evaluate(case)
    covered = {f: evaluator.value_key(f, v) for f, v in dict.fromkeys(names, False).items()}
    assert compiled.forcing_part(covered, True) is None
    assert compiled.forcing_part(covered, False) is None


@pytest.mark.parametrize(("options", "compiles"), [(8, True), (9, False)])
def test_a_list_fact_compiles_up_to_eight_options(
    tmp_path: Path, options: int, compiles: bool
) -> None:
    """A list fact is one variable over the subsets of its options: up to
    MAX_LIST_OPTIONS (2^8 values); past it the policy is evaluated case by case."""
    folder = tmp_path / "signs"
    folder.mkdir()
    names = [f"sign_{n}" for n in range(options)]
    (folder / "policy.lp").write_text(
        'policy(title, "Signs").\n'
        "fact(signs, list). rank(signs, 1).\n"
        + "".join(f"option(signs, {name}).\n" for name in names)
        + 'criterion("S", "Rule 1", "Covered for the first or the last sign.").\n'
        + 'role("S", indication).\n'
        + f'met("S") :- value(signs, {names[0]}).\n'
        + f'met("S") :- value(signs, {names[-1]}).\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    evaluator = kb.evaluator("signs")
    compiled = compile_policy(evaluator)
    assert (compiled is not None) is compiles
    for chosen in ([], names[:1], names[1:2], names[-1:], names):
        case = kb.case({"id": "s", "facts": {"signs": chosen}}, policy="signs")
        assert CompiledPolicies().evaluate(evaluator, case) == evaluator.evaluate(case)


def test_a_disjunctive_head_is_a_choice_and_not_compiled(tmp_path: Path) -> None:
    """`p ; q :- x.` chooses p or q (each scenario one of them): not a
    function of the facts, so the policy is evaluated case by case."""
    folder = tmp_path / "either"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        'policy(title, "Either").\nfact(x, bool). rank(x, 1).\n'
        'criterion("S", "Rule 1", "Covered when p.").\nrole("S", indication).\n'
        'p ; q :- holds(x).\nmet("S") :- p.\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    evaluator = kb.evaluator("either")
    assert compile_policy(evaluator) is None
    case = kb.case({"id": "e", "facts": {"x": True}}, policy="either")
    assert CompiledPolicies().evaluate(evaluator, case).verdict is Verdict.NEEDS_INFORMATION


def test_a_sum_with_a_negative_weight_compiles_to_the_evaluator_s_answers(tmp_path: Path) -> None:
    """gringo hands the compiler positive weights only (a negative weight
    becomes a positive one on the negated literal): the threshold circuit
    still answers as the Evaluator on every case."""
    folder = tmp_path / "sums"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        'policy(title, "Sums").\nfact(a, bool). rank(a, 1).\nfact(b, bool). rank(b, 2).\n'
        "fact(c, bool). rank(c, 3).\n"
        'criterion("S", "Rule 1", "Covered when the score is at least 2.").\n'
        'role("S", indication).\n'
        'met("S") :- #sum { -1, a : holds(a); 2, b : holds(b); 1, c : holds(c) } >= 2.\n',
        encoding="utf-8",
    )
    kb = KnowledgeBase([folder])
    evaluator = kb.evaluator("sums")
    compiled = compile_policy(evaluator)
    assert compiled is not None
    values: list[bool | None] = [True, False, None]
    for a, b, c in itertools.product(values, repeat=3):
        facts = {k: v for k, v in (("a", a), ("b", b), ("c", c)) if v is not None}
        case = kb.case({"id": "s", "facts": facts}, policy="sums")
        assert compiled.evaluate(case) == evaluator.evaluate(case), facts


@pytest.mark.parametrize("shape", ["either", "nested"])
def test_compiled_equals_the_evaluator_on_the_benchmark_shapes(shape: str, tmp_path: Path) -> None:
    import random

    sizes = {"indications": 4, "parts": 3, "exclusions": 4, "shape": shape}
    write_policy(tmp_path / "synthetic", **sizes)
    kb = KnowledgeBase([tmp_path / "synthetic"])
    evaluator = kb.evaluator("synthetic")
    compiled = compile_policy(evaluator)
    assert compiled is not None
    rng = random.Random(shape)
    names = fact_names(**sizes)  # type: ignore[arg-type]
    for number in range(150):
        facts = random_case(rng, names, unknown=(0.0, 0.1, 0.4, 0.8)[number % 4])
        case = kb.case({"id": "s", "facts": facts}, policy="synthetic")
        assert compiled.evaluate(case) == evaluator.evaluate(case), facts


# -- generated policies ---------------------------------------------------------------

BOOLS = ["a", "b", "c", "d", "e", "f"]
LEVELS = ["low", "mid", "high"]


@st.composite
def literals(draw: st.DrawFn, facts: list[str]) -> str:
    """A body literal over the generated facts (the enum fact is `level`)."""
    fact = draw(st.sampled_from([*facts, "level"]))
    if fact == "level":
        option = draw(st.sampled_from(LEVELS))
        return f"value(level, {option})" if draw(st.booleans()) else f"not value(level, {option})"
    return f"{draw(st.sampled_from(['holds', 'fails']))}({fact})"


@st.composite
def bodies(draw: st.DrawFn, facts: list[str]) -> list[str]:
    """One to three rules' bodies, each one to three literals."""
    return [
        ", ".join(draw(st.lists(literals(facts), min_size=1, max_size=3)))
        for _ in range(draw(st.integers(1, 3)))
    ]


@st.composite
def policies(draw: st.DrawFn) -> str:
    """The text of a policy: facts read in several places, every role,
    headings (one nested in another) and a group of parts."""
    facts = BOOLS[: draw(st.integers(3, len(BOOLS)))]
    lines = ['policy(title, "Generated policy").']
    for rank, fact in enumerate([*facts, "level"], start=1):
        kind = "enum" if fact == "level" else "bool"
        lines += [
            f"fact({fact}, {kind}). rank({fact}, {rank}).",
            f'question({fact}, "{fact}?"). clause({fact}, "X").',
        ]
    lines += [f"option(level, {option})." for option in LEVELS]
    headings = draw(st.integers(0, 2))
    for number in range(headings):
        lines.append(f'heading("H{number}", "Heading {number}").')
        lines += [f'section("H{number}") :- {body}.' for body in draw(bodies(facts))]
    if headings == 2 and draw(st.booleans()):
        lines.append('heading_in("H1", "H0").')
    roles = ["indication"] * draw(st.integers(1, 3))
    roles += ["exclusion"] * draw(st.integers(0, 2))
    roles += ["prerequisite"] * draw(st.integers(0, 1))
    for number, role in enumerate(roles):
        ident = f"C{number}"
        lines += [
            f'criterion("{ident}", "{number}", "Criterion {number}.").',
            f'role("{ident}", {role}).',
        ]
        if headings and draw(st.booleans()):
            lines.append(f'under("{ident}", "H{draw(st.integers(0, headings - 1))}").')
        if role == "indication" and draw(st.integers(0, 2)) == 0:
            parts = draw(st.integers(2, 3))
            how = draw(
                st.sampled_from(["all", "any", *(f"at_least({k})" for k in range(1, parts))])
            )
            lines.append(f'combines("{ident}", {how}).')
            for part in range(parts):
                child = f"{ident}P{part}"
                lines += [
                    f'criterion("{child}", "{number}.{part}", "Part {part}.").',
                    f'role("{child}", requirement). part_of("{child}", "{ident}").',
                ]
                lines += [f'met("{child}") :- {body}.' for body in draw(bodies(facts))]
        else:
            lines += [f'met("{ident}") :- {body}.' for body in draw(bodies(facts))]
    return "\n".join(lines) + "\n"


@settings(max_examples=examples(60), deadline=None)
@given(text=policies(), data=st.data())
def test_compiled_equals_the_evaluator_on_generated_policies(
    text: str, data: st.DataObject
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "generated"
        policy.mkdir()
        (policy / "policy.lp").write_text(text)
        kb = KnowledgeBase([policy])
        evaluator = kb.evaluator("generated")
        compiled = CompiledPolicy(evaluator)
        for _ in range(6):
            facts = data.draw(case_facts(evaluator))
            case = kb.case({"id": "g", "facts": facts}, policy="generated")
            assert compiled.evaluate(case) == evaluator.evaluate(case), (text, facts)


@settings(max_examples=examples(40), deadline=None, phases=NO_SHRINKING)
@given(text=policies(), data=st.data())
def test_nodes_built_after_compiling_take_their_exact_value_on_demand(
    text: str, data: st.DataObject
) -> None:
    """Explanations conjoin compiled nodes (`Prepared.together`) and negate
    them after compiling; a run values those new nodes on demand. Their
    three-valued value must be exact: true (false) when every completion of
    the case's unknown facts makes it true (false), else unknown. Completions
    are valued on the compiled nodes alone (`node_values`)."""
    import itertools
    import tempfile

    from policykb.bridge.compile.prepared import FAILS, HOLDS, UNKNOWN
    from policykb.bridge.compile.run import Run, node_values

    with tempfile.TemporaryDirectory() as folder:
        policy = Path(folder) / "generated"
        policy.mkdir()
        (policy / "policy.lp").write_text(text)
        compiled = CompiledPolicy(KnowledgeBase([policy]).evaluator("generated"))
    prepared, circuit = compiled.prepared, compiled.circuit
    compiled_nodes = len(circuit)
    if compiled_nodes <= 2:
        return  # the verdict is a constant: nothing to conjoin
    sizes = circuit.sizes
    for _ in range(4):
        vector = [data.draw(st.integers(-1, size - 1)) for size in sizes]
        nodes = tuple(
            sorted(data.draw(st.sets(st.integers(2, compiled_nodes - 1), min_size=1, max_size=3)))
        )
        target = data.draw(st.sampled_from([HOLDS, FAILS]))
        first = nodes[0]
        built = {
            prepared.together(nodes, target): lambda values, nodes=nodes, target=target: all(
                values[n] == target for n in nodes
            ),
            circuit.negate(first): lambda values, first=first: values[first] == FAILS,
        }
        support = 0
        for node in nodes:
            support |= circuit.support[node]
        unknown = [f for f in range(len(sizes)) if support >> f & 1 and vector[f] < 0]
        seen: dict[int, set[bool]] = {node: set() for node in built}
        for choice in itertools.product(*(range(sizes[f]) for f in unknown)):
            complete = list(vector)
            for fact, value in zip(unknown, choice, strict=True):
                complete[fact] = value
            values = node_values(prepared, complete)
            for node, holds in built.items():
                seen[node].add(holds(values))
        run = Run(prepared, vector)
        for node in built:
            expected = (
                {True: HOLDS, False: FAILS}[seen[node].pop()] if len(seen[node]) == 1 else UNKNOWN
            )
            assert run.value(node) == expected, (text, vector, nodes, target, node)


# -- the on-disk cache ------------------------------------------------------------------


def test_a_compiled_policy_is_cached_and_a_damaged_entry_compiled_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from policykb.bridge.compile import compiled as compiled_module

    monkeypatch.setenv("POLICYKB_CACHE_DIR", str(tmp_path / "cache"))
    evaluator = KnowledgeBase([FIXTURES / "two-routes"]).evaluator("two-routes")
    first = CompiledPolicy(evaluator)
    (entry,) = (tmp_path / "cache").iterdir()
    assert entry.name.startswith("two-routes-") and entry.suffix == ".json"

    def no_build(*_: object) -> None:
        raise AssertionError("compiled again although cached")

    with monkeypatch.context() as patch:
        patch.setattr(compiled_module, "build_roots", no_build)
        cached = CompiledPolicy(evaluator)
    assert cached.roots == first.roots and cached.prepared.program == first.prepared.program
    entry.write_bytes(b'{"circuit": {"sizes": [2], "nodes": [[9, 9, "zz"')  # cut short
    again = CompiledPolicy(evaluator)
    assert again.roots == first.roots and again.prepared.program == first.prepared.program
    case = Case("c", "two-routes", {"referred": True})
    assert again.evaluate(case) == evaluator.evaluate(case)


def test_the_cache_can_be_off_or_unwritable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    evaluator = KnowledgeBase([FIXTURES / "two-routes"]).evaluator("two-routes")
    monkeypatch.setenv("POLICYKB_CACHE_DIR", "off")
    assert CompiledPolicy(evaluator).roots is not None
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setenv("POLICYKB_CACHE_DIR", str(blocked / "cache"))
    case = Case("c", "two-routes", {})
    assert CompiledPolicy(evaluator).evaluate(case) == evaluator.evaluate(case)
    assert blocked.read_text() == "not a folder"


def test_a_changed_policy_is_a_new_cache_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    monkeypatch.setenv("POLICYKB_CACHE_DIR", str(tmp_path / "cache"))
    folder = tmp_path / "two-routes"
    shutil.copytree(FIXTURES / "two-routes", folder)
    CompiledPolicy(KnowledgeBase([folder]).evaluator("two-routes"))
    criteria = folder / "criteria.lp"
    criteria.write_text(criteria.read_text() + "\n% a comment changes no statement\n")
    CompiledPolicy(KnowledgeBase([folder]).evaluator("two-routes"))
    assert len(list((tmp_path / "cache").iterdir())) == 1
    text = criteria.read_text().replace(
        'met("X") :- holds(excluded).', 'met("X") :- fails(excluded).'
    )
    criteria.write_text(text)
    changed = KnowledgeBase([folder]).evaluator("two-routes")
    CompiledPolicy(changed)
    assert len(list((tmp_path / "cache").iterdir())) == 2
    case = Case("c", "two-routes", {"referred": True, "self_pay": False, "excluded": False})
    assert CompiledPolicy(changed).evaluate(case) == changed.evaluate(case)


# -- why with the compiled policy ---------------------------------------------------------


@pytest.mark.parametrize("shape", ["either", "nested"])
def test_why_gives_the_same_answers_with_the_compiled_forcing_test(
    shape: str, tmp_path: Path
) -> None:
    """why generalises each counterexample with the circuit (one pass per fact)
    instead of a clingo query per fact: exactly the same answers."""
    import random

    sizes = {"indications": 3, "parts": 3, "exclusions": 3, "shape": shape}
    write_policy(tmp_path / "synthetic", **sizes)
    always = SolvingLimits(forcing_from=0)
    with_circuit = KnowledgeBase([tmp_path / "synthetic"], limits=always)
    without = KnowledgeBase([tmp_path / "synthetic"], limits=always, compiled=False)
    plain = without.evaluator("synthetic")
    rng = random.Random(shape)
    names = fact_names(**sizes)  # type: ignore[arg-type]
    for number in range(12):
        facts = random_case(rng, names, unknown=(0.0, 0.2, 0.5)[number % 3])
        case = with_circuit.case({"id": "w", "facts": facts}, policy="synthetic")
        assert with_circuit.evaluator("synthetic").why(case) == plain.why(case), facts
    assert with_circuit.evaluator("synthetic").forcing.compiled is not None


@pytest.mark.parametrize(("name", "folder"), every_policy(), ids=policy_id)
def test_why_gives_the_same_answers_with_the_compiled_policy_on_every_policy(
    name: str, folder: Path | None
) -> None:
    """Counterexamples cut to their smallest part and missing facts' answers
    from the circuit: the same WhyAnswer as clingo alone, on every bundled
    policy and fixture (numbers, dates, codes, lists, groups, headings)."""
    always = SolvingLimits(forcing_from=0)
    with_circuit = KnowledgeBase([folder] if folder else [], limits=always)
    without = KnowledgeBase([folder] if folder else [], limits=always, compiled=False)
    evaluator = with_circuit.evaluator(name)

    @settings(max_examples=examples(8), deadline=None)
    @given(facts=case_facts(evaluator))
    def check(facts: dict[str, Any]) -> None:
        case = with_circuit.case({"id": "w", "facts": facts}, policy=name)
        plain_case = without.case({"id": "w", "facts": facts}, policy=name)
        assert with_circuit.why(case, policy=name) == without.why(plain_case, policy=name)

    check()
