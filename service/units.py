"""FHIR Quantities converted to a fact's declared unit, through UCUM.

A policy declares the unit of a number fact as the analyst reads it
(`unit(bmi, "kg/m2")`, `unit(age, "years")`), read as UCUM by
bridge/loading/ucum.py (DECLARED_UNITS there gives the words their UCUM
codes); a declared unit that is not UCUM is refused when the policy's
fhir.yaml loads.

Conversion is ucumvert's: a UCUM grammar and a pint registry of UCUM's units
(the one bridge/loading/ucum.py loads, shared with the policy's unit checks),
so `[lb_av]/[in_i]2` is 703.07 kg/m2 by UCUM's own definitions and `%` is no
BMI at all. Arithmetic is Decimal throughout (pint's non_int_type), so a
converted value is not rounded on the way: 0.0583 [lb_av]/[in_i]2 is
40.98895649... kg/m2, and a threshold compares with that.

Invariant: `convert` answers a value in the target unit, or None when the
units are not commensurable or either is not UCUM; it never guesses.
"""

from __future__ import annotations

from decimal import Decimal

from policykb.bridge.loading.ucum import DECLARED_UNITS, UnitError, parsed, registry, ucum_code

UCUM_SYSTEM = "http://unitsofmeasure.org"


def load() -> None:
    """Load the UCUM registry now rather than on the first conversion (it
    takes seconds: a service loads it at start, when a policy's fhir.yaml
    reads a quantity)."""
    registry()


def convert(value: Decimal, unit: str, target: str) -> Decimal | None:
    """`value` in UCUM unit `unit`, expressed in UCUM unit `target`; None when
    either is not UCUM or the two measure different things."""
    import pint

    if unit == target:
        return value  # also for a unit that is only an annotation ({visits})
    try:
        source, wanted = parsed(unit), parsed(target)
    except UnitError:
        return None
    if source is None or wanted is None:
        return None
    units = registry()
    try:
        # A parsed UCUM unit is a quantity whose magnitude carries the unit's
        # prefix factor (10*3/uL: 1000 /uL), as a float: taken as Decimal text.
        given = units.Quantity(value * Decimal(str(source.magnitude)), source.units)
        converted = given.to(wanted.units).magnitude / Decimal(str(wanted.magnitude))
    except (pint.DimensionalityError, pint.errors.OffsetUnitCalculusError):
        return None
    return converted if isinstance(converted, Decimal) else Decimal(str(converted))


__all__ = ["DECLARED_UNITS", "UCUM_SYSTEM", "UnitError", "convert", "load", "ucum_code"]
