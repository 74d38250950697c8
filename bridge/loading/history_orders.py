"""Reading latest_meets and earliest_meets: checked uses and their order facts.

A use names a history, a condition M and a test condition T. It is admitted
only where model/history_order.py proves the answer exact over every
completion; otherwise it is refused with the rule's file and line, saying
what to change. The statements it needs (kb_history_ordered/4,
kb_history_order_fact/5, kb_history_pair/3, the order fact's fact/2) are
clingo AST from symbols, as history_links.py builds the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import clingo
from clingo import Function

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import History
from policykb.bridge.model.history_class import RecordClass
from policykb.bridge.model.history_order import OrderUse, condition_span, tied
from policykb.bridge.model.history_twice import TwiceUse
from policykb.bridge.model.policy import FactType

MEETS = {"latest_meets": "latest", "earliest_meets": "earliest"}


@dataclass(frozen=True)
class Written:
    """A latest_meets or earliest_meets as a rule writes it, and where."""

    condition: str
    test: str
    direction: str
    where: str
    criterion: str | None = None


def written_use(
    name: str,
    history: History,
    arguments: Sequence[clingo.Symbol | None],
    where: str,
    criterion: str | None = None,
) -> Written:
    """The use, with its test condition checked to be one of the history's."""
    test = arguments[2]
    assert test is not None and arguments[1] is not None
    if test.type != clingo.SymbolType.Function or test.name not in history.conditions:
        raise PolicyError(
            f"{where}: {name}({history.name}, {arguments[1]}, {test}): {test} is not a "
            f"record_condition/3 of {history.name}"
        )
    return Written(arguments[1].name, test.name, MEETS[name], where, criterion)


def _order_field(history: History, use: Written) -> str:
    """The date field that orders the records: the one the condition tests,
    else the history's only date field."""
    dates = [n for n, f in history.fields.items() if f.type is FactType.DATE]
    tested = {t.field for t in history.conditions[use.condition].tests if t.field in dates}
    if len(tested) == 1:
        return next(iter(tested))
    if not tested and len(dates) == 1:
        return dates[0]
    raise PolicyError(
        f"{use.where}: {_shown(history, use)}: cannot tell which date field orders the "
        f"records: {use.condition} must test exactly one date field of {history.name}"
    )


def _shown(history: History, use: Written) -> str:
    return f"{use.direction}_meets({history.name}, {use.condition}, {use.test})"


def with_order_facts(history: History, written: set[Written]) -> History:
    """The history with an order fact per use, each checked to be exact
    (model/history_order.py: the test does not test the order field; no other
    condition a record meeting the condition can meet tests the order field
    otherwise; every class meeting the condition has cap 1), and a twice fact
    per ordered condition that counts of two read (model/history_twice.py).
    PolicyError with the rule's file and line otherwise."""
    uses: dict[tuple[str, str, str], OrderUse] = {}
    criteria: dict[tuple[str, str, str], set[str]] = {}
    first: dict[str, Written] = {}
    for use in sorted(written, key=lambda u: (u.where, u.condition, u.test, u.direction)):
        key = (use.condition, use.test, use.direction)
        criteria.setdefault(key, set()).update([use.criterion] if use.criterion else [])
        if key in uses:
            continue
        first.setdefault(use.condition, use)
        order = _order_field(history, use)
        _check(history, use, order)
        fact = f"{history.name}_{use.direction}_{use.condition}_{use.test}"
        uses[key] = OrderUse(use.condition, use.test, use.direction, order, fact)
    built = [replace(u, clauses=tuple(sorted(criteria[k]))) for k, u in uses.items()]
    counted = replace(history, ordered=tuple(built), twice=_twice_uses(history, first))
    for condition, use in first.items():
        if any(counted.class_cap(c) > 1 for c in _meeting(counted, condition)):
            raise PolicyError(
                f"{use.where}: {_shown(history, use)}: a count of two or more records meeting "
                f"{use.condition} (count_at_least or count_at_most on a condition they meet) "
                "cannot be read with the order of its records exactly"
            )
    return counted


def _meeting(history: History, condition: str) -> frozenset[RecordClass]:
    return frozenset(c for c in history.classes if condition in c.meets)


