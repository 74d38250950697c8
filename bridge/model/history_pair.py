"""Windows relative to another record: the pair facts of follows_within.

`follows_within(H, First, Then, Low, High)` asks whether some record of H
meeting Then is dated from Low to High after some record meeting First: on
or after First's date moved by Low and on or before it moved by High
(kb/core/history.lp). Record classes do not keep dates, so each use gets one
boolean *pair fact*, "a record meeting Then falls in the window of a record
meeting First", read together with "a record meets First" and "a record
meets Then".

Exactness. Let R_F and R_T be the days First and Then let a record have at
the case's dates (their date tests within the field's bounds: intervals,
possibly without an end). The loader admits a use only when (1) no record
can meet both First and Then; (2) every other condition that a record
meeting First (Then) can meet tests the date only as First (Then) does, so
every record meeting First (Then) may be dated anywhere in R_F (R_T); and
(3) every class meeting First or Then has cap 1, so a class a scenario
reaches holds, for the rules, any number of extra records. The pair fact
matters only in a scenario with records of both kinds. Write window(a) for
the days from a moved by Low to a moved by High.
- If no a in R_F has window(a) meeting R_T, no completion pairs: false.
- If the stated records hold a pair, every completion does: true.
- Otherwise (no stated pair) "paired" is reachable by an extra record of a
  reached class of each kind on such an a and a day of its window. "Not
  paired" is reachable exactly when the scenario's added records can avoid
  pairs, which depends only on what the case states:
  - records of both kinds stated: add First records on a stated First
    record's day and Then records on a stated Then record's day (those two
    do not pair): always;
  - First records stated, no Then record: every Then record is added, and
    must avoid every stated First record's window (added First records go on
    a stated one's day): some day of R_T outside those windows;
  - Then records stated, no First record: some a in R_F whose window holds
    no stated Then record;
  - neither: some a in R_F and b in R_T with b outside window(a).
  When that day does not exist every scenario with both kinds pairs: true.
Two records of one condition (First = Then: "a record within 119 months
after another") are two different records; the loader admits this only when
the condition's dates have no first or no last day. Then "paired" is
reachable by two extra records far out, one in the other's window, and
"not paired" exactly when the stated records hold no pair: the added
records go far out, each further than a window's length from all others.
So the pair fact is pinned from these cases (a complete history: the stated
answer), and for a history the case leaves out the first and last cases
come from the grounding's dates (kb_history_unpaired/3 and
kb_history_paired_always/3). The sets are searched day by day over a span
that holds every finite end and every stated day, widened by the window's
length; past that span, days behave alike ("far out"), which is checked once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

from policykb.bridge.model.history_order import condition_span, meeting_days

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.history_condition import Condition
    from policykb.bridge.model.typed import Duration


@dataclass(frozen=True)
class PairUse:
    """One follows_within of the rules: the First and Then conditions, the
    date field, the window's ends as moves from First's date, and the pair fact."""

    first: str
    then: str
    field: str
    low: Duration
    high: Duration
    window: str
    """The window in words ("from 0 days to 120 months")."""
    fact: str
    clauses: tuple[str, ...] = ()
    """The criteria whose rules make this use."""

    @property
    def condition(self) -> str:
        return self.first

    def in_window(self, first_day: int, then_day: int) -> bool:
        """Whether a Then record on `then_day` falls in the window of a First
        record on `first_day` (day numbers)."""
        day = date.fromordinal(first_day)
        return self.low.after(day).toordinal() <= then_day <= self.high.after(day).toordinal()

    def question(self, what: str, conditions: Mapping[str, Condition]) -> str:
        """The pair fact asked in words."""
        return (
            f"Of {what}, is a record that is {conditions[self.then].text} dated "
            f"{self.window} after a record that is {conditions[self.first].text}?"
        )

    def words(self, conditions: Mapping[str, Condition], held: bool) -> str:
        """The pair fact, held or not, as explanations and changes show it."""
        some = "a record" if held else "no record"
        return (
            f"{some} that is {conditions[self.then].text} dated {self.window} after "
            f"a record that is {conditions[self.first].text}"
        )

    def data(self, held: bool) -> dict[str, object]:
        """The pair fact's JSON form in explanations and changes."""
        return {
            "first": self.first,
            "then": self.then,
            "from": self.low.term,
            "to": self.high.term,
            "paired": held,
        }


def stated_pair(
    use: PairUse,
    history: History,
    records: Sequence[Mapping[str, object]],
    anchors: Mapping[str, int],
) -> bool:
    """Whether the stated records hold a record meeting Then in the window of
    another one meeting First."""
    firsts = meeting_days(history, use.first, use.field, records, anchors)
    if use.first == use.then:
        return any(
            use.in_window(a, b)
            for i, a in enumerate(firsts)
            for j, b in enumerate(firsts)
            if i != j
        )
    thens = meeting_days(history, use.then, use.field, records, anchors)
    return any(use.in_window(a, b) for a in firsts for b in thens)


Span = tuple[int | None, int | None]


