"""The brute force over completions that the history oracles share.

Each history test (test_histories, test_history_{order,pairs,runs,sums})
writes its own reading of the criteria's text: the rules over a complete
list of records, a pool of records on each side of every edge the text draws,
and the coverage rule. What is the same for all of them lives here once:

- how a history stated as a list, as ``{"complete": true, ...}`` or left out
  is completed (`completions`), and how such facts are drawn and written as a
  case document (`cases_of`, `document_of`);
- the pinned three-valued semantics over those completions: a verdict is
  covered (not covered) when every combination of the unknown parts' values
  is, and a part is missing when, for some values of the rest, two of its own
  values give different verdicts (`verdict_and_missing`); a criterion is met
  (not met) when every completion makes it so (`statuses_over`);
- the properties every history fixture must have against that oracle
  (`assert_*`).

Nothing here reads the encoding: the oracles decide from the text alone, and
this module only enumerates values and compares the engines' answers to them.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import date
from itertools import combinations_with_replacement, product
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.loading.case import validate_case
from policykb.bridge.model.result import Status
from policykb.bridge.solving.evaluator import Evaluator
from tests.sampling import examples

Record = TypeVar("Record")
Facts = dict[str, Any]
"""A drawn case: "dos", each boolean fact (True, False or None for unknown)
and each history as (records or None when left out, whether it is complete)."""


def property_settings(stated: int) -> settings:
    """Hypothesis settings for a property drawing a share of `stated` examples."""
    return settings(
        max_examples=examples(stated),
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )


def months_from(day: date, months: int) -> date:
    """`day` moved by whole calendar months, clamped to the month's last day."""
    index = day.year * 12 + day.month - 1 + months
    year, month = index // 12, index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


# -- completions and the three-valued oracle ---------------------------------------------


def completions(
    stated: list[Record] | None, complete: bool, pool: Sequence[Record], extras: int
) -> Iterator[list[Record]]:
    """Every completion of a history: the stated records (none when it is left
    out), plus, unless it is complete, any multiset of up to `extras` records
    of the pool."""
    base = stated or []
    if complete:
        yield base
        return
    for size in range(extras + 1):
        for added in combinations_with_replacement(pool, size):
            yield [*base, *added]


def truth_values(value: bool | None) -> list[bool]:
    """The values a boolean fact can take: itself when stated, both when unknown."""
    return [value] if value is not None else [True, False]


def verdict_and_missing(
    choices: Mapping[str, Sequence[Any]], covered: Callable[[Mapping[str, Any]], bool]
) -> tuple[Verdict, set[str]]:
    """The verdict over every combination of `choices` (each unknown part's
    possible values) and the parts missing for it.

    Invariant: the verdict is decided exactly when `covered` gives one value on
    every combination; a part is missing exactly when the verdict is undecided
    and some combination of the other parts' values leaves `covered` depending
    on that part alone. No part is missing for a decided verdict.
    """
    names = list(choices)
    verdicts = {
        covered(dict(zip(names, values, strict=True)))
        for values in product(*(choices[n] for n in names))
    }
    if len(verdicts) == 1:
        return (Verdict.COVERED if verdicts == {True} else Verdict.NOT_COVERED), set()
    missing: set[str] = set()
    for name in names:
        others = [n for n in names if n != name]
        for rest in product(*(choices[n] for n in others)):
            fixed = dict(zip(others, rest, strict=True))
            if len({covered({**fixed, name: value}) for value in choices[name]}) == 2:
                missing.add(name)
                break
    return Verdict.NEEDS_INFORMATION, missing


def statuses_over(outcomes: Iterable[tuple[bool, ...]], names: Sequence[str]) -> dict[str, Status]:
    """Each criterion's status over the outcomes of every completion: met (not
    met) when every outcome makes it so, else unknown. `names[i]` is the
    criterion of each outcome's i-th value."""
    seen = list(outcomes)
    statuses = {}
    for index, name in enumerate(names):
        values = {outcome[index] for outcome in seen}
        expected = Status.UNKNOWN
        if len(values) == 1:
            expected = Status.MET if values == {True} else Status.NOT_MET
        statuses[name] = expected
    return statuses


# -- cases ---------------------------------------------------------------------------------


