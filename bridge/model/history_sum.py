"""Sums of a number field over a history's records: the sum facts of sum_at_least.

`sum_at_least(H, M, F, N)` asks whether the values of field F of the records
of H meeting M add up to N or more (kb/core/history.lp). Record classes count
records but do not keep their values, so each use gets one boolean *sum
fact*, "the records meeting M add up to N or more in F", read together with
"some record meets M" (N is at least 1, so an empty sum never reaches it).

Exactness. The loader admits a use only when (1) F's declared lower bound is
0 and its upper bound is above 0 (or none); (2) no condition of H that a
record meeting M can meet tests F, so every class meeting M admits every
value of F; and (3) every class meeting M has cap 1, so a class a scenario
reaches holds, for the rules, any number of extra records. Take a scenario
(capped class counts at least the stated ones) with some record meeting M:
- "reaches N" is reachable: an extra record of a reached class meeting M
  with a value above 0, repeated as often as needed;
- "falls short" is reachable exactly when the stated records meeting M fall
  short: the records the scenario adds can all have value 0, and the stated
  ones are in every completion.
So the sum fact is pinned true when the stated records reach N, pinned false
when a complete history's records fall short, and free otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.history_condition import Condition
    from policykb.bridge.model.typed import Number


@dataclass(frozen=True)
class SumUse:
    """One sum_at_least of the rules: Condition, the field summed, the
    threshold (in the field's unit), its words and the sum fact."""

    condition: str
    field: str
    threshold: Number
    shown: str
    """The threshold with the field's unit ("120 days")."""
    fact: str
    written: str = ""
    """The threshold as the rule writes it: digits, or a decimal's text when quoted."""
    quoted: bool = False
    clauses: tuple[str, ...] = ()
    """The criteria whose rules make this use."""

    def question(self, what: str, conditions: Mapping[str, Condition]) -> str:
        """The sum fact asked in words."""
        return (
            f"Of {what}, do the records that are {conditions[self.condition].text} "
            f"add up to {self.shown} or more of {self.field.replace('_', ' ')}?"
        )

    def words(self, conditions: Mapping[str, Condition], held: bool) -> str:
        """The sum fact, held or not, as explanations and changes show it."""
        verb = "add up to" if held else "add up to less than"
        return (
            f"the records that are {conditions[self.condition].text} {verb} "
            f"{self.shown}{'' if not held else ' or more'} of {self.field.replace('_', ' ')}"
        )

    def data(self, held: bool) -> dict[str, object]:
        """The sum fact's JSON form in explanations and changes."""
        key = "at_least" if held else "less_than"
        return {"condition": self.condition, "field": self.field, key: str(self.threshold)}


def stated_sum(
    use: SumUse,
    history: History,
    records: Sequence[Mapping[str, object]],
    anchors: Mapping[str, int],
) -> Fraction:
    """The sum of the field over the stated records meeting the condition
    (exact: decimals as fractions)."""
    condition = history.conditions[use.condition]
    total = Fraction(0)
    for record in records:
        if all(t.passes(record[t.field], anchors, history.code_sets) for t in condition.tests):
            total += Fraction(str(record[use.field]))
    return total


def sum_pins(
    history: History,
    records: Sequence[Mapping[str, object]],
    complete: bool,
    anchors: Mapping[str, int],
) -> dict[str, bool]:
    """The sum facts a case's checked records pin (see the module docstring)."""
    pins: dict[str, bool] = {}
    for use in history.sums:
        reached = stated_sum(use, history, records, anchors) >= Fraction(str(use.threshold))
        if reached or complete:
            pins[use.fact] = reached
    return pins
