"""Which version of a policy decides: `NAME@YYYY-MM-DD` pins one, else the
version in force on the case's day. Generic over anything with a `policy`
(an Evaluator, a stored snapshot), so that the grounded path and the
stored fast path (compile/snapshot.py) choose alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Protocol, TypeVar

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Policy
from policykb.bridge.model.version import periods


class HasPolicy(Protocol):
    @property
    def policy(self) -> Policy: ...


V = TypeVar("V", bound=HasPolicy)


def split_version(policy: str | Path) -> tuple[str | Path, date | None]:
    """`NAME@YYYY-MM-DD` as the policy and the day whose version it names."""
    if isinstance(policy, Path):
        return policy, None
    reference, at, day = policy.rpartition("@")
    if not at:
        return policy, None
    from policykb.bridge.model.dates import require_date

    return reference, require_date(
        day, CaseError(f"{policy[:80]!r}: after '@' comes a date YYYY-MM-DD")
    )


def in_force(versions: Sequence[V], day: date | None, undated: bool = False) -> V:
    """The version in force on `day` (None: today); a CaseError naming the
    versions' periods when none is, a PolicyError when several are."""
    day = day or date.today()
    spans = periods([e.policy.version for e in versions])
    holding = [e for e, span in zip(versions, spans, strict=True) if span.holds(day)]
    if len(holding) == 1:
        return holding[0]
    name = versions[0].policy.name
    if holding:
        from policykb.bridge.model.errors import PolicyError

        raise PolicyError(
            f"policy {name!r} has {len(holding)} versions in force on {day.isoformat()} "
            "(policykb check names the overlap)"
        )
    why = " (the case states no date_of_service)" if undated else ""
    shown = "; ".join(span.words for span in spans)
    raise CaseError(
        f"no version of policy {name!r} is in force on {day.isoformat()}{why}: "
        f"its versions are in force {shown}"
    )
