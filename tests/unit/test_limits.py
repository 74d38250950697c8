"""SolvingLimits: the evaluator's search limits, one frozen value passed in."""

from __future__ import annotations

import dataclasses

import pytest

from policykb.bridge.solving.limits import SolvingLimits


def test_the_defaults_are_the_documented_limits() -> None:
    limits = SolvingLimits()
    assert (limits.anchored_kept, limits.max_edits, limits.count_bound) == (32, 50, 100)
    assert limits.forcing_from == 40
    assert limits.parts_kept == 2_000


@pytest.mark.parametrize("field", ["anchored_kept", "max_edits", "count_bound"])
def test_a_count_below_one_is_refused_by_name(field: str) -> None:
    with pytest.raises(ValueError, match=f"SolvingLimits.{field} must be at least 1"):
        SolvingLimits(**{field: 0})


@pytest.mark.parametrize("field", ["forcing_from", "parts_kept"])
def test_zero_is_allowed_and_negative_refused(field: str) -> None:
    assert getattr(SolvingLimits(**{field: 0}), field) == 0
    with pytest.raises(ValueError, match=f"SolvingLimits.{field} must not be negative"):
        SolvingLimits(**{field: -1})


def test_limits_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SolvingLimits().max_edits = 1  # type: ignore[misc]
