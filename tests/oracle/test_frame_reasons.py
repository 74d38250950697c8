"""A denial decided by a reference date alone has a reason, against brute force.

The therapy-start fixture compares a sleep test date (from 2000-01-01 on) and
a follow-up date (2000-01-01 through 2030-12-31) with the therapy start date.
With therapy starting on 2000-01-01 no sleep test can precede it; from
2030-12-01 on no follow-up can come 31 days after it. Those cases are decided
by the reference date alone (the empty set of other facts already decides
them), and the semantics under test is:

- the explanation is then the reference date, citing the criterion that no
  value of a date compared with it can meet;
- `notice` never prints an empty "Specific reasons", and `why` never says a
  decided case "already needs information".
"""

from __future__ import annotations

from datetime import date, timedelta
from itertools import product
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.explain.notice import render_notice_markdown
from policykb.explain.why import render_why_text
from policykb.explain.wording import item_words
from tests.sampling import examples

FIXTURE = Path(__file__).parents[1] / "fixtures" / "kb" / "therapy-start"
SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
LOW, HIGH = date(2000, 1, 1), date(2030, 12, 31)
STARTS = [LOW, LOW + timedelta(days=1), date(2015, 6, 1), HIGH - timedelta(days=31)]
STARTS += [HIGH - timedelta(days=30), HIGH]


def covered(start: date, sleep_test_date: date, followup_date: date, symptomatic: bool) -> bool:
    """The fixture's three rules."""
    return symptomatic and sleep_test_date < start and followup_date >= start + timedelta(days=31)


CRITERIA = {
    "TEST": lambda start, sleep: sleep < start,
    "FOLLOW-UP": lambda start, followup: followup >= start + timedelta(days=31),
}
"""The fixture's criteria on dates, in policy order, by the date each compares."""
DATES = {"TEST": "sleep_test_date", "FOLLOW-UP": "followup_date"}


def grid(start: date) -> dict[str, list[Any]]:
    """Every region of each date as of `start`, within its bounds."""
    near = [start + timedelta(days=k) for k in (-1, 0, 1, 30, 31, 32)]
    return {
        "sleep_test_date": sorted({d for d in [LOW, *near, date(2040, 1, 1)] if d >= LOW}),
        "followup_date": sorted({d for d in [LOW, HIGH, *near] if LOW <= d <= HIGH}),
        "symptomatic": [True, False],
    }


def brute(start: date, known: dict[str, Any]) -> Verdict:
    """The verdict as of `start` over every completion of `known` on the grid."""
    domains = grid(start)
    unknown = [f for f in domains if f not in known]
    seen = {
        covered(start, **{**known, **dict(zip(unknown, values, strict=True))})
        for values in product(*(domains[f] for f in unknown))
    }
    if seen == {True}:
        return Verdict.COVERED
    return Verdict.NOT_COVERED if seen == {False} else Verdict.NEEDS_INFORMATION


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    """A case that states its therapy start; each other fact given or not."""
    start = draw(st.sampled_from(STARTS))
    facts: dict[str, Any] = {"therapy_start_date": start}
    for fact, values in grid(start).items():
        if draw(st.booleans()):
            facts[fact] = draw(st.sampled_from(values))
    return facts


def as_case(facts: dict[str, Any]) -> dict[str, Any]:
    return {
        "policy": "therapy-start",
        "facts": {f: v.isoformat() if isinstance(v, date) else v for f, v in facts.items()},
    }


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return KnowledgeBase([FIXTURE])


@SETTINGS
@given(facts=cases())
@example(facts={"therapy_start_date": LOW, "symptomatic": True})
@example(facts={"therapy_start_date": HIGH, "sleep_test_date": LOW, "symptomatic": True})
def test_every_denial_has_a_reason_and_every_explanation_holds(
    kb: KnowledgeBase, facts: dict[str, Any]
) -> None:
    case = kb.case(as_case(facts))
    policy = kb.policy("therapy-start")
    start = facts["therapy_start_date"]
    others = {f: v for f, v in facts.items() if f != "therapy_start_date"}
    evaluation = kb.evaluate(case)
    assert evaluation.verdict is brute(start, others)
    answer = kb.why(case)
    why_text = render_why_text(answer, policy)
    if evaluation.verdict is not Verdict.NEEDS_INFORMATION:
        assert "already needs information" not in why_text
        assert evaluation.explanation, "a decided case rests on some fact"
    if evaluation.verdict is Verdict.NOT_COVERED:
        notice = render_notice_markdown(evaluation, policy)
        reasons = notice.split("## Specific reasons\n\n", 1)[1].split("\n\n", 1)[0]
        assert reasons.startswith("- "), notice
    for explanation in answer.explanations:
        chosen = {i.fact: others[i.fact] for i in explanation if i.fact in others}
        # Sufficient as of the case's start date; minimal among the other facts.
        assert brute(start, chosen) is answer.verdict
        for fact in chosen:
            smaller = {f: v for f, v in chosen.items() if f != fact}
            assert brute(start, smaller) is not answer.verdict
        if any(i.fact == "therapy_start_date" for i in explanation):
            # The start date is cited only as the frame that decides alone.
            assert not chosen and brute(start, {}) is answer.verdict
            (item,) = explanation
            assert item.region is None and item.frame is not None
            assert item.criterion in ("TEST", "FOLLOW-UP")
            data = item.to_dict()["frame"]
            compared = "sleep_test_date" if item.criterion == "TEST" else "followup_date"
            assert data == {"criterion": item.criterion, "compared": [compared]}
            # As of the start date, no value of the compared date meets the
            # criterion cited, the first in policy order that none meets.
            decided = [
                name
                for name, met in CRITERIA.items()
                if not any(met(start, v) for v in grid(start)[DATES[name]])
            ]
            assert item.criterion == decided[0]
            assert not item.frame.every and not item.frame.exclusion
            assert item_words(item).endswith(
                f", as of this date, no {compared} within its bounds meets {item.criterion}"
            )
