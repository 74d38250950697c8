"""Every rule of kb/core/verdict.lp against its documented meaning, clintest style.

A scenario is a small policy and one of its cases: criteria with roles,
groups of parts (all, any, at_least(K)) nested to any depth with parts shared
by several parents, headings nested inside one another with criteria under
them, the headings whose conditions the case meets (section/1) and which
criteria without a group the case meets (met/1, as a policy's own rules
derive it). verdict.lp alone is grounded and solved on those facts, and
met, applies, indicated, blocked, covered, decided and verdict are compared
with what kb/REFERENCE.md says they are, computed here in Python, over a
seeded sample of scenarios.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import clingo
import pytest
from clingo.symbol import Function, Number, String, Symbol

VERDICT_LP = Path(__file__).resolve().parents[2] / "kb" / "core" / "verdict.lp"
CRITERIA = tuple(f"c{i}" for i in range(6))
SECTIONS = ("s0", "s1", "s2")
ROLES = ("indication", "exclusion", "prerequisite", "requirement")
SCENARIOS = 600
GROUP_KINDS: tuple[str | int, ...] = ("all", "any", 1, 2, 3)  # an int K: at_least(K)


@dataclass(frozen=True)
class Scenario:
    role: dict[str, str]
    parents: dict[str, tuple[str, ...]]  # a part -> the groups it belongs to (earlier criteria)
    combines: dict[str, str | int]  # a group -> all, any, or K of at_least(K)
    under: dict[str, str]  # criterion -> its heading
    outer: dict[str, str]  # heading -> the heading it stands in
    in_section: frozenset[str]  # headings whose own condition the case meets
    met_by_rules: frozenset[str]  # criteria without a group that the case meets

    def parts(self, group: str) -> list[str]:
        return [c for c in CRITERIA if group in self.parents[c]]

    def met(self, criterion: str) -> bool:
        how = self.combines.get(criterion)
        if how is None:
            return criterion in self.met_by_rules
        met = [self.met(p) for p in self.parts(criterion)]
        if how == "all":
            return bool(met) and all(met)
        if how == "any":
            return any(met)
        assert isinstance(how, int)
        return sum(met) >= how

    def falls_under(self, section: str) -> bool:
        """The case falls under a heading: its condition and its outer heading's."""
        if section not in self.in_section:
            return False
        outer = self.outer.get(section)
        return outer is None or self.falls_under(outer)

    def applies(self, criterion: str) -> bool:
        heading = self.under.get(criterion)
        if heading is not None:
            return self.falls_under(heading)
        if not self.parents[criterion]:
            return True
        return any(self.applies(parent) for parent in self.parents[criterion])

    def indicated(self) -> set[str]:
        return {
            c for c in CRITERIA if self.role[c] == "indication" and self.applies(c) and self.met(c)
        }

    def blocked(self) -> set[str]:
        return {
            c
            for c in CRITERIA
            if self.applies(c)
            and (
                (self.role[c] == "exclusion" and self.met(c))
                or (self.role[c] == "prerequisite" and not self.met(c))
            )
        }


def scenarios() -> list[Scenario]:
    chance = random.Random(20261206)
    found = []
    for _ in range(SCENARIOS):
        parents = {
            c: tuple(p for p in CRITERIA[:i] if chance.random() < 0.3)
            for i, c in enumerate(CRITERIA)
        }
        groups = {p for ps in parents.values() for p in ps}
        combines: dict[str, str | int] = {}
        for group in groups:
            if chance.random() < 0.9:  # now and then a group met by rules of its own
                combines[group] = chance.choice(GROUP_KINDS)
        found.append(
            Scenario(
                role={c: chance.choice(ROLES) for c in CRITERIA},
                parents=parents,
                combines=combines,
                under={c: chance.choice(SECTIONS) for c in CRITERIA if chance.random() < 0.35},
                outer={
                    s: chance.choice(SECTIONS[:i])
                    for i, s in enumerate(SECTIONS)
                    if i and chance.random() < 0.6
                },
                in_section=frozenset(s for s in SECTIONS if chance.random() < 0.6),
                met_by_rules=frozenset(
                    c for c in CRITERIA if c not in combines and chance.random() < 0.5
                ),
            )
        )
    return found


