"""Which criterion an explanation item cites for a fact several criteria read
(bridge/model/citing.py), against brute force on generated policies.

The policies are generated in the documented language, as test_compiled.py
generates them (boolean facts and an enum read by several rules, every role,
headings, groups of parts), with each fact's clause/2 lines naming every
criterion whose rules read it, so that most facts are shared, and cites/4
now and then naming one of them. The oracle enumerates every scenario of the
policy's program with clingo (the core's choice of values, no bridge code)
and reads each criterion's met/1 and applies/1 in each; a status over a
partial case is then the fold over the scenarios that agree with it. From
those statuses the citation rule is computed here again, as its docstring
states it, and every decided case's items must cite what it gives, on the
evaluator and on the compiled circuit alike; and plainly: the item cites a
criterion that reads its fact, that decides the verdict or stands on the
explanation's facts, and whose heading covers the case where a deciding one
does.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import clingo
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.compile.compiled import CompiledPolicy
from policykb.bridge.loading.files import core_files
from tests.oracle.test_compiled import case_facts
from tests.sampling import examples

BOOLS = ["a", "b", "c", "d", "e"]
LEVELS = ["low", "mid", "high"]
ROLES = ("indication", "exclusion", "prerequisite")


@st.composite
def literal(draw: st.DrawFn, facts: list[str]) -> tuple[str, str]:
    """A body literal and the fact it reads."""
    fact = draw(st.sampled_from([*facts, "level"]))
    if fact == "level":
        option = draw(st.sampled_from(LEVELS))
        negated = "not " if draw(st.booleans()) else ""
        return f"{negated}value(level, {option})", fact
    return f"{draw(st.sampled_from(['holds', 'fails']))}({fact})", fact


@st.composite
def rules(draw: st.DrawFn, head: str, facts: list[str], reads: dict[str, set[str]]) -> list[str]:
    """One or two rules for `head` (a criterion or section), each of one to
    three literals; records which facts a criterion reads."""
    found = []
    for _ in range(draw(st.integers(1, 2))):
        body = draw(st.lists(literal(facts), min_size=1, max_size=3))
        found.append(f"{head} :- {', '.join(text for text, _ in body)}.")
        if head.startswith("met("):
            reads.setdefault(head[5:-2], set()).update(fact for _, fact in body)
    return found


@st.composite
def policies(draw: st.DrawFn) -> str:
    """A policy whose facts are read by several criteria, each clause/2 line
    naming a criterion that reads the fact."""
    facts = BOOLS[: draw(st.integers(3, len(BOOLS)))]
    lines = ['policy(title, "Generated policy").']
    reads: dict[str, set[str]] = {}
    for rank, fact in enumerate([*facts, "level"], start=1):
        kind = "enum" if fact == "level" else "bool"
        lines += [f"fact({fact}, {kind}). rank({fact}, {rank}).", f'question({fact}, "{fact}?").']
    lines += [f"option(level, {option})." for option in LEVELS]
    headings = draw(st.integers(0, 2))
    for number in range(headings):
        lines.append(f'heading("H{number}", "Heading {number}").')
    if headings == 2 and draw(st.booleans()):
        # Two headings that split the cases on one fact, as "not at high
        # risk" and "at high risk" do: parts under them are alternatives.
        split = draw(st.sampled_from(facts))
        lines += [f'section("H0") :- holds({split}).', f'section("H1") :- fails({split}).']
    else:
        for number in range(headings):
            lines += draw(rules(f'section("H{number}")', facts, reads))
    roles = ["indication"] * draw(st.integers(1, 2))
    roles += draw(st.lists(st.sampled_from(ROLES[1:]), max_size=2))
    for number, role in enumerate(roles):
        ident = f"C{number}"
        lines += [
            f'criterion("{ident}", "{number}", "Criterion {number}.").',
            f'role("{ident}", {role}).',
        ]
        if headings and draw(st.booleans()):
            lines.append(f'under("{ident}", "H{draw(st.integers(0, headings - 1))}").')
        if draw(st.integers(0, 2)):
            parts = draw(st.integers(2, 3))
            how = draw(
                st.sampled_from(["all", "any", *(f"at_least({k})" for k in range(1, parts))])
            )
            lines.append(f'combines("{ident}", {how}).')
            for part in range(parts):
                child = f"{ident}P{part}"
                lines += [
                    f'criterion("{child}", "{number}.{part}", "Part {part}.").',
                    f'role("{child}", requirement). part_of("{child}", "{ident}").',
                ]
                if headings and draw(st.booleans()):
                    lines.append(f'under("{child}", "H{draw(st.integers(0, headings - 1))}").')
                lines += draw(rules(f'met("{child}")', facts, reads))
        else:
            lines += draw(rules(f'met("{ident}")', facts, reads))
    for fact in [*facts, "level"]:
        readers = sorted(c for c, read in reads.items() if fact in read)
        lines += [f'clause({fact}, "{c}").' for c in readers] or [f'clause({fact}, "heading").']
        if len(readers) > 1 and fact != "level" and draw(st.booleans()):
            value = draw(st.sampled_from(["true", "false"]))
            lines.append(f'cites({fact}, {value}, "{draw(st.sampled_from(readers))}", "Cited.").')
    return "\n".join(lines) + "\n"


Scenario = tuple[dict[str, object], frozenset[str], frozenset[str]]
"""A complete scenario: each fact's value, the criteria met, those that apply."""


