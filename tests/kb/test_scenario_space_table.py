"""The scenario space of kb/core/scenario.lp against its documented meaning, clintest style.

Each row declares a small vocabulary (one or two facts of the types
scenario.lp knows; a typed fact's regions given as domain/2, as typed.lp
gives them) and runs scenario.lp alone through clingo. Its answer sets must
be exactly the scenarios kb/REFERENCE.md describes: every declared fact one
value of its domain (a list or code_list fact any subset of it, a string fact
one of its options or other_value), known/1 any subset of the facts, and
holds/fails true exactly for a boolean fact's value.
"""

from __future__ import annotations

from itertools import chain, combinations, product
from pathlib import Path

import clingo
import pytest
from clingo.symbol import Function, Symbol

SCENARIO_LP = Path(__file__).resolve().parents[2] / "kb" / "core" / "scenario.lp"

# name -> (type, values the policy names: options, or a typed fact's regions)
FACTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "flag": ("bool", ()),
    "level": ("enum", ("low", "high")),
    "sites": ("list", ("arm", "leg")),
    "reason": ("string", ("pain",)),
    "codes": ("code_list", ("c1", "c2")),
    "age": ("int", ("under_65", "from_65")),
}
SHOWN = ("value", "known", "holds", "fails", "domain")


def domain(name: str) -> tuple[str, ...]:
    kind, values = FACTS[name]
    if kind == "bool":
        return ("true", "false")
    if kind == "string":
        return (*values, "other_value")
    return values


def subsets(values: tuple[str, ...]) -> list[tuple[str, ...]]:
    return list(chain.from_iterable(combinations(values, k) for k in range(len(values) + 1)))


def expected_scenarios(declared: tuple[str, ...]) -> set[frozenset[str]]:
    """Every scenario the documentation describes, each as its atoms (as text)."""
    choices = []
    for name in declared:
        kind = FACTS[name][0]
        if kind in ("list", "code_list"):
            choices.append(subsets(domain(name)))
        else:
            choices.append([(v,) for v in domain(name)])
    fixed = {f"domain({name},{v})" for name in declared for v in domain(name)}
    found = set()
    for values in product(*choices):
        atoms = set(fixed)
        for name, chosen in zip(declared, values, strict=True):
            atoms |= {f"value({name},{v})" for v in chosen}
            if FACTS[name][0] == "bool":
                atoms.add(f"holds({name})" if chosen == ("true",) else f"fails({name})")
        for known in subsets(declared):
            found.add(frozenset(atoms | {f"known({name})" for name in known}))
    return found


def answer_sets(declared: tuple[str, ...]) -> set[frozenset[str]]:
    control = clingo.Control(["0", "--warn=none"])
    control.load(str(SCENARIO_LP))
    facts: list[Symbol] = []
    for name in declared:
        kind, values = FACTS[name]
        facts.append(Function("fact", [Function(name), Function(kind)]))
        if kind in ("enum", "list", "string"):
            facts += [Function("option", [Function(name), Function(v)]) for v in values]
        elif kind != "bool":  # typed.lp's regions
            facts += [Function("domain", [Function(name), Function(v)]) for v in values]
    with control.backend() as backend:
        for symbol in facts:
            backend.add_rule([backend.add_atom(symbol)])
    control.ground([("base", [])])
    found = set()
    with control.solve(yield_=True) as handle:
        for model in handle:
            found.add(frozenset(str(s) for s in model.symbols(atoms=True) if s.name in SHOWN))
    return found


VOCABULARIES = [(name,) for name in FACTS] + list(combinations(FACTS, 2))


@pytest.mark.parametrize("declared", VOCABULARIES, ids="+".join)
def test_answer_sets_are_exactly_the_documented_scenarios(declared: tuple[str, ...]) -> None:
    assert answer_sets(declared) == expected_scenarios(declared)
