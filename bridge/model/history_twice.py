"""Two records of an ordered condition: the count fact beside latest_meets and earliest_meets.

A count of two (count_at_least(H, K, 2), or count_at_most(H, K, 1)) over a
condition K that holds every record meeting an ordered condition M (of a
latest_meets or earliest_meets) reads M's records through one boolean *twice
fact*, "at least two records meet M", instead of a second level of each
class meeting M. Those classes keep cap 1, as the order fact needs
(model/history_order.py), and the count reads

    count(K) >= 2  iff  the levels of K's classes reach 2, or
                        the twice fact holds and some record meets M

(kb/core/history.lp: the records of K are those meeting M and the others,
each of another class).

Why one fact, not a second level per class. With a second level per class
meeting M, a case's scenarios hold combinations no completion has: a history
stating a record meeting M and T, and an earlier one meeting M but not T,
with both classes at level 1 exactly (no further record), has its latest
record meeting T, yet the order fact is free there (it must be free where a
class is at level 2, and a case pins facts, not combinations of them). Rules
that read those levels one class at a time tell that scenario apart: with
conditions MT (M and T) and MF (M, not T), "not count_at_least(H, MT, 2),
not count_at_least(H, MF, 2), not latest_meets(H, M, T)" holds in it and in
no completion. That shape stays refused. A count over every record meeting
M reads the levels only through their sum, which two reached classes
already take to two; the twice fact keeps exactly that sum's answer, so each
fact of the scenario is one the rules may read with the order, and the
count is asked once, in the policy's words, rather than once per class.

Exactness. The loader admits a twice fact for M only when (1) every count of
two or more that some class meeting M meets is a count of exactly two (also
count_at_most(H, K, 1)) over a condition K whose classes that meet an ordered
condition are exactly the classes meeting M; (2) every other ordered
condition whose classes meet a class meeting M has only classes meeting M;
and (3) no sum, pair or run reads a class meeting M. Take a scenario: its
capped levels (at least the stated ones) and its order and twice facts.
- Two or more classes meeting M reached: the records meeting M are two or
  more, so the twice fact is not read; every reached class holds any number
  of extra records, which is what the order facts need (the order fact of a
  condition M' within M is read only with two classes meeting M' reached).
- One class meeting M reached: no order fact over records meeting M (or
  within them) is read (it needs a record meeting T and one failing it, of
  two classes). The twice fact is reachable both ways unless the stated
  records decide it: "two" by an extra record of that class, "one" by the
  stated record (or one extra, when none is stated) alone.
- None: the twice fact is not read.
So the twice fact is pinned true when two or more stated records meet M,
pinned false when a complete history states fewer, and free otherwise.
Counts of three or more are refused: a scenario reaching two classes whose
stated records number two can hold exactly those two (the latest fixed) or
more (either latest), and no single fact tells "three" apart from the order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policykb.bridge.model.history import History
    from policykb.bridge.model.history_condition import Condition


@dataclass(frozen=True)
class TwiceUse:
    """The twice fact of an ordered condition: "at least two records meet
    Condition", read by the counts of two over `counted` (each a condition
    holding every record meeting Condition)."""

    condition: str
    counted: tuple[str, ...]
    fact: str
    clauses: tuple[str, ...] = ()
    """The criteria whose rules make the counts."""

    def question(self, what: str, conditions: Mapping[str, Condition]) -> str:
        """The twice fact asked in words."""
        return (
            f"Of {what}, are there at least two records that are {conditions[self.condition].text}?"
        )

    def words(self, conditions: Mapping[str, Condition], held: bool) -> str:
        """The twice fact, held or not, as explanations and changes show it."""
        count = "at least two records" if held else "fewer than two records"
        return f"{count} that are {conditions[self.condition].text}"

    def data(self, held: bool) -> dict[str, object]:
        """The twice fact's JSON form in explanations and changes."""
        return {"condition": self.condition, "at_least" if held else "fewer_than": 2}


def stated_meeting(
    history: History,
    condition: str,
    records: Sequence[Mapping[str, object]],
    anchors: Mapping[str, int],
) -> int:
    """How many of the checked records meet `condition` at `anchors`."""
    tests = history.conditions[condition].tests
    return sum(
        1
        for record in records
        if all(t.passes(record[t.field], anchors, history.code_sets) for t in tests)
    )


def twice_pins(
    history: History,
    records: Sequence[Mapping[str, object]],
    complete: bool,
    anchors: Mapping[str, int],
) -> dict[str, bool]:
    """The twice facts a case's checked records pin (see the module docstring)."""
    pins: dict[str, bool] = {}
    for use in history.twice:
        reached = stated_meeting(history, use.condition, records, anchors) >= 2
        if reached or complete:
            pins[use.fact] = reached
    return pins
