"""Colour on a terminal comes from rich's styles; without colour the text
has no escape code, and with it the same text, styled."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from policykb.bridge import KnowledgeBase, Verdict
from policykb.explain.render import render_text
from policykb.explain.terminal import styled

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.mark.parametrize(
    ("example", "verdict", "code"),
    [
        ("covered-initial.json", Verdict.COVERED, "1;32"),
        ("denied-no-order.json", Verdict.NOT_COVERED, "1;31"),
    ],
)
def test_colour_only_styles_the_text_without_colour(
    example: str, verdict: Verdict, code: str
) -> None:
    kb = KnowledgeBase()
    evaluation = kb.evaluate(json.loads((EXAMPLES / example).read_text()))
    assert evaluation.verdict is verdict
    policy = kb.policy(evaluation.policy)
    plain = render_text(evaluation, policy)
    coloured = render_text(evaluation, policy, color=True)
    assert "\x1b" not in plain
    assert ANSI.sub("", coloured) == plain
    first = coloured.splitlines()[0]
    assert f"\x1b[{code}m" in first and first.endswith(f"\x1b[0m  ({policy.title})")


def test_a_style_is_its_standard_ansi_codes_and_a_reset() -> None:
    assert styled("error:", "bold red") == "\x1b[1;31merror:\x1b[0m"
    assert styled("Criteria", "bold") == "\x1b[1mCriteria\x1b[0m"
