"""Helpers the policy tests share to sample scenarios for the two engines
(clingo's evaluator, SWI-Prolog's prover) and to write them as case documents.

Invariants: sampling is deterministic for a seed (one `random.Random`, drawn
in a fixed order: uniform scenarios first, then each base in its mapping's
order, fact by fact in `choices` order), so a failing scenario reproduces.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from policykb.bridge.prolog.engine import PrologEngine
from policykb.bridge.solving.evaluator import Evaluator


def scenario_choices(evaluator: Evaluator, prover: PrologEngine) -> dict[str, list[Any]]:
    """Each decision fact's values, one per region, as case values."""
    return {
        fact: [evaluator.concrete(fact, v) for v in prover.scenario_choices(fact)]
        for fact in evaluator.decision_facts
    }


def case_values(known: Mapping[str, Any]) -> dict[str, Any]:
    """Case values as a case document writes them (dates ISO, decimals as floats)."""
    raw: dict[str, Any] = {}
    for fact, value in known.items():
        if isinstance(value, date):
            raw[fact] = value.isoformat()
        elif isinstance(value, Decimal):
            raw[fact] = float(value)
        else:
            raw[fact] = value
    return raw


def sample_around(
    choices: Mapping[str, list[Any]],
    seed: int,
    *,
    uniform: int,
    bases: Mapping[str, Mapping[str, Any]],
    around: int,
    keep: float,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`uniform` uniform complete scenarios labelled "uniform", then `around`
    scenarios near each base (each fact kept with probability `keep`, else
    drawn uniformly from its choices), labelled by the base's name."""
    draw = random.Random(seed)
    for _ in range(uniform):
        yield "uniform", {f: draw.choice(values) for f, values in choices.items()}
    for name, base in bases.items():
        for _ in range(around):
            yield (
                name,
                {
                    f: base[f] if draw.random() < keep else draw.choice(values)
                    for f, values in choices.items()
                },
            )
