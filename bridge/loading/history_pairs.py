"""Reading follows_within: checked uses and their pair facts.

A use names a history, the First and Then conditions and the window's ends
as durations from First's date. It is admitted only where
model/history_pair.py proves the answer exact over every completion;
otherwise it is refused with the rule's file and line, saying what to
change. The statements it needs (kb_history_follows/6 and the pair fact's
fact/2) and the per-grounding kb_history_unpaired/2 and
kb_history_paired_always/2 are clingo symbols, as history_links.py and
histories.py build the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta

import clingo
from clingo import Function

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import History
from policykb.bridge.model.history_pair import PairUse, grounding_pairs
from policykb.bridge.model.policy import FactType

PAIRS = {"follows_within"}


@dataclass(frozen=True)
class WrittenPair:
    """A follows_within as a rule writes it, and where."""

    first: str
    then: str
    low: clingo.Symbol
    high: clingo.Symbol
    where: str
    criterion: str | None = None


def written_pair(
    history: History,
    arguments: Sequence[clingo.Symbol | None],
    where: str,
    criterion: str | None = None,
) -> WrittenPair:
    """The use, with Then checked to be a condition of the history."""
    first, then, low, high = arguments[1], arguments[2], arguments[3], arguments[4]
    assert first is not None and then is not None and low is not None and high is not None
    if then.type != clingo.SymbolType.Function or then.name not in history.conditions:
        raise PolicyError(
            f"{where}: follows_within({history.name}, {first}, {then}, ...): {then} is not a "
            f"record_condition/3 of {history.name}"
        )
    return WrittenPair(first.name, then.name, low, high, where, criterion)


def _duration(symbol: clingo.Symbol, shown: str) -> object:
    from policykb.bridge.model.typed import DURATION_UNITS, Duration

    if (
        symbol.type != clingo.SymbolType.Function
        or symbol.name not in DURATION_UNITS
        or len(symbol.arguments) != 1
        or symbol.arguments[0].type != clingo.SymbolType.Number
    ):
        raise PolicyError(f"{shown}: {symbol} must be days(N), weeks(N) or months(N)")
    return Duration.of(symbol.arguments[0].number, symbol.name)


def with_pair_facts(history: History, written: set[WrittenPair]) -> History:
    """The history with a pair fact per use, each checked to be exact
    (model/history_pair.py). PolicyError with the rule's file and line otherwise."""
    uses: dict[str, PairUse] = {}
    criteria: dict[str, set[str]] = {}
    for use in sorted(written, key=lambda u: (u.where, u.first, u.then, str(u.low), str(u.high))):
        built = _checked(history, use)
        uses.setdefault(built.fact, built)
        criteria.setdefault(built.fact, set()).update([use.criterion] if use.criterion else [])
    found = [replace(u, clauses=tuple(sorted(criteria[f]))) for f, u in uses.items()]
    return replace(history, pairs=tuple(found))


def _checked(history: History, use: WrittenPair) -> PairUse:
    from policykb.bridge.model.typed import Duration

    shown = (
        f"{use.where}: follows_within({history.name}, {use.first}, {use.then}, "
        f"{use.low}, {use.high})"
    )
    low, high = _duration(use.low, shown), _duration(use.high, shown)
    assert isinstance(low, Duration) and isinstance(high, Duration)
    start = date(2000, 1, 1)
    for offset in range(4 * 366):
        day = start + timedelta(days=offset)
        if low.after(day) > high.after(day):
            raise PolicyError(
                f"{shown}: the window is empty for a record of {use.first} dated "
                f"{day.isoformat()}: {use.low} must not move past {use.high}"
            )
    dates = [n for n, f in history.fields.items() if f.type is FactType.DATE]
    tested = {
        t.field
        for name in (use.first, use.then)
        for t in history.conditions[name].tests
        if t.field in dates
    }
    if len(tested) > 1 or (not tested and len(dates) != 1):
        raise PolicyError(
            f"{shown}: cannot tell which date field the window is on: {use.first} and "
            f"{use.then} must test the same date field (or the history have only one)"
        )
    field = next(iter(tested)) if tested else dates[0]
    first_classes = [c for c in history.classes if use.first in c.meets]
    if use.first == use.then:
        _check_open(history, use, field, shown)
    elif any(use.then in c.meets for c in first_classes):
        raise PolicyError(
            f"{shown}: a record can meet both {use.first} and {use.then}; make them exclusive "
            "(a record is not paired with itself)"
        )
    for name in (use.first, use.then):
        check_free_dates(history, name, field, shown, "whether two records pair")
    window = f"from {_words(low)} to {_words(high)}"
    fact = (
        f"{history.name}_pair_{use.first}_{use.then}_{_name_part(use.low)}_{_name_part(use.high)}"
    )
    return PairUse(use.first, use.then, field, low, high, window, fact)


