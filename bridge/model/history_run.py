"""Runs of days: the run facts of run_at_least.

`run_at_least(H, M, N, Days)` asks whether some Days consecutive days hold N
or more different days with a record of H meeting M ("on at least 21 of 30
consecutive nights"; with N = Days, a run of N consecutive days)
(kb/core/history.lp). Record classes do not keep dates, so each use gets one
boolean *run fact*, "some Days consecutive days hold N days with a record
meeting M", read together with "a record meets M".

Exactness. Let R be the days M lets a record have at the case's dates (an
interval, possibly without an end). The loader admits a use only when
(1) 2 <= N <= Days; (2) every other condition that a record meeting M can
meet tests the date only as M does, so every record meeting M may be dated
anywhere in R; and (3) every class meeting M has cap 1, so a class a
scenario reaches holds, for the rules, any number of extra records. Take a
scenario with a record meeting M.
- If R holds fewer than N days within any Days consecutive days (fewer than
  N days in all), no completion has the run: false.
- Otherwise "has the run" is reachable: extra records of a reached class on
  N consecutive days of R.
- "Has no run" is reachable exactly when the stated records have none: the
  records the scenario adds go on a stated record's day meeting M (adding no
  day), or, with none stated, all on one day (one day, and N >= 2).
So the run fact is pinned true when the stated records have the run, false
when a complete history's records do not or when R is too short, and free
otherwise; for a history the case leaves out, "R is too short" comes from the
grounding's dates (kb_history_unrun/2).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from policykb.bridge.model.history_order import condition_span, meeting_days

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.history_condition import Condition


@dataclass(frozen=True)
class RunUse:
    """One run_at_least of the rules: the condition, the date field, N days
    out of Days consecutive days, and the run fact."""

    condition: str
    field: str
    count: int
    days: int
    fact: str
    clauses: tuple[str, ...] = ()
    """The criteria whose rules make this use."""

    def _what(self) -> str:
        if self.count == self.days:
            return f"{self.count} consecutive days"
        return f"{self.count} of {self.days} consecutive days"

    def question(self, what: str, conditions: Mapping[str, Condition]) -> str:
        """The run fact asked in words."""
        return (
            f"Of {what}, is there a record that is {conditions[self.condition].text} "
            f"on each of {self._what()}?"
        )

    def words(self, conditions: Mapping[str, Condition], held: bool) -> str:
        """The run fact, held or not, as explanations and changes show it."""
        some = "a record" if held else "no run of records"
        if held:
            return f"{some} that is {conditions[self.condition].text} on each of {self._what()}"
        return f"{some} that is {conditions[self.condition].text} on {self._what()}"

    def data(self, held: bool) -> dict[str, object]:
        """The run fact's JSON form in explanations and changes."""
        return {"condition": self.condition, "days": self.count, "of": self.days, "run": held}

    def reached(self, days: Sequence[int]) -> bool:
        """Whether the distinct `days` (day numbers) put N in some Days
        consecutive days."""
        ordered = sorted(set(days))
        start = 0
        for end, day in enumerate(ordered):
            while day - ordered[start] >= self.days:
                start += 1
            if end - start + 1 >= self.count:
                return True
        return False

    def room(self, span: tuple[int | None, int | None] | None) -> bool:
        """Whether R (None: not known at these dates) has N days within some
        Days consecutive days."""
        if span is None or span[0] is None or span[1] is None:
            return True
        return min(span[1] - span[0] + 1, self.days) >= self.count


def run_pins(
    history: History,
    records: Sequence[Mapping[str, object]],
    complete: bool,
    anchors: Mapping[str, int],
) -> dict[str, bool]:
    """The run facts a case's checked records pin (see the module docstring)."""
    pins: dict[str, bool] = {}
    for use in history.runs:
        reached = use.reached(meeting_days(history, use.condition, use.field, records, anchors))
        if reached or complete:
            pins[use.fact] = reached
        elif not use.room(condition_span(history, use.condition, use.field, anchors)):
            pins[use.fact] = False
    return pins
