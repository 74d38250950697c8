"""FHIR Quantities converted to a fact's declared unit, through UCUM.

A policy declares the unit of a number fact as the analyst reads it
(`unit(bmi, "kg/m2")`, `unit(age, "years")`). DECLARED_UNITS is the one place
where such a unit that is not itself a UCUM code is given its UCUM code; a
declared unit found in neither is refused when the policy's fhir.yaml loads.

Conversion is ucumvert's: a UCUM grammar and a pint registry of UCUM's units,
so `[lb_av]/[in_i]2` is 703.07 kg/m2 by UCUM's own definitions and `%` is no
BMI at all. Arithmetic is Decimal throughout (pint's non_int_type), so a
converted value is not rounded on the way: 0.0583 [lb_av]/[in_i]2 is
40.98895649... kg/m2, and a threshold compares with that.

Invariant: `convert` answers a value in the target unit, or None when the
units are not commensurable or either is not UCUM; it never guesses.
"""

from __future__ import annotations

import threading
from decimal import Decimal
from functools import lru_cache
from typing import Any

UCUM_SYSTEM = "http://unitsofmeasure.org"

DECLARED_UNITS = {
    "years": "a",
    "months": "mo",
    "weeks": "wk",
    "days": "d",
    "hours": "h",
    "visits": "{visits}",
}
"""Declared units that are words, by UCUM code (UCUM's `a` is the Julian year)."""


class UnitError(ValueError):
    """A unit that is not UCUM."""


_registry_lock = threading.Lock()
_registry: Any = None


def _units() -> Any:
    """ucumvert's pint registry, loaded once (it takes seconds: a service
    loads it at start, when a policy's fhir.yaml reads a quantity)."""
    global _registry
    with _registry_lock:
        if _registry is None:
            from ucumvert import PintUcumRegistry

            _registry = PintUcumRegistry(non_int_type=Decimal)
        return _registry


def load() -> None:
    """Load the UCUM registry now rather than on the first conversion."""
    _units()


def ucum_code(declared: str) -> str:
    """The UCUM code of a fact's declared unit (UnitError when it has none)."""
    code = DECLARED_UNITS.get(declared, declared)
    _parsed(code)
    return code


@lru_cache(maxsize=512)
def _parsed(code: str) -> Any:
    import pint

    registry = _units()
    try:
        parsed = registry.from_ucum(code)
    except Exception as error:  # ucumvert raises lark's and pint's own errors
        raise UnitError(f"{code!r} is not a UCUM unit ({type(error).__name__})") from None
    if not isinstance(parsed, pint.Quantity):
        # An annotation alone ({visits}) is UCUM's unity with a label: it is
        # kept apart from %, 1 and other labels, equal only to itself.
        return None
    return parsed


def convert(value: Decimal, unit: str, target: str) -> Decimal | None:
    """`value` in UCUM unit `unit`, expressed in UCUM unit `target`; None when
    either is not UCUM or the two measure different things."""
    import pint

    if unit == target:
        return value  # also for a unit that is only an annotation ({visits})
    try:
        source, wanted = _parsed(unit), _parsed(target)
    except UnitError:
        return None
    if source is None or wanted is None:
        return None
    registry = _units()
    try:
        # A parsed UCUM unit is a quantity whose magnitude carries the unit's
        # prefix factor (10*3/uL: 1000 /uL), as a float: taken as Decimal text.
        given = registry.Quantity(value * Decimal(str(source.magnitude)), source.units)
        converted = given.to(wanted.units).magnitude / Decimal(str(wanted.magnitude))
    except (pint.DimensionalityError, pint.errors.OffsetUnitCalculusError):
        return None
    return converted if isinstance(converted, Decimal) else Decimal(str(converted))


__all__ = ["DECLARED_UNITS", "UCUM_SYSTEM", "UnitError", "convert", "load", "ucum_code"]
