"""A policy compiled to circuits, for evaluating many cases fast.

The verdict and each criterion's met/1 and applies/1 are compiled once to a
decision circuit (circuit.py, built by program.py). A case is evaluated by
one run over the prepared circuit (run.py, prepared.py), with exactly the
Evaluator's answers, which a property test checks on every bundled policy,
every fixture and generated policies; `CompiledPolicy` turns a case into
the run's vector and the run's answers into an Evaluation.

A compiled policy is cached on disk (cache.py), keyed by a hash of the
policy's statements. A case the circuit cannot settle within its limits is
evaluated by the Evaluator.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from policykb.bridge.compile.answering import CircuitAnswers
from policykb.bridge.compile.cache import load_compiled, store_compiled
from policykb.bridge.compile.circuit import TooComplex
from policykb.bridge.compile.prepared import FAILS, HOLDS, Prepared, Undecided
from policykb.bridge.compile.program import Domain, Roots, build_roots, domain_of
from policykb.bridge.compile.refuting import refuting_part
from policykb.bridge.compile.run import VERDICTS, Run, node_values
from policykb.bridge.model.case import Case
from policykb.bridge.model.policy import Value
from policykb.bridge.model.result import Evaluation, ExplanationItem, Note, Status, Verdict
from policykb.bridge.solving.evaluator import Evaluator
from policykb.bridge.solving.literals import OTHER

MAX_SECONDS = 60.0
"""How long compiling a policy may take before it is evaluated case by case."""

ITEMS_KEPT = 100_000
"""Explanation items (a fact, its value and its citation) kept for reuse."""


class CompiledPolicy:
    """A policy's verdict and criteria as circuits; evaluates cases exactly."""

    def __init__(self, evaluator: Evaluator, *, seconds: float = MAX_SECONDS) -> None:
        self.evaluator = evaluator
        self.policy = evaluator.policy
        self.domain: Domain = domain_of(evaluator)
        cached = load_compiled(evaluator, self.domain)
        if cached is None:
            built, roots = build_roots(evaluator, self.domain, time.monotonic() + seconds)
            self.circuit, number = built.compact(
                [roots.covered, *roots.met.values(), *roots.applies.values()]
            )
            self.roots = Roots(
                number[roots.covered],
                {key: number[node] for key, node in roots.met.items()},
                {key: number[node] for key, node in roots.applies.items()},
            )
            store_compiled(evaluator, self.domain, self.circuit, self.roots)
        else:
            self.circuit, self.roots = cached
        self.circuit.deadline = None
        self.prepared = Prepared(self.circuit)
        self.answers = CircuitAnswers(
            self.policy,
            self.prepared,
            (self.roots.covered, self.roots.met, self.roots.applies),
            self.domain.facts,
            self.domain.keys,
            self.domain.lists,
            OTHER,
        )
        self.number = self.answers.number
        self.value_number = self.answers.value_number
        self._items: dict[tuple[str, Value, bool], ExplanationItem] = {}
        from policykb.bridge.loading.rules import depends_on

        rules = evaluator.rules
        note_predicates = depends_on(rules, ["warning", "caution"])
        self.note_facts = sorted(
            {f for rule in rules if rule.head in note_predicates for f in rule.facts}
        )
        self._notes: dict[tuple[object, ...], tuple[Note, ...]] = {}

    def vector(self, known: Mapping[str, Value]) -> list[int]:
        """The number of each known fact's value (-1: unknown), by fact number."""
        return self.answers.vector(known)

    def explain_item(self, fact: str, value: Value, assumed: bool) -> ExplanationItem:
        key = (fact, value, assumed)
        found = self._items.get(key)
        if found is None:
            found = self.evaluator.explain_item(fact, value, assumed)
            if len(self._items) < ITEMS_KEPT:
                self._items[key] = found
        return found

    def _scenario_vector(self, values: Mapping[str, object]) -> list[int]:
        """The vector of a partial scenario (scenario values: regions, cells)."""
        vector = [-1] * len(self.domain.facts)
        for fact, key in values.items():
            number = self.number[fact]
            if number in self.domain.lists:
                assert isinstance(key, frozenset)
                options = self.domain.keys[number]
                vector[number] = sum(1 << i for i, o in enumerate(options) if o in key)
            else:
                vector[number] = self.value_number[number][key]
        return vector

    def forcing_part(self, values: Mapping[str, object], covered: bool) -> set[str] | None:
        """The smallest part of a partial scenario that forces the verdict
        covered (True) or not covered (False) in every completion; None when
        the scenario does not force it or the circuit cannot settle it."""
        run = Run(self.prepared, self._scenario_vector(values))
        target = HOLDS if covered else FAILS
        if run.value(self.roots.covered) != target:
            return None
        try:
            part = run.explain(self.roots.covered, target)
        except Undecided:
            return None
        return {self.domain.facts[n] for n in part}

    def refuting_part(
        self, values: Mapping[str, object], covered: bool
    ) -> dict[str, object] | None:
        """None when every completion of a partial scenario has the verdict
        covered (True) or not covered (False); else a subset-minimal partial
        scenario, agreeing with `values` on the facts both state, under which
        no completion has that verdict (refuting.py)."""
        target = HOLDS if covered else FAILS
        vector = self._scenario_vector(values)
        part = refuting_part(self.prepared, vector, self.roots.covered, target)
        if part is None:
            return None
        return {self.domain.facts[n]: self._scenario_value(n, v) for n, v in part.items()}

    def _scenario_value(self, number: int, value: int) -> object:
        """The scenario value of fact `number`'s value number (for a list,
        the options of its bitmask)."""
        options = self.domain.keys[number]
        if number in self.domain.lists:
            return frozenset(o for i, o in enumerate(options) if value >> i & 1)
        return options[value]

    def statuses(self, values: Mapping[str, object]) -> dict[str, Status]:
        """Each criterion's status in a partial scenario, from one run (the
        met/1 and applies/1 roots: what holds in some and in every completion)."""
        return self.answers.statuses(Run(self.prepared, self._scenario_vector(values)))

    def verdict(self, values: Mapping[str, object]) -> Verdict:
        """The verdict of a partial scenario."""
        vector = self._scenario_vector(values)
        return VERDICTS[node_values(self.prepared, vector)[self.roots.covered]]

    def notes_key(self, known: Mapping[str, Value]) -> tuple[object, ...]:
        """What of a case's known facts its warnings and cautions depend on."""
        return tuple((f, known.get(f)) for f in self.note_facts)

    def notes_of(self, known: Mapping[str, Value]) -> tuple[Note, ...]:
        key = self.notes_key(known)
        if key not in self._notes:
            part = {f: known[f] for f in self.note_facts if f in known}
            self._notes[key] = self.evaluator.notes_of(part)
        return self._notes[key]

    def evaluate(self, case: Case) -> Evaluation:
        """The same evaluation as Evaluator.evaluate, from the circuits."""
        found = self.answers.evaluate(case, self.explain_item, self.notes_of)
        return self.evaluator.evaluate(case) if found is None else found