def check_free_dates(history: History, name: str, field: str, shown: str, what: str) -> None:
    """Refuse (PolicyError starting with `shown`) unless every record meeting
    condition `name` may be dated anywhere its own date tests allow and a
    scenario's classes meeting it hold extra records unseen: no other
    condition a record meeting it can meet tests `field` otherwise, and no
    class meeting it has a cap above 1. `what` says what would depend on the
    dates ("whether two records pair")."""
    own = {t for t in history.conditions[name].tests if t.field == field}
    meeting = [c for c in history.classes if name in c.meets]
    for other in history.conditions.values():
        if other.name == name:
            continue
        extra = [t for t in other.tests if t.field == field and t not in own]
        if extra and any(other.name in c.meets for c in meeting):
            raise PolicyError(
                f"{shown}: records meeting {name} can also meet {other.name} "
                f"({other.text}), which tests {field} otherwise, so {what} would depend "
                f"on dates the record classes do not keep; give {name} the same date "
                "tests or make the conditions exclusive"
            )
    if any(history.counted(c) for c in meeting):
        raise PolicyError(
            f"{shown}: a count of two or more records meeting {name} (count_at_least "
            f"or count_at_most on a condition they meet) cannot be read with {what} exactly"
        )


def _check_open(history: History, use: WrittenPair, field: str, shown: str) -> None:
    """Pairs of two records of one condition: its dates must have no first
    or no last day, so that records a scenario adds can always be spread
    out of each other's windows (model/history_pair.py)."""
    declared = history.fields[field]
    tests = [t for t in history.conditions[use.first].tests if t.field == field]
    kinds = {t.kind for t in tests}
    lower = declared.low is not None or bool(
        kinds & {"on_or_after", "after", "between", "in_year_of"}
    )
    upper = declared.high is not None or bool(
        kinds & {"on_or_before", "before", "between", "in_year_of"}
    )
    if lower and upper:
        raise PolicyError(
            f"{shown}: pairs of two records of {use.first} need dates without a first or "
            f"without a last day (drop one end of its date tests or of {field}'s bounds): "
            "records the case does not state might otherwise be forced into pairs"
        )


def _words(duration: object) -> str:
    from policykb.bridge.model.typed import Duration

    assert isinstance(duration, Duration)
    step = duration.steps[0]
    unit = step.unit if abs(step.count) != 1 else step.unit.rstrip("s")
    return f"{step.count} {unit}"


def _name_part(symbol: clingo.Symbol) -> str:
    number = symbol.arguments[0].number
    return f"{symbol.name}{'m' if number < 0 else ''}{abs(number)}"


def pair_statements(
    history: History, fact: Callable[..., None], symbol: Callable[[str], clingo.Symbol]
) -> None:
    """The facts that link the history's pair facts to kb/core/history.lp."""
    h = symbol(history.name)
    for use in history.pairs:
        fact(
            "kb_history_follows",
            h,
            symbol(use.first),
            symbol(use.then),
            _duration_symbol(use.low),
            _duration_symbol(use.high),
            symbol(use.fact),
        )
        fact("fact", symbol(use.fact), Function("bool"))


def _duration_symbol(duration: object) -> clingo.Symbol:
    """The duration as the rule writes it (one step: days(N), weeks(N), months(N))."""
    from policykb.bridge.model.typed import Duration

    assert isinstance(duration, Duration)
    step = duration.steps[0]
    return Function(step.unit, [clingo.Number(step.count)])


def pair_symbols(history: History, anchors: Mapping[str, int]) -> list[clingo.Symbol]:
    """kb_history_unpaired/2 (no two days pair) and kb_history_paired_always/2
    (every two days pair) for the uses the grounding's dates decide."""
    return [
        Function(
            "kb_history_paired_always" if always else "kb_history_unpaired",
            [Function(history.name), Function(use.fact)],
        )
        for use, always in grounding_pairs(history, anchors)
    ]
