"""Every predicate of kb/core/history.lp against its documented meaning, clintest style.

A scenario is what the bridge supplies for one completion of a history: for
each record class the levels K of its boolean facts that hold
(kb_history_has/3, with gaps allowed: a level held without the one below it
adds no record), the conditions a record of the class meets
(kb_history_matches/3), its value of the enum field `kind`, and the boolean
facts the bridge declares for the uses history.lp cannot decide alone (the
order facts, the sum, pair and run facts, and the date facts tied, unpaired,
paired_always and unrun). history.lp alone is grounded and solved on those
facts through clingo, and each predicate's atoms are compared with what its
documentation (kb/REFERENCE.md) says they are, computed here in Python from
the class counts: every scenario of a seeded sample, so a rule that drops,
negates or flips a test shows as a scenario whose atoms differ.

The row tables of test_history_meets_table.py remain the readable examples of
latest_meets/earliest_meets; this module covers every predicate at once.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import clingo
import pytest
from clingo.symbol import Function, Number, String, Symbol

HISTORY_LP = Path(__file__).resolve().parents[2] / "kb" / "core" / "history.lp"

# Conditions on one record: m the Condition, t a Test (or the Then of a pair),
# w a window, s the condition the bridge makes for what lies past the window's
# end (latest), e for what lies before its start (earliest).
CONDITIONS = ("m", "t", "w", "s", "e")
CLASSES = (1, 2, 3)
LEVELS = (1, 2, 3)  # three, so that a gap can sit below a held level other than the first
KINDS = ("a", "b", "c")
COUNTS = range(10)  # thresholds declared: three classes of three levels hold at most 9 records
# A count of two beside an order (kb_history_twice/4): t's count, thresholds 1
# and 2, reaches two by the levels or by the fact "twice" and a record meeting m.
TWICE_COUNTS = (1, 2)
DIRECTIONS = ("latest", "earliest")
BEYOND = {"latest": "s", "earliest": "e"}
SCENARIOS = 500
H = Function("h")


@dataclass(frozen=True)
class Scenario:
    """One completion, as the bridge hands it to history.lp."""

    levels: dict[int, frozenset[int]]  # class -> levels whose boolean fact holds
    meets: dict[int, frozenset[str]]  # class -> conditions its records meet
    kind: dict[int, str]  # class -> its value of the enum field kind
    derived: frozenset[str]  # the bridge's boolean facts that hold
    tied: frozenset[str]  # directions whose window ties every record
    unpaired: bool
    paired_always: bool
    unrun: bool

    def records(self, condition_class: int) -> int:
        """Records of the class: the levels held without a gap from 1."""
        count = 0
        while count + 1 in self.levels[condition_class]:
            count += 1
        return count

    def present(self) -> list[int]:
        return [c for c in CLASSES if self.records(c) >= 1]

    def exists(self, *conditions: str) -> bool:
        return any(set(conditions) <= self.meets[c] for c in self.present())

    def count(self, condition: str) -> int:
        return sum(self.records(c) for c in CLASSES if condition in self.meets[c])

    def twice(self) -> bool:
        """t's count reaches two through the twice fact: it holds and a
        record meets the ordered condition m."""
        return "twice" in self.derived and self.exists("m")


def scenarios() -> list[Scenario]:
    chance = random.Random(20261206)

    def some(items: tuple[str, ...] | tuple[int, ...], odds: float = 0.5) -> frozenset:  # type: ignore[type-arg]
        return frozenset(i for i in items if chance.random() < odds)

    found = []
    for _ in range(SCENARIOS):
        found.append(
            Scenario(
                levels={c: some(LEVELS, 0.75) for c in CLASSES},  # full classes: counts up to 9
                meets={c: some(CONDITIONS) for c in CLASSES},
                kind={c: chance.choice(KINDS) for c in CLASSES},
                derived=some(("order_latest", "order_earliest", "sum", "pair", "run", "twice")),
                tied=some(DIRECTIONS),
                unpaired=chance.random() < 0.5,
                paired_always=chance.random() < 0.3,
                unrun=chance.random() < 0.3,
            )
        )
    return found


def program_facts(scenario: Scenario) -> list[Symbol]:
    """The declarations of every use, and the scenario's own facts."""
    facts = [Function("record_condition", [Function(c), H, String(c)]) for c in CONDITIONS]
    facts += [Function("kb_history_next", [Number(n), Number(n + 1)]) for n in COUNTS]
    facts += [Function("kb_history_count", [H, Function("m"), Number(n)]) for n in COUNTS]
    facts += [Function("kb_history_count", [H, Function("t"), Number(n)]) for n in TWICE_COUNTS]
    facts.append(Function("kb_history_twice", [H, Function("t"), Function("m"), Function("twice")]))
    facts += [
        Function("kb_history_distinct", [H, Function("m"), Function("kind"), Number(n)])
        for n in (1, 2, 3)
    ]
    for pair in (("m", "w"), ("m", "s"), ("m", "e"), ("m", "t")):
        facts.append(Function("kb_history_pair", [H, *map(Function, pair)]))
    for direction in DIRECTIONS:
        d = Function(direction)
        facts.append(Function("kb_history_order", [H, Function("m"), Function("w"), d]))
        facts.append(
            Function("kb_history_beyond", [H, Function("w"), d, Function(BEYOND[direction])])
        )
        facts.append(Function("kb_history_ordered", [H, Function("m"), Function("t"), d]))
        order = Function(f"order_{direction}")
        facts.append(Function("kb_history_order_fact", [H, Function("m"), Function("t"), d, order]))
        if direction in scenario.tied:
            facts.append(Function("kb_history_tied", [H, Function("m"), Function("t"), d]))
    facts.append(
        Function(
            "kb_history_summed", [H, Function("m"), Function("days"), Number(10), Function("sum")]
        )
    )
    low, high = Function("days", [Number(0)]), Function("days", [Number(9)])
    facts.append(
        Function(
            "kb_history_follows", [H, Function("m"), Function("t"), low, high, Function("pair")]
        )
    )
    if scenario.unpaired:
        facts.append(Function("kb_history_unpaired", [H, Function("pair")]))
    if scenario.paired_always:
        facts.append(Function("kb_history_paired_always", [H, Function("pair")]))
    facts.append(
        Function("kb_history_run", [H, Function("m"), Number(2), Number(3), Function("run")])
    )
    if scenario.unrun:
        facts.append(Function("kb_history_unrun", [H, Function("run")]))
    facts += [Function("kb_history_derived", [Function(f)]) for f in scenario.derived]
    for c in CLASSES:
        facts += [Function("kb_history_has", [H, Number(c), Number(k)]) for k in scenario.levels[c]]
        facts += [
            Function("kb_history_matches", [H, Number(c), Function(m)]) for m in scenario.meets[c]
        ]
        facts.append(
            Function(
                "kb_history_field", [H, Number(c), Function("kind"), Function(scenario.kind[c])]
            )
        )
    return facts


