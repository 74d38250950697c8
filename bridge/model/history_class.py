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
    from policykb.bridge.model.policy import Fact
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


def anchor_pattern(
    fields: Mapping[str, Fact], tests: Mapping[str, Sequence[FieldTest]], anchors: Mapping[str, int]
) -> tuple[object, ...]:
    """What the classes a record can fall in depend on at `anchors`: for
    each field with a test moved from a reference date, the order pattern
    (dense ranks, ties shared) of the boundaries its tests put and of its
    bounds. A boundary splits p - 1 from p (days are whole numbers); a test
    whose reference date `anchors` lack stands as None. The outcomes of a
    field's tests (History._outcomes_of) sample one value per interval the
    boundaries cut within the bounds, so they are a function of this
    pattern, and so are the class keys and the possible classes."""
    found: list[object] = []
    for name, field_tests in tests.items():
        if not any(t.reference is not None for t in field_tests):
            continue
        declared = fields[name]
        points: list[float] = []
        unresolved: list[int] = []
        for index, test in enumerate(field_tests):
            cuts = test.cut_points(anchors)
            if cuts is None:
                unresolved.append(index)
                continue
            points += [float(at) if closed else float(at) + 1 for at, closed in cuts]
        points.append(float("-inf") if declared.low is None else float(declared.low))
        points.append(float("inf") if declared.high is None else float(declared.high) + 1)
        order = {value: rank for rank, value in enumerate(sorted(set(points)))}
        found.append((name, tuple(order[p] for p in points), tuple(unresolved)))
    return tuple(found)