def program_facts(s: Scenario) -> list[Symbol]:
    facts = []
    for c in CRITERIA:
        facts.append(Function("criterion", [String(c), String("Place"), String("Text")]))
        facts.append(Function("role", [String(c), Function(s.role[c])]))
        facts += [Function("part_of", [String(c), String(p)]) for p in s.parents[c]]
    for group, how in s.combines.items():
        rule = Function("at_least", [Number(how)]) if isinstance(how, int) else Function(how)
        facts.append(Function("combines", [String(group), rule]))
    facts += [Function("met", [String(c)]) for c in s.met_by_rules]
    facts += [Function("under", [String(c), Function(h)]) for c, h in s.under.items()]
    facts += [Function("heading", [Function(h), String(h)]) for h in SECTIONS]
    facts += [Function("heading_in", [Function(h), Function(o)]) for h, o in s.outer.items()]
    facts += [Function("section", [Function(h)]) for h in s.in_section]
    return facts


def solve(scenario: Scenario) -> frozenset[Symbol]:
    control = clingo.Control(["--warn=none"])
    control.load(str(VERDICT_LP))
    with control.backend() as backend:
        for symbol in program_facts(scenario):
            backend.add_rule([backend.add_atom(symbol)])
    control.ground([("base", [])])
    models = []
    with control.solve(yield_=True) as handle:
        for model in handle:
            models.append(frozenset(model.symbols(atoms=True)))
    assert len(models) == 1, f"verdict.lp has {len(models)} answer sets, not one"
    return models[0]


@cache
def sample() -> list[Scenario]:
    return scenarios()


@cache
def model_of(index: int) -> frozenset[Symbol]:
    return solve(sample()[index])


def solved() -> Iterator[tuple[Scenario, frozenset[Symbol]]]:
    """The sample with each answer set, solved as it is first asked for (a
    comparison stops at the first scenario that differs)."""
    for index, scenario in enumerate(sample()):
        yield scenario, model_of(index)


def names(model: frozenset[Symbol], predicate: str) -> set[str]:
    """The criteria (or verdict values) of the predicate's atoms."""
    found = set()
    for atom in model:
        if atom.name == predicate:
            (argument,) = atom.arguments or [Function(predicate)]
            found.add(
                argument.string if argument.type == clingo.SymbolType.String else argument.name
            )
    return found


def expected(s: Scenario, predicate: str) -> set[str]:
    indicated, blocked = s.indicated(), s.blocked()
    covered = bool(indicated) and not blocked
    if predicate == "met":
        return {c for c in CRITERIA if s.met(c)}
    if predicate == "applies":
        return {c for c in CRITERIA if s.applies(c)}
    if predicate == "kb_in_section":
        return {h for h in SECTIONS if s.falls_under(h)}
    if predicate == "indicated":
        return indicated
    if predicate == "blocked":
        return blocked
    if predicate == "covered":
        return {"covered"} if covered else set()
    if predicate == "decided":
        return {"decided"} if indicated or blocked else set()
    if predicate == "verdict":
        return {"covered" if covered else "not_covered"}
    raise AssertionError(f"no documented meaning for {predicate}")


PREDICATES = [
    "met",
    "kb_in_section",
    "applies",
    "indicated",
    "blocked",
    "covered",
    "decided",
    "verdict",
]


@pytest.mark.parametrize("predicate", PREDICATES)
def test_each_rule_follows_its_documented_meaning(predicate: str) -> None:
    for scenario, model in solved():
        assert names(model, predicate) == expected(scenario, predicate), scenario


def test_the_sample_reaches_every_case_of_the_rules() -> None:
    """Not vacuous: each group kind is met and unmet, each role applies and
    not, and each verdict and decidedness occurs."""
    seen: set[tuple[object, ...]] = set()
    for s in sample():
        for c in CRITERIA:
            kind = s.combines.get(c)
            if kind is not None and s.parts(c):
                seen.add(("group", kind if isinstance(kind, str) else "at_least", s.met(c)))
            seen.add(("role", s.role[c], s.applies(c), s.met(c)))
            seen.add(("heading", c in s.under, bool(s.parents[c]), s.applies(c)))
        seen.add(("verdict", bool(s.indicated()), bool(s.blocked())))
    for kind in ("all", "any", "at_least"):
        assert {("group", kind, True), ("group", kind, False)} <= seen
    for role in ROLES:
        for applies in (True, False):
            for met in (True, False):
                assert ("role", role, applies, met) in seen
    for heading in (True, False):
        for part in (True, False):
            for applies in (True, False):
                assert ("heading", heading, part, applies) in seen or (not heading and not part)
    for indicated in (True, False):
        for blocked in (True, False):
            assert ("verdict", indicated, blocked) in seen
