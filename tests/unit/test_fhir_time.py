"""FHIR times as spans: zones with their sign and minutes, and "surely after"
exact at the microsecond where two spans meet (mutants of fhir_time that the
record-level tests let live: a positive zone read as UTC, a zone's minutes
misread, `>` widened to `>=`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from policykb.service.fhir_time import moment, surely_after


@pytest.mark.parametrize(
    ("text", "utc"),
    [
        ("2026-05-01T10:00+05:30", datetime(2026, 5, 1, 4, 30, tzinfo=UTC)),
        ("2026-05-01T10:00-03:45", datetime(2026, 5, 1, 13, 45, tzinfo=UTC)),
        ("2026-05-01T10:00+14:00", datetime(2026, 4, 30, 20, 0, tzinfo=UTC)),
        ("2026-05-01T10:00:00Z", datetime(2026, 5, 1, 10, 0, tzinfo=UTC)),
    ],
)
def test_a_zone_is_read_with_its_sign_and_minutes(text: str, utc: datetime) -> None:
    span = moment(text)
    assert span is not None
    assert span.first == utc


@given(
    st.integers(min_value=-12 * 4, max_value=14 * 4),
    st.integers(min_value=0, max_value=23),
    st.integers(min_value=0, max_value=59),
)
def test_a_zoned_minute_is_its_utc_instant(quarters: int, hour: int, minute: int) -> None:
    offset = timedelta(minutes=15 * quarters)
    sign = "-" if offset < timedelta(0) else "+"
    size = abs(offset)
    zone = f"{sign}{size.seconds // 3600:02d}:{size.seconds // 60 % 60:02d}"
    span = moment(f"2026-06-15T{hour:02d}:{minute:02d}{zone}")
    assert span is not None
    wall = datetime(2026, 6, 15, hour, minute, tzinfo=UTC)
    assert span.first == wall - offset
    assert span.last == wall - offset + timedelta(minutes=1, microseconds=-1)


def test_spans_that_meet_at_a_microsecond_are_not_surely_ordered() -> None:
    second = moment("2026-05-01T10:00:00Z")  # 10:00:00.000000 to .999999
    last_microsecond = moment("2026-05-01T10:00:00.999999Z")
    next_microsecond = moment("2026-05-01T10:00:01.000000Z")
    assert second is not None and last_microsecond is not None and next_microsecond is not None
    assert not surely_after(last_microsecond, second)  # may be the same instant
    assert surely_after(next_microsecond, second)


def test_a_local_time_meets_a_zoned_one_at_the_widest_offsets() -> None:
    """A local time may be at any offset from -12:00 to +14:00: 10:00 local is
    surely after a zoned instant only past 10:00-14:00 = 20:00Z the day before
    ... and surely before one only after 10:00+12:00 = 22:00Z."""
    local = moment("2026-05-01T10:00:00")
    assert local is not None
    at_widest = moment("2026-04-30T19:59:59.999999Z")  # the local span's first is 20:00:00Z
    meeting = moment("2026-04-30T20:00:00.000000Z")
    assert at_widest is not None and meeting is not None
    assert surely_after(local, at_widest)
    assert not surely_after(local, meeting)
    late = moment("2026-05-01T22:00:01Z")  # the local span's last is 22:00:00.999999Z
    edge = moment("2026-05-01T22:00:00.999999Z")
    assert late is not None and edge is not None
    assert surely_after(late, local)
    assert not surely_after(edge, local)
