"""A case that leaves two reference dates unknown, answered exactly.

The pairs of days (a, b) of the two dates A and B fall into pair classes
(pair_classes.py); each class is answered by the grounding at its first pair
with both dates fixed there, so every completion of the case with (A, B) in
the class is a completion of that grounding, and back. Then, over every
completion (both dates included), as for one date (unknown_dates.py):

- verdict, statuses and explanations: over the classes, as for one date;
- missing facts: a fact other than A and B is missing when it is missing in
  some class. A is missing when some day b of B and some filling of the
  other unknowns give two days of A two verdicts: among the classes holding
  a pair with that b, two give two definite verdicts, or a definite one and
  an open one, or (all open) their product program (date_product.py) finds
  a filling with two verdicts. The days of B are grouped by the set of
  classes they meet, so each set is decided once. Likewise for B;
- answers for A: for each day of A, the verdict over the classes holding a
  pair with it, runs of days with one verdict merged; likewise for B; for
  another fact as for one date;
- changes (`smallest_changes`): stating both dates (a block of days of one
  class) with that class's smallest changes; or stating one date (a run of
  its days that meet one set of classes) with changes that work in each of
  those classes; or stating neither, with changes that work in every class;
  whichever are smallest. While a reference date stays unknown, the dates
  compared with either are not changed (their regions move with the days).

Both dates need both bounds (declared; the date of service within the
version's period), since the classes are found over their spans of days.
"""

from __future__ import annotations

from collections.abc import Collection, MutableMapping
from datetime import date
from itertools import combinations
from math import comb
from typing import TYPE_CHECKING, Any, cast

from policykb.bridge.model.errors import CaseError, LimitError
from policykb.bridge.model.result import Answer, Verdict
from policykb.bridge.model.typed import Interval
from policykb.bridge.solving.class_union import joined
from policykb.bridge.solving.covered_from import DayPatterns
from policykb.bridge.solving.day_classes import (
    DayClass,
    history_references_of,
    kept_classes,
    merged_runs,
    unknown_references,
)
from policykb.bridge.solving.grounding import Assignment
from policykb.bridge.solving.pair_classes import PairClass, blocks_of, pair_classes
from policykb.bridge.solving.unknown_date_changes import MAX_TRIALS
from policykb.bridge.solving.unknown_dates import UnknownDate

if TYPE_CHECKING:
    from policykb.bridge.solving.evaluator import Evaluator

ChangeSet = list[tuple[str, object]]