def cases_of(
    service_days: Sequence[date],
    booleans: Sequence[str],
    pools: Mapping[str, Callable[[date], list[Any]]],
    max_size: int,
) -> st.SearchStrategy[Facts]:
    """Drawn cases: a date of service, each boolean stated or unknown, and each
    history (keyed as in `pools`) left out, partial or complete, with up to
    `max_size` records of its pool for that date."""

    @st.composite
    def cases(draw: st.DrawFn) -> Facts:
        dos = draw(st.sampled_from(service_days))
        facts: Facts = {"dos": dos}
        for name in booleans:
            facts[name] = draw(st.sampled_from([True, False, None]))
        for name, pool in pools.items():
            form = draw(st.sampled_from(["unknown", "partial", "complete"]))
            records = None
            if form != "unknown":
                records = draw(st.lists(st.sampled_from(pool(dos)), max_size=max_size))
            facts[name] = (records, form == "complete")
        return facts

    return cases()


def document_of(
    policy: str,
    facts: Facts,
    booleans: Mapping[str, str],
    fields: Mapping[str, Sequence[str]],
) -> dict[str, Any]:
    """The case document of drawn `facts`: each boolean key written as its
    fact name in `booleans` when stated, each history in `fields` (its record
    fields, in the order of a record's tuple) as a list when partial, as
    ``{"complete": true, "records": ...}`` when complete, left out when unknown.
    Dates are written as ISO strings."""
    stated: dict[str, Any] = {"date_of_service": facts["dos"].isoformat()}
    for key, fact in booleans.items():
        if facts[key] is not None:
            stated[fact] = facts[key]
    for name, names in fields.items():
        records, complete = facts[name]
        if records is None:
            continue
        rows = [
            {
                f: (v.isoformat() if isinstance(v, date) else v)
                for f, v in zip(names, record, strict=True)
            }
            for record in records
        ]
        stated[name] = {"complete": True, "records": rows} if complete else rows
    return {"policy": policy, "facts": stated}


# -- the engines ------------------------------------------------------------------------


@functools.cache
def knowledge_base(root: Path) -> KnowledgeBase:
    """One loaded knowledge base per root for the whole run (loading is the
    slow part; evaluation does not change it)."""
    return KnowledgeBase([root])


def missing_of(evaluator: Evaluator, evaluation: Any) -> set[str]:
    """The missing facts, each history's boolean facts named by their history."""
    found = set()
    for item in evaluation.missing:
        history = evaluator.policy.history_of(item.fact)
        found.add(history.name if history is not None else item.fact)
    return found


# -- the properties -------------------------------------------------------------------


def assert_verdict_and_missing(
    evaluator: Evaluator, document: dict[str, Any], expected: tuple[Verdict, set[str]]
) -> None:
    """The engine's verdict and missing parts are the oracle's."""
    case = validate_case(document, evaluator.policy, "c")
    evaluation = evaluator.evaluate(case)
    verdict, missing = expected
    assert evaluation.verdict is verdict
    assert missing_of(evaluator, evaluation) == missing


def assert_statuses(
    evaluator: Evaluator, document: dict[str, Any], expected: Mapping[str, Status]
) -> None:
    """Each named criterion's status is the oracle's."""
    statuses = evaluator.evaluate(validate_case(document, evaluator.policy, "c")).criteria
    for name, status in expected.items():
        assert statuses[name] is status, name


def assert_second_engine_agrees(
    kb: KnowledgeBase, document: dict[str, Any], verdict: Verdict
) -> None:
    """SWI-Prolog's verdict is the oracle's."""
    assert kb.cross_check(kb.case(document)) is verdict


def assert_explanations_decide_and_changes_reach_their_target(
    kb: KnowledgeBase, policy: str, document: dict[str, Any], *, minimal: bool = False
) -> None:
    """Every explanation alone (with the date of service) gives the verdict and,
    when `minimal`, loses it without any one of its facts; every change set
    gives the target verdict."""
    evaluator = kb.evaluator(policy)
    case = kb.case(document)
    answer = kb.why(case)
    known = dict(case.facts)
    anchored = evaluator.for_known(known)
    for explanation in answer.explanations:
        part = {item.fact: item.value for item in explanation}
        part.setdefault("date_of_service", known["date_of_service"])
        assert anchored.verdict_of(part) is answer.verdict
        if not minimal:
            continue
        for item in explanation:
            if item.fact == "date_of_service":
                continue
            smaller = {f: v for f, v in part.items() if f != item.fact}
            assert anchored.verdict_of(smaller) is not answer.verdict
    for changes in answer.changes:
        changed = dict(known)
        for change in changes:
            changed[change.fact] = getattr(change.value, "example", change.value)
        changed = {f: v for f, v in changed.items() if v is not None}
        assert anchored.verdict_of(changed) is answer.target