def compile_policy(evaluator: Evaluator, *, seconds: float = MAX_SECONDS) -> CompiledPolicy | None:
    """The compiled policy, or None when the policy is outside what compiling
    covers (see program.py; a policy with a product or ratio is not compiled)
    or takes longer than `seconds` to compile. A
    policy with reference dates compiles once per day of them: pass the
    evaluator `Evaluator.for_known` gives."""
    if evaluator.references and not evaluator.anchors:
        return None
    if evaluator.policy.arithmetic:
        # A product or ratio takes per case only the regions its stated
        # operands reach (solver assumptions), which a circuit does not hold.
        return None
    try:
        return CompiledPolicy(evaluator, seconds=seconds)
    except TooComplex:
        return None


class CompiledPolicies:
    """Compiled policies by evaluator, compiled on first use; a policy with
    reference dates once per day of them (the last ANCHORS_KEPT days kept)."""

    ANCHORS_KEPT = 32

    def __init__(self, *, seconds: float = MAX_SECONDS) -> None:
        self.seconds = seconds
        from cachetools import LRUCache

        self._compiled: LRUCache[tuple[object, ...], CompiledPolicy | None]
        self._compiled = LRUCache(maxsize=self.ANCHORS_KEPT)

    def of(self, evaluator: Evaluator) -> CompiledPolicy | None:
        key = (
            evaluator.policy.name,
            evaluator.source.entry,
            evaluator.fixed,
            *sorted(evaluator.anchors.items()),
        )
        if key in self._compiled:
            return self._compiled[key]  # a hit makes it the most recently used
        compiled = compile_policy(evaluator, seconds=self.seconds)
        self._compiled[key] = compiled
        return compiled

    def evaluate(self, evaluator: Evaluator, case: Case) -> Evaluation:
        """Evaluator.evaluate(case), from the compiled policy where there is one."""
        if evaluator.references:
            known, _ = evaluator.known_facts(case)
            evaluator = evaluator.for_case(known)
            if evaluator.needs_anchors:  # a reference date left unknown
                return evaluator.evaluate(case)
        compiled = self.of(evaluator)
        return compiled.evaluate(case) if compiled else evaluator.evaluate(case)
