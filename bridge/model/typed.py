"""Typed facts: numbers, dates and codes, and the regions that make them finite.

A policy compares a number or a date with a few constants, and a code with a
few code sets. Those comparisons divide the values a fact's declaration
allows into finitely many *regions* on which every comparison of the policy
has one truth value: intervals for numbers and dates, cells of the code sets
for codes. A region stands for all of its values at once, so reasoning over
regions is exact: an unknown number ranges over every region, and a case's
value falls in exactly one.

Dates are held as day numbers (date.toordinal) inside intervals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

Number = int | Decimal


# -- intervals -----------------------------------------------------------------


@dataclass(frozen=True)
class Cut:
    """A point that splits a line: values >= at (upper=True) or > at go above it."""

    at: Number
    closed_above: bool

    def above(self, value: Number) -> bool:
        return value >= self.at if self.closed_above else value > self.at


@dataclass(frozen=True)
class Interval:
    """The values between two ends; an end is None when unbounded."""

    low: Number | None
    low_closed: bool
    high: Number | None
    high_closed: bool

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, int | Decimal) or isinstance(value, bool):
            return False
        if self.low is not None and (
            value < self.low or (value == self.low and not self.low_closed)
        ):
            return False
        return not (
            self.high is not None
            and (value > self.high or (value == self.high and not self.high_closed))
        )

    def empty(self, whole: bool) -> bool:
        """True when no value (no whole number, when `whole`) lies inside."""
        if self.low is None or self.high is None:
            return False
        if whole:
            first, last = self.whole_ends()
            return first is not None and last is not None and first > last
        if self.low < self.high:
            return False
        return not (self.low == self.high and self.low_closed and self.high_closed)

    def whole_ends(self) -> tuple[int | None, int | None]:
        """The first and last whole numbers inside (None: unbounded)."""
        first = last = None
        if self.low is not None:
            first = int(_ceil(self.low))
            if first == self.low and not self.low_closed:
                first += 1
        if self.high is not None:
            last = int(_floor(self.high))
            if last == self.high and not self.high_closed:
                last -= 1
        return first, last

    def representative(self, whole: bool) -> Number:
        """One value inside (a whole number when `whole`), as near the low end as is neat."""
        if whole:
            first, last = self.whole_ends()
            if first is not None:
                return first
            return last if last is not None else 0
        if self.low is None:
            if self.high is None:
                return 0
            return self.high if self.high_closed else self.high - 1
        if self.low_closed:
            return self.low
        step = _floor(self.low) + 1
        if step in self:
            return step
        return (Decimal(self.low) + Decimal(self.high if self.high is not None else step)) / 2


def _floor(value: Number) -> Number:
    return value if isinstance(value, int) else value.to_integral_value(rounding="ROUND_FLOOR")


def _ceil(value: Number) -> Number:
    return value if isinstance(value, int) else value.to_integral_value(rounding="ROUND_CEILING")


def intervals(
    low: Number | None, high: Number | None, cuts: Iterable[Cut], whole: bool
) -> list[Interval]:
    """The non-empty intervals into which `cuts` divide [low, high], in order."""
    points = sorted(set(cuts), key=lambda c: (c.at, not c.closed_above))
    found: list[Interval] = []
    start, start_closed = low, True
    for cut in points:
        # Below the cut: up to `at`, closed when the cut sends `at` upward... not.
        piece = Interval(start, start_closed, cut.at, not cut.closed_above)
        found.append(piece)
        start, start_closed = cut.at, cut.closed_above
    found.append(Interval(start, start_closed, high, True))
    bounded = [_clip(piece, low, high) for piece in found]
    return [piece for piece in bounded if piece is not None and not piece.empty(whole)]


def _clip(piece: Interval, low: Number | None, high: Number | None) -> Interval | None:
    if low is not None and piece.low is not None and piece.low < low:
        piece = Interval(low, True, piece.high, piece.high_closed)
    if high is not None and piece.high is not None and piece.high > high:
        piece = Interval(piece.low, piece.low_closed, high, True)
    if low is not None and piece.high is not None and piece.high < low:
        return None
    if high is not None and piece.low is not None and piece.low > high:
        return None
    return piece


# -- codes -----------------------------------------------------------------------

# The format of a code, undotted and upper case, per code system.
CODE_FORMATS = {
    "icd10cm": re.compile(r"[A-TV-Z][0-9][0-9A-Z][0-9A-Z]{0,4}"),
    "cpt": re.compile(r"[0-9]{4}[0-9FT]"),
    "hcpcs": re.compile(r"[A-V][0-9]{4}"),
}
CODE_EXAMPLES = {"icd10cm": "E11.9", "cpt": "43775", "hcpcs": "L1832"}
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_POSITIONS = {
    "icd10cm": ["ABCDEFGHIJKLMNOPQRSTVWXYZ", "0123456789", *[_ALPHABET] * 5],
    "cpt": [*["0123456789"] * 4, "0123456789FT"],
    "hcpcs": ["ABCDEFGHIJKLMNOPQRSTUV", *["0123456789"] * 4],
}
_LENGTHS = {"icd10cm": (3, 7), "cpt": (5, 5), "hcpcs": (5, 5)}


def normal_code(text: str) -> str:
    """A code as compared: upper case, without its dot."""
    return text.strip().upper().replace(".", "")


def valid_code(system: str, code: str) -> bool:
    """Whether `code` (undotted) has the format of `system`."""
    return CODE_FORMATS[system].fullmatch(code) is not None


def shown_code(system: str, code: str) -> str:
    """A code as people write it (ICD-10-CM: with its dot after three characters)."""
    if system == "icd10cm" and len(code) > 3:
        return f"{code[:3]}.{code[3:]}"
    return code


def _ceil_code(system: str, bound: str) -> str | None:
    """The first code of `system` at or after `bound` (in the order of undotted codes)."""
    positions = _POSITIONS[system]
    shortest, longest = _LENGTHS[system]

    def smallest_from(prefix: str) -> str:
        rest = "".join(positions[i][0] for i in range(len(prefix), shortest))
        return prefix + rest

    fits = len(bound) <= longest and all(char in positions[i] for i, char in enumerate(bound))
    if fits:
        return smallest_from(bound)
    for i in range(min(len(bound), longest) - 1, -1, -1):
        if not all(char in positions[j] for j, char in enumerate(bound[:i])):
            continue
        later = [char for char in positions[i] if char > bound[i]]
        if later:
            return smallest_from(bound[:i] + later[0])
    return None


@dataclass(frozen=True)
class CodeSpan:
    """Every code from `low` through `high`, a code standing also for the codes
    under it: E08-E13 holds E11.65; M17 holds M17.11."""

    low: str
    high: str

    @property
    def end(self) -> str:
        """The first string after every code under `high`."""
        return self.high[:-1] + chr(ord(self.high[-1]) + 1)

    def __contains__(self, code: object) -> bool:
        return isinstance(code, str) and self.low <= code < self.end


SPAN = re.compile(
    r"(?P<low>[0-9A-Za-z.]+)(?:\s*[-\u2013]\s*(?P<high>[0-9A-Za-z.]+)|(?P<star>\.?\*))?"
)


def parse_span(text: str) -> CodeSpan | None:
    """A code set member: a code (E11.9), a range (E08-E13) or a prefix (M17.*)."""
    match = SPAN.fullmatch(text.strip())
    if match is None:
        return None
    low = normal_code(match["low"])
    high = normal_code(match["high"]) if match["high"] else low
    if not low or not high or high < low:
        return None
    return CodeSpan(low, high)


@dataclass(frozen=True)
class CodeSet:
    """A named set of codes, as a policy declares it (code_set/2)."""

    name: str
    members: tuple[str, ...]
    spans: tuple[CodeSpan, ...]

    def __contains__(self, code: object) -> bool:
        return any(code in span for span in self.spans)


@dataclass(frozen=True)
class CodeCell:
    """The codes that are in exactly the code sets `inside` of those a policy
    compares a fact with; `sample` is one of them."""

    inside: frozenset[str]
    sample: str


def code_cells(system: str, sets: Sequence[CodeSet]) -> list[CodeCell]:
    """The non-empty cells of `sets` among the codes of `system`, each with a sample.

    Every set is a union of intervals of undotted codes, so membership is
    constant between consecutive interval ends; the first valid code after
    each end decides whether that stretch holds a code at all."""
    ends = sorted({b for s in sets for span in s.spans for b in (span.low, span.end)} | {""})
    cells: dict[frozenset[str], str] = {}
    for position, start in enumerate(ends):
        sample = _ceil_code(system, start)
        following = ends[position + 1] if position + 1 < len(ends) else None
        if sample is None or (following is not None and sample >= following):
            continue
        inside = frozenset(s.name for s in sets if sample in s)
        cells.setdefault(inside, shown_code(system, sample))
    return [CodeCell(inside, sample) for inside, sample in sorted(cells.items(), key=_cell_order)]


def _cell_order(item: tuple[frozenset[str], str]) -> tuple[int, list[str]]:
    return len(item[0]), sorted(item[0])


# -- dates -------------------------------------------------------------------------


def parse_decimal(text: str) -> Decimal | None:
    """A decimal number written as text (34.5, -2, 1e3 is not one), or None."""
    if re.fullmatch(r"-?[0-9]+(\.[0-9]+)?", text.strip()) is None:
        return None
    return Decimal(text.strip())


# -- durations -------------------------------------------------------------------

DURATION_UNITS = ("days", "weeks", "months")

CALENDAR_STEPS = {"month_start": "to the month's start", "month_end": "to the month's end"}
"""Steps that take no count: the first (month_start) or the last (month_end)
day of the month the date is in, with the words a proof says."""


@dataclass(frozen=True)
class Step:
    """One calendar step: a whole number of days, weeks or months (negative:
    earlier), or a move within the month (`unit` month_start or month_end,
    `count` 0).

    Invariant: `after` is non-decreasing in its day."""

    count: int
    unit: str

    @classmethod
    def calendar(cls, unit: str) -> Step:
        """The step to the first (month_start) or last (month_end) day of the month."""
        assert unit in CALENDAR_STEPS
        return cls(0, unit)

    def after(self, day: date) -> date:
        """`day` moved by this step. A month step keeps the day of the month,
        or takes the month's last day when it has fewer (2024-08-31 minus 6
        months is 2024-02-29); a week is 7 days; month_start and month_end
        give the first and the last day of `day`'s month."""
        if self.unit == "month_start":
            return day.replace(day=1)
        if self.unit == "month_end":
            return day.replace(day=_month_days(day.year, day.month))
        if self.unit == "months":
            months = day.year * 12 + day.month - 1 + self.count
            year, month = divmod(months, 12)
            last = _month_days(year, month + 1)
            return date(year, month + 1, min(day.day, last))
        return date.fromordinal(day.toordinal() + self.count * (7 if self.unit == "weeks" else 1))

    @property
    def moves(self) -> bool:
        """Whether the step can move a day at all (not a count of zero)."""
        return self.unit in CALENDAR_STEPS or self.count != 0

    @property
    def spread(self) -> int:
        """How much the days the step adds can differ from one day to another:
        0 for days and weeks, 3 for a month step (months of 28 to 31 days),
        30 within a month."""
        if self.unit in CALENDAR_STEPS:
            return 30
        return 3 if self.unit == "months" and self.count else 0

    @property
    def term(self) -> str:
        """The step as a policy writes it: "months(-6)", "month_end"."""
        if self.unit in CALENDAR_STEPS:
            return self.unit
        return f"{self.unit}({self.count})"

    @property
    def signed(self) -> str:
        """ "plus 2 weeks", "minus 6 months", "to the month's end"."""
        if self.unit in CALENDAR_STEPS:
            return CALENDAR_STEPS[self.unit]
        size = abs(self.count)
        unit = self.unit if size != 1 else self.unit[:-1]
        return f"{'plus' if self.count >= 0 else 'minus'} {size} {unit}"


