"""Proofs by cases over the day classes of an unknown reference date.

A case that leaves a reference date B unknown is answered over B's day
classes (solving/day_classes.py): each class is grounded at its first day
with B fixed there, and every completion of the case with B in the class is
a completion of that grounding, and back. So the second engine proves such a
case by cases: one SWI-Prolog proof per class, on that class's grounding
with the facts the case's records pin as of that class (history windows
moved from B: solving/history_windows.py).
The verdict over the union is the classes' common verdict, else
needs_information (the one clingo gives over the union, since covered is
certain in every class or possible in none exactly when every class agrees).

The published tree has a root "cases" node on B whose children are one
"case split" node per class (its runs of days), each holding that class's
proof tree.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.errors import EngineError
from policykb.bridge.model.result import Verdict
from policykb.bridge.prolog.tree import ENGINE, VERDICT_TRUTH, proof_tree
from policykb.bridge.solving.class_union import joined

if TYPE_CHECKING:
    from policykb.bridge.model.policy import Value
    from policykb.bridge.prolog.engine import PrologEngine
    from policykb.bridge.solving.evaluator import Evaluator
    from policykb.bridge.solving.unknown_dates import UnknownDate

ProverOf = Callable[["Evaluator"], "PrologEngine"]


def days_words(split: UnknownDate, first: int, last: int) -> str:
    """A run of days in words, open on a side the search left open."""
    return split.days_words(first, last)


def class_words(split: UnknownDate, index: int) -> str:
    """The days of a class in words (`date_of_service in 2024-01-02 to
    2024-03-20`; for a pair of dates, their blocks of days)."""
    return split.class_words(index)


def class_verdicts(
    split: UnknownDate, known: Mapping[str, Value], prover_of: ProverOf
) -> list[tuple[Verdict, dict[str, Any]]]:
    """SWI-Prolog's verdict and raw proof in each class, in class order."""
    return [
        prover_of(evaluator).prove(split.class_known(index, known))
        for index, (_, evaluator) in enumerate(split.cases)
    ]


def prove_by_days(
    split: UnknownDate,
    known: Mapping[str, Value],
    assumed: frozenset[str],
    prover_of: ProverOf,
) -> tuple[Verdict, dict[str, Any]]:
    """The second engine's verdict over every day of the unknown reference
    date, with its proof by cases over the day classes (published shape)."""
    reference = " and ".join(split.references)
    unknown = "are unknown" if len(split.references) > 1 else "is unknown"
    found = class_verdicts(split, known, prover_of)
    verdict = joined(v for v, _ in found)
    branches = []
    for index, ((_, evaluator), (own, raw)) in enumerate(zip(split.cases, found, strict=True)):
        days = class_words(split, index)
        own_known = split.class_known(index, known)
        tree = proof_tree(evaluator.policy, own_known, assumed, raw, own.value)
        branches.append(
            {
                "goal": days,
                "rule": "case split",
                "text": f"if {days}: {own.value}",
                "truth": VERDICT_TRUTH[own.value],
                "children": [tree["root"]],
            }
        )
    if verdict is Verdict.NEEDS_INFORMATION and len({v for v, _ in found}) > 1:
        text = f"{reference} {unknown}; its days give different verdicts"
    elif verdict is Verdict.NEEDS_INFORMATION:
        text = f"{reference} {unknown}; on every day of it the case needs information"
    else:
        text = (
            f"{reference} {unknown}; every day it can take gives the same verdict, {verdict.value}"
        )
    root = {
        "goal": f"cases({', '.join(split.references)})",
        "rule": "cases",
        "text": text,
        "truth": VERDICT_TRUTH[verdict.value],
        "children": branches,
    }
    return verdict, {"engine": ENGINE, "root": root}


def cross_check_by_days(
    split: UnknownDate, known: Mapping[str, Value], prover_of: ProverOf, case_id: str
) -> Verdict:
    """The verdict over every day of the unknown reference date, both engines
    agreeing class by class; EngineError naming the first class where they
    disagree."""
    verdicts = []
    for index, ((_, evaluator), (by_prolog, _)) in enumerate(
        zip(split.cases, class_verdicts(split, known, prover_of), strict=True)
    ):
        with evaluator.lock:
            by_clingo = evaluator.verdict_of(split.class_known(index, known))
        verdicts.append(by_clingo)
        if by_clingo is not by_prolog:
            raise EngineError(
                f"the engines disagree on case {case_id!r} with "
                f"{class_words(split, index)}: clingo says {by_clingo.value}, "
                f"SWI-Prolog says {by_prolog.value}"
            )
    return joined(verdicts)
