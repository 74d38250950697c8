"""Minimal sufficient sets of facts, the set enumeration the text oracles share.

An explanation is a set of known facts that alone gives the case's verdict,
no proper subset of which does. Each oracle decides *whether* a set is
sufficient from its own reading of the policy text; finding *every minimal*
such set is the same enumeration for all of them and lives here. Nothing
here reads the encoding or the bridge: it only takes a predicate over sets.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import combinations


def minimal_elements(sets: Iterable[frozenset[str]]) -> set[frozenset[str]]:
    """The sets of which no other is a proper subset."""
    found = set(sets)
    return {s for s in found if not any(t < s for t in found)}


def minimal_hitting_sets(family: list[frozenset[str]]) -> set[frozenset[str]]:
    """Every minimal set that meets each member of `family` (for an empty
    family, only the empty set)."""
    hitting: set[frozenset[str]] = {frozenset()}
    for members in family:
        grown = {h for h in hitting if h & members}
        grown |= {h | {e} for h in hitting if not h & members for e in members}
        hitting = {h for h in grown if not any(g < h for g in grown)}
    return hitting


def minimal_sufficient_sets(
    everything: frozenset[str], sufficient: Callable[[frozenset[str]], bool]
) -> set[frozenset[str]]:
    """Every minimal subset of `everything` that is `sufficient`.

    Exact when `sufficient` is monotone (it holds of every superset of a set it
    holds of), as sufficiency for a verdict is: more known facts, fewer
    completions. By duality, the minimal sufficient sets are the minimal
    hitting sets of the complements of the maximal insufficient sets, found
    one at a time; candidates are tried in sorted order, so the calls made are
    the same from run to run."""
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


def minimal_sufficient_by_every_subset(
    names: Iterable[str], sufficient: Callable[[frozenset[str]], bool]
) -> set[frozenset[str]]:
    """Every minimal subset of `names` that is `sufficient`, by trying every
    subset (exponential: for small sets, and as the plain check of
    `minimal_sufficient_sets`). Needs no monotonicity."""
    ordered = sorted(names)
    return minimal_elements(
        frozenset(chosen)
        for size in range(len(ordered) + 1)
        for chosen in combinations(ordered, size)
        if sufficient(frozenset(chosen))
    )
