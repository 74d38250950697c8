"""Reading sum_at_least: checked uses and their sum facts.

A use names a history, a condition M, a number field F and a threshold N. It
is admitted only where model/history_sum.py proves the answer exact over
every completion; otherwise it is refused with the rule's file and line,
saying what to change. The statements it needs (kb_history_summed/5 and the
sum fact's fact/2) are clingo AST from symbols, as history_links.py builds the
rest.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import clingo
from clingo import Function

from policykb.bridge.loading.fact_declarations import typed_constant
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.history import History
from policykb.bridge.model.history_sum import SumUse
from policykb.bridge.model.policy import FactType

SUMS = {"sum_at_least"}


@dataclass(frozen=True)
class WrittenSum:
    """A sum_at_least as a rule writes it, and where."""

    condition: str
    field: str
    threshold: clingo.Symbol
    where: str
    criterion: str | None = None


def written_sum(
    history: History,
    arguments: Sequence[clingo.Symbol | None],
    where: str,
    criterion: str | None = None,
) -> WrittenSum:
    """The use, with its field checked to be a number field of the history."""
    condition, summed, threshold = arguments[1], arguments[2], arguments[3]
    assert condition is not None and summed is not None and threshold is not None
    declared = (
        history.fields.get(summed.name) if summed.type == clingo.SymbolType.Function else None
    )
    if declared is None or declared.type not in (FactType.INT, FactType.DECIMAL):
        raise PolicyError(
            f"{where}: sum_at_least({history.name}, {condition}, {summed}, ...): {summed} is "
            f"not a number field (int or decimal) of {history.name}"
        )
    return WrittenSum(condition.name, summed.name, threshold, where, criterion)


def with_sum_facts(history: History, written: set[WrittenSum]) -> History:
    """The history with a sum fact per use, each checked to be exact
    (model/history_sum.py: the field's bounds start at 0; no condition a
    record meeting the condition can meet tests the field; every class
    meeting the condition has cap 1). PolicyError with the rule's file and
    line otherwise."""
    uses: dict[str, SumUse] = {}
    criteria: dict[str, set[str]] = {}
    for use in sorted(written, key=lambda u: (u.where, u.condition, u.field, str(u.threshold))):
        built = _checked(history, use)
        uses.setdefault(built.fact, built)
        criteria.setdefault(built.fact, set()).update([use.criterion] if use.criterion else [])
    found = [replace(u, clauses=tuple(sorted(criteria[f]))) for f, u in uses.items()]
    return replace(history, sums=tuple(found))


def _checked(history: History, use: WrittenSum) -> SumUse:
    declared = history.fields[use.field]
    shown = f"sum_at_least({history.name}, {use.condition}, {use.field}, {use.threshold})"
    threshold = typed_constant(declared, use.threshold)
    if threshold is None or threshold <= 0:
        raise PolicyError(
            f"{use.where}: {shown}: the threshold must be a number above 0"
            + (" (a whole number for an int field)" if declared.type is FactType.INT else "")
        )
    if declared.type is FactType.INT and use.threshold.type != clingo.SymbolType.Number:
        raise PolicyError(f"{use.where}: {shown}: an int field is summed to a whole number")
    if declared.low != 0 or (declared.high is not None and declared.high <= 0):
        raise PolicyError(
            f"{use.where}: {shown}: {use.field} must be declared with field_bounds from 0 "
            "(and an upper bound above 0, or none): records the case does not state could "
            "otherwise add amounts that no count bounds"
        )
    meeting = [c for c in history.classes if use.condition in c.meets]
    for other in history.conditions.values():
        tests_field = any(t.field == use.field for t in other.tests)
        if tests_field and any(other.name in c.meets for c in meeting):
            raise PolicyError(
                f"{use.where}: {shown}: records meeting {use.condition} can meet "
                f"{other.name} ({other.text}), which tests {use.field}; the sum of values "
                "the record classes do not keep cannot be read exactly with it"
            )
    if any(history.counted(c) for c in meeting):
        raise PolicyError(
            f"{use.where}: {shown}: a count of two or more records meeting "
            f"{use.condition} (count_at_least or count_at_most on a condition they meet) "
            "cannot be read with the sum exactly"
        )
    unit = f" {declared.unit}" if declared.unit else ""
    number = str(threshold).replace(".", "_").replace("-", "_")
    fact = f"{history.name}_sum_{use.condition}_{use.field}_{number}"
    quoted = use.threshold.type == clingo.SymbolType.String
    written = use.threshold.string if quoted else str(use.threshold.number)
    return SumUse(use.condition, use.field, threshold, f"{threshold}{unit}", fact, written, quoted)


def sum_statements(
    history: History, fact: Callable[..., None], symbol: Callable[[str], clingo.Symbol]
) -> None:
    """The facts that link the history's sum facts to kb/core/history.lp."""
    h = symbol(history.name)
    for use in history.sums:
        fact(
            "kb_history_summed",
            h,
            symbol(use.condition),
            symbol(use.field),
            _threshold_symbol(use),
            symbol(use.fact),
        )
        fact("fact", symbol(use.fact), Function("bool"))


def _threshold_symbol(use: SumUse) -> clingo.Symbol:
    """N as the rule writes it: a number, or a decimal in quotes."""
    return clingo.String(use.written) if use.quoted else clingo.Number(int(use.written))
