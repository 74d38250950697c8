"""Dated versions of a policy: the period each is in force, and which one
decides a case on its date of service.

A version declares `policy(effective, "YYYY-MM-DD")` and may declare
`policy(retired, "YYYY-MM-DD")`, the first day it is no longer in force. A
version that declares no retirement stays in force until the next version's
effective date (or for good, if it is the last).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

SERVICE_DATE = "date_of_service"
"""The fact that selects the version in force: every policy's cases may state it."""


@dataclass(frozen=True)
class PolicyVersion:
    """What names the version of a policy an answer used: its declared period
    and the SHA-256 of the files its program is made of."""

    effective: date | None
    retired: date | None
    hash: str

    @property
    def short_hash(self) -> str:
        return self.hash[:12]

    @property
    def dated(self) -> bool:
        return self.effective is not None or self.retired is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "effective": self.effective.isoformat() if self.effective else None,
            "retired": self.retired.isoformat() if self.retired else None,
            "hash": self.hash,
        }

    @property
    def words(self) -> str:
        """ "effective 2007-06-21, sha256 1a2b3c4d5e6f" (what a text answer shows)."""
        period = []
        if self.effective is not None:
            period.append(f"effective {self.effective.isoformat()}")
        if self.retired is not None:
            period.append(f"retired {self.retired.isoformat()}")
        return ", ".join([*period, f"sha256 {self.short_hash}"])


@dataclass(frozen=True)
class Period:
    """The days a version is in force: from `start` (None: since always) up to
    and excluding `end` (None: for good)."""

    start: date | None
    end: date | None

    def holds(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day < self.end)

    @property
    def words(self) -> str:
        start = self.start.isoformat() if self.start else "always"
        if self.end is None:
            return f"from {start}" if self.start else "always"
        last = date.fromordinal(self.end.toordinal() - 1).isoformat()
        return f"{start} to {last}" if self.start else f"until {last}"

    def to_dict(self) -> dict[str, str | None]:
        last = date.fromordinal(self.end.toordinal() - 1) if self.end else None
        return {
            "from": self.start.isoformat() if self.start else None,
            "until": last.isoformat() if last else None,
        }

    @classmethod
    def from_dict(cls, found: Mapping[str, str | None]) -> Period:
        """The period to_dict() wrote (its "until" is the last day, included)."""
        start, until = found.get("from"), found.get("until")
        end = date.fromordinal(date.fromisoformat(until).toordinal() + 1) if until else None
        return cls(date.fromisoformat(start) if start else None, end)


def periods(versions: Sequence[PolicyVersion]) -> list[Period]:
    """Each version's period, in the order given (which must be by effective
    date): a version without `retired` runs until the next one's effective date."""
    found = []
    for index, version in enumerate(versions):
        end = version.retired
        if end is None:
            later = (
                v.effective
                for v in versions[index + 1 :]
                if v.effective is not None
                and (version.effective is None or v.effective > version.effective)
            )
            end = next(later, None)
        found.append(Period(version.effective, end))
    return found


def ordered(versions: Sequence[PolicyVersion]) -> list[int]:
    """The indices of versions by effective date (undated first), then hash."""
    return sorted(
        range(len(versions)),
        key=lambda i: (versions[i].effective or date.min, versions[i].hash),
    )


@dataclass(frozen=True)
class PeriodProblem:
    """Two versions in force on the same day, or days between versions when none is."""

    kind: str  # "overlap" or "gap"
    first: int
    second: int
    start: date
    end: date | None
    """The days of the problem: start up to and excluding end (None: for good)."""

    @property
    def days_words(self) -> str:
        if self.end is None:
            return f"from {self.start.isoformat()} on"
        last = date.fromordinal(self.end.toordinal() - 1)
        if last == self.start:
            return f"on {self.start.isoformat()}"
        return f"from {self.start.isoformat()} to {last.isoformat()}"


def period_problems(versions: Sequence[PolicyVersion]) -> list[PeriodProblem]:
    """The runs of days on which two versions are in force (overlaps), and
    the runs with none between two versions (gaps), in date order. The
    versions must all be dated and given by effective date; an undated one
    among several is itself a problem, reported by the caller."""
    spans = periods(versions)
    # Days where the set of versions in force changes: each period's ends.
    days = sorted({d for span in spans for d in (span.start, span.end) if d is not None})
    cuts: list[date | None] = [*days, None]  # after the last cut: the versions in force for good
    problems: list[PeriodProblem] = []
    for start, end in itertools.pairwise(cuts):
        assert start is not None
        holding = [i for i, span in enumerate(spans) if span.holds(start)]
        if len(holding) > 1:
            kind, first, second = "overlap", holding[0], holding[1]
        elif not holding and end and any(s.start is not None and s.start >= end for s in spans):
            before = [i for i, s in enumerate(spans) if s.end is not None and s.end <= start]
            kind, first = "gap", max(before, key=lambda i: spans[i].end or start)
            second = next(
                i for i, s in enumerate(spans) if s.start is not None and end and s.start >= end
            )
        else:
            continue
        last = problems[-1] if problems else None
        if last and (last.kind, last.first, last.second, last.end) == (kind, first, second, start):
            problems[-1] = PeriodProblem(kind, first, second, last.start, end)
        else:
            problems.append(PeriodProblem(kind, first, second, start, end))
    return problems
