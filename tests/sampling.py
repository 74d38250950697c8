"""How widely the property tests sample.

Each property test states the examples (or cases, scenarios) it draws at full
width. `make test` must stay under ten minutes on two cores, so an ordinary
run draws a share of that: `POLICYKB_TEST_SCALE` (default `EVERYDAY`) times
each stated number, at least one. Every run draws fresh random examples, so
the runs together cover what one wide run would; `make test-wide` sets the
scale to 1 (the full stated widths), and a test's own variable (such as
`NCD_210_3_EXAMPLES`) still sets its number exactly.
"""

from __future__ import annotations

import math
import os

EVERYDAY = 0.08
"""The share of each stated width an ordinary run draws."""

SCALE = float(os.environ.get("POLICYKB_TEST_SCALE", EVERYDAY))


def examples(stated: int) -> int:
    """The number to draw of a test's `stated` full width."""
    return max(1, math.ceil(stated * SCALE))


def knob(variable: str, stated: int, at_least: int = 1) -> int:
    """A test's own variable when set (exactly), else `examples(stated)` but
    no fewer than `at_least` (for a test that also asserts its draws reach
    every verdict)."""
    value = os.environ.get(variable)
    return int(value) if value else max(at_least, examples(stated))


def stride(variable: str, stated: int) -> int:
    """A test's own variable when set (exactly), else the stated step between
    the items it compares widened by the scale (fewer items, evenly spread)."""
    value = os.environ.get(variable)
    return int(value) if value else max(1, round(stated / SCALE))


def budget(variable: str, everyday: int) -> int | None:
    """A test's own variable when set (exactly), else no bound at full width
    (`POLICYKB_TEST_SCALE` 1 or more) and `everyday` otherwise: for an
    exhaustive check whose size grows combinatorially with the policy."""
    value = os.environ.get(variable)
    if value:
        return int(value)
    return None if SCALE >= 1 else everyday