def scenarios(text: str) -> list[Scenario]:
    """Every scenario of the policy's program, enumerated by clingo."""
    # Projected on the values: which facts a case states (known/1) only
    # notes read, so each scenario is one model.
    ctl = clingo.Control(["0", "--warn=none", "--project"])
    for path in core_files():
        ctl.load(str(path))
    shown = "#show value/2. #show met/1. #show applies/1. #project value/2.\n"
    ctl.add("base", [], text + shown)
    ctl.ground([("base", [])])
    found: list[Scenario] = []
    with ctl.solve(yield_=True) as handle:
        for model in handle:
            values: dict[str, object] = {}
            met: set[str] = set()
            applies: set[str] = set()
            for symbol in model.symbols(shown=True):
                if symbol.match("value", 2):
                    fact, value = symbol.arguments
                    values[fact.name] = (
                        value.name == "true" if value.name in ("true", "false") else value.name
                    )
                elif symbol.match("met", 1):
                    met.add(symbol.arguments[0].string)
                elif symbol.match("applies", 1):
                    applies.add(symbol.arguments[0].string)
            found.append((values, frozenset(met), frozenset(applies)))
    return found


def statuses(
    every: list[Scenario], known: Mapping[str, object], criteria: list[str]
) -> dict[str, str]:
    """Each criterion's status over the scenarios agreeing with `known`."""
    agreeing = [s for s in every if all(s[0][f] == v for f, v in known.items())]
    found = {}
    for c in criteria:
        if not any(c in s[2] for s in agreeing):
            found[c] = "not_applicable"
        elif all(c in s[1] for s in agreeing):
            found[c] = "met"
        elif not any(c in s[1] for s in agreeing):
            found[c] = "not_met"
        else:
            found[c] = "unknown"
    return found


