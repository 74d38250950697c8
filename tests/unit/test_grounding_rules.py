"""The analysis of a policy grounded at a day of its reference dates shares the
policy's own statements' analysis with its base (Grounding.rules): it must be
exactly the analysis of that grounding's statements, made afresh."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.bridge.loading.rules import rules_of
from policykb.bridge.solving.evaluator import Evaluator

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
POLICIES = [
    "screening-history",  # fixtures with histories
    "lab-history",
    "therapy-start",  # a reference date other than the date of service
    "glp1-step-therapy",  # bundled
    "colorectal-cancer-screening",
]


@pytest.fixture(scope="module")
def evaluators() -> dict[str, Evaluator]:
    kb = KnowledgeBase([FIXTURES])
    return {name: kb.evaluator(name) for name in POLICIES}


@settings(max_examples=8, deadline=None)
@given(
    policy=st.sampled_from(POLICIES),
    offset=st.integers(min_value=-4000, max_value=4000),
    reuse=st.booleans(),
)
def test_anchored_rules_equal_a_fresh_analysis(
    evaluators: dict[str, Evaluator], policy: str, offset: int, reuse: bool
) -> None:
    evaluator = evaluators[policy]
    day = date(2024, 3, 1) + timedelta(days=offset)
    anchored = evaluator.dates.at({name: day.toordinal() for name in evaluator.references})
    assert anchored is not evaluator and anchored.parsed is evaluator.parsed
    if reuse:
        evaluator.parsed_rules  # noqa: B018 (the base's analysis made first)
    assert anchored.rules == rules_of(anchored.statements)
    assert len(anchored.statements) > len(evaluator.parsed or [])