COMBINED = "steps"
"""The name of a combined duration's term as the rules are grounded:
months(3) - days(29) is steps(months(3), days(-29))."""

_STEP = re.compile(r"\s*(?:(days|weeks|months)\(\s*(-?[0-9]+)\s*\)|(month_start|month_end))\s*")


def _read_step(match: re.Match[str]) -> Step:
    if match[3]:
        return Step.calendar(match[3])
    return Step(int(match[2]), match[1])


@dataclass(frozen=True)
class Duration:
    """A signed calendar duration: steps of days, weeks or months, and moves to
    the month's start or end, applied one after the other in the order written
    (months(3) - days(29): three months on, with the month rule, then 29 days
    back; months(-12) + month_end: a year back, then to that month's last
    day). No steps: no move.

    Invariant: `after` is non-decreasing in its day (each step is), so the
    days a date compared with a moved date passes form one interval."""

    steps: tuple[Step, ...] = ()

    @classmethod
    def of(cls, count: int, unit: str) -> Duration:
        """One step."""
        return cls((Step(count, unit),))

    def after(self, day: date) -> date:
        """`day` moved by each step in turn."""
        for step in self.steps:
            day = step.after(day)
        return day

    @property
    def term(self) -> str:
        """The duration as its grounded term: "months(-6)",
        "steps(months(3),days(-29))"; empty for no steps."""
        if len(self.steps) == 1:
            return self.steps[0].term
        if not self.steps:
            return ""
        return f"{COMBINED}({','.join(step.term for step in self.steps)})"

    @classmethod
    def parse(cls, text: str) -> Duration | None:
        """The duration of a grounded term (`term`'s inverse, spaces allowed),
        or None for any other text."""
        text = text.strip()
        if text.startswith(f"{COMBINED}(") and text.endswith(")"):
            parts = text[len(COMBINED) + 1 : -1].split(",")
            found = [_STEP.fullmatch(part) for part in parts]
            if len(found) < 2 or any(match is None for match in found):
                return None
            return cls(tuple(_read_step(m) for m in found if m is not None))
        single = _STEP.fullmatch(text)
        return cls((_read_step(single),)) if single else None

    @property
    def signed(self) -> str:
        """ "plus 2 weeks", "plus 3 months minus 29 days", "minus 12 months,
        to the month's end"; empty for no move (no steps, or one step of zero)."""
        if not self.steps or (len(self.steps) == 1 and not self.steps[0].moves):
            return ""
        said = ""
        for step in self.steps:
            joint = ", " if said and step.unit in CALENDAR_STEPS else " "
            said = f"{said}{joint}{step.signed}" if said else step.signed
        return said

    @property
    def spread(self) -> int:
        """How far apart, in days, the moves `after` makes from two days can
        be (after(d) - d against after(e) - e): the sum of its steps' spreads."""
        return sum(step.spread for step in self.steps)


def _month_days(year: int, month: int) -> int:
    following = date(year + month // 12, month % 12 + 1, 1)
    return (following - date(year, month, 1)).days
