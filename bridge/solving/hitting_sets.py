"""Smallest sets under learned constraints: the implicit hitting-set driver.

Minimal explanations, smallest change sets, prime implicants, minimal
witnesses and minimal diff conditions are all one loop: propose a smallest
set not yet refuted, test it, and either accept it or learn a correction (a
set of items of which every valid set holds one).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import clingo
from clingo import Function

T = TypeVar("T", bound=Hashable)

_PICKS: list[clingo.Symbol] = []
"""pick(0), pick(1), ...: the same symbols for every search, built once
(building a symbol is a call into clingo)."""

_PICK_INDEX: dict[clingo.Symbol, int] = {}
"""The index of each symbol of _PICKS (hashing a symbol is a call into clingo)."""


def _pick(index: int) -> clingo.Symbol:
    while len(_PICKS) <= index:
        symbol = Function("pick", [clingo.Number(len(_PICKS))])
        _PICK_INDEX[symbol] = len(_PICKS)
        _PICKS.append(symbol)
    return _PICKS[index]


@dataclass(frozen=True)
class Correction(Generic[T]):
    """What a refuted candidate teaches: every valid set holds one of `items`,
    or lacks one of `unless`."""

    items: Iterable[T]
    unless: Iterable[T] = ()


class MinimalSets(Generic[T]):
    """Smallest sets of items that meet every required group and avoid every blocked set.

    Items are opaque to the solver (atoms are numbered); items of one
    exclusive group are never chosen together. Candidates come by increasing
    size: a cardinality bound, raised when no candidate of that size is left,
    is assumed false, so each step is a plain satisfiability check (faster
    than proving optimality again after every new constraint).
    """

    def __init__(
        self,
        items: Sequence[T],
        exclusive: Iterable[Sequence[T]] = (),
        alike: Iterable[int] = (),
    ) -> None:
        """`exclusive`: groups of items never chosen together. `alike`: indexes
        of groups whose items count as one: once a set is accepted, a set that
        differs from it only in the items it picks from those groups is not
        proposed (one change of a list fact stands for its other values)."""
        # Every model of a solve is a candidate (one solve per size).
        self._ctl = clingo.Control(["--models=0"])
        with self._ctl.backend() as backend:
            self._atom = {item: backend.add_atom(_pick(index)) for index, item in enumerate(items)}
            # Only the pick atoms carry symbols, so a model's symbolic atoms
            # are exactly its picks: read in one call, not one per item.
            self._items = list(items)
            self._order = {item: number for number, item in enumerate(self._atom)}
            if self._atom:
                backend.add_rule(list(self._atom.values()), [], choice=True)
            for group in exclusive:
                atoms = [self._atom[item] for item in group]
                for position, first in enumerate(atoms):
                    for second in atoms[position + 1 :]:
                        backend.add_rule([], [first, second])
        self._size = 0
        self._mode: list[int] = []
        self._over: dict[int, int] = {}
        self._groups = [list(group) for group in exclusive]
        self._groups_of: dict[T, list[int]] = {}
        for index, group in enumerate(self._groups):
            for item in group:
                self._groups_of.setdefault(item, []).append(index)
        self._group_atoms: dict[int, int] = {}
        self._alike = set(alike)
        self._distinct: int | None = None
        # The size of the smallest set accepted in distinct mode (see _size_after).
        self._smallest_distinct = len(self._atom) + 1

    def _more_than(self, size: int) -> int:
        """An atom that holds when more than `size` items are picked."""
        if size not in self._over:
            with self._ctl.backend() as backend:
                atom = backend.add_atom()
                picks = [(pick, 1) for pick in self._atom.values()]
                backend.add_weight_rule([atom], size + 1, picks)
            self._over[size] = atom
        return self._over[size]

    def search(
        self,
        test: Callable[[list[T]], Correction[T] | None],
        stop_at: Callable[[int], bool] = lambda size: False,
        *,
        distinct_groups: bool = False,
    ) -> Iterator[list[T]]:
        """The implicit hitting-set loop: every set `test` accepts, smallest first.

        Each candidate (a smallest set meeting every constraint so far) is
        tested: an accepted one is yielded and its supersets are blocked; a
        refuted one adds its correction. The search ends, untested, at the
        first candidate whose size `stop_at` rejects. With `distinct_groups`,
        an accepted set also rules out, for this search only, every other set
        that picks from exactly the same exclusive groups: one representative
        of each combination of groups (for changes: of each set of facts).
        What the tests taught is kept from one search to the next.

        The candidates of one size come from one solve: each model is tested
        as it comes, and what its test teaches is added to that solve at once
        (a nogood of the current step) and to the program after it, so that
        the next model already meets it. A size with no candidate ends the
        search when the solver's core shows that no larger size has one either.
        """
        mode = [self._distinct_mode()] if distinct_groups else []
        if self._distinct is not None and not distinct_groups:
            mode = [-self._distinct]
        if mode != self._mode:
            self._size = self._size_after(mode)
            self._mode = mode
        if distinct_groups or self._alike:
            self._add_group_atoms()
        while self._size <= len(self._atom):
            # Exactly `_size` items: no smaller set is left, and a larger one
            # must wait until every set of this size is tested.
            at_most = -self._more_than(self._size)
            bound = [at_most, *mode]
            if self._size > 0:
                bound.append(self._more_than(self._size - 1))
            learned: list[list[int]] = []
            seen = stopped = none_larger = False
            try:
                with self._ctl.solve(assumptions=bound, yield_=True) as handle:
                    for model in handle:
                        seen = True
                        picked = [
                            self._items[_PICK_INDEX[symbol]] for symbol in model.symbols(atoms=True)
                        ]
                        candidate = sorted(picked, key=self._order.__getitem__)
                        if stop_at(len(candidate)):
                            stopped = True
                            break
                        correction = test(candidate)
                        if correction is None:
                            nogoods = self._blocks(candidate, distinct_groups)
                        else:
                            nogoods = [self._required(correction.items, correction.unless)]
                        # An accepted set's alike or distinct block rules out its
                        # supersets too: this solve needs only those.
                        for nogood in nogoods[1:] or nogoods:
                            model.context.add_nogood(nogood)
                        learned += nogoods
                        if correction is None:
                            yield candidate
                    if not seen:
                        # Unsatisfiable without the upper bound too: no larger set is left.
                        none_larger = at_most not in handle.core()
            finally:
                self._learn(learned)
            if stopped:
                return
            if none_larger:
                self._size = len(self._atom) + 1
                return
            self._size += 1

    def _size_after(self, mode: list[int]) -> int:
        """The smallest size left to try in `mode`, from what the other mode
        proved. Into distinct mode, the sizes proved empty stay empty (its
        blocks only add constraints). Out of it, a size below every set it
        accepted stays empty: its blocks rule out only sets that pick from
        all the groups of one of those sets, so none smaller."""
        if mode and mode[0] == self._distinct:
            return self._size
        return min(self._size, self._smallest_distinct)

    def _distinct_mode(self) -> int:
        if self._distinct is None:
            with self._ctl.backend() as backend:
                self._distinct = backend.add_atom()
                backend.add_rule([self._distinct], choice=True)
        return self._distinct

    def _add_group_atoms(self) -> None:
        """An atom for each exclusive group that holds when some item of the
        group is picked (the blocks of accepted sets read them; added before
        a solve, since a solve's nogoods can only use atoms that exist)."""
        missing = [index for index in range(len(self._groups)) if index not in self._group_atoms]
        for index in missing:
            if len(self._groups[index]) == 1:  # the group's one item is its atom
                self._group_atoms[index] = self._atom[self._groups[index][0]]
        missing = [index for index in missing if index not in self._group_atoms]
        if not missing:
            return
        with self._ctl.backend() as backend:
            for index in missing:
                atom = backend.add_atom()
                for item in self._groups[index]:
                    backend.add_rule([atom], [self._atom[item]])
                self._group_atoms[index] = atom

    def _blocks(self, items: list[T], distinct_groups: bool) -> list[list[int]]:
        """The nogoods an accepted set adds: its supersets; with alike groups,
        the same set with other items of those groups; in distinct mode, every
        set that picks from all of its groups."""
        nogoods = [[self._atom[item] for item in items]]
        if self._alike:
            chosen = set(items)
            body = []
            for index in sorted(self._alike):
                if not chosen.isdisjoint(self._groups[index]):
                    body.append(self._group_atoms[index])
                    chosen -= set(self._groups[index])
            body += [self._atom[item] for item in items if item in chosen]
            nogoods.append(body)
        if distinct_groups:
            indexes = {index for item in items for index in self._groups_of.get(item, ())}
            assert self._distinct is not None
            self._smallest_distinct = min(self._smallest_distinct, len(items))
            body = [self._distinct, *(self._group_atoms[index] for index in sorted(indexes))]
            nogoods.append(body)
        return nogoods

    def _required(self, items: Iterable[T], unless: Iterable[T]) -> list[int]:
        """The nogood of a correction: none of `items` and all of `unless`."""
        return [-self._atom[item] for item in items] + [self._atom[item] for item in unless]

    def _learn(self, nogoods: list[list[int]]) -> None:
        """Add nogoods learned during a solve to the program, for every later solve."""
        if nogoods:
            with self._ctl.backend() as backend:
                for body in nogoods:
                    backend.add_rule([], body)

    def require_one_of(self, items: Iterable[T], unless: Iterable[T] = ()) -> None:
        """Every later candidate holds one of `items`, or lacks one of `unless`."""
        self._learn([self._required(items, unless)])

    def require_all(self, corrections: Iterable[Correction[T]]) -> None:
        """require_one_of for each correction (in one update of the program)."""
        self._learn([self._required(c.items, c.unless) for c in corrections])

    def block_supersets(self, items: Iterable[T]) -> None:
        self._learn([[self._atom[item] for item in items]])


def minimal_sets_by_rank(
    items: Sequence[T],
    test: Callable[[list[T]], Correction[T] | None],
    rank: Mapping[T, int],
    *,
    smallest_only: bool = False,
) -> Iterator[tuple[T, ...]]:
    """Every set of `items` that `test` accepts and no smaller one does,
    smallest first, each by rank and, within a size, in rank order; with
    `smallest_only`, those of the smallest size alone."""

    def past_smallest(size: int) -> bool:
        return smallest_only and bool(batch) and size > len(batch[0])

    batch: list[tuple[T, ...]] = []
    for found in MinimalSets(items).search(test, stop_at=past_smallest):
        if batch and len(found) > len(batch[0]):
            yield from sorted(batch, key=lambda e: [rank[f] for f in e])
            batch = []
        batch.append(tuple(sorted(found, key=rank.__getitem__)))
    yield from sorted(batch, key=lambda e: [rank[f] for f in e])
