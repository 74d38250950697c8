"""Histories: facts that are lists of records, and the classes that make them finite.

A history's records have typed fields (declared like facts: enum, bool, int,
decimal, date, code). Rules read a history only through named *conditions*,
each a conjunction of tests on one record's fields, and through counts of the
records meeting a condition (kb/core/history.lp). Two records that meet
exactly the same conditions (and, for each field counted distinct, have the
same option) are interchangeable for every rule: they are of one *class*. A
history is thus, for the rules, a count per class; and because every count
test compares with a threshold of at most the history's *cap*, counts are
exact when cut at the cap.

Invariants:
- `History.classes` holds every class a record can fall in at some day of
  the reference dates (a superset); `possible(anchors)` is exactly the
  classes some record falls in at those days.
- `class_of(record, anchors)` is one of `classes`, and lies in
  `possible(anchors)`.
- The boolean fact `level_fact(c, k)` says "a k-th record of class c"; a
  scenario's count of class c is the number of levels 1, 2, ... it holds
  before the first it does not (kb/core/history.lp). A partial history pins
  levels 1..n true (n its records of the class, cut at the cap) and leaves
  the others free, so its counts are exactly n..cap; a complete one pins
  every level, so its count is exactly n.

The conditions and their tests on one field are model/history_condition.py;
a record class and its key are model/history_class.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from itertools import product
from typing import TYPE_CHECKING, TypeVar

from policykb.bridge.model.history_class import Key, RecordClass, _joined, _merged, _options
from policykb.bridge.model.history_condition import Condition, FieldTest
from policykb.bridge.model.policy import Fact, FactType, Span

if TYPE_CHECKING:
    from policykb.bridge.model.history_order import OrderUse
    from policykb.bridge.model.history_pair import PairUse
    from policykb.bridge.model.history_run import RunUse
    from policykb.bridge.model.history_sum import SumUse
    from policykb.bridge.model.history_twice import TwiceUse
    from policykb.bridge.model.typed import CodeSet

_T = TypeVar("_T")
_UNSET = object()

MAX_COUNT = 12
"""The largest count threshold a rule may use on a history: a history holds
at most this many records of one class for the rules, whatever the case states."""
MAX_TESTS_PER_FIELD = 8
"""More tests on one field than this would make too many classes to ground."""


@dataclass(frozen=True)
class History:
    """A history fact: its record fields, the conditions rules read it by,
    the fields counted distinct, its cap and its record classes."""

    name: str
    fields: Mapping[str, Fact]
    """Each field as a Fact named HISTORY.FIELD (its type, options, bounds)."""
    conditions: Mapping[str, Condition]
    distinct: tuple[str, ...] = ()
    cap: int = 1
    code_sets: Mapping[str, CodeSet] = field(default_factory=dict)
    question: str = ""
    meaning: str = ""
    classes: tuple[RecordClass, ...] = ()
    clauses: tuple[str, ...] = ()
    """The criteria whose rules read the history."""
    thresholds: tuple[tuple[str, int], ...] = ()
    """(condition, N) for each count the rules compare with (N + 1 for count_at_most)."""
    distinct_counts: tuple[tuple[str, str, int], ...] = ()
    """(condition, field, N) for each distinct_at_least of the rules."""
    orders: tuple[tuple[str, str, str], ...] = ()
    """(condition, window, latest|earliest) for each latest_within and
    earliest_within of the rules."""
    beyond: tuple[tuple[str, str, str], ...] = ()
    """(window, latest|earliest, condition): a made condition met by the dates
    later (earlier) than the window lets through, one per end the window sets."""
    condition_clauses: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Each condition and the criteria whose rules read it."""
    ordered: tuple[OrderUse, ...] = ()
    """Each latest_meets and earliest_meets of the rules, with its order fact
    (model/history_order.py)."""
    sums: tuple[SumUse, ...] = ()
    """Each sum_at_least of the rules, with its sum fact (model/history_sum.py)."""
    pairs: tuple[PairUse, ...] = ()
    """Each follows_within of the rules, with its pair fact (model/history_pair.py)."""
    runs: tuple[RunUse, ...] = ()
    """Each run_at_least of the rules, with its run fact (model/history_run.py)."""
    twice: tuple[TwiceUse, ...] = ()
    """Each ordered condition counted two at a time, with its twice fact
    (model/history_twice.py): its classes keep cap 1."""

    @property
    def type_label(self) -> str:
        """How a case writes the history, as a user reads it in a listing."""
        fields = "; ".join(
            f"{name}: {declared.type_label}" for name, declared in self.fields.items()
        )
        return (
            f"a list of records {{{fields}}} (at least these), or "
            '{"complete": true, "records": [...]} (exactly these)'
        )

    @property
    def asked(self) -> str:
        """The question that asks for the history."""
        what = self.meaning or f"the {self.name.replace('_', ' ')}"
        return self.question or f"What are {what}?"

    # -- classes --------------------------------------------------------------

    def tests_of(self, name: str) -> list[FieldTest]:
        """The distinct tests the conditions make on field `name`, in order."""
        return self._tests.get(name, [])

    @cached_property
    def _tests(self) -> dict[str, list[FieldTest]]:
        found: dict[str, dict[FieldTest, None]] = {}
        for condition in self.conditions.values():
            for test in condition.tests:
                found.setdefault(test.field, {})[test] = None
        return {name: list(tests) for name, tests in found.items()}

    @cached_property
    def _by_key(self) -> dict[Key, RecordClass]:
        return {(c.meets, c.options): c for c in self.classes}

    @cached_property
    def _possible(self) -> dict[tuple[object, ...], list[RecordClass]]:
        return {}

    @cached_property
    def _memo(self) -> dict[tuple[object, ...], object]:
        """Field outcomes and class ranges per reference days: explanations
        and change searches ask for the same ones many times over."""
        return {}

    def _day_key(self, anchors: Mapping[str, int]) -> tuple[tuple[str, int], ...]:
        """The reference days the history's tests move from (and no other)."""
        return tuple(sorted((r, d) for r, d in anchors.items() if r in self.references))

    def _remembered(self, key: tuple[object, ...], compute: Callable[[], _T]) -> _T:
        found = self._memo.get(key, _UNSET)
        if found is _UNSET:
            if len(self._memo) > 4096:
                self._memo.clear()
            found = self._memo[key] = compute()
        return found  # type: ignore[return-value]

    def key(self, vectors: Mapping[FieldTest, bool], options: Mapping[str, str]) -> Key:
        """The class key of a record whose tests come out as `vectors`."""
        meets = frozenset(
            c.name for c in self.conditions.values() if all(vectors[t] for t in c.tests)
        )
        return meets, tuple((f, options[f]) for f in self.distinct)

    def keys(self, anchors: Mapping[str, int]) -> set[Key]:
        """The class keys of every record at `anchors`: exact when every
        reference date is among them, else a superset (a test whose
        reference is missing may come out either way)."""
        per_field = [self._field_outcomes(name, anchors) for name in self.fields]
        found: set[Key] = set()
        for combination in product(*per_field):
            vectors: dict[FieldTest, bool] = {}
            options: dict[str, str] = {}
            for outcome, option in combination:
                vectors.update(outcome)
                if option is not None:
                    options[option[0]] = option[1]
            found.add(self.key(vectors, options))
        return found

    def _field_outcomes(
        self, name: str, anchors: Mapping[str, int]
    ) -> list[tuple[dict[FieldTest, bool], tuple[str, str] | None]]:
        """Each way the tests on field `name` can come out for one record (with
        the option, for a field counted distinct). Callers never change them."""
        key = ("outcomes", name, self._day_key(anchors))
        return self._remembered(key, lambda: self._outcomes_of(name, anchors))

    def _outcomes_of(
        self, name: str, anchors: Mapping[str, int]
    ) -> list[tuple[dict[FieldTest, bool], tuple[str, str] | None]]:
        tests = self.tests_of(name)
        declared = self.fields[name]
        if name in self.distinct:
            return [
                ({t: t.passes(o, anchors, self.code_sets) for t in tests}, (name, o))
                for o in declared.options
            ]
        # Tests whose reference date `anchors` lack may come out either way
        # beside each region of the others: a superset of every day's outcomes.
        free = [t for t in tests if t.unresolved(anchors)]
        fixed = [t for t in tests if not t.unresolved(anchors)]
        seen: dict[tuple[bool, ...], dict[FieldTest, bool]] = {}
        for sample in self._samples(declared, fixed, anchors):
            outcome = {t: t.passes(sample, anchors, self.code_sets) for t in fixed}
            for bits in product((False, True), repeat=len(free)):
                both = {**outcome, **dict(zip(free, bits, strict=True))}
                seen.setdefault(tuple(both[t] for t in tests), both)
        return [(outcome, None) for outcome in seen.values()]

    def _samples(
        self, declared: Fact, tests: Sequence[FieldTest], anchors: Mapping[str, int]
    ) -> list[object]:
        """One value of the field in each region the tests divide it into."""
        kind = declared.type
        if kind is FactType.ENUM:
            return list(declared.options)
        if kind is FactType.BOOL:
            return [False, True]
        if kind is FactType.CODE:
            from policykb.bridge.model.typed import code_cells, normal_code

            names = sorted({str(t.constants[0]) for t in tests})
            cells = code_cells(declared.system, [self.code_sets[n] for n in names])
            return [normal_code(cell.sample) for cell in cells]
        from policykb.bridge.model.typed import Cut, intervals

        cuts = [Cut(at, closed) for t in tests for at, closed in t.cut_points(anchors) or []]
        whole = kind is not FactType.DECIMAL
        return [
            piece.representative(whole)
            for piece in intervals(declared.low, declared.high, cuts, whole)
        ]

    def ranges(self, record_class: RecordClass, anchors: Mapping[str, int]) -> list[str]:
        """For each number or date field the class's records are bounded on,
        the values they may have, in words ("date 2014-04-30 to 2024-03-30").
        Empty for a field any of whose values fits, or when `anchors` lack a
        reference date the field's tests move from."""
        key = ("ranges", record_class.index, self._day_key(anchors))
        return list(self._remembered(key, lambda: self._ranges_of(record_class, anchors)))

    def _ranges_of(self, record_class: RecordClass, anchors: Mapping[str, int]) -> list[str]:
        from policykb.bridge.model.typed import Cut, intervals

        wanted = (record_class.meets, record_class.options)
        required = {
            t for c in self.conditions.values() if c.name in record_class.meets for t in c.tests
        }
        options = dict(record_class.options)

        def fits(outcome: tuple[Mapping[FieldTest, bool], tuple[str, str] | None]) -> bool:
            vectors, option = outcome
            if option is not None and options.get(option[0]) != option[1]:
                return False
            return all(passed for test, passed in vectors.items() if test in required)

        found: list[str] = []
        for name, declared in self.fields.items():
            tests = self.tests_of(name)
            if not declared.type.numeric or not tests or any(t.unresolved(anchors) for t in tests):
                continue
            cuts = [Cut(at, closed) for t in tests for at, closed in t.cut_points(anchors) or []]
            whole = declared.type is not FactType.DECIMAL
            pieces = intervals(declared.low, declared.high, cuts, whole)
            # Only outcomes that pass every test of the conditions the class
            # meets, with the class's option of each distinct field, can make
            # its key: the others are left out before the product (a pure
            # pruning: the same pieces fit, far fewer combinations are tried).
            others = [
                [o for o in self._field_outcomes(f, anchors) if fits(o)]
                for f in self.fields
                if f != name
            ]
            fitting = []
            for piece in pieces:
                sample = piece.representative(whole)
                outcome = {t: t.passes(sample, anchors, self.code_sets) for t in tests}
                if not fits((outcome, None)):
                    continue
                if any(
                    self.key(_merged(outcome, combination), _options(combination)) == wanted
                    for combination in product(*others)
                ):
                    fitting.append(piece)
            if fitting and len(fitting) < len(pieces):
                words = " or ".join(declared.span(p).words for p in _joined(fitting))
                found.append(f"{name.replace('_', ' ')} {words}")
        return found

    def possible(self, anchors: Mapping[str, int]) -> list[RecordClass]:
        """The classes some record falls in at `anchors` (kept per day: a
        batch's cases share a few)."""
        from policykb.bridge.model.history_class import anchor_pattern

        # Kept by the order pattern of the moved boundaries, on which they
        # depend alone: the days of an unknown date share a few.
        mine = anchor_pattern(self.fields, self._tests, anchors)
        found = self._possible.get(mine)
        if found is None:
            keys = self.keys(anchors)
            found = [c for c in self.classes if (c.meets, c.options) in keys]
            if len(self._possible) > 64:
                self._possible.clear()
            self._possible[mine] = found
        return found

    def class_of(
        self, record: Mapping[str, object], anchors: Mapping[str, int]
    ) -> RecordClass | None:
        """The class of a checked record (dates as day numbers, codes undotted);
        None for a record that meets no condition, which no rule reads."""
        vectors = {
            t: t.passes(record[t.field], anchors, self.code_sets)
            for name in self.fields
            for t in self.tests_of(name)
        }
        options = {f: str(record[f]) for f in self.distinct}
        meets, chosen = self.key(vectors, options)
        if not meets:
            return None
        found = self._by_key.get((meets, chosen))
        if found is not None:
            return found
        raise ValueError(f"a record of {self.name} falls in no class")  # classes are a superset

    # -- the boolean facts ----------------------------------------------------

    def level_fact(self, record_class: RecordClass, level: int) -> str:
        """The boolean fact "at least `level` records of `record_class`"."""
        return f"{self.name}_c{record_class.index}_n{level}"

    def class_cap(self, record_class: RecordClass) -> int:
        """The most records of a class the rules can tell apart: the largest
        count threshold of a condition the class meets (at least 1). A count
        test sums the classes meeting its condition, each cut at its cap, which
        is at least that test's threshold: the sum reaches the threshold
        exactly when the true count does."""
        found = [
            n
            for m, n in self.thresholds
            if m in record_class.meets and not self._twice_reads(m, record_class)
        ]
        return max([1, *found])

    def _twice_reads(self, condition: str, record_class: RecordClass) -> bool:
        """Whether a twice fact counts the class's records for `condition`'s
        counts of two (so the class needs no second level)."""
        return any(u.condition in record_class.meets and condition in u.counted for u in self.twice)

    def counted(self, record_class: RecordClass) -> bool:
        """Whether the rules count two or more records of the class: by its
        levels (a cap above 1) or by a twice fact of a condition it meets."""
        return self.class_cap(record_class) > 1 or any(
            u.condition in record_class.meets for u in self.twice
        )

    def level_facts(self) -> list[tuple[RecordClass, int, str]]:
        return list(self._levels)

    @cached_property
    def _levels(self) -> tuple[tuple[RecordClass, int, str], ...]:
        """Every class's boolean facts, levels 1 to its cap (fixed once the
        classes are: a History is never changed, only replaced)."""
        return tuple(
            (c, k, self.level_fact(c, k))
            for c in self.classes
            for k in range(1, self.class_cap(c) + 1)
        )

    @cached_property
    def _level_by_fact(self) -> dict[str, tuple[RecordClass, int]]:
        return {name: (record_class, level) for record_class, level, name in self._levels}

    def class_words(self, record_class: RecordClass) -> str:
        """A class in the policy's words: the conditions its records meet and
        those they do not."""
        met = [c.text for c in self.conditions.values() if c.name in record_class.meets]
        unmet = [c.text for c in self.conditions.values() if c.name not in record_class.meets]
        parts = []
        if met:
            parts.append(" and ".join(met))
        if unmet:
            parts.append(("not " if met else "none of: ") + " or ".join(unmet))
        parts += [f"{f.replace('_', ' ')} {o.replace('_', ' ')}" for f, o in record_class.options]
        return "; ".join(parts)

    def level_words(self, record_class: RecordClass, level: int, held: bool = True) -> str:
        """ "at least 2 records (a colonoscopy ...; not a positive FIT)", or
        for a level not held "fewer than 2 records (...)" ("no record" for 1)."""
        noun = "record" if level == 1 else "records"
        if held:
            count = f"at least {level} {noun}"
        else:
            count = "no record" if level == 1 else f"fewer than {level} records"
        return f"{count} ({self.class_words(record_class)})"

    def level_of(self, fact: str) -> tuple[RecordClass, int] | None:
        """The class and level of one of this history's boolean facts."""
        return self._level_by_fact.get(fact)

    @cached_property
    def fact_names(self) -> frozenset[str]:
        """Every boolean fact of the history: its levels and its order facts."""
        return frozenset(
            [name for _, _, name in self.level_facts()] + [u.fact for u in self.derived]
        )

    @property
    def derived(self) -> list[OrderUse | SumUse | PairUse | RunUse | TwiceUse]:
        """The uses that have a boolean fact of their own: order, sum, pair,
        run and twice facts."""
        return [*self.ordered, *self.sums, *self.pairs, *self.runs, *self.twice]

    def derived_of(self, fact: str) -> OrderUse | SumUse | PairUse | RunUse | TwiceUse | None:
        """The latest_meets, earliest_meets or sum_at_least whose own fact
        (not a class level) `fact` is."""
        return next((u for u in self.derived if u.fact == fact), None)

    def span(self, fact: str, held: bool, anchors: Mapping[str, int]) -> Span:
        """A boolean fact of the history, held or not, in the analyst's terms
        as of `anchors`: JSON {"history": ..., "class": words, "ranges":
        [words], "at_least"|"fewer_than": K}, or for an order fact
        {"history": ..., ...} as OrderUse.data or SumUse.data give it."""
        use = self.derived_of(fact)
        if use is not None:
            words = f"{self.name}: {use.words(self.conditions, held)}"
            return Span("history", {"history": self.name, **use.data(held)}, words, held)
        found = self.level_of(fact)
        assert found is not None
        record_class, level = found
        key = "at_least" if held else "fewer_than"
        ranges = self.ranges(record_class, anchors)
        data: dict[str, object] = {"history": self.name, "class": self.class_words(record_class)}
        if ranges:
            data["ranges"] = ranges
        data[key] = level
        words = f"{self.name}: {self.level_words(record_class, level, held)}"
        if ranges:
            words = words[:-1] + "; " + "; ".join(ranges) + ")"
        return Span("history", data, words, held)

    def class_clauses(self, record_class: RecordClass) -> tuple[str, ...]:
        """The criteria whose rules read a condition the class meets (all that
        read the history, for a class that meets none)."""
        found = sorted({c for m in record_class.meets for c in self.condition_clauses.get(m, ())})
        return tuple(found) or self.clauses

    def level_question(self, record_class: RecordClass, level: int) -> str:
        what = self.meaning or f"the {self.name.replace('_', ' ')}"
        return f"Does {what} include {self.level_words(record_class, level)}?"

    # -- a case's history -------------------------------------------------------

    def level_values(
        self,
        records: Sequence[Mapping[str, object]],
        complete: bool,
        anchors: Mapping[str, int],
    ) -> dict[str, bool]:
        """The boolean facts a case's records pin: each level its records reach
        is true; with `complete`, every other level is false."""
        counts: dict[int, int] = {}
        for record in records:
            found = self.class_of(record, anchors)
            if found is not None:
                counts[found.index] = counts.get(found.index, 0) + 1
        # A class no record can fall in as of the case's dates is never read
        # (kb_history_possible/2): its facts stay unknown, and so out of
        # explanations and changes.
        possible = {c.index for c in self.possible(anchors)}
        values: dict[str, bool] = {}
        for record_class, level, name in self.level_facts():
            if record_class.index not in possible:
                continue
            reached = counts.get(record_class.index, 0) >= level
            if reached or complete:
                values[name] = reached
        if self.ordered:
            from policykb.bridge.model.history_order import order_pins

            values.update(order_pins(self, records, complete, anchors))
        if self.sums:
            from policykb.bridge.model.history_sum import sum_pins

            values.update(sum_pins(self, records, complete, anchors))
        if self.pairs:
            from policykb.bridge.model.history_pair import pair_pins

            values.update(pair_pins(self, records, complete, anchors))
        if self.runs:
            from policykb.bridge.model.history_run import run_pins

            values.update(run_pins(self, records, complete, anchors))
        if self.twice:
            from policykb.bridge.model.history_twice import twice_pins

            values.update(twice_pins(self, records, complete, anchors))
        return values

    @cached_property
    def references(self) -> list[str]:
        """The date facts the conditions' tests move from."""
        found: dict[str, None] = {}
        for condition in self.conditions.values():
            found.update(dict.fromkeys(t.reference for t in condition.tests if t.reference))
        return list(found)