def solve(scenario: Scenario) -> frozenset[Symbol]:
    """The one answer set of history.lp over the scenario's facts."""
    control = clingo.Control(["--warn=none"])
    control.load(str(HISTORY_LP))
    with control.backend() as backend:
        for symbol in program_facts(scenario):
            backend.add_rule([backend.add_atom(symbol)])
    control.ground([("base", [])])
    models = []
    with control.solve(yield_=True) as handle:
        for model in handle:
            models.append(frozenset(model.symbols(atoms=True)))
    assert len(models) == 1, f"history.lp has {len(models)} answer sets, not one"
    return models[0]


@cache
def sample() -> list[Scenario]:
    return scenarios()


@cache
def model_of(index: int) -> frozenset[Symbol]:
    return solve(sample()[index])


def solved() -> Iterator[tuple[Scenario, frozenset[Symbol]]]:
    """The sample with each answer set, solved as it is first asked for (a
    comparison stops at the first scenario that differs)."""
    for index, scenario in enumerate(sample()):
        yield scenario, model_of(index)


def atoms(model: frozenset[Symbol], name: str) -> set[tuple[object, ...]]:
    """The predicate's atoms of the model, arguments as Python values (h left out)."""

    def value(symbol: Symbol) -> object:
        if symbol.type == clingo.SymbolType.Number:
            return symbol.number
        if symbol.arguments:
            return str(symbol)
        return symbol.name

    return {
        tuple(value(argument) for argument in atom.arguments[1:])
        for atom in model
        if atom.name == name
    }


# -- the documented meaning of each predicate, from the class counts ---------------------


