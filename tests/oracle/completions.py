"""The policy-independent half of the independent oracles: the three-valued
semantics of docs/language.md "Semantics", by brute force over completions.

An oracle supplies only what it read from its policy text: `decide(get, day)`
(coverage of one scenario, reading facts through `get` one at a time and only
where its branch needs them), `domain(fact, day)` (one stand-in value per
region the text draws), `region_key(fact, value, day)` (the stand-in a value
falls in), its fact names and the vocabulary's defaults. `Completions` turns
those into `verdict`, `missing`, `explanations`
and `decision_leaves`.

Invariants:
- The completions of a partial case are enumerated as a decision tree: an
  unknown fact is branched on only where `decide` reads it, over its region
  stand-ins. That is every completion, without the product of all domains.
- `verdict`: covered if covered in every completion, not_covered if in none,
  otherwise needs_information. No default is filled in: callers that want the
  vocabulary's defaults apply `with_defaults` first.
- `missing`: for needs_information, the unknown facts for which some filling of
  the other unknowns makes changing that fact change coverage; empty otherwise.
- `explanations`: every minimal set of known facts that alone (all else
  unknown) gives the case's verdict; {frozenset()} for needs_information.
  Found by dualisation (each minimal sufficient set is a minimal hitting set
  of the complements of the maximal insufficient sets), exact because
  sufficiency of a definite verdict is monotone.
- The date of service is always known; it is never one of the facts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import date
from typing import Any

Get = Callable[[str], Any]
Key = tuple[tuple[str, Any], ...]
Decide = Callable[[Get, date], bool]
Domain = Callable[[str, date], tuple[Any, ...]]
RegionKey = Callable[[str, Any, date], Any]


class _Unknown(Exception):
    def __init__(self, fact: str) -> None:
        super().__init__(fact)
        self.fact = fact


def _setting(get: Get, fact: str, value: Any) -> Get:
    """`get` with one fact set to a value."""

    def read(name: str) -> Any:
        return value if name == fact else get(name)

    return read


def minimal_hitting_sets(family: list[frozenset[str]]) -> set[frozenset[str]]:
    """The inclusion-minimal sets that meet every member of `family`."""
    hitting: set[frozenset[str]] = {frozenset()}
    for members in family:
        grown = {h for h in hitting if h & members}
        grown |= {h | {e} for h in hitting if not h & members for e in members}
        hitting = {h for h in grown if not any(g < h for g in grown)}
    return hitting


class Completions:
    """The three-valued semantics of one oracle's `decide` (see the module
    docstring). Verdicts are memoised per (regions of the known facts, day)."""

    def __init__(
        self,
        decide: Decide,
        domain: Domain,
        region_key: RegionKey,
        facts: Iterable[str],
        defaults: Mapping[str, Any],
    ) -> None:
        self._decide = decide
        self._domain = domain
        self._region_key = region_key
        self._facts = tuple(facts)
        self._defaults = dict(defaults)
        self._verdicts: dict[tuple[Key, date], str] = {}

    def _key(self, known: Mapping[str, Any], day: date) -> Key:
        return tuple(sorted((f, self._region_key(f, v, day)) for f, v in known.items()))

    def _reachable(
        self,
        probe: Callable[[Get], Any],
        fixed: Mapping[str, Any],
        day: date,
        stop: Callable[[set[Any]], bool],
    ) -> set[Any]:
        """Every result `probe` gives over the completions of `fixed` (branching on
        each unknown fact where it is read), stopping early once `stop` holds."""
        results: set[Any] = set()
        stack = [dict(fixed)]
        while stack:
            assignment = stack.pop()

            def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
                if fact not in assignment:
                    raise _Unknown(fact)
                return assignment[fact]

            try:
                results.add(probe(get))
            except _Unknown as unknown:
                stack.extend(
                    {**assignment, unknown.fact: v} for v in self._domain(unknown.fact, day)
                )
                continue
            if stop(results):
                break
        return results

    def _verdict_of_regions(self, known: Key, day: date) -> str:
        if (known, day) not in self._verdicts:
            outcomes = self._reachable(
                lambda get: self._decide(get, day), dict(known), day, lambda r: len(r) > 1
            )
            if outcomes == {True}:
                self._verdicts[known, day] = "covered"
            elif outcomes == {False}:
                self._verdicts[known, day] = "not_covered"
            else:
                self._verdicts[known, day] = "needs_information"
        return self._verdicts[known, day]

    def verdict(self, known: Mapping[str, Any], day: date) -> str:
        """Covered in every completion, in none, or needs information (no default filled in)."""
        return self._verdict_of_regions(self._key(known, day), day)

    def with_defaults(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        """The case's known facts: the vocabulary's defaults for facts it leaves absent."""
        return {**{f: v for f, v in self._defaults.items() if f not in facts}, **facts}

    def missing(self, known: Mapping[str, Any], day: date) -> set[str]:
        """For needs_information, the unknown facts the verdict can turn on: for some
        filling of the other unknowns, changing the fact changes coverage."""
        if self.verdict(known, day) != "needs_information":
            return set()
        fixed = dict(self._key(known, day))
        decide = self._decide
        turns = set()
        for fact in (f for f in self._facts if f not in fixed):
            values = self._domain(fact, day)
            for a, b in ((a, b) for i, a in enumerate(values) for b in values[i + 1 :]):

                def flips(get: Get, fact: str = fact, a: Any = a, b: Any = b) -> bool:
                    return decide(_setting(get, fact, a), day) != decide(
                        _setting(get, fact, b), day
                    )

                if True in self._reachable(flips, fixed, day, lambda r: True in r):
                    turns.add(fact)
                    break
        return turns

    def decision_leaves(self, day: date) -> list[tuple[dict[str, Any], bool]]:
        """Every leaf of `decide`'s tree on a date of service, in a fixed order: a
        partial scenario (the facts read on the way, each at a region's stand-in)
        and the decision it reaches whatever the facts it leaves unknown. The
        leaves partition the complete scenarios: each complete scenario extends
        exactly one of them."""
        leaves: list[tuple[dict[str, Any], bool]] = []
        stack: list[dict[str, Any]] = [{}]
        while stack:
            assignment = stack.pop()

            def get(fact: str, assignment: dict[str, Any] = assignment) -> Any:
                if fact not in assignment:
                    raise _Unknown(fact)
                return assignment[fact]

            try:
                leaves.append((assignment, self._decide(get, day)))
            except _Unknown as unknown:
                values = self._domain(unknown.fact, day)
                stack.extend({**assignment, unknown.fact: v} for v in reversed(values))
        return leaves

    def explanations(self, known: Mapping[str, Any], day: date) -> set[frozenset[str]]:
        """Every minimal explanation: sets of known facts that alone (all else
        unknown, no default filled in again) give the case's verdict, no proper
        subset of which does. A needs_information case has only the empty one."""
        target = self.verdict(known, day)
        if target == "needs_information":
            return {frozenset()}
        everything = frozenset(known)

        def sufficient(subset: frozenset[str]) -> bool:
            return self.verdict({f: known[f] for f in subset}, day) == target

        insufficient: list[frozenset[str]] = []
        while True:
            candidates = minimal_hitting_sets([everything - u for u in insufficient])
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
