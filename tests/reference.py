"""A test-only oracle: the massage-therapy policy as a plain Python truth table.

It is written from the policy text and the semantics pinned in issue 2, not
from the ASP rules, so the two can check each other. Every decision-relevant
fact is one axis of a numpy array of scenario verdicts (True = covered); a
case is a slice of it, so verdicts, missing facts and explanations are
computed by brute force over the unknowns.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import numpy as np

BOOL_FACTS = (
    "medicare_member",
    "delivered_by_physical_therapist",
    "part_of_rehab_plan_of_care",
    "objective_limitations_documented",
    "physical_therapeutic_benefit",
    "ordered_by_treating_physician",
    "significant_improvement_expected",
    "terminally_ill",
    "needed_for_comfort",
    "for_prevention",
    "for_recreation",
    "for_stress_reduction",
    "directed_at_maintenance",
    "therapeutic_goals_achieved",
    "showing_meaningful_progress",
    "benefit_in_contract",
    "health_plan_referral",
)
REVIEW_TYPES = ("initial", "continuation")
AXES = (*BOOL_FACTS, "review_type")
# Medicare status unknown, yet covered: the Medicare branch (M1) and the
# non-Medicare branch (A, no exclusion) both cover it.
BOTH_BRANCHES_COVER: Mapping[str, Any] = {
    "delivered_by_physical_therapist": True,
    "part_of_rehab_plan_of_care": True,
    "objective_limitations_documented": True,
    "physical_therapeutic_benefit": True,
    "ordered_by_treating_physician": True,
    "significant_improvement_expected": True,
    "for_prevention": False,
    "for_recreation": False,
    "for_stress_reduction": False,
    "directed_at_maintenance": False,
}
DEFAULTS: Mapping[str, Any] = {
    "benefit_in_contract": True,
    "health_plan_referral": True,
    "review_type": "initial",
}


def scenario_covered(s: Mapping[str, Any]) -> Any:
    """Coverage of one scenario (works elementwise on numpy arrays too)."""
    benefit = s["benefit_in_contract"] & s["health_plan_referral"]
    medicare = s["delivered_by_physical_therapist"] & s["part_of_rehab_plan_of_care"]
    indication_a = (
        s["objective_limitations_documented"]
        & s["physical_therapeutic_benefit"]
        & s["ordered_by_treating_physician"]
        & s["significant_improvement_expected"]
    )
    indication_b = s["terminally_ill"] & s["needed_for_comfort"]
    continuation = s["review_type"]
    excluded = (
        s["for_prevention"]
        | s["for_recreation"]
        | s["for_stress_reduction"]
        | s["directed_at_maintenance"]
        | (continuation & (s["therapeutic_goals_achieved"] | ~s["showing_meaningful_progress"]))
    )
    non_medicare = (indication_a | indication_b) & ~excluded
    return benefit & np.where(s["medicare_member"], medicare, non_medicare)


@cache
def table() -> np.ndarray:
    grids = np.indices((2,) * len(AXES), dtype=np.int8).astype(bool)
    return np.asarray(scenario_covered(dict(zip(AXES, grids, strict=True))))


def _index(value: Any, fact: str) -> int:
    if fact == "review_type":
        return REVIEW_TYPES.index(value)
    return int(bool(value))


def region(known: Mapping[str, Any]) -> np.ndarray:
    """The verdicts of every scenario that agrees with `known` (axes kept)."""
    index = tuple(
        slice(_index(known[f], f), _index(known[f], f) + 1) if f in known else slice(None)
        for f in AXES
    )
    return table()[index]


def verdict(known: Mapping[str, Any]) -> str:
    cell = region({f: v for f, v in known.items() if f in AXES})
    if cell.all():
        return "covered"
    if not cell.any():
        return "not_covered"
    return "needs_information"


def with_defaults(facts: Mapping[str, Any]) -> dict[str, Any]:
    return {**{f: v for f, v in DEFAULTS.items() if f not in facts}, **facts}


def missing(known: Mapping[str, Any]) -> set[str]:
    """Unknown facts on which coverage turns for some filling of the other unknowns."""
    cell = region({f: v for f, v in known.items() if f in AXES})
    result = set()
    for axis, fact in enumerate(AXES):
        if fact in known:
            continue
        if (np.take(cell, 0, axis=axis) != np.take(cell, 1, axis=axis)).any():
            result.add(fact)
    return result
