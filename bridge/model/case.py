"""A validated case, and the policy a case gets when it names none."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from policykb.bridge.model.policy import Value

DEFAULT_POLICY = "massage-therapy"
"""The policy of a case, a suite or a command that names none."""


@dataclass(frozen=True)
class Case:
    """A validated case: its id, its policy and the facts it states."""

    id: str
    policy: str
    facts: Mapping[str, Value] = field(default_factory=dict)
    as_of: date | None = None
    """The day whose version of the policy decides the case: --as-of, else the
    case's date_of_service (None: today)."""
    histories: Mapping[str, StatedHistory] = field(default_factory=dict)
    """Each history the case states, its records checked. `facts` holds the
    boolean facts they pin as of the case's own reference dates; as of another
    date of service they pin others (the covered-from search re-pins them)."""


@dataclass(frozen=True)
class StatedHistory:
    """A history as a case states it: its records, each field as the record
    classes compare it (day numbers for dates), and whether the case states
    them complete (every record there is) or as at least these."""

    records: tuple[Mapping[str, object], ...]
    complete: bool
