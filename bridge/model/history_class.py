"""A history's record classes: what a class is, the key that names it, and
the pieces the key and a class's ranges are computed from (model/history.py).

Invariants: a class's key is (the conditions its records meet, the option of
each field counted distinct, in the history's order of distinct fields); two
classes of one history never share a key. `_joined` keeps the order of the
intervals it is given and only joins neighbours that meet at one point, one
side closed and the other open (so the values covered are unchanged).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policykb.bridge.model.history_condition import FieldTest
    from policykb.bridge.model.typed import Interval


def _merged(
    outcome: Mapping[FieldTest, bool],
    combination: Sequence[tuple[dict[FieldTest, bool], tuple[str, str] | None]],
) -> dict[FieldTest, bool]:
    merged = dict(outcome)
    for vectors, _ in combination:
        merged.update(vectors)
    return merged


def _options(
    combination: Sequence[tuple[dict[FieldTest, bool], tuple[str, str] | None]],
) -> dict[str, str]:
    return {option[0]: option[1] for _, option in combination if option is not None}


def _joined(pieces: Sequence[Interval]) -> list[Interval]:
    """Neighbouring intervals (in order, as `intervals` gives them) made one."""
    from policykb.bridge.model.typed import Interval

    joined: list[Interval] = []
    for piece in pieces:
        last = joined[-1] if joined else None
        if (
            last is not None
            and last.high is not None
            and last.high == piece.low
            and last.high_closed != piece.low_closed
        ):
            joined[-1] = Interval(last.low, last.low_closed, piece.high, piece.high_closed)
        else:
            joined.append(piece)
    return joined


@dataclass(frozen=True)
class RecordClass:
    """The records that meet exactly `meets` of the history's conditions and
    have, for each field counted distinct, the option `options` gives it."""

    index: int
    meets: frozenset[str]
    options: tuple[tuple[str, str], ...] = ()


Key = tuple[frozenset[str], tuple[tuple[str, str], ...]]


__all__ = ["Key", "RecordClass"]
