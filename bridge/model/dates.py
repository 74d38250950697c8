"""Dates as cases and policies write them: ISO YYYY-MM-DD, real days only.

Apart from the typed facts (typed.py) so that reading a policy's effective
date does not load them.
"""

from __future__ import annotations

import re
from datetime import date

ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def parse_date(text: str) -> date | None:
    """An ISO date (YYYY-MM-DD) that is a real day, or None."""
    if ISO_DATE.fullmatch(text) is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None


def require_date(raw: object, error: Exception) -> date:
    """`raw` as a date if it is an ISO date string of a real day; otherwise
    raise `error`, the caller's one-line message naming what and where."""
    day = parse_date(raw) if isinstance(raw, str) else None
    if day is None:
        raise error
    return day
