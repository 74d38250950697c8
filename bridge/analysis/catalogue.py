"""Checks across the policies of a knowledge base: what no one policy's
check can see.

- A billing code claimed (applicable_code/4) by two policies routes to
  neither unless they are versions of one policy (one name) or one declares
  precedence/2 over the other; a precedence must be able to tell them apart
  (the preceding policy's claim is conditional, applicable_code_when/4, or
  the other would never decide the code) and must not run both ways.
- A fact two policies both declare is the same fact: the same type, unit
  and code system ("a bmi is a bmi everywhere"); options and bounds may
  differ, since each policy names the values it reads.

Each conflict is one line naming both policies and the file and line of
each declaration. The service refuses to start on a conflict among the
versions in force (it routes with them); `policykb check --all` reports the
conflicts among every version of every policy.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from graphlib import CycleError, TopologicalSorter
from itertools import combinations
from typing import Any

from policykb.bridge.loading.declaration_atoms import declared_at
from policykb.bridge.model.policy import Fact, FactType, OrderCode, Policy

Catalogue = Mapping[str, Sequence[Policy]]
"""Each policy's name and its versions (one Policy per version)."""


class ConflictKind(StrEnum):
    CODE = "code"
    """A code claimed by two policies with no precedence between them."""
    PRECEDENCE = "precedence"
    """A precedence that runs both ways, in a cycle, or cannot tell the policies apart."""
    FACT = "fact"
    """A fact with one name and two types, units or code systems."""


@dataclass(frozen=True)
class Conflict:
    kind: ConflictKind
    policies: tuple[str, ...]
    message: str
    """One line: both policies, each declaration's FILE:LINE, and what to do."""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "policies": list(self.policies), "message": self.message}


def catalogue_conflicts(catalogue: Catalogue) -> list[Conflict]:
    """Every conflict among the policies, codes first, each kind by message."""
    return code_conflicts(catalogue) + fact_conflicts(catalogue)


def _code_words(code: OrderCode) -> str:
    return f"{code.system.upper()} {code.code}"


def _where(policy: Policy, predicate: str, arity: int, *arguments: str) -> str:
    """FILE:LINE of a declaration, or the policy's entry file when not found."""
    found = declared_at(policy.source, predicate, arity, *arguments)
    return found or str(policy.source.entry)


def _precedence(versions: Sequence[Policy]) -> dict[str, tuple[Policy, str]]:
    """Other policy -> a version declaring precedence over it, and the reason."""
    found: dict[str, tuple[Policy, str]] = {}
    for version in versions:
        for other, reason in version.precedence.items():
            found.setdefault(other, (version, reason))
    return found


