"""Smallest sets under learned constraints: the implicit hitting-set driver.

Minimal explanations, smallest change sets, prime implicants, minimal
witnesses and minimal diff conditions are all one loop: propose a smallest
set not yet refuted, test it, and either accept it or learn a correction (a
set of items of which every valid set holds one).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import clingo
from clingo import Function

T = TypeVar("T", bound=Hashable)

_PICKS: list[clingo.Symbol] = []
"""pick(0), pick(1), ...: the same symbols for every search, built once
(building a symbol is a call into clingo)."""


def _pick(index: int) -> clingo.Symbol:
    while len(_PICKS) <= index:
        _PICKS.append(Function("pick", [clingo.Number(len(_PICKS))]))
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
        self._ctl = clingo.Control()
        with self._ctl.backend() as backend:
            self._atom = {item: backend.add_atom(_pick(index)) for index, item in enumerate(items)}
            # Only the pick atoms carry symbols, so a model's symbolic atoms
            # are exactly its picks: read in one call, not one per item.
            self._item_of = {_pick(index): item for index, item in enumerate(items)}
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
        self._group_atoms: dict[int, int] = {}
        self._alike = set(alike)
        self._distinct: int | None = None

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
        tested: an accepted one is yielded, then its supersets are blocked; a
        refuted one adds its correction. The search ends, untested, at the
        first candidate whose size `stop_at` rejects. With `distinct_groups`,
        an accepted set also rules out, for this search only, every other set
        that picks from exactly the same exclusive groups: one representative
        of each combination of groups (for changes: of each set of facts).
        What the tests taught is kept from one search to the next.
        """
        mode = [self._distinct_mode()] if distinct_groups else []
        if self._distinct is not None and not distinct_groups:
            mode = [-self._distinct]
        if mode != self._mode:
            # The smallest size left was learned under the other mode's assumptions.
            self._size, self._mode = 0, mode
        for candidate in self.candidates(mode):
            if stop_at(len(candidate)):
                return
            correction = test(candidate)
            if correction is None:
                yield candidate
                self.block_supersets(candidate)
                if self._alike:
                    self._block_alike(candidate)
                if distinct_groups:
                    self._block_same_groups(candidate)
            else:
                self.require_one_of(correction.items, correction.unless)

    def _distinct_mode(self) -> int:
        if self._distinct is None:
            with self._ctl.backend() as backend:
                self._distinct = backend.add_atom()
                backend.add_rule([self._distinct], choice=True)
        return self._distinct

    def _group_atom(self, backend: clingo.Backend, index: int) -> int:
        """An atom that holds when some item of group `index` is picked."""
        if index not in self._group_atoms:
            atom = backend.add_atom()
            for item in self._groups[index]:
                backend.add_rule([atom], [self._atom[item]])
            self._group_atoms[index] = atom
        return self._group_atoms[index]

    def _block_alike(self, items: Iterable[T]) -> None:
        """No later candidate picks the same items outside the alike groups and
        any item of each alike group these items pick from."""
        chosen = set(items)
        body = []
        with self._ctl.backend() as backend:
            for index in sorted(self._alike):
                if not chosen.isdisjoint(self._groups[index]):
                    body.append(self._group_atom(backend, index))
                    chosen -= set(self._groups[index])
            body += [self._atom[item] for item in chosen]
            backend.add_rule([], body)

    def _block_same_groups(self, items: Iterable[T]) -> None:
        """In distinct mode, no later candidate picks from all the groups of `items`."""
        chosen = set(items)
        body = [self._distinct_mode()]
        with self._ctl.backend() as backend:
            for index, group in enumerate(self._groups):
                if not chosen.isdisjoint(group):
                    body.append(self._group_atom(backend, index))
            backend.add_rule([], body)

    def candidates(self, assumptions: Sequence[int] = ()) -> Iterator[list[T]]:
        """Smallest candidates, one at a time, until none is left."""
        while self._size <= len(self._atom):
            found: list[T] | None = None
            # Exactly `_size` items: no smaller set is left, and a larger one
            # must wait until every set of this size is tested.
            bound = [-self._more_than(self._size), *assumptions]
            if self._size > 0:
                bound.append(self._more_than(self._size - 1))
            with self._ctl.solve(assumptions=bound, yield_=True) as handle:
                for model in handle:
                    picked = [self._item_of[symbol] for symbol in model.symbols(atoms=True)]
                    found = sorted(picked, key=self._order.__getitem__)
                    break
            if found is None:
                self._size += 1
                continue
            yield found

    def require_one_of(self, items: Iterable[T], unless: Iterable[T] = ()) -> None:
        """Every later candidate holds one of `items`, or lacks one of `unless`."""
        with self._ctl.backend() as backend:
            body = [-self._atom[item] for item in items]
            body += [self._atom[item] for item in unless]
            backend.add_rule([], body)

    def block_supersets(self, items: Iterable[T]) -> None:
        with self._ctl.backend() as backend:
            backend.add_rule([], [self._atom[item] for item in items])
