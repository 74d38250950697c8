"""What the unknown-reference-date oracles share (test_unknown_dates with one
unknown date, test_unknown_date_pairs with two).

Each test writes its own fixture's rules and its own enumeration of
completions; here live the calendar arithmetic both read, how a set of
coverages over the completions becomes a verdict, the minimal explanations
by trying every subset of the known facts, how a day is read against an
answer's range, and the property both check first: verdict, missing facts
and explanations equal the oracle's. Nothing here reads the encoding.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from policykb.bridge import KnowledgeBase, Verdict
from tests.oracle.minimal_sets import minimal_sufficient_by_every_subset

Known = dict[str, Any]


def every_day(first: date, last: date) -> list[date]:
    """Every day from `first` through `last`."""
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def months_back(day: date, months: int) -> date:
    """The same day `months` calendar months earlier, or that month's last day."""
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    return date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def verdict_over(seen: set[bool]) -> Verdict:
    """The verdict of the coverages every completion gives: decided when they agree."""
    if len(seen) == 2:
        return Verdict.NEEDS_INFORMATION
    return Verdict.COVERED if seen == {True} else Verdict.NOT_COVERED


def minimal_explanations(
    known: Known, target: Verdict, verdict: Callable[[Known], Verdict]
) -> set[frozenset[str]]:
    """Every minimal set of known facts that alone gets `target` (only the
    empty one when the target needs information)."""
    if target is Verdict.NEEDS_INFORMATION:
        return {frozenset()}
    return minimal_sufficient_by_every_subset(
        known, lambda chosen: verdict({f: known[f] for f in chosen}) is target
    )


def in_answer(day: date, answer: dict[str, Any]) -> bool:
    """Whether `day` lies in an answer's (or a change's) range."""
    bounds = answer["range"]
    text = day.isoformat()
    return (
        bounds.get("min", "0000-00-00") <= text <= bounds.get("max", "9999-99-99")
        and ("above" not in bounds or text > bounds["above"])
        and ("below" not in bounds or text < bounds["below"])
    )


def as_case(policy: str, facts: Known) -> dict[str, Any]:
    """The case document of `facts`, dates as ISO strings."""
    shown = {f: v.isoformat() if isinstance(v, date) else v for f, v in facts.items()}
    return {"policy": policy, "facts": shown}


def assert_verdict_missing_and_explanations(
    kb: KnowledgeBase,
    policy: str,
    facts: Known,
    verdict: Callable[[Known], Verdict],
    missing: Callable[[Known], set[str]],
) -> None:
    """The engine's verdict and missing facts are the oracle's; its
    explanations are exactly the minimal ones, the evaluation's among them."""
    case = kb.case(as_case(policy, facts))
    evaluation = kb.evaluate(case)
    expected = verdict(facts)
    assert evaluation.verdict is expected
    assert {m.fact for m in evaluation.missing} == missing(facts)
    answer = kb.why(case, max_changes=50)
    found = {frozenset(item.fact for item in e) for e in answer.explanations}
    assert found == minimal_explanations(facts, expected, verdict)
    assert frozenset(item.fact for item in evaluation.explanation) in found
