"""Member resolution: which Coverage of the record a CRD answer is about,
and what to assert when there is none to decide under (CRD 2.2.1 resp-44,
resp-45).

The service holds no membership roster: the health plan's members are known
to it through the Coverages the EHR gives (prefetched or fetched), and the
patient is resolved as a member when a Coverage names them as beneficiary.

- No Coverage in the record: nothing can be asserted (the extension's
  `coverage` is 1..1 and "if no coverage instance is available, the
  coverage-information extension cannot be returned"); `Resolution.coverage`
  is None.
- Coverages, none naming context.patientId as beneficiary: the patient does
  not resolve to a member (resp-44): not-covered, reason `no-member-found`,
  about the first Coverage given.
- The patient's Coverages, none in force on the date of service (status
  active, and its period, when it has one, holding the date): resp-45's
  `no-active-coverage`, about the first of them.
- Several in force: the one whose payor names the configured payer when
  exactly one does; else they do not resolve to a single coverage (resp-45):
  `coverage-not-found`, about the first of them.
- Exactly one in force: resolved; the policy decides under it.

Invariant: `reason` is None exactly when `coverage` is a Coverage in force
for the patient on the date (or `coverage` is None: nothing to assert about).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

NO_MEMBER = "no-member-found"
NO_ACTIVE_COVERAGE = "no-active-coverage"
COVERAGE_NOT_FOUND = "coverage-not-found"


@dataclass(frozen=True)
class Resolution:
    """The Coverage the answer is about, and (when the patient is not a
    member with one coverage in force) the coverageAssertionReasons code and
    the text saying why."""

    coverage: dict[str, Any] | None
    reason: str | None = None
    text: str = ""


def _names_patient(reference: object, patient_id: str) -> bool:
    text = reference.get("reference") if isinstance(reference, Mapping) else None
    if not isinstance(text, str):
        return False
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return len(parts) >= 2 and parts[-2:] == ["Patient", patient_id]


def _day(text: object) -> date | None:
    """The day a FHIR date or dateTime starts with (None: none, or unreadable,
    which leaves that end of the period open)."""
    if not isinstance(text, str):
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def performed_on(order: Mapping[str, Any], today: date) -> date:
    """The day coverage must be in force for: when the order says it is to be
    given (occurrence[x], an Appointment's start, an Encounter's period), else
    today (an order being signed is given no earlier; when it was written
    does not matter to whether coverage is in force)."""
    period = order.get("occurrencePeriod") or order.get("period")
    candidates = [
        order.get("occurrenceDateTime"),
        period.get("start") if isinstance(period, Mapping) else None,
        order.get("start"),
    ]
    return next((day for day in map(_day, candidates) if day is not None), today)


def _in_force(coverage: Mapping[str, Any], on: date) -> bool:
    """Active, and its period (either end may be open) holds the day."""
    if coverage.get("status", "active") != "active":
        return False
    period = coverage.get("period")
    if not isinstance(period, Mapping):
        return True
    start, end = _day(period.get("start")), _day(period.get("end"))
    return (start is None or start <= on) and (end is None or on <= end)


def _payor_named(coverage: Mapping[str, Any], payer: str) -> bool:
    payors = coverage.get("payor")
    return any(
        isinstance(p, Mapping)
        and isinstance(p.get("display"), str)
        and p["display"].strip().casefold() == payer.strip().casefold()
        for p in (payors if isinstance(payors, list) else [])
    )


def _label(coverage: Mapping[str, Any]) -> str:
    return f"Coverage/{str(coverage.get('id', ''))[:64]}"


def resolve(
    coverages: Sequence[dict[str, Any]], patient_id: str, on: date, payer: str | None
) -> Resolution:
    """The resolution of `patient_id` against the record's Coverages (each
    once) on the date of service `on`; `payer` is the configured payer name."""
    if not coverages:
        return Resolution(None)
    own = [c for c in coverages if _names_patient(c.get("beneficiary"), patient_id)]
    if not own:
        return Resolution(
            coverages[0],
            NO_MEMBER,
            f"No Coverage given names the patient ({patient_id[:64]}) as its beneficiary: "
            "the patient could not be resolved to a member of the health plan.",
        )
    in_force = [c for c in own if _in_force(c, on)]
    if not in_force:
        return Resolution(
            own[0],
            NO_ACTIVE_COVERAGE,
            f"The patient's coverage ({', '.join(map(_label, own[:5]))}) is not active "
            f"on {on.isoformat()}.",
        )
    if len(in_force) > 1 and payer:
        named = [c for c in in_force if _payor_named(c, payer)]
        in_force = named if len(named) == 1 else in_force
    if len(in_force) > 1:
        return Resolution(
            in_force[0],
            COVERAGE_NOT_FOUND,
            f"{len(in_force)} active Coverages name the patient "
            f"({', '.join(map(_label, in_force[:5]))}) and none is told apart as this "
            "health plan's: the coverage could not be resolved to a single one.",
        )
    return Resolution(in_force[0])
