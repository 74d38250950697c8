"""Proofs by cases claim only what they proved, over generated policies.

Each generated policy has three boolean facts and an enumerated one, a few
indications (a count of conditions, or a conjunction), and maybe an exclusion
and a prerequisite; its oracle is the same conditions in Python. For each
generated case the Prolog proof must:

- have a root whose truth is the verdict's (true, false or unknown);
- in every "cases" node (every value explored, one verdict), list one branch
  per value of the fact, all with that verdict, which brute force confirms
  under the branch's values;
- in every other split node (truth unknown), show branches that prove the
  case needs information: one branch that needs information, or two whose
  verdicts differ, each confirmed by brute force.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import product
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from tests.sampling import examples

BOOLS = ("a", "b", "c")
LEVELS = ("low", "mid", "high")
DOMAIN: dict[str, list[Any]] = {**{f: [True, False] for f in BOOLS}, "level": list(LEVELS)}
TRUTH = {Verdict.COVERED: "true", Verdict.NOT_COVERED: "false"}
TRUTH[Verdict.NEEDS_INFORMATION] = "unknown"

# A literal: (fact, wanted value); ASP text for it.
Literal = tuple[str, Any]


def literal_text(literal: Literal) -> str:
    fact, value = literal
    if fact == "level":
        return f"value(level, {value})"
    return f"holds({fact})" if value else f"fails({fact})"


@dataclass(frozen=True)
class Condition:
    """`needed` or more of `literals` hold (needed == len: a conjunction)."""

    literals: tuple[Literal, ...]
    needed: int

    def text(self) -> str:
        parts = [literal_text(lit) for lit in self.literals]
        if self.needed == len(parts):
            return ", ".join(parts)
        return f"{self.needed} {{ {'; '.join(parts)} }}"

    def holds(self, facts: dict[str, Any]) -> bool:
        return sum(facts[f] == v for f, v in self.literals) >= self.needed


@dataclass(frozen=True)
class Generated:
    indications: tuple[Condition, ...]
    exclusion: Condition | None
    prerequisite: Condition | None

    def covered(self, facts: dict[str, Any]) -> bool:
        indicated = any(c.holds(facts) for c in self.indications)
        excluded = self.exclusion is not None and self.exclusion.holds(facts)
        allowed = self.prerequisite is None or self.prerequisite.holds(facts)
        return indicated and allowed and not excluded

    def text(self) -> str:
        lines = ['policy(title, "Generated").']
        for rank, fact in enumerate((*BOOLS, "level"), start=1):
            kind = "enum" if fact == "level" else "bool"
            lines += [f"fact({fact}, {kind}).  rank({fact}, {rank}).", f'question({fact}, "?").']
        lines += [f"option(level, {o})." for o in LEVELS]
        rules = [(f"I{n}", "indication", c) for n, c in enumerate(self.indications, 1)]
        if self.exclusion is not None:
            rules.append(("X", "exclusion", self.exclusion))
        if self.prerequisite is not None:
            rules.append(("P", "prerequisite", self.prerequisite))
        for ident, role, condition in rules:
            lines += [
                f'criterion("{ident}", "{ident}", "Rule {ident}.").  role("{ident}", {role}).',
                f'met("{ident}") :- {condition.text()}.',
            ]
            for fact in sorted({f for f, _ in condition.literals}):
                lines.append(f'clause({fact}, "{ident}").')
        return "\n".join(lines) + "\n"

    def verdict(self, known: dict[str, Any]) -> Verdict:
        unknown = [f for f in DOMAIN if f not in known]
        seen = {
            self.covered({**known, **dict(zip(unknown, values, strict=True))})
            for values in product(*(DOMAIN[f] for f in unknown))
        }
        if seen == {True}:
            return Verdict.COVERED
        return Verdict.NOT_COVERED if seen == {False} else Verdict.NEEDS_INFORMATION


literals = st.one_of(
    st.tuples(st.sampled_from(BOOLS), st.booleans()),
    st.tuples(st.just("level"), st.sampled_from(LEVELS)),
)


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    chosen = draw(st.lists(literals, min_size=1, max_size=3, unique_by=lambda lit: lit[0]))
    return Condition(tuple(chosen), draw(st.integers(1, len(chosen))))


@st.composite
def policies(draw: st.DrawFn) -> Generated:
    return Generated(
        tuple(draw(st.lists(conditions(), min_size=1, max_size=2))),
        draw(st.none() | conditions()),
        draw(st.none() | conditions()),
    )


@st.composite
def partial_cases(draw: st.DrawFn) -> dict[str, Any]:
    return {f: draw(st.sampled_from(values)) for f, values in DOMAIN.items() if draw(st.booleans())}


def branch_value(fact: str, words: str) -> Any:
    return {"true": True, "false": False}[words] if fact in BOOLS else words


def check_splits(node: dict[str, Any], policy: Generated, known: dict[str, Any]) -> None:
    """Every split node below `node`, under the values its branches gave."""
    if node["rule"] != "cases":
        for child in node["children"]:
            check_splits(child, policy, known)
        return
    fact = node["goal"].removeprefix("cases(").removesuffix(")")
    assert fact not in known, f"a split on {fact}, which is known"
    verdicts = []
    for child in node["children"]:
        if child["rule"] != "case split":
            # The three-valued proof that left the verdict unknown.
            assert node["truth"] == "unknown" and child["truth"] == "unknown"
            check_splits(child, policy, known)
    for branch in [c for c in node["children"] if c["rule"] == "case split"]:
        value = branch_value(fact, branch["goal"].removeprefix(f"{fact} = "))
        under = {**known, fact: value}
        verdict = policy.verdict(under)
        assert branch["truth"] == TRUTH[verdict], branch["goal"]
        assert branch["text"].endswith(f": {verdict.value}")
        verdicts.append((value, verdict))
        for child in branch["children"]:
            check_splits(child, policy, under)
    shown = {v for v, _ in verdicts}
    kinds = {verdict for _, verdict in verdicts}
    if node["truth"] == "unknown":
        # The branches shown prove the case needs information.
        assert Verdict.NEEDS_INFORMATION in kinds or len(kinds) == 2, node["text"]
        assert policy.verdict(known) is Verdict.NEEDS_INFORMATION
    else:
        assert shown == set(DOMAIN[fact]), "a proof by cases explores every value"
        (verdict,) = kinds
        assert node["truth"] == TRUTH[verdict]
        assert policy.verdict(known) is verdict


@settings(
    max_examples=examples(40),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(policy=policies(), cases=st.lists(partial_cases(), min_size=1, max_size=4))
def test_proof_roots_and_splits_claim_only_what_was_proved(
    tmp_path_factory: Any, policy: Generated, cases: list[dict[str, Any]]
) -> None:
    folder: Path = tmp_path_factory.mktemp("generated")
    (folder / "policy.lp").write_text(policy.text(), encoding="utf-8")
    kb = KnowledgeBase([folder])
    for facts in cases:
        case = kb.case({"policy": folder.name, "facts": facts})
        verdict, proof = kb.prove(case)
        assert verdict is policy.verdict(facts)
        assert proof["root"]["truth"] == TRUTH[verdict]
        check_splits(proof["root"], policy, facts)


def test_the_issue_example_needs_information_with_the_branches_that_differ(
    tmp_path: Path,
) -> None:
    """2 { holds(a); holds(b); holds(c) } with a false: b and c decide."""
    folder = tmp_path / "two-of-three"
    folder.mkdir()
    two = Condition((("a", True), ("b", True), ("c", True)), 2)
    policy = Generated((two,), None, None)
    (folder / "policy.lp").write_text(policy.text(), encoding="utf-8")
    kb = KnowledgeBase([folder])
    verdict, proof = kb.prove(kb.case({"policy": "two-of-three", "facts": {"a": False}}))
    assert verdict is Verdict.NEEDS_INFORMATION
    root = proof["root"]
    assert root["truth"] == "unknown" and "every value" not in root["text"]
    check_splits(root, policy, {"a": False})