class Oracle:
    """The citation rule, computed from brute-force statuses."""

    def __init__(
        self,
        policy: Any,
        every: list[Scenario],
        verdict: Verdict,
        known: dict[str, object],
        given: dict[str, object],
    ) -> None:
        self.policy, self.every, self.verdict = policy, every, verdict
        self.known, self.given = known, given
        self.names = list(policy.criteria)
        self.on_given = self.status(given)
        self.on_known = self.status(known)

    def status(self, known: Mapping[str, object]) -> dict[str, str]:
        return statuses(self.every, known, self.names)

    def tops(self, c: str) -> set[str]:
        parents = self.policy.criteria[c].parents
        return {c} if not parents else set().union(*(self.tops(p) for p in parents))

    def stands(self, status: dict[str, str], c: str) -> bool:
        declared = self.policy.criteria[c]
        if declared.role.value == "requirement" and not declared.parents:
            return status[c] in ("met", "not_met")
        exclusion = {self.policy.criteria[t].role.value for t in self.tops(c)} == {"exclusion"}
        if self.verdict is Verdict.COVERED:
            return status[c] == "met" and not exclusion
        return status[c] == ("met" if exclusion else "not_met")

    def settled(self, status: dict[str, str], c: str) -> bool:
        declared = self.policy.criteria[c]
        inapplicable = (
            self.verdict is Verdict.NOT_COVERED
            and not declared.parents
            and declared.role.value == "indication"
            and status[c] == "not_applicable"
        )
        return self.stands(status, c) or inapplicable

    def blocker(self) -> bool:
        for c, declared in self.policy.criteria.items():
            if declared.parents:
                continue
            if declared.role.value == "exclusion" and self.on_given[c] == "met":
                return True
            if declared.role.value == "prerequisite" and self.on_given[c] == "not_met":
                return True
        return False

    def decides(self, c: str, without: dict[str, str]) -> bool:
        declared = self.policy.criteria[c]
        if not declared.parents:
            if self.verdict is Verdict.NOT_COVERED and declared.role.value == "indication":
                return not self.blocker()
            return True
        return any(
            self.stands(self.on_given, p)
            and not self.settled(without, p)
            and self.decides(p, without)
            for p in declared.parents
        )

    def candidates(self, fact: str, value: object) -> list[str]:
        declared = self.policy.facts[fact]
        cited = declared.citations.get(value)
        first = cited.criterion if cited else None
        ordered = [c for c in self.names if c in declared.clauses]
        return [c for c in ordered if c == first] + [c for c in ordered if c != first]

    def cite(self, fact: str, value: object) -> tuple[str | None, list[str]]:
        """The criterion the rule cites (None: the static citation), and the
        candidates that decide the verdict with a heading covering the case."""
        pool = [
            c
            for c in self.candidates(fact, value)
            if self.stands(self.on_given, c)
            or (self.on_given[c] == "unknown" and self.policy.criteria[c].parents)
        ]
        given_without = self.status({f: v for f, v in self.given.items() if f != fact})
        known_without = self.status({f: v for f, v in self.known.items() if f != fact})

        def key(c: str) -> tuple[bool, ...]:
            return (
                not self.decides(c, given_without),
                self.on_known[c] == "not_applicable",
                not self.stands(self.on_given, c),
                not (self.stands(self.on_known, c) and not self.stands(known_without, c)),
            )

        best = min(pool, key=key, default=None)
        if best is not None and key(best)[0] and key(best)[2]:
            best = None
        applying = [c for c in pool if not key(c)[0] and not key(c)[1]]
        return best, applying


SETTINGS = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # a failure names its policy and case
)


@SETTINGS
@given(text=policies(), data=st.data())
def test_a_shared_fact_cites_the_criterion_that_decides_the_case(
    text: str, data: st.DataObject
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        policy_folder = Path(folder) / "generated"
        policy_folder.mkdir()
        (policy_folder / "policy.lp").write_text(text)
        kb = KnowledgeBase([policy_folder])
        evaluator = kb.evaluator("generated")
        compiled = CompiledPolicy(evaluator)
        policy = evaluator.policy
        every = scenarios(text)
        for _ in range(4):
            facts = data.draw(case_facts(evaluator))
            case = kb.case({"id": "g", "facts": facts}, policy="generated")
            evaluation = evaluator.evaluate(case)
            assert compiled.evaluate(case) == evaluation, (text, facts)
            if evaluation.verdict is Verdict.NEEDS_INFORMATION:
                continue
            given = {item.fact: item.value for item in evaluation.explanation}
            oracle = Oracle(policy, every, evaluation.verdict, dict(case.facts), given)
            for item in evaluation.explanation:
                declared = policy.facts[item.fact]
                expected, applying = oracle.cite(item.fact, item.value)
                if expected is None:
                    assert item.criterion == policy.citation(item.fact, item.value).criterion
                    continue
                assert item.criterion == expected, (text, facts, item)
                assert item.criterion in declared.clauses
                assert oracle.decides(
                    item.criterion,
                    oracle.status({f: v for f, v in given.items() if f != item.fact}),
                ) or oracle.stands(oracle.on_given, item.criterion)
                if applying:
                    assert oracle.on_known[item.criterion] != "not_applicable", (text, facts, item)
