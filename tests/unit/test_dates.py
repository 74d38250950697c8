"""require_date, the one "an ISO date or the caller's error" of the model."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policykb.bridge.model.dates import require_date
from policykb.bridge.model.errors import CaseError


class Refused(Exception):
    pass


@given(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
def test_every_real_day_written_yyyy_mm_dd_is_that_day(day: date) -> None:
    assert require_date(day.isoformat(), Refused()) == day


@given(st.integers(0, 9999), st.integers(0, 99), st.integers(0, 99))
def test_a_string_of_that_shape_is_a_day_exactly_when_the_calendar_has_it(
    year: int, month: int, day: int
) -> None:
    text = f"{year:04d}-{month:02d}-{day:02d}"
    try:
        expected: date | None = date(year, month, day)
    except ValueError:
        expected = None
    if expected is None:
        with pytest.raises(Refused):
            require_date(text, Refused())
    else:
        assert require_date(text, Refused()) == expected


@pytest.mark.parametrize(
    "raw", [None, 20240101, "20240101", "2024-W01-1", "2024-01-01T00:00", " 2024-01-01", "2024-1-1"]
)
def test_anything_else_raises_the_callers_error(raw: object) -> None:
    error = CaseError("fact 'x': not a date YYYY-MM-DD")
    with pytest.raises(CaseError) as raised:
        require_date(raw, error)
    assert raised.value is error
