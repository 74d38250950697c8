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
