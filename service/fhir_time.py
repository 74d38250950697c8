"""When a FHIR resource was observed, as a span of time, and which is latest.

A FHIR date or dateTime names a span as wide as its precision: `2026` is the
year, `2026-05-01` the day, `2026-05-01T23:00-10:00` the minute, an instant
with milliseconds the millisecond. A value with a time carries its zone
offset (FHIR requires it); a value without a time (or, against FHIR, a time
without a zone) is in the record's local zone, one unknown offset shared by
every such value of the request, between -12:00 and +14:00.

`Moment` holds the span's first and last microsecond. One moment is surely
after another when its first microsecond is after the other's last: between
two zoned values by their UTC instants, between two local values by their
wall-clock times, and between a local and a zoned value with the local
value's span widened by every offset it could have. So
`2026-05-01T23:00-10:00` (09:00Z the next day) is after `2026-05-02T01:00Z`,
and `2026-05` is neither before nor after `2026-05-10`.

Invariant: `surely_after(a, b)` is true only when every instant `a` may name
is later than every instant `b` may name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

_PATTERN = re.compile(
    r"(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d+))?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?"
)
EARLIEST_OFFSET = timedelta(hours=14)
"""A local value's earliest UTC instant is its wall-clock time at +14:00."""
LATEST_OFFSET = timedelta(hours=12)
"""... and its latest at -12:00."""
MICROSECOND = timedelta(microseconds=1)

TIME_KEYS = (
    "effectiveDateTime",
    "effectiveInstant",
    "effectivePeriod",
    "issued",
    "recordedDate",
    "onsetDateTime",
    "onsetPeriod",
)
"""Where a resource says when: an observation's effective time (a period by
its end; one with no end yet from its start on), then `issued` (the release of the
result) only when it states no effective time; a condition's recordedDate,
then its onset."""


@dataclass(frozen=True)
class Moment:
    """A span of time: first and last microsecond, aware (UTC) or local (naive)."""

    first: datetime
    last: datetime

    @property
    def zoned(self) -> bool:
        return self.first.tzinfo is not None

    def _as_utc(self) -> tuple[datetime, datetime]:
        if self.zoned:
            return self.first, self.last
        first, last = self.first.replace(tzinfo=UTC), self.last.replace(tzinfo=UTC)
        try:
            first -= EARLIEST_OFFSET
        except OverflowError:  # the year 1: as early as time goes
            first = datetime.min.replace(tzinfo=UTC)
        try:
            last += LATEST_OFFSET
        except OverflowError:  # the year 9999
            last = datetime.max.replace(tzinfo=UTC)
        return first, last


def surely_after(later: Moment, earlier: Moment) -> bool:
    """Every instant `later` may name is after every instant `earlier` may name."""
    if later.zoned == earlier.zoned:
        return later.first > earlier.last
    return later._as_utc()[0] > earlier._as_utc()[1]


def moment(text: object) -> Moment | None:
    """The span a FHIR date, dateTime or instant names; None when it is none."""
    if not isinstance(text, str):
        return None
    match = _PATTERN.fullmatch(text)
    if match is None:
        return None
    parts = match.groupdict()
    try:
        return _span(parts)
    except (ValueError, OverflowError):  # 2026-02-30, a year past 9999 after a step
        return None


def _span(parts: Mapping[str, str | None]) -> Moment:
    zone = parts["zone"]
    tz: timezone | None = None
    if zone is not None:
        if zone == "Z":
            tz = UTC
        else:
            sign = -1 if zone[0] == "-" else 1
            hours, minutes = int(zone[1:3]), int(zone[4:6])
            tz = timezone(sign * timedelta(hours=hours, minutes=minutes))
    year = int(parts["year"] or 0)
    month, day = int(parts["month"] or 1), int(parts["day"] or 1)
    hour, minute = int(parts["hour"] or 0), int(parts["minute"] or 0)
    second = int(parts["second"] or 0)
    fraction = parts["fraction"] or ""
    micro = int((fraction + "000000")[:6])
    first = datetime(year, month, day, hour, minute, second, micro, tzinfo=tz)
    if parts["month"] is None:
        after = first.replace(year=year + 1) if year < 9999 else datetime.max.replace(tzinfo=tz)
    elif parts["day"] is None:
        after = (
            first.replace(month=month + 1)
            if month < 12
            else first.replace(year=year + 1, month=1)
            if year < 9999
            else datetime.max.replace(tzinfo=tz)
        )
    elif parts["hour"] is None:
        after = first + timedelta(days=1)
    elif parts["second"] is None:
        after = first + timedelta(minutes=1)
    elif not fraction:
        after = first + timedelta(seconds=1)
    else:  # the last digit given sets the span, down to the microsecond
        after = first + timedelta(microseconds=max(1, 10 ** (6 - min(len(fraction), 6))))
    last = after - MICROSECOND if after != datetime.max.replace(tzinfo=tz) else after
    if tz is not None:
        return Moment(first.astimezone(UTC), last.astimezone(UTC))
    return Moment(first, last)


def when(resource: Mapping[str, Any]) -> Moment | None:
    """When a resource was observed or recorded (TIME_KEYS, the first stated);
    None when it says no time it can be ordered by."""
    for key in TIME_KEYS:
        value = resource.get(key)
        if isinstance(value, Mapping):
            return _period(value) if value.get("end") or value.get("start") else None
        if value is not None:
            return moment(value)
    return None


def _period(period: Mapping[str, Any]) -> Moment | None:
    """A Period by its end; one without an end is still going on: from its
    start to any time after."""
    if period.get("end") is not None:
        return moment(period["end"])
    start = moment(period.get("start"))
    if start is None:
        return None
    return Moment(start.first, datetime.max.replace(tzinfo=start.first.tzinfo))


def latest(resources: list[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The resources that may be the latest: each that no other is surely
    after. One resource when the record orders them; several when their
    times overlap (equal instants, `2026-05` beside `2026-05-10`); a
    resource without a time may be any, so it is always among them."""
    moments = [when(resource) for resource in resources]
    # surely_after(other, own) grows with other.first (within each kind, and
    # across kinds by a fixed offset), so the latest-starting moment of each
    # kind is the only one to compare with: linear, not quadratic.
    tops = [
        max((m for m in moments if m is not None and m.zoned == zoned), key=_start, default=None)
        for zoned in (True, False)
    ]
    return [
        resource
        for resource, own in zip(resources, moments, strict=True)
        if own is None or not any(top is not None and surely_after(top, own) for top in tops)
    ]


def _start(moment: Moment) -> datetime:
    return moment.first


__all__ = ["Moment", "latest", "moment", "surely_after", "when"]