def _twice_uses(history: History, first: Mapping[str, Written]) -> tuple[TwiceUse, ...]:
    """A twice fact per ordered condition whose records counts of two read,
    checked as model/history_twice.py requires: every count of two or more
    that meets an ordered class is a count of two whose ordered classes are
    exactly one ordered condition's, and no ordered condition has classes
    both within that condition's and outside them."""
    groups = {name: _meeting(history, name) for name in sorted(first)}
    ordered = frozenset().union(*groups.values()) if groups else frozenset()
    counted: dict[str, set[str]] = {}
    clauses: dict[str, set[str]] = {}
    for condition, count in history.thresholds:
        touched = frozenset(c for c in ordered if condition in c.meets)
        if count < 2 or not touched:
            continue
        use = next(first[n] for n, g in groups.items() if g & touched)
        shown = _shown(history, use)
        if count > 2:
            raise PolicyError(
                f"{use.where}: {shown}: a count of two or more records meeting {condition} "
                f"(here {count}) is taken over records meeting {use.condition}: only a count "
                "of two (count_at_least N = 2, count_at_most N = 1) is read with the order of "
                "its records exactly"
            )
        group = next((n for n, g in groups.items() if g == touched), None)
        if group is None:
            raise PolicyError(
                f"{use.where}: {shown}: a count of two or more records meeting {condition} "
                f"counts some records meeting {use.condition} and not others, so it cannot "
                "be read with the order of its records exactly; count a condition that every "
                f"record meeting {use.condition} meets"
            )
        counted.setdefault(group, set()).add(condition)
        clauses.setdefault(group, set()).update(history.condition_clauses.get(condition, ()))
    for group in counted:
        for other, classes in groups.items():
            if classes & groups[group] and not classes <= groups[group]:
                use = first[other]
                raise PolicyError(
                    f"{use.where}: {_shown(history, use)}: records meeting {group} are "
                    f"counted two at a time, and records meeting {other} may or may not "
                    f"meet {group}, so the order of records meeting {other} cannot be read "
                    f"with that count exactly; make {other} meet {group} or exclude it"
                )
    return tuple(
        TwiceUse(
            group,
            tuple(sorted(conditions)),
            f"{history.name}_twice_{group}",
            tuple(sorted(clauses[group])),
        )
        for group, conditions in sorted(counted.items())
    )


def _check(history: History, use: Written, order: str) -> None:
    shown = _shown(history, use)
    if any(t.field == order for t in history.conditions[use.test].tests):
        raise PolicyError(
            f"{use.where}: {shown}: {use.test} tests {order}, the date that orders the "
            f"records; put that date test into {use.condition}"
        )
    own = {t for t in history.conditions[use.condition].tests if t.field == order}
    meeting = [c for c in history.classes if use.condition in c.meets]
    for other in history.conditions.values():
        if other.name == use.condition:
            continue
        extra = [t for t in other.tests if t.field == order and t not in own]
        if extra and any(other.name in c.meets for c in meeting):
            words = other.text
            raise PolicyError(
                f"{use.where}: {shown}: records meeting {use.condition} can also meet "
                f"{other.name} ({words}), which tests {order} otherwise, so which record "
                "is the latest would depend on dates the record classes do not keep; "
                f"give {use.condition} the same date tests or make the conditions exclusive"
            )


def order_statements(
    history: History, fact: Callable[..., None], symbol: Callable[[str], clingo.Symbol]
) -> None:
    """The facts that link the history's order facts to kb/core/history.lp."""
    h = symbol(history.name)
    for use in history.ordered:
        m, t, d = symbol(use.condition), symbol(use.test), symbol(use.direction)
        fact("kb_history_ordered", h, m, t, d)
        fact("kb_history_pair", h, m, t)
        fact("kb_history_order_fact", h, m, t, d, symbol(use.fact))
        fact("fact", symbol(use.fact), Function("bool"))
    for twice in history.twice:
        for condition in twice.counted:
            ordered, counted = symbol(twice.condition), symbol(condition)
            fact("kb_history_twice", h, counted, ordered, symbol(twice.fact))
        fact("fact", symbol(twice.fact), Function("bool"))


def tied_symbols(history: History, anchors: Mapping[str, int]) -> list[clingo.Symbol]:
    """kb_history_tied/4 for each use whose condition's dates are one day or
    none at `anchors`: no record meeting it is later than another."""
    return [
        Function(
            "kb_history_tied",
            [
                Function(history.name),
                Function(use.condition),
                Function(use.test),
                Function(use.direction),
            ],
        )
        for use in history.ordered
        if tied(condition_span(history, use.condition, use.field, anchors))
    ]
