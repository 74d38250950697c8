"""A synthetic policy, large enough to measure how the engine scales.

`write_policy(folder, indications=10, parts=4, exclusions=10)` writes a policy
folder with 1 + indications*parts + exclusions*2 + 2 facts (63 by default):
a heading fact splitting the indications between two sections, indications
that each need all of their parts, exclusions met by either of two facts, and
a two-fact prerequisite whose facts default to true. It is generated text from
fixed names, for benchmarks and tests only.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any


def fact_names(indications: int = 10, parts: int = 4, exclusions: int = 10) -> list[str]:
    names = ["in_section_one"]
    names += [f"ind{i}_part{j}" for i in range(indications) for j in range(parts)]
    names += [f"exc{i}_{side}" for i in range(exclusions) for side in ("a", "b")]
    return [*names, "prereq_a", "prereq_b"]


def write_policy(folder: Path, indications: int = 10, parts: int = 4, exclusions: int = 10) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    names = fact_names(indications, parts, exclusions)
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
            f'met("{ident}") :- holds(exc{i}_a).',
            f'met("{ident}") :- holds(exc{i}_b).',
            f'clause(exc{i}_a, "{ident}"). clause(exc{i}_b, "{ident}").',
        ]
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
            facts[name] = rng.random() < 0.05
        else:
            facts[name] = rng.random() < 0.85
    return facts
