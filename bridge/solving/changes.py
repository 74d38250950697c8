"""Smallest change sets: every smallest set of fact changes that gives a case
the other verdict (`why`).

Searched by implicit hitting sets over changes (fact, value): a candidate
that fails yields the closest counterexample, generalised to a minimal part
of it that alone keeps the verdict off target (forcing.py); a valid change
set must change some fact of that part. A change of a list fact is then
summarised as the smallest edits of the list that work (list_edits.py).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from policykb.bridge.model.result import Verdict
from policykb.bridge.solving.forcing import Forcing
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.hitting_sets import Correction, MinimalSets
from policykb.bridge.solving.limits import SolvingLimits
from policykb.bridge.solving.list_edits import ListEditSearch

ChangeSet = tuple[tuple[str, object], ...]
"""Facts with their new scenario values (for a list: a ListEdits)."""

Part = frozenset[tuple[str, object]]
"""A partial scenario (facts with scenario values) under which some literal
holds in every completion: a property of the grounding, true of every case."""


class ChangeSearch:
    """The smallest change sets of cases over one grounding."""

    def __init__(
        self,
        grounding: Grounding,
        forcing: Forcing,
        lists: ListEditSearch,
        limits: SolvingLimits,
    ) -> None:
        self.grounding = grounding
        self.forcing = forcing
        self.lists = lists
        self.limits = limits
        # The parts of counterexamples earlier searches found, by the literal
        # each forces (up to limits.parts_kept of each): a later search starts
        # from them instead of finding them again, one refuted candidate each.
        self._parts: dict[int, dict[Part, None]] = {}

    def smallest(
        self,
        known: Assignment,
        target: Verdict,
        limit: int,
        keep: Collection[str] = (),
    ) -> tuple[list[ChangeSet], int, bool]:
        """Every smallest set of fact changes that gives the case the `target` verdict.

        A change sets one fact (given or absent) to a value; facts in `keep`
        are never changed (a member's Medicare status, say). Returns at most
        `limit` sets in vocabulary order, each set of facts represented before a
        second value of the same facts; how many more of that size were left
        out; and whether that count is exact (else a lower bound).
        Only facts the verdict depends on are changed: no other change helps.
        A reference date is never changed: the case is judged as of it.
        """
        g = self.grounding
        g.require_anchored()
        keep = {*keep, *g.references}
        if target is Verdict.NEEDS_INFORMATION:
            raise ValueError("a change set targets covered or not_covered")
        opposite = -g.covered if target is Verdict.COVERED else g.covered
        facts = g.decision_facts
        keys = {fact: g.value_key(fact, value) for fact, value in known.items()}
        choices = [
            (fact, value)
            for fact in facts
            if fact not in keep
            for value in g.candidate_values(fact)
            if fact not in keys or keys[fact] != value
        ]
        offered = set(choices)
        by_fact: dict[str, list[tuple[str, object]]] = {fact: [] for fact in facts}
        for choice in choices:
            by_fact[choice[0]].append(choice)
        groups = list(by_fact.values())
        position = {fact: number for number, fact in enumerate(facts)}

        # On the compiled policy a candidate is tested in one pass, which also
        # gives the part of a counterexample to move away from; else by the
        # solver (a counterexample), then the part of it that forces the verdict.
        compiled = self.forcing.compiled_tests(len(facts))
        parts = self._parts.setdefault(opposite, {})

        def correction(part: Part) -> Correction[tuple[str, object]] | None:
            """What a part under which `opposite` holds teaches this search: a
            valid change set gives some fact of it a known, different value
            (changes it to another value, or leaves a given fact at its own
            value). None when no change set of this search can match the part
            (a given fact it can never take: kept, or not a change offered)."""
            unless = []
            for fact, value in part:
                if fact in keys and keys[fact] != value:
                    if (fact, value) not in offered:
                        return None
                    unless.append((fact, value))
            moved = dict(part)
            # In the order of `choices` (by fact, then value), as the search numbers them.
            ordered = sorted((f for f in moved if f in by_fact), key=position.__getitem__)
            items = [c for fact in ordered for c in by_fact[fact] if c[1] != moved[fact]]
            return Correction(items, unless=unless)

        # A candidate comes in the order of `choices` (MinimalSets orders its items).
        def test(changes: list[tuple[str, object]]) -> Correction[tuple[str, object]] | None:
            if compiled is not None:
                refuting = compiled.refuting_part(
                    {**keys, **dict(changes)}, target is Verdict.COVERED
                )
                if refuting is None:
                    return None
                scenario, core = refuting, set(refuting)
            else:
                pinned = [*g.literals.assumptions({**known, **dict(changes)}), opposite]
                found = g.program.scenario(pinned, facts)
                if found is None:
                    return None
                scenario = found
                core = self.forcing.minimal_implicant(scenario, -opposite)
            # Generalise the counterexample to a minimal part of it that alone
            # keeps the verdict off target; the candidate cannot match it.
            part = frozenset((fact, scenario[fact]) for fact in core)
            if len(parts) < self.limits.parts_kept:
                parts[part] = None
            learned = correction(part)
            assert learned is not None, "a counterexample's part extends the candidate"
            return learned

        def chosen(candidate: list[tuple[str, object]]) -> ChangeSet:
            return tuple(candidate)

        # One set for each combination of facts first, so that many values of
        # one fact (age 21, 22, ...) do not hide a change of another fact;
        # then other values of the same facts while there is room. Past the
        # limit, the sets left out are counted (up to limits.count_bound).
        lists = [i for i, fact in enumerate(facts) if g.policy.facts[fact].type.many]
        search = MinimalSets(choices, groups, alike=lists)
        search.require_all(learned for learned in map(correction, parts) if learned is not None)
        found: list[ChangeSet] = []

        def past_distinct(size: int) -> bool:
            return bool(found) and (size > len(found[0]) or len(found) >= limit)

        for candidate in search.search(test, stop_at=past_distinct, distinct_groups=True):
            found.append(chosen(candidate))
        left_out = 0
        beyond: list[ChangeSet] = []
        if found:
            size = len(found[0])

            def past_counted(next_size: int) -> bool:
                return next_size > size or len(found) + left_out >= limit + self.limits.count_bound

            for candidate in search.search(test, stop_at=past_counted):
                if len(found) < limit:
                    found.append(chosen(candidate))
                else:
                    beyond.append(chosen(candidate))
                    left_out += 1
        exact = len(found) + left_out < limit + self.limits.count_bound
        if beyond and exact:
            # Every smallest set is known: list the first ones in a fixed order,
            # not in the order the solver happened to find them.
            found = _first_sets([*found, *beyond], limit, {c: i for i, c in enumerate(choices)})
        if lists:
            found = self.summarise_lists(found, known, opposite, facts)
        # By the facts' ranks, then (one set of facts, several values) by the
        # values' order: never by the order the search met them.
        rank = {fact: g.policy.facts[fact].rank for fact in facts}
        order = {choice: number for number, choice in enumerate(choices)}
        found.sort(key=lambda changes: [(rank[c[0]], order.get(c, -1)) for c in changes])
        return found, left_out, exact

    def summarise_lists(
        self,
        found: list[ChangeSet],
        known: Assignment,
        opposite: int,
        facts: Sequence[str],
    ) -> list[ChangeSet]:
        """Each change of a list fact as every smallest edit of the list that
        works with the set's other changes ("add any one of: a, b, c")."""
        g = self.grounding
        summarised: dict[ChangeSet, None] = {}
        for changes in found:
            edited = []
            for fact, value in changes:
                if g.policy.facts[fact].type.many:
                    others = {f: v for f, v in changes if f != fact}
                    value = self.lists.edits(known, others, fact, opposite, facts)
                edited.append((fact, value))
            summarised[tuple(edited)] = None
        return list(summarised)


def _first_sets(
    sets: list[ChangeSet], limit: int, order: Mapping[tuple[str, object], int]
) -> list[ChangeSet]:
    """The first `limit` change sets: one for each set of facts (its first by
    vocabulary and value order), then the others, each part in that order."""
    ranked = sorted(sets, key=lambda changes: [order[c] for c in changes])
    firsts: dict[tuple[str, ...], ChangeSet] = {}
    for changes in ranked:
        firsts.setdefault(tuple(fact for fact, _ in changes), changes)
    chosen = list(firsts.values())
    first = set(chosen)
    chosen += [changes for changes in ranked if changes not in first]
    return chosen[:limit]
