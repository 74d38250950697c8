"""Each criterion's status on a partial scenario, from the compiled policy
(one run over the circuits' met/1 and applies/1 roots), equals the
solver's (brave and cautious consequences): why reads it from the circuit to
choose which criterion an explanation's history fact cites
(Explanations.standing), once per explanation.

Partial scenarios are drawn from the grounding's own values (each fact
unknown or at one of its scenario values, a list at any subset), at a day of
the reference dates, on the policies whose explanations cite record
classes: the screening-history fixture and the bundled GLP-1 step therapy.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.bridge.compile.compiled import compile_policy
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
POLICIES = [("screening-history", FIXTURES), ("glp1-step-therapy", None)]
DAYS = [date(2024, 3, 1), date(2024, 12, 31), date(2025, 7, 15)]


@st.composite
def partial_scenario(draw: st.DrawFn, evaluator: Evaluator) -> dict[str, object]:
    values: dict[str, object] = {}
    for name, declared in evaluator.policy.facts.items():
        if name in evaluator.anchors:
            if draw(st.booleans()):
                day = date.fromordinal(evaluator.anchors[name])
                values[name] = evaluator.value_key(name, day)
            continue
        if draw(st.integers(0, 2)) == 0:
            continue
        keys = evaluator.value_keys(name)
        if declared.type.many:
            values[name] = frozenset(draw(st.lists(st.sampled_from(keys), unique=True)))
        else:
            values[name] = draw(st.sampled_from(keys))
    return values


@pytest.mark.parametrize(("name", "folder"), POLICIES, ids=[name for name, _ in POLICIES])
@pytest.mark.parametrize("day", DAYS, ids=str)
def test_compiled_statuses_equal_the_solvers(name: str, folder: Path | None, day: date) -> None:
    kb = KnowledgeBase([folder] if folder else [])
    base = kb.evaluator(name)
    evaluator = base.for_known(dict.fromkeys(base.references, day))
    compiled = compile_policy(evaluator)
    assert compiled is not None

    @settings(
        max_examples=examples(60),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(values=partial_scenario(evaluator))
    def check(values: dict[str, object]) -> None:
        assumptions = evaluator.literals.assumptions(values)
        solved = evaluator.statuses(evaluator.solve_consequences(assumptions))
        assert compiled.statuses(values) == solved, values

    check()