def expected(scenario: Scenario, name: str) -> set[tuple[object, ...]]:
    s = scenario
    if name == "kb_history_reaches":
        return {(c, k) for c in CLASSES for k in LEVELS if k <= s.records(c)}
    if name == "exists":
        return {(m,) for m in CONDITIONS if s.exists(m)}
    if name == "none":
        return {(m,) for m in CONDITIONS if not s.exists(m)}
    if name == "count_at_least":
        return {("m", n) for n in COUNTS if s.count("m") >= n} | {
            ("t", n) for n in TWICE_COUNTS if s.count("t") >= n or (n == 2 and s.twice())
        }
    if name == "count_at_most":
        # The top threshold has no declared next one, so nothing can refute it.
        return {("m", n) for n in COUNTS if s.count("m") <= n or n + 1 not in COUNTS} | {
            ("t", n)
            for n in TWICE_COUNTS
            if n + 1 not in TWICE_COUNTS or not (s.count("t") >= n + 1 or s.twice())
        }
    if name == "distinct_at_least":
        kinds = {s.kind[c] for c in s.present() if "m" in s.meets[c]}
        return {("m", "kind", n) for n in (1, 2, 3) if len(kinds) >= n}
    if name == "kb_history_both":
        pairs = (("m", "w"), ("m", "s"), ("m", "e"), ("m", "t"))
        return {pair for pair in pairs if s.exists(*pair)}
    if name == "kb_history_past":
        return {("m", "w", d) for d in DIRECTIONS if s.exists("m", BEYOND[d])}
    if name in ("latest_within", "earliest_within"):
        d = name.removesuffix("_within")
        inside = s.exists("m", "w") and not s.exists("m", BEYOND[d])
        return {("m", "w")} if inside else set()
    if name == "kb_history_but":
        fails = any("m" in s.meets[c] and "t" not in s.meets[c] for c in s.present())
        return {("m", "t", d) for d in DIRECTIONS} if fails else set()
    if name == "kb_history_last_meets":
        return {("m", "t", d) for d in DIRECTIONS if f"order_{d}" in s.derived and d not in s.tied}
    if name in ("latest_meets", "earliest_meets"):
        d = name.removesuffix("_meets")
        fails = any("m" in s.meets[c] and "t" not in s.meets[c] for c in s.present())
        last = f"order_{d}" in s.derived and d not in s.tied
        return {("m", "t")} if s.exists("m", "t") and (not fails or last) else set()
    if name == "sum_at_least":
        return {("m", "days", 10)} if "sum" in s.derived and s.exists("m") else set()
    if name == "kb_history_paired":
        paired = ("pair" in s.derived and not s.unpaired) or s.paired_always
        return {("pair",)} if paired else set()
    if name == "follows_within":
        paired = ("pair" in s.derived and not s.unpaired) or s.paired_always
        holds = paired and s.exists("m") and s.exists("t")
        return {("m", "t", "days(0)", "days(9)")} if holds else set()
    if name == "run_at_least":
        holds = "run" in s.derived and not s.unrun and s.exists("m")
        return {("m", 2, 3)} if holds else set()
    raise AssertionError(f"no documented meaning for {name}")


PREDICATES = [
    "kb_history_reaches",
    "exists",
    "none",
    "count_at_least",
    "count_at_most",
    "distinct_at_least",
    "kb_history_both",
    "kb_history_past",
    "latest_within",
    "earliest_within",
    "kb_history_but",
    "kb_history_last_meets",
    "latest_meets",
    "earliest_meets",
    "sum_at_least",
    "kb_history_paired",
    "follows_within",
    "run_at_least",
]


@pytest.mark.parametrize("name", PREDICATES)
def test_each_predicate_follows_its_documented_meaning(name: str) -> None:
    for scenario, model in solved():
        assert atoms(model, name) == expected(scenario, name), scenario


def test_the_sample_reaches_both_values_of_every_predicate() -> None:
    """The seeded sample is not vacuous: each atom a predicate can have holds
    in some scenario and fails in another (but the thresholds no count can
    miss: at least 0, at most the top one), so each comparison can tell a change."""
    for name in PREDICATES:
        sets = [expected(scenario, name) for scenario in sample()]
        for atom in set().union(*sets):
            if atom not in (("m", 0), ("m", max(COUNTS)), ("t", max(TWICE_COUNTS))):
                assert any(atom in found for found in sets), (name, atom)
                assert any(atom not in found for found in sets), (name, atom)
        assert len({frozenset(found) for found in sets}) > 1, name
