"""The GLP-1 oracle (tests/oracle/ohio_glp1.py) over the fact vocabulary:
an adapter from the vocabulary's facts to the oracle's `Case`, and the
three-valued semantics of docs/language.md "Semantics" (verdict, missing
facts, minimal explanations) by brute force over every completion.

Invariants:
- A fact absent from the case is unknown (the vocabulary's defaults are
  filled in first, by `with_defaults`). A history is unknown when absent; a
  bare list of records holds at least those records; `complete` holds exactly
  them.
- A scalar fact ranges over one stand-in per region the TEXT draws
  (`domain`); a known one is its value's stand-in (`region_key`).
- A history ranges over its readings (`ohio_glp1.adequate_trials`,
  `ohio_glp1.current_a1c`), each computed by brute force: the stated
  records plus every multiset of up to `EXTRA_TRIALS` (`EXTRA_A1C`) records
  of a pool holding a record on each side of every boundary the text draws
  (a course of 119 and 120 days, started 120 and 119 days before the date of
  service, at a maintenance dose or not, of each drug a criterion tells
  apart; an A1C dated the day before and the first day of the 6-month window,
  on the date of service and the day after it, below and at the goal). A
  complete history has the one reading of its records. The readings are then
  keyed by region (`trials_region`, `a1c_region`), which decide reads alike.
- The verdict, missing facts and explanations are computed exactly as for
  scalar facts over those options: enumeration as a decision tree (a fact is
  branched on only where `decide` reads it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from itertools import combinations_with_replacement
from typing import Any

from tests.oracle import ohio_glp1 as text

Get = Callable[[str], Any]


@dataclass(frozen=True)
class Stated:
    """A history as a case states it: its records (the oracle's records) and
    whether they are all of them."""

    records: tuple[Any, ...]
    complete: bool


# --- the histories' readings, by brute force over completions ----------------

EXTRA_TRIALS = 3  # three different preferred drugs reach every reading
EXTRA_A1C = 2  # a later day with two results (a tie) reaches every reading
# One drug of each kind a criterion tells apart: Byetta (Bydureon BCise's
# immediate release), another preferred GLP-1, three other preferred drugs
# (three are needed), a non-preferred drug (never a trial).
POOL_DRUGS = ("byetta", "trulicity", "metformin_ir", "glipizide", "januvia", "ozempic")
A1C_VALUES = (Decimal("6.4"), Decimal("6.5"), Decimal("6.9"), Decimal("7.0"))
GOAL_VALUES = (None, Decimal("6.5"))


def trial_pool(service: date, maintenance: bool) -> list[text.DrugRecord]:
    limit = text.trial_start_limit(service)
    doses = (True, False) if maintenance else (True,)
    return [
        text.DrugRecord(drug, start, supply, dose)
        for drug in POOL_DRUGS
        for start in (limit, limit + timedelta(days=1))
        for supply in (text.TRIAL_DAYS - 1, text.TRIAL_DAYS)
        for dose in doses
    ]


def a1c_pool(service: date) -> list[text.A1cResult]:
    window = text.a1c_window_start(service)
    days = (window - timedelta(days=1), window, service, service + timedelta(days=1))
    return [text.A1cResult(day, value) for day in days for value in A1C_VALUES]


TrialsRegion = tuple[int, bool, bool]  # (trials, up to three; a preferred GLP-1; Byetta)
A1cRegion = tuple[bool, Decimal | None]  # (current; the lowest value's stand-in)


def trials_region(trials: frozenset[str]) -> TrialsRegion:
    return (
        min(len(trials), text.TRIALS_NEEDED),
        bool(trials & text.PREFERRED_GLP1),
        "byetta" in trials,
    )


def trials_stand_in(region: TrialsRegion) -> frozenset[str]:
    """A set of adequate trials in the region."""
    count, glp1, byetta = region
    drugs = ["byetta"] if byetta else ["trulicity"] if glp1 else []
    others = ("metformin_ir", "glipizide", "januvia")
    return frozenset(drugs + list(others[: count - len(drugs)]))


def value_stand_in(value: Decimal) -> Decimal:
    """The stand-in of an A1C value among the thresholds decide compares it
    with (the ADA goal, and each goal stand-in below it)."""
    return max((v for v in A1C_VALUES if v <= value), default=A1C_VALUES[0])


def a1c_region(current: tuple[text.A1cResult, ...], service: date) -> A1cRegion:
    if not text.a1c_is_current(current, service):
        return (False, None)
    return (True, value_stand_in(current[0].value))


def a1c_stand_in(region: A1cRegion, service: date) -> tuple[text.A1cResult, ...]:
    current, value = region
    if not current:
        return ()
    assert value is not None
    return (text.A1cResult(service, value),)


@cache
def trial_readings(stated: Stated, service: date, maintenance: bool) -> frozenset[TrialsRegion]:
    if stated.complete:
        return frozenset({trials_region(text.adequate_trials(stated.records, service))})
    pool = trial_pool(service, maintenance)
    return frozenset(
        trials_region(text.adequate_trials((*stated.records, *added), service))
        for size in range(EXTRA_TRIALS + 1)
        for added in combinations_with_replacement(pool, size)
    )


@cache
def a1c_readings(stated: Stated, service: date) -> frozenset[A1cRegion]:
    if stated.complete:
        return frozenset({a1c_region(text.current_a1c(stated.records, service), service)})
    pool = a1c_pool(service)
    return frozenset(
        a1c_region(text.current_a1c((*stated.records, *added), service), service)
        for size in range(EXTRA_A1C + 1)
        for added in combinations_with_replacement(pool, size)
    )


def _reading_key(reading: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(sorted(reading, key=repr))


# --- the adapter: the vocabulary's facts to the oracle's Case -----------------


@dataclass(frozen=True)
class Vocabulary:
    """How the vocabulary states the oracle's Case.

    `scalars` maps a vocabulary fact to the Case field it states, `values` a
    fact's options to the oracle's values (identity where absent), `fixed`
    gives each Case field the vocabulary does not state its value (one that
    never restricts coverage, so the oracle decides as the text would with
    that statement made), and `histories` names the drug and A1C histories."""

    scalars: Mapping[str, str]
    values: Mapping[str, Mapping[Any, Any]]
    fixed: Mapping[str, Any]
    drug_history: str
    a1c_history: str
    defaults: Mapping[str, Any]
    maintenance_field: bool

    @property
    def facts(self) -> tuple[str, ...]:
        return (*self.scalars, self.drug_history, self.a1c_history)


def scalar_domain(attribute: str) -> tuple[Any, ...]:
    """One value per region the text draws, of a Case field."""
    if attribute == "requested_drug":
        # preferred GLP-1, Bydureon BCise (needs Byetta), a semaglutide (the
        # A1C floor), another non-preferred GLP-1, Wegovy
        return ("trulicity", "bydureon_bcise", "ozempic", "mounjaro", "wegovy")
    if attribute == "request_type":
        return ("initial", "subsequent")
    if attribute == "diagnosis":
        return (text.LABELED_DIAGNOSIS, "other")
    if attribute == "a1c_goal":
        return GOAL_VALUES
    return (True, False)


def scalar_stand_in(attribute: str, value: Any) -> Any:
    if attribute == "requested_drug":
        if value in text.PREFERRED_GLP1:
            return "trulicity"
        if value in ("bydureon_bcise", "wegovy") or value in text.SEMAGLUTIDES:
            return value if value not in text.SEMAGLUTIDES else "ozempic"
        return "mounjaro"
    if attribute == "diagnosis":
        return value if value == text.LABELED_DIAGNOSIS else "other"
    if attribute == "a1c_goal":
        if value is None or value >= text.ADA_GOAL:
            return None
        return value
    return value


class Oracle:
    """The three-valued semantics of the text over one vocabulary."""

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.vocabulary = vocabulary
        self._verdicts: dict[tuple[Any, ...], str] = {}

    # -- facts, as the vocabulary states them ---------------------------------

    def to_oracle(self, fact: str, value: Any) -> Any:
        """A known fact's value in the oracle's terms."""
        mapping = self.vocabulary.values.get(fact)
        return mapping.get(value, value) if mapping is not None else value

    def options(self, fact: str, known: Mapping[str, Any], service: date) -> tuple[Any, ...]:
        """The stand-ins a fact can take: those of its known value's completions
        (a scalar's one stand-in, a history's readings), or of every value when
        `known` leaves it out (unknown)."""
        v = self.vocabulary
        unstated = Stated((), False)
        if fact == v.drug_history:
            stated = known.get(fact, unstated)
            return _reading_key(trial_readings(stated, service, v.maintenance_field))
        if fact == v.a1c_history:
            return _reading_key(a1c_readings(known.get(fact, unstated), service))
        attribute = v.scalars[fact]
        if fact not in known:
            return scalar_domain(attribute)
        return (scalar_stand_in(attribute, self.to_oracle(fact, known[fact])),)

    def decide(self, get: Get, service: date) -> bool:
        """The text's decision, reading the vocabulary's facts through `get`
        (each at a stand-in: a scalar's oracle value, a history's region)."""
        v = self.vocabulary
        by_attribute = {a: f for f, a in v.scalars.items()}

        def read(attribute: str) -> Any:
            if attribute == "trials":
                return trials_stand_in(get(v.drug_history))
            if attribute == "current":
                return a1c_stand_in(get(v.a1c_history), service)
            if attribute in by_attribute:
                return get(by_attribute[attribute])
            return v.fixed[attribute]

        return text.decide(read, service)

    # -- the semantics ---------------------------------------------------------

    def _space(self, known: Mapping[str, Any], service: date) -> dict[str, tuple[Any, ...]]:
        return {f: self.options(f, known, service) for f in self.vocabulary.facts}

    def _reachable(
        self,
        probe: Callable[[Get], Any],
        space: Mapping[str, tuple[Any, ...]],
        stop: Callable[[set[Any]], bool],
    ) -> set[Any]:
        """Every result `probe` gives over the space (branching on a fact with
        several options only where it is read), stopping once `stop` holds."""
        results: set[Any] = set()
        fixed = {f: o[0] for f, o in space.items() if len(o) == 1}
        stack = [fixed]
        while stack:
            assignment = stack.pop()

            def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
                if fact not in assignment:
                    raise _Unknown(fact)
                return assignment[fact]

            try:
                results.add(probe(get))
            except _Unknown as unknown:
                stack.extend({**assignment, unknown.fact: o} for o in space[unknown.fact])
                continue
            if stop(results):
                break
        return results

    def verdict(self, known: Mapping[str, Any], service: date) -> str:
        """Covered in every completion, in none, or needs information."""
        space = self._space(known, service)
        key = (service, tuple(sorted(space.items())))
        if key not in self._verdicts:
            outcomes = self._reachable(
                lambda get: self.decide(get, service), space, lambda r: len(r) > 1
            )
            self._verdicts[key] = (
                "covered"
                if outcomes == {True}
                else "not_covered"
                if outcomes == {False}
                else "needs_information"
            )
        return self._verdicts[key]

    def missing(self, known: Mapping[str, Any], service: date) -> set[str]:
        """For needs_information, the facts the verdict can still turn on: for
        some filling of the others, two of the fact's completions differ."""
        if self.verdict(known, service) != "needs_information":
            return set()
        space = self._space(known, service)
        turns = set()
        for fact, options in space.items():
            pairs = [(a, b) for i, a in enumerate(options) for b in options[i + 1 :]]
            for a, b in pairs:

                def flips(get: Get, fact: str = fact, a: Any = a, b: Any = b) -> bool:
                    return self.decide(_setting(get, fact, a), service) != self.decide(
                        _setting(get, fact, b), service
                    )

                if True in self._reachable(flips, space, lambda r: True in r):
                    turns.add(fact)
                    break
        return turns

    def explanations(self, known: Mapping[str, Any], service: date) -> set[frozenset[str]]:
        """Every minimal explanation: sets of known facts that alone (all else
        unknown) give the case's verdict, no proper subset of which does. A
        needs_information case has only the empty one. Found by duality: the
        minimal sufficient sets are the minimal hitting sets of the complements
        of the maximal insufficient sets."""
        target = self.verdict(known, service)
        if target == "needs_information":
            return {frozenset()}
        everything = frozenset(known)

        def sufficient(subset: frozenset[str]) -> bool:
            return self.verdict({f: known[f] for f in subset}, service) == target

        insufficient: list[frozenset[str]] = []
        while True:
            candidates = _minimal_hitting_sets([everything - u for u in insufficient])
            for candidate in sorted(candidates, key=sorted):
                if not sufficient(candidate):
                    grown = set(candidate)
                    for fact in sorted(everything - candidate):
                        if not sufficient(frozenset(grown | {fact})):
                            grown.add(fact)
                    insufficient.append(frozenset(grown))
                    break
            else:
                return candidates

    def with_defaults(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The case's known facts: the vocabulary's defaults for facts it leaves absent."""
        return {**{f: d for f, d in self.vocabulary.defaults.items() if f not in facts}, **facts}


class _Unknown(Exception):
    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


def _setting(get: Get, fact: str, value: Any) -> Get:
    def read(name: str) -> Any:
        return value if name == fact else get(name)

    return read


def _minimal_hitting_sets(family: list[frozenset[str]]) -> set[frozenset[str]]:
    hitting: set[frozenset[str]] = {frozenset()}
    for members in family:
        grown = {h for h in hitting if h & members}
        grown |= {h | {e} for h in hitting if not h & members for e in members}
        hitting = {h for h in grown if not any(g < h for g in grown)}
    return hitting
