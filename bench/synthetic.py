"""A synthetic policy, large enough to measure how the engine scales.

`write_policy(folder, indications=10, parts=4, exclusions=10)` writes a policy
folder with 1 + indications*parts + exclusions*2 + 2 facts (63 by default):
a heading fact splitting the indications between two sections, indications
that each need all of their parts, exclusions met by either of two facts, and
a two-fact prerequisite whose facts default to true.

With `shape="nested"` each exclusion reads three facts, `a and (b or not c)`:
its negation, which coverage needs, is an either-or inside a conjunction, so
the prime implicants of coverage multiply (2 per exclusion, 2^exclusions in
all). SHAPES gives the 63- and 183-fact policies of both shapes. It is
generated text from fixed names, for benchmarks and tests only.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

SHAPES: dict[str, dict[str, Any]] = {
    "either-63": {"indications": 10, "parts": 4, "exclusions": 10},
    "either-183": {"indications": 30, "parts": 4, "exclusions": 30},
    "nested-63": {"indications": 10, "parts": 3, "exclusions": 10, "shape": "nested"},
    "nested-183": {"indications": 30, "parts": 3, "exclusions": 30, "shape": "nested"},
}
"""Named policies: shape and size (facts)."""


def _sides(shape: str) -> tuple[str, ...]:
    return ("a", "b", "c") if shape == "nested" else ("a", "b")


def fact_names(
    indications: int = 10, parts: int = 4, exclusions: int = 10, shape: str = "either"
) -> list[str]:
    names = ["in_section_one"]
    names += [f"ind{i}_part{j}" for i in range(indications) for j in range(parts)]
    names += [f"exc{i}_{side}" for i in range(exclusions) for side in _sides(shape)]
    return [*names, "prereq_a", "prereq_b"]


def write_policy(
    folder: Path,
    indications: int = 10,
    parts: int = 4,
    exclusions: int = 10,
    shape: str = "either",
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = fact_names(indications, parts, exclusions, shape)
    vocabulary = ['policy(title, "Synthetic scaling policy").']
    for rank, name in enumerate(names, start=1):
        vocabulary += [
            f"fact({name}, bool). rank({name}, {rank}).",
            f'question({name}, "Is {name} true?").',
            f'meaning({name}, "Synthetic fact {name}.").',
        ]
    vocabulary += ["default(prereq_a, true).", "default(prereq_b, true)."]
    criteria = [
        'heading("One", "Section one").',
        'heading("Two", "Section two").',
        'section("One") :- holds(in_section_one).',
        'section("Two") :- fails(in_section_one).',
        'clause(in_section_one, "heading").',
    ]
    for i in range(indications):
        ident = f"I{i}"
        section = "One" if i % 2 == 0 else "Two"
        criteria += [
            f'criterion("{ident}", "Indication {i}", "Covered when all parts of {ident} hold.").',
            f'role("{ident}", indication). under("{ident}", "{section}").',
            f'met("{ident}") :- ' + ", ".join(f"holds(ind{i}_part{j})" for j in range(parts)) + ".",
        ]
        criteria += [f'clause(ind{i}_part{j}, "{ident}").' for j in range(parts)]
    for i in range(exclusions):
        ident = f"E{i}"
        criteria += [
            f'criterion("{ident}", "Exclusion {i}", "Not covered when exclusion {i} holds.").',
            f'role("{ident}", exclusion).',
        ]
        if shape == "nested":
            criteria += [
                f'met("{ident}") :- holds(exc{i}_a), holds(exc{i}_b).',
                f'met("{ident}") :- holds(exc{i}_a), fails(exc{i}_c).',
            ]
        else:
            criteria += [
                f'met("{ident}") :- holds(exc{i}_a).',
                f'met("{ident}") :- holds(exc{i}_b).',
            ]
        criteria += [f'clause(exc{i}_{side}, "{ident}").' for side in _sides(shape)]
    criteria += [
        'criterion("P", "Prerequisite", "Covered only with both prerequisites.").',
        'role("P", prerequisite).',
        'met("P") :- holds(prereq_a), holds(prereq_b).',
        'clause(prereq_a, "P"). clause(prereq_b, "P").',
    ]
    (folder / "vocabulary.lp").write_text("\n".join(vocabulary) + "\n")
    (folder / "criteria.lp").write_text("\n".join(criteria) + "\n")
    (folder / "policy.lp").write_text('#include "vocabulary.lp".\n#include "criteria.lp".\n')
    return folder


def random_case(rng: random.Random, names: list[str], unknown: float = 0.3) -> dict[str, Any]:
    """Facts for a case: each fact unknown with probability `unknown`, else a coin toss
    biased so that indications are often met and exclusions rarely."""
    facts: dict[str, Any] = {}
    for name in names:
        if rng.random() < unknown:
            continue
        if name.startswith("exc"):
            facts[name] = rng.random() < (0.5 if name.endswith("_c") else 0.05)
        else:
            facts[name] = rng.random() < 0.85
    return facts
