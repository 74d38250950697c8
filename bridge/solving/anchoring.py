"""Reference-date anchoring: which grounding of a policy answers a case.

A policy that compares dates with reference dates (the date of service, say)
is grounded once per day of those dates, so that every comparison with them
becomes a comparison with a constant. The case must state each reference
date; its days pick the grounding. Resolving them is an explicit step
(`ReferenceDates.resolve`, through `Evaluator.for_known`): a grounding with
no anchors refuses questions about a case (Grounding.require_anchored).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import TYPE_CHECKING, Generic, TypeVar

from policykb.bridge.model.errors import CaseError

if TYPE_CHECKING:
    from cachetools import LRUCache

Anchored = TypeVar("Anchored")


class ReferenceDates(Generic[Anchored]):
    """The groundings of one policy at days of its reference dates, the
    `kept` used last kept (a policy's cases usually share a few days)."""

    def __init__(
        self,
        references: Mapping[str, list[str]],
        ground: Callable[[Mapping[str, int], bool | frozenset[str]], Anchored],
        kept: int,
    ) -> None:
        """`references` maps each reference date to the dates compared with
        it; `ground(anchors, fixed)` grounds the policy at those days."""
        self.references = references
        self._ground = ground
        self._kept = kept
        self._anchored: LRUCache[tuple[object, ...], Anchored] | None = None

    def anchors_of(self, known: Mapping[str, object]) -> dict[str, int]:
        """Each reference date's day in a case's known facts; a CaseError
        naming the first one the case does not state as a date."""
        for reference, compared in self.references.items():
            if not isinstance(known.get(reference), date):
                raise CaseError(
                    f"the case must state {reference}: the policy compares "
                    f"{', '.join(compared)} with it"
                )
        return {name: known[name].toordinal() for name in self.references}  # type: ignore[attr-defined]

    def resolve(self, known: Mapping[str, object]) -> Anchored:
        """The grounding at a case's reference dates."""
        return self.at(self.anchors_of(known))

    def at(self, anchors: Mapping[str, int], *, fixed: bool | frozenset[str] = False) -> Anchored:
        """The grounding with each reference date at its day in `anchors`
        (with `fixed`, taking no other value; a set: those it names); grounded
        once per key."""
        if self._anchored is None:
            from cachetools import LRUCache  # only policies with reference dates

            self._anchored = LRUCache(maxsize=self._kept)
        key = (fixed, *sorted(anchors.items()))
        found = self._anchored.get(key)
        if found is None:
            found = self._ground(anchors, fixed)
            self._anchored[key] = found
        return found