class UnknownDatePair(UnknownDate):
    """One case's known facts over the pair classes of the two reference
    dates it leaves unknown (see the module docstring)."""

    def __init__(
        self,
        base: Evaluator,
        known: Assignment,
        within: tuple[int | None, int | None] = (None, None),
    ) -> None:
        from policykb.bridge.model.version import SERVICE_DATE

        unknown = unknown_references(base, known)
        assert len(unknown) == 2
        self.base = base
        # A window moved from either date is refused below: no record pins.
        self.window = None
        self.pins = []
        histories = history_references_of(base)
        spans: dict[str, tuple[int, int]] = {}
        for reference in unknown:
            if reference in histories:
                other = next(r for r in unknown if r != reference)
                raise CaseError(
                    f"the case must state {reference}: the policy's history windows move "
                    f"from it, and the case leaves {other} unknown too (one unknown date "
                    "with history windows is answered over its days, two are not)"
                )
            declared = base.policy.facts[reference]
            low = None if declared.low is None else int(declared.low)
            high = None if declared.high is None else int(declared.high)
            if reference == SERVICE_DATE:
                if within[0] is not None:
                    low = within[0] if low is None else max(low, within[0])
                if within[1] is not None:
                    high = within[1] if high is None else min(high, within[1])
            if low is None or high is None:
                side = "lower" if low is None else "upper"
                raise CaseError(
                    f"the case leaves {' and '.join(unknown)} unknown: two unknown reference "
                    f"dates are answered within their bounds, and {reference} has no {side} "
                    "bound (declare bounds/3, or state one of them)"
                )
            if low > high:
                raise CaseError(f"{reference} has no day within its bounds")
            spans[reference] = (low, high)
        # The sweep visits every day of the first date: the shorter span.
        first, second = sorted(unknown, key=lambda r: (spans[r][1] - spans[r][0], r))
        self.references = (first, second)
        self.reference = first
        self.spans = spans
        self.first, self.last = spans[first]
        self.open_low = self.open_high = False
        self.moved = {fact for reference in unknown for fact in base.references.get(reference, [])}
        stated = tuple(sorted((f, v) for f, v in known.items() if isinstance(v, date)))
        key = ("pair", first, second, spans[first], spans[second], stated)
        kept = cast("MutableMapping[object, list[PairClass]]", kept_classes(base))
        found = kept.get(key)
        if found is None:
            patterns = DayPatterns(base, first, also=second)
            found = pair_classes(patterns, known, (first, *spans[first]), (second, *spans[second]))
            kept[key] = found
        self.pair_classes: list[PairClass] = found
        others = {
            name: known[name].toordinal()  # type: ignore[union-attr]
            for name in base.references
            if name not in unknown
        }
        fixed = frozenset(unknown)
        at = base.at
        # Pair classes stand where day classes do: every method of
        # UnknownDate that reads a class's runs is overridden here.
        self.cases = cast(
            "list[tuple[DayClass, Evaluator]]",
            [(c, at({**others, first: c.day[0], second: c.day[1]}, fixed=fixed)) for c in found],
        )

    # -- which classes a day of one date meets -----------------------------------------

    def meeting(self, reference: str) -> list[tuple[int, int, frozenset[int]]]:
        """The days of `reference` in runs (first, last), each with the set of
        classes holding a pair with each of its days, in order."""
        if reference == self.references[0]:
            by_day: dict[int, set[int]] = {}
            for index, pair_class in enumerate(self.pair_classes):
                for a, _, _ in pair_class.rows:
                    by_day.setdefault(a, set()).add(index)
            low, high = self.spans[reference]
            runs: list[tuple[int, int, frozenset[int]]] = []
            for day in range(low, high + 1):
                met = frozenset(by_day.get(day, ()))
                if runs and runs[-1][2] == met:
                    runs[-1] = (runs[-1][0], day, met)
                else:
                    runs.append((day, day, met))
            return runs
        # The second date: sweep the ends of the rows' runs.
        events: dict[int, list[tuple[int, int]]] = {}
        for index, pair_class in enumerate(self.pair_classes):
            for _, b0, b1 in pair_class.rows:
                events.setdefault(b0, []).append((index, 1))
                events.setdefault(b1 + 1, []).append((index, -1))
        counts: dict[int, int] = {}
        low, high = self.spans[reference]
        found: list[tuple[int, int, frozenset[int]]] = []
        points = sorted(events)
        for position, point in enumerate(points):
            for index, step in events[point]:
                counts[index] = counts.get(index, 0) + step
            end = points[position + 1] - 1 if position + 1 < len(points) else high
            if point > high:
                break
            met = frozenset(i for i, count in counts.items() if count > 0)
            if found and found[-1][2] == met:
                found[-1] = (found[-1][0], end, met)
            else:
                found.append((point, end, met))
        return found

    # -- missing facts ---------------------------------------------------------------------

    def missing_facts(self, known: Assignment) -> list[str]:
        """The unknown facts the verdict on `known` still depends on, in
        vocabulary order, the reference dates among them."""
        found: set[str] = set()
        for _, evaluator in self.cases:
            found.update(evaluator.missing_facts(known))
        verdicts = self.class_verdicts(known)
        for reference in self.references:
            other = next(r for r in self.references if r != reference)
            groups = {met for _, _, met in self.meeting(other)}
            if any(self._turns(known, verdicts, sorted(met)) for met in groups):
                found.add(reference)
        return [name for name in self.base.policy.facts if name in found]

    def _turns(self, known: Assignment, verdicts: list[Verdict], indices: list[int]) -> bool:
        """Whether some filling of the other unknowns gives two of these
        classes (pairs that share one day of the other date) two verdicts."""
        seen = {verdicts[i] for i in indices}
        if len(seen) > 1:
            return True
        if seen != {Verdict.NEEDS_INFORMATION} or len(indices) < 2:
            return False
        from policykb.bridge.solving.date_product import DayProduct

        return DayProduct(self, indices).turns(known)

    def reference_missing(self, known: Assignment) -> bool:
        return bool(set(self.references) & set(self.missing_facts(known)))

    # -- answers -----------------------------------------------------------------------------

    def answers(self, known: Assignment, fact: str) -> list[Answer]:
        """For a reference date: each run of its days with the verdict over the
        classes its days meet, neighbours with one verdict merged."""
        if fact not in self.references:
            return super().answers(known, fact)
        verdicts = self.class_verdicts(known)
        runs = [
            (first, last, joined(verdicts[i] for i in met))
            for first, last, met in self.meeting(fact)
            if met
        ]
        display = self.base.display
        return [
            Answer(display.shown(fact, Interval(first, True, last, True)), verdict)
            for first, last, verdict in merged_runs(runs)
        ]

    # -- words -------------------------------------------------------------------------------

    def days(self, first: int, last: int) -> Interval:
        return Interval(first, True, last, True)

    def class_words(self, index: int) -> str:
        """A class's blocks of days (`therapy_start 2024-01-01 to 2024-01-31
        and date_of_service 2024-04-01 to 2024-06-30; ...`)."""
        first, second = self.references
        blocks = self.pair_classes[index].blocks()
        return "; ".join(
            f"{first} {_days(a0, a1)} and {second} {_days(b0, b1)}" for a0, a1, b0, b1 in blocks
        )

    # -- changes -----------------------------------------------------------------------------

    def smallest_changes(
        self, known: Assignment, target: Verdict, limit: int, keep: Collection[str]
    ) -> tuple[list[list[tuple[str, object]]], int]:
        """The smallest change sets giving `target` (module docstring), at most
        `limit`, and how many were left out."""
        first, second = self.references
        options: list[ChangeSet] = []
        if first not in keep and second not in keep:
            options += self._stating_both(known, target, limit, keep)
        for reference in self.references:
            if reference in keep:
                continue
            # Runs of days meeting other sets of classes, with one rest, merged.
            by_rest: dict[tuple[tuple[str, object], ...], list[tuple[int, int]]] = {}
            for low, high, met in self.meeting(reference):
                if met:
                    for rest in self._working_in(known, target, keep, sorted(met)):
                        by_rest.setdefault(tuple(rest), []).append((low, high))
            for shared, runs in by_rest.items():
                options += [
                    [(reference, Interval(low, True, high, True)), *shared]
                    for low, high, _ in merged_runs((a, b, target) for a, b in runs)
                ]
        options += self._working_in(known, target, keep, list(range(len(self.cases))))
        if not options:
            return [], 0
        size = min(len(o) for o in options)
        chosen = [o for o in options if len(o) == size]
        return chosen[:limit], max(0, len(chosen) - limit)

    def _stating_both(
        self, known: Assignment, target: Verdict, limit: int, keep: Collection[str]
    ) -> list[ChangeSet]:
        """Change sets that state both dates: for each smallest change set of
        a class (none, where the class has the target already), the blocks of
        the pairs of every class where it is smallest, merged."""
        first, second = self.references
        by_rest: dict[tuple[tuple[str, object], ...], list[tuple[int, int, int]]] = {}
        size: int | None = None
        for pair_class, evaluator in self.cases:
            pair = cast(PairClass, pair_class)
            if evaluator.verdict_of(known) is target:
                rests: list[tuple[tuple[str, object], ...]] = [()]
            else:
                changes, _, _ = evaluator.smallest_changes(
                    known, target, max(limit, 1) * 4, {*keep, first, second}
                )
                rests = [tuple(change) for change in changes]
            if not rests:
                continue
            if size is None or len(rests[0]) < size:
                size, by_rest = len(rests[0]), {}
            if len(rests[0]) > size:
                continue
            for rest in rests:
                # A change of a date compared with a reference date is a region
                # as of the class's first pair: it holds with that pair only.
                relative = any(fact in self.moved for fact, _ in rest)
                a, b = pair.day
                rows = [(a, b, b)] if relative else list(pair.rows)
                by_rest.setdefault(rest, []).extend(rows)
        return [
            [
                (first, Interval(a0, True, a1, True)),
                (second, Interval(b0, True, b1, True)),
                *rest,
            ]
            for rest, rows in by_rest.items()
            for a0, a1, b0, b1 in blocks_of(rows)
        ]

    def _working_in(
        self, known: Assignment, target: Verdict, keep: Collection[str], indices: list[int]
    ) -> list[ChangeSet]:
        """The smallest change sets of facts neither date moves that give
        `target` in every class of `indices` (brute force by size)."""
        evaluators = [self.cases[i][1] for i in indices]
        if all(e.verdict_of(known) is target for e in evaluators):
            return [[]]
        first = evaluators[0]
        candidates: list[tuple[str, Any]] = []
        for fact, declared in self.base.policy.facts.items():
            if (
                fact in keep
                or fact in self.base.references
                or fact in self.moved
                or declared.type.many
            ):
                continue
            candidates += [
                (fact, value)
                for value in first.candidate_values(fact)
                if fact not in known or first.value_key(fact, known[fact]) != value
            ]
        trials = 0
        for size in range(1, len({f for f, _ in candidates}) + 1):
            trials += comb(len(candidates), size) * len(evaluators)
            if trials > MAX_TRIALS:
                raise LimitError(
                    f"why: the smallest changes that leave {' or '.join(self.references)} "
                    f"unknown would take more than {MAX_TRIALS:,} trials (sets of {size} "
                    f"changes among {len(candidates)} candidates); state them to have the "
                    "changes searched as of their days"
                )
            found: list[ChangeSet] = [
                list(chosen)
                for chosen in combinations(candidates, size)
                if len({f for f, _ in chosen}) == size
                and all(e.verdict_of({**known, **dict(chosen)}) is target for e in evaluators)
            ]
            if found:
                return found
        return []


def _days(first: int, last: int) -> str:
    low, high = date.fromordinal(first).isoformat(), date.fromordinal(last).isoformat()
    return low if first == last else f"{low} to {high}"