def pair_span(history: History, name: str, field: str, anchors: Mapping[str, int]) -> Span | None:
    """R for condition `name` on the date field (None when a reference date is missing)."""
    found = condition_span(history, name, field, anchors)
    if found is None:
        return None
    if found[0] is not None and found[1] is not None and found[0] > found[1]:
        return (1, 0)  # empty
    return found


def _inside(day: int, span: Span) -> bool:
    return (span[0] is None or day >= span[0]) and (span[1] is None or day <= span[1])


def _empty(span: Span) -> bool:
    return span[0] is not None and span[1] is not None and span[0] > span[1]


class PairSearch:
    """The day-by-day questions of the module docstring for one use at the
    case's dates: R_F, R_T and the stated days of each kind."""

    def __init__(
        self, use: PairUse, first: Span, then: Span, firsts: Sequence[int], thens: Sequence[int]
    ) -> None:
        self.use, self.first, self.then = use, first, then
        self.firsts, self.thens = list(firsts), list(thens)
        ends = [e for e in (*first, *then) if e is not None] + self.firsts + self.thens
        # The longest a window reaches from its day (a month is at most 31 days).
        reach = 2 + max(abs(_days(use.low)), abs(_days(use.high)))
        middle = ends or [date(2000, 1, 1).toordinal()]
        self.low, self.high = min(middle) - 2 * reach, max(middle) + 2 * reach

    def days(self, span: Span) -> list[int]:
        """The days of `span` within the search span, then one far-out day on
        each side the span has no end (days there behave alike)."""
        low = self.low if span[0] is None else max(span[0], self.low)
        high = self.high if span[1] is None else min(span[1], self.high)
        found = list(range(low, high + 1))
        if span[0] is None:
            found.append(self.low - 1)
        if span[1] is None:
            found.append(self.high + 1)
        return found

    def window(self, day: int) -> tuple[int, int]:
        moved = date.fromordinal(day)
        return self.use.low.after(moved).toordinal(), self.use.high.after(moved).toordinal()

    def pairable(self) -> bool:
        """Some a in R_F whose window meets R_T."""
        if _empty(self.first) or _empty(self.then):
            return False
        for far in (0, 1):  # both without a last (first) day: far out pairs
            if self.first[far] is None and self.then[far] is None:
                return True
        for a in self.days(self.first):
            low, high = self.window(a)
            top = high if self.then[1] is None else min(high, self.then[1])
            bottom = low if self.then[0] is None else max(low, self.then[0])
            if bottom <= top:
                return True
        return False

    def avoidable(self) -> bool:
        """Whether added records can avoid pairs (the four cases)."""
        if self.firsts and self.thens:
            return True
        if self.firsts:
            windows = [self.window(a) for a in self.firsts]
            return any(not any(lo <= b <= hi for lo, hi in windows) for b in self.days(self.then))
        if self.thens:
            for a in self.days(self.first):
                low, high = self.window(a)
                if not any(low <= b <= high for b in self.thens):
                    return True
            return False
        for a in self.days(self.first):
            low, high = self.window(a)
            if self.then[0] is None or self.then[1] is None:
                return True  # R_T has days past any window
            if not (low <= self.then[0] and self.then[1] <= high):
                return True
        return False


def _days(duration: Duration) -> int:
    """An upper bound of the days a duration moves by."""
    per = {"days": 1, "weeks": 7, "months": 31}
    return sum(31 if s.unit not in per else abs(s.count) * per[s.unit] for s in duration.steps)


def pair_pins(
    history: History,
    records: Sequence[Mapping[str, object]],
    complete: bool,
    anchors: Mapping[str, int],
) -> dict[str, bool]:
    """The pair facts a case's checked records pin (see the module docstring)."""
    pins: dict[str, bool] = {}
    for use in history.pairs:
        paired = stated_pair(use, history, records, anchors)
        if paired or complete:
            pins[use.fact] = paired
            continue
        if use.first == use.then:
            continue  # open dates: always free (module docstring)
        first = pair_span(history, use.first, use.field, anchors)
        then = pair_span(history, use.then, use.field, anchors)
        if first is None or then is None:
            continue
        search = PairSearch(
            use,
            first,
            then,
            meeting_days(history, use.first, use.field, records, anchors),
            meeting_days(history, use.then, use.field, records, anchors),
        )
        if not search.pairable():
            pins[use.fact] = False
        elif not search.avoidable():
            pins[use.fact] = True
    return pins


def grounding_pairs(history: History, anchors: Mapping[str, int]) -> list[tuple[PairUse, bool]]:
    """For a history the case leaves out, the uses the grounding's dates
    decide: (use, False) when no day pairs, (use, True) when every pair of
    days does."""
    found: list[tuple[PairUse, bool]] = []
    for use in history.pairs:
        first = pair_span(history, use.first, use.field, anchors)
        then = pair_span(history, use.then, use.field, anchors)
        if first is None or then is None or use.first == use.then:
            continue
        search = PairSearch(use, first, then, [], [])
        if not search.pairable():
            found.append((use, False))
        elif not search.avoidable():
            found.append((use, True))
    return found
