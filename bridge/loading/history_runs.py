"""Reading run_at_least: checked uses and their run facts.

A use names a history, a condition M, N days and Days consecutive days. It is
admitted only where model/history_run.py proves the answer exact over every
completion; otherwise it is refused with the rule's file and line, saying
what to change. The statements it needs (kb_history_run/5 and the run
fact's fact/2) and the per-grounding kb_history_unrun/2 are clingo symbols,
as history_links.py and histories.py build the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import clingo
from clingo import Function

from policykb.bridge.loading.history_pairs import check_free_dates
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import History
from policykb.bridge.model.history_order import condition_span
from policykb.bridge.model.history_run import RunUse
from policykb.bridge.model.policy import FactType

RUNS = {"run_at_least"}
MAX_RUN_DAYS = 366
"""The longest span of consecutive days a run may be counted in."""


@dataclass(frozen=True)
class WrittenRun:
    """A run_at_least as a rule writes it, and where."""

    condition: str
    count: clingo.Symbol
    days: clingo.Symbol
    where: str
    criterion: str | None = None


def written_run(
    history: History,
    arguments: Sequence[clingo.Symbol | None],
    where: str,
    criterion: str | None = None,
) -> WrittenRun:
    condition, count, days = arguments[1], arguments[2], arguments[3]
    assert condition is not None and count is not None and days is not None
    return WrittenRun(condition.name, count, days, where, criterion)


def with_run_facts(history: History, written: set[WrittenRun]) -> History:
    """The history with a run fact per use, each checked to be exact
    (model/history_run.py). PolicyError with the rule's file and line otherwise."""
    uses: dict[str, RunUse] = {}
    criteria: dict[str, set[str]] = {}
    for use in sorted(written, key=lambda u: (u.where, u.condition, str(u.count), str(u.days))):
        built = _checked(history, use)
        uses.setdefault(built.fact, built)
        criteria.setdefault(built.fact, set()).update([use.criterion] if use.criterion else [])
    found = [replace(u, clauses=tuple(sorted(criteria[f]))) for f, u in uses.items()]
    return replace(history, runs=tuple(found))


def _checked(history: History, use: WrittenRun) -> RunUse:
    shown = f"{use.where}: run_at_least({history.name}, {use.condition}, {use.count}, {use.days})"
    numbers = [use.count, use.days]
    if any(n.type != clingo.SymbolType.Number for n in numbers) or not (
        2 <= use.count.number <= use.days.number <= MAX_RUN_DAYS
    ):
        raise PolicyError(
            f"{shown}: N and Days must be whole numbers with 2 <= N <= Days <= {MAX_RUN_DAYS} "
            "(for N = 1 use exists/2)"
        )
    dates = [n for n, f in history.fields.items() if f.type is FactType.DATE]
    tested = {t.field for t in history.conditions[use.condition].tests if t.field in dates}
    if len(tested) > 1 or (not tested and len(dates) != 1):
        raise PolicyError(
            f"{shown}: cannot tell which date field counts the days: {use.condition} must "
            f"test exactly one date field (or the history have only one)"
        )
    field = next(iter(tested)) if tested else dates[0]
    check_free_dates(history, use.condition, field, shown, "which days hold records")
    count, days = use.count.number, use.days.number
    fact = f"{history.name}_run_{use.condition}_{count}_{days}"
    return RunUse(use.condition, field, count, days, fact)


def run_statements(
    history: History, fact: Callable[..., None], symbol: Callable[[str], clingo.Symbol]
) -> None:
    """The facts that link the history's run facts to kb/core/history.lp."""
    h = symbol(history.name)
    for use in history.runs:
        fact(
            "kb_history_run",
            h,
            symbol(use.condition),
            clingo.Number(use.count),
            clingo.Number(use.days),
            symbol(use.fact),
        )
        fact("fact", symbol(use.fact), Function("bool"))


def run_symbols(history: History, anchors: Mapping[str, int]) -> list[clingo.Symbol]:
    """kb_history_unrun/2 for each use whose condition's days at `anchors`
    are too few for the run."""
    return [
        Function("kb_history_unrun", [Function(history.name), Function(use.fact)])
        for use in history.runs
        if not use.room(condition_span(history, use.condition, use.field, anchors))
    ]
