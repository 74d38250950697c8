"""Declared units read as UCUM units, and the unit of a product or a ratio.

A policy declares the unit of a number fact as the analyst reads it
(`unit(bmi, "kg/m2")`, `unit(supply_days, "days")`). DECLARED_UNITS is the
one place where a declared unit that is not itself a UCUM code is given its
UCUM code. UCUM itself is ucumvert's: a UCUM grammar and a pint registry of
UCUM's units, loaded once per process (it takes about a second, so it is
loaded only when a policy or the service needs it). The service converts
FHIR Quantities with the same registry (service/units.py).

Invariant: `derived_unit` answers by UCUM's definitions alone (dimension and
scale, annotations as UCUM reads them: `{events}` is the unit 1), never by
the spelling of the units, and never guesses a unit that does not parse.
"""

from __future__ import annotations

import math
import threading
from decimal import Decimal
from functools import lru_cache
from typing import Any

DECLARED_UNITS = {
    "years": "a",
    "months": "mo",
    "weeks": "wk",
    "days": "d",
    "hours": "h",
    "visits": "{visits}",
}
"""Declared units that are words, by UCUM code (UCUM's `a` is the Julian year)."""

SCALE_TOLERANCE = 1e-12
"""How far from 1 the ratio of two units' scales may be and still count as
equal. UCUM's scale factors are exact decimals; pint carries them as floats
(15 significant digits), so `g` over `1000 mg` may be 1 plus a rounding."""


class UnitError(ValueError):
    """A unit that is not UCUM."""


_registry_lock = threading.Lock()
_registry: Any = None


def registry() -> Any:
    """ucumvert's pint registry (Decimal arithmetic), loaded once."""
    global _registry
    with _registry_lock:
        if _registry is None:
            from ucumvert import PintUcumRegistry

            _registry = PintUcumRegistry(non_int_type=Decimal)
        return _registry


def ucum_code(declared: str) -> str:
    """The UCUM code of a fact's declared unit (UnitError when it has none)."""
    code = DECLARED_UNITS.get(declared, declared)
    parsed(code)
    return code


@lru_cache(maxsize=512)
def parsed(code: str) -> Any:
    """The pint quantity of a UCUM code; None for an annotation alone
    (`{visits}`), which UCUM reads as the unit 1 with a label."""
    import pint

    units = registry()
    try:
        quantity = units.from_ucum(code)
    except Exception as error:  # ucumvert raises lark's and pint's own errors
        raise UnitError(f"{code!r} is not a UCUM unit ({type(error).__name__})") from None
    return quantity if isinstance(quantity, pint.Quantity) else None


@lru_cache(maxsize=256)
def derived_unit(kind: str, left: str, right: str, derived: str) -> str | None:
    """None when the declared unit `derived` equals `left` times `right`
    (kind "product") or `left` over `right` (kind "ratio") by UCUM, else a
    clause saying why not. An empty unit is UCUM's 1. Equal means the same
    dimension and the same scale: `mg/d` times `d` is `mg`, not `g`;
    `{events}/h` is `1/h`, the annotation being 1."""
    one = parsed("1")
    quantities = []
    for declared in (left, right, derived):
        if not declared:
            quantities.append(one)
            continue
        try:
            quantity = parsed(ucum_code(declared))
        except UnitError as error:
            return f"{error}; write the unit in UCUM (or as one of {_words()})"
        quantities.append(one if quantity is None else quantity)
    first, second, wanted = quantities
    combined = first * second if kind == "product" else first / second
    import pint

    try:
        scale = (combined / wanted).to("dimensionless").magnitude
    except pint.DimensionalityError:
        return f"{_shown(left)} {'*' if kind == 'product' else '/'} {_shown(right)} measures " + (
            f"{_dimension(combined)}, and {_shown(derived)} measures {_dimension(wanted)}"
        )
    if not math.isclose(float(scale), 1.0, rel_tol=SCALE_TOLERANCE):
        sign = "*" if kind == "product" else "/"
        return (
            f"{_shown(left)} {sign} {_shown(right)} is {float(scale):.6g} times "
            f"{_shown(derived)}: the scales differ"
        )
    return None


def _words() -> str:
    return ", ".join(DECLARED_UNITS)


def _shown(declared: str) -> str:
    return repr(declared) if declared else "1 (no unit)"


def _dimension(quantity: Any) -> str:
    dimensionality = str(quantity.dimensionality)
    return "no dimension" if dimensionality == "dimensionless" else dimensionality


__all__ = ["DECLARED_UNITS", "UnitError", "derived_unit", "parsed", "registry", "ucum_code"]