def code_conflicts(catalogue: Catalogue) -> list[Conflict]:
    """The codes two policies claim that the router could not route."""
    claims: dict[tuple[str, str], dict[str, list[tuple[Policy, OrderCode]]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for name, versions in catalogue.items():
        for version in versions:
            for code in version.codes:
                claims[(code.system, code.code)][name].append((version, code))
    precedence = {name: _precedence(versions) for name, versions in catalogue.items()}
    found: list[Conflict] = []
    for claimants in claims.values():
        for first, second in combinations(sorted(claimants), 2):
            found += _pair(first, second, claimants, precedence)
        if len(claimants) > 2 and not any(set(c.policies) <= set(claimants) for c in found):
            try:
                routing_order(claimants, {n: catalogue[n][-1] for n in claimants})
            except CycleError:
                version, code = claimants[sorted(claimants)[0]][0]
                names = ", ".join(sorted(claimants))
                found.append(
                    Conflict(
                        ConflictKind.PRECEDENCE,
                        tuple(sorted(claimants)),
                        f"{_code_words(code)} is claimed by {names}, whose precedence/2 "
                        "declarations run in a cycle: declare an order among them",
                    )
                )
    return sorted(found, key=lambda c: (c.kind.value, c.message))


def _pair(
    first: str,
    second: str,
    claimants: Mapping[str, Sequence[tuple[Policy, OrderCode]]],
    precedence: Mapping[str, Mapping[str, tuple[Policy, str]]],
) -> list[Conflict]:
    """The conflict of two policies over one code they both claim, if any."""
    a_version, code = claimants[first][0]
    b_version, _ = claimants[second][0]
    where_a = _where(a_version, "applicable_code", 4, code.system, code.code)
    where_b = _where(b_version, "applicable_code", 4, code.system, code.code)
    words = _code_words(code)
    a_over_b, b_over_a = precedence[first].get(second), precedence[second].get(first)
    if a_over_b is None and b_over_a is None:
        return [
            Conflict(
                ConflictKind.CODE,
                (first, second),
                f"{where_a}: {words} is claimed by both {first} and {second} ({where_b}): a "
                "code routes to one policy unless the two are versions of one policy or one "
                'declares precedence("other-policy", "why") over the other',
            )
        ]
    if a_over_b is not None and b_over_a is not None:
        at_a = _where(a_over_b[0], "precedence", 2, second)
        at_b = _where(b_over_a[0], "precedence", 2, first)
        return [
            Conflict(
                ConflictKind.PRECEDENCE,
                (first, second),
                f"{at_a}: {first} takes precedence over {second} and {second} over {first} "
                f"({at_b}) for {words}: only one of them may",
            )
        ]
    winner, loser = (first, second) if a_over_b is not None else (second, first)
    for version, claim in claimants[winner]:
        if not claim.requires:
            at = _where(version, "applicable_code", 4, claim.system, claim.code)
            declared = _where(precedence[winner][loser][0], "precedence", 2, loser)
            return [
                Conflict(
                    ConflictKind.PRECEDENCE,
                    (winner, loser),
                    f"{at}: {winner} claims {words} with no applicable_code_when/4, so its "
                    f"precedence over {loser} ({declared}) cannot tell them apart: {loser} "
                    "would never decide it",
                )
            ]
    return []


def routing_order(names: Iterable[str], policies: Mapping[str, Policy]) -> list[str]:
    """The policies that claim one code, in the order the router tries them:
    a policy before every policy it takes precedence over, else by name.
    CycleError when their precedence runs in a cycle."""
    claimants = sorted(names)
    graph = TopologicalSorter({n: set() for n in claimants})
    for name in claimants:
        for other in policies[name].precedence:
            if other in claimants:
                graph.add(other, name)  # `other` comes after `name`
    graph.prepare()
    order: list[str] = []
    while graph.is_active():
        ready = sorted(graph.get_ready())
        order += ready
        graph.done(*ready)
    return order


def _fact_words(fact: Fact) -> str:
    """A fact's type as the conflict names it: "decimal in kg/m2", "code_list of icd10cm"."""
    words = fact.type.value
    if fact.type.numeric and fact.type is not FactType.DATE:
        words += f" in {fact.unit}" if fact.unit else " with no unit"
    if fact.system:
        words += f" of {fact.system}"
    return words


def fact_conflicts(catalogue: Catalogue) -> list[Conflict]:
    """The facts two policies declare with one name and a different type,
    unit or code system (each pair of policies named once per fact)."""
    declared: dict[str, dict[str, dict[str, Policy]]] = defaultdict(lambda: defaultdict(dict))
    for name, versions in catalogue.items():
        for version in versions:
            for fact in version.facts.values():
                declared[fact.name][name].setdefault(_fact_words(fact), version)
    found: list[Conflict] = []
    for fact_name, by_policy in sorted(declared.items()):
        for first, second in combinations(sorted(by_policy), 2):
            for words_a, version_a in by_policy[first].items():
                different = [w for w in by_policy[second] if w != words_a]
                if not different:
                    continue
                words_b = different[0]
                version_b = by_policy[second][words_b]
                where_a = _where(version_a, "fact", 2, fact_name)
                where_b = _where(version_b, "fact", 2, fact_name)
                found.append(
                    Conflict(
                        ConflictKind.FACT,
                        (first, second),
                        f"{where_a}: fact {fact_name} is {words_a} in {first} but {words_b} "
                        f"in {second} ({where_b}): a fact two policies share has one name, "
                        "type and unit; rename one or make them agree",
                    )
                )
                break
    return sorted(found, key=lambda c: c.message)
