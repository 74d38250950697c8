"""The three-valued semantics (docs/language.md "Semantics") of the NCD 210.3
oracle (tests/oracle/ncd_210_3.py), by brute force over completions.

A partial case's facts are the vocabulary's; an adapter (ncd_210_3_adapter)
reads them into the oracle's terms. Every unknown fact ranges over one value
per region the TEXT draws, and every history that is not complete over its
completions: the stated records plus any set of at most `extras` records
from a pool that holds, for each kind of test, a record on each side of
every boundary the text draws for it (the month-count edges, 3 years, the
date of service itself), positive and negative where the result is read.

Invariants:
- Enumeration is a decision tree: a fact is branched on only where the
  decision first reads it (ncd_210_3.decide reads lazily), so the verdict is
  the one over the full product of every unknown's values, without building
  it (a property test of the oracle checks this against the plain product).
- The oracle's decision reads a history only through the latest date of
  records of some kinds (never a count), so a record added twice changes
  nothing: completions add sets of pool records, not multisets; and of the
  completions with one `history_signature` (every reading the decision
  makes of a history) one stands for all.
- Explanations are over the case's known facts by NAME (a history is one
  fact, kept whole - its records and whether it is complete - or dropped).
  The encoding's explanations are finer (claims about classes of records);
  the names of its minimal explanations have exactly the oracle's name-level
  minimal explanations as their minimal elements: a set of names is
  sufficient exactly when the encoding's claims of those facts, all of them
  together, are, and any sufficient set of claims names a sufficient set.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from itertools import combinations
from typing import Any

from tests.oracle import ncd_210_3 as text
from tests.oracle.minimal_sets import minimal_sufficient_sets

Get = Callable[[str], Any]


@dataclass(frozen=True)
class Partial:
    """A history as a case states it: at least (or, when complete, exactly) these records."""

    records: frozenset[text.Record]
    complete: bool


class _Unknown(Exception):
    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


def history_pool(day: date) -> tuple[text.Record, ...]:
    """A record of each kind on each side of every boundary the text draws for
    it, as of the date of service; the result where the decision reads it."""
    edges = text.edge_days(day)

    def on(kinds: Iterable[str], names: Iterable[str], results: Sequence[str]) -> list[text.Record]:
        return [
            text.Record(kind, d, result)
            for kind in kinds
            for name in names
            for d in edges[name]
            for result in results
        ]

    both = ("negative", "positive")
    pool = on(sorted(text.FOBT), ("fobt", "service"), both)
    pool += on((text.STOOL_DNA, text.BLOOD), ("three_years", "service"), both)
    pool += on((text.SIGMOIDOSCOPY,), ("sigmoidoscopy", "service"), ("negative",))
    pool += on((text.COLONOSCOPY,), ("high_risk", "colonoscopy", "service"), ("negative",))
    pool += on((text.BARIUM_ENEMA,), ("high_risk", "sigmoidoscopy", "service"), ("negative",))
    return tuple(sorted(set(pool)))


@lru_cache(maxsize=256)
def history_completions(
    stated: Partial, day: date, extras: int
) -> tuple[frozenset[text.Record], ...]:
    """Every completion of a stated history (itself, when complete)."""
    if stated.complete:
        return (stated.records,)
    pool = [r for r in history_pool(day) if r not in stated.records]
    found = {
        stated.records | frozenset(added)
        for size in range(extras + 1)
        for added in combinations(pool, size)
    }
    # One completion per signature (the decision reads nothing else of a history).
    kept: dict[tuple[bool, ...], frozenset[text.Record]] = {}
    for completion in sorted(found, key=lambda c: (len(c), sorted(c))):
        kept.setdefault(text.history_signature(completion, day), completion)
    return tuple(kept.values())


UNSTATED = Partial(frozenset(), complete=False)


@dataclass(frozen=True)
class Vocabulary:
    """What the semantics needs to know of the vocabulary, from the adapter.

    `facts` in vocabulary order (explanations' ties are broken by it), the
    date of service left out (always known); `domain(fact, day)` one value
    per region of an ordinary fact; `region(fact, value, day)` the region a
    value lies in (its stand-in in `domain`); `decide(get, day)` coverage
    reading vocabulary facts through `get` (a history read gives a frozenset
    of oracle Records); `defaults` the vocabulary's defaults."""

    facts: tuple[str, ...]
    histories: frozenset[str]
    domain: Callable[[str, date], Sequence[Any]]
    region: Callable[[str, Any, date], Hashable]
    decide: Callable[[Get, date], bool]
    defaults: Mapping[str, Any]


class Semantics:
    """Verdict, missing facts and minimal explanations of partial cases."""

    def __init__(self, vocabulary: Vocabulary, extras: int = 2) -> None:
        self.vocabulary = vocabulary
        self.extras = extras
        self._verdicts: dict[tuple[Any, ...], str] = {}

    # -- enumeration ----------------------------------------------------------

    def values(self, fact: str, known: Mapping[str, Any], day: date) -> Sequence[Any]:
        """What an unknown (or, for a history, not complete) fact ranges over."""
        if fact in self.vocabulary.histories:
            return history_completions(known.get(fact, UNSTATED), day, self.extras)
        return self.vocabulary.domain(fact, day)

    def _open(self, fact: str, known: Mapping[str, Any]) -> bool:
        value = known.get(fact)
        if fact in self.vocabulary.histories:
            return not (isinstance(value, Partial) and value.complete)
        return value is None

    def _reachable(
        self,
        probe: Callable[[Get], Hashable],
        fixed: Mapping[str, Any],
        day: date,
        stop: Callable[[set[Any]], bool],
    ) -> set[Any]:
        """Every result `probe` gives over the completions of `fixed`, branching
        on an open fact where it is first read, stopping once `stop` holds."""
        results: set[Any] = set()
        pending = [dict(fixed)]
        histories = self.vocabulary.histories
        while pending:
            assignment = pending.pop()

            def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
                value = assignment.get(fact)
                if fact in histories:
                    if isinstance(value, frozenset):
                        return value
                    if isinstance(value, Partial) and value.complete:
                        return value.records
                    raise _Unknown(fact)
                if value is None:
                    raise _Unknown(fact)
                return value

            try:
                results.add(probe(get))
            except _Unknown as unknown:
                name = unknown.fact
                pending.extend({**assignment, name: v} for v in self.values(name, fixed, day))
                continue
            if stop(results):
                break
        return results

    def _key(self, known: Mapping[str, Any], day: date) -> tuple[Any, ...]:
        region = self.vocabulary.region
        return (
            day,
            tuple(
                sorted(
                    (f, v if f in self.vocabulary.histories else region(f, v, day))
                    for f, v in known.items()
                    if v is not None
                )
            ),
        )

    # -- the three answers ---------------------------------------------------------

    def verdict(self, known: Mapping[str, Any], day: date) -> str:
        """Covered in every completion, in none, or needs_information (no default filled in)."""
        key = self._key(known, day)
        found = self._verdicts.get(key)
        if found is None:
            decide = self.vocabulary.decide
            outcomes = self._reachable(
                lambda get: decide(get, day), known, day, lambda r: len(r) > 1
            )
            found = {frozenset({True}): "covered", frozenset({False}): "not_covered"}.get(
                frozenset(outcomes), "needs_information"
            )
            self._verdicts[key] = found
        return found

    def with_defaults(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The case's known facts: the defaults for the facts it leaves absent."""
        defaults = self.vocabulary.defaults
        return {**{f: v for f, v in defaults.items() if facts.get(f) is None}, **facts}

    def missing(self, known: Mapping[str, Any], day: date) -> set[str]:
        """For needs_information, the open facts the verdict can turn on: for
        some filling of the other open facts, two of its values give
        different coverage."""
        if self.verdict(known, day) != "needs_information":
            return set()
        decide = self.vocabulary.decide
        turns = set()
        for fact in self.vocabulary.facts:
            if not self._open(fact, known):
                continue
            values = self.values(fact, known, day)
            others = {f: v for f, v in known.items() if f != fact}

            def flips(get: Get, fact: str = fact, values: Sequence[Any] = values) -> bool:
                seen = set()
                for value in values:
                    seen.add(decide(_setting(get, fact, value), day))
                    if len(seen) > 1:
                        return True
                return False

            if True in self._reachable(flips, others, day, lambda r: True in r):
                turns.add(fact)
        return turns

    def explanations(self, known: Mapping[str, Any], day: date) -> set[frozenset[str]]:
        """Every minimal explanation by fact name: sets of known facts that alone
        (all else unknown, no default filled in again) give the case's
        verdict, no proper subset of which does. needs_information: the empty one.

        Found by dualisation (each minimal sufficient set is a minimal hitting
        set of the complements of the maximal insufficient sets), exact
        because sufficiency is monotone: more known facts, fewer completions."""
        target = self.verdict(known, day)
        if target == "needs_information":
            return {frozenset()}
        everything = frozenset(f for f, v in known.items() if v is not None)

        def sufficient(subset: frozenset[str]) -> bool:
            return self.verdict({f: known[f] for f in subset}, day) == target

        return minimal_sufficient_sets(everything, sufficient)


def _setting(get: Get, fact: str, value: Any) -> Get:
    def read(name: str) -> Any:
        if name == fact:
            return value.records if isinstance(value, Partial) else value
        return get(name)

    return read
