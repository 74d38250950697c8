"""A policy compiled to circuits, for evaluating many cases fast.

The verdict and each criterion's met/1 and applies/1 are compiled once to a
decision circuit (circuit.py). A case is its known facts, each fixed to a
value, the others free. One pass over the nodes the case reaches gives,
exactly (the same answers as the Evaluator, which a property test checks on
every bundled policy, every fixture and generated policies):

- each node's three-valued value: an AND node is true when every child is,
  false when one is (its children read disjoint facts, so this is exact);
  a DECIDE node on an unknown fact is true (false) when every branch is;
- the missing facts: those the restricted verdict still depends on. An AND
  (OR) node that is undecided depends on what its undecided children depend
  on; an undecided DECIDE node on an unknown fact also on that fact, unless
  every branch is the same function;
- the smallest explanation (fewest facts, then the lowest ranks): for AND
  true, the union of its children's; for AND false, the best of its false
  children's (OR the other way round); for a DECIDE node, the better of
  keeping its fact (and its branch's explanation) or leaving it out (then
  one set of facts must decide every branch: the branches' conjunction,
  compiled on demand).

A compiled policy is cached on disk (cache.py), keyed by a hash of the
policy's statements. A case the circuit cannot settle within its limits is
evaluated by the Evaluator.
"""

from __future__ import annotations

import itertools
import operator
import time
from collections.abc import Mapping, Sequence

from policykb.bridge.compile.cache import load_compiled, store_compiled
from policykb.bridge.compile.circuit import (
    AND,
    DECIDE,
    LEAF,
    OR,
    TRUE,
    Circuit,
    TooComplex,
    bits,
)
from policykb.bridge.compile.program import Domain, Roots, build_roots, domain_of
from policykb.bridge.model.case import Case
from policykb.bridge.model.policy import Value
from policykb.bridge.model.result import Evaluation, ExplanationItem, Note, Status, Verdict
from policykb.bridge.solving.evaluator import Evaluator

MAX_SECONDS = 60.0
"""How long compiling a policy may take before it is evaluated case by case."""

MAX_CHECKED = 4096
"""Completions tried when two branches must be compared value by value."""

ITEMS_KEPT = 100_000
"""Explanation items (a fact, its value and its citation) kept for reuse."""

# A node's value in a case, as two bits: it can be true (1), it can be false (2).
HOLDS, FAILS, UNKNOWN = 1, 2, 3

Explanation = tuple[int, ...]  # fact numbers, ascending (= by rank)


class Undecided(Exception):
    """The circuit cannot settle this case within its limits."""


def _best(options: Sequence[Explanation]) -> Explanation:
    return min(options, key=lambda e: (len(e), e))


def node_program(circuit: Circuit) -> list[tuple[int, int, int, int, tuple[int, ...]]]:
    """Each node as (number, kind, fact, mask, children), children first."""
    return [
        (n, circuit.kind[n], circuit.fact[n], circuit.mask[n], circuit.children[n])
        for n in range(2, len(circuit))
    ]


def node_values(prepared: Prepared, vector: Sequence[int]) -> list[int]:
    """The value of every node of a prepared circuit in a case."""
    values = [FAILS, HOLDS]
    # The leading leaves in one sweep: a row per leaf, by the fact's value
    # number, whose last entry (index -1: unknown) is UNKNOWN.
    values += [row[vector[fact]] for fact, row in prepared.leaf_rows]
    values += [0] * len(prepared.inner)
    for node, kind, fact, children, read in prepared.inner:
        if kind == AND:  # false if a child is, else unknown if a child is, else true
            seen = read(values)
            values[node] = FAILS if FAILS in seen else UNKNOWN if UNKNOWN in seen else HOLDS
        elif kind == OR:  # true if a child is, else unknown if a child is, else false
            seen = read(values)
            values[node] = HOLDS if HOLDS in seen else UNKNOWN if UNKNOWN in seen else FAILS
        elif kind == LEAF:
            chosen = vector[fact]
            values[node] = UNKNOWN if chosen < 0 else (children[0] >> chosen & 1) or FAILS
        else:
            chosen = vector[fact]
            if chosen >= 0:
                values[node] = values[children[chosen]]
            else:
                either = 0
                for child in children:
                    either |= values[child]
                values[node] = either
    return values


VERDICTS = {HOLDS: Verdict.COVERED, FAILS: Verdict.NOT_COVERED, UNKNOWN: Verdict.NEEDS_INFORMATION}
STATUSES = {HOLDS: Status.MET, FAILS: Status.NOT_MET, UNKNOWN: Status.UNKNOWN}


class Run:
    """One case on the circuit: values, missing facts and explanations, each
    node computed once."""

    def __init__(self, prepared: Prepared, vector: list[int]) -> None:
        self.prepared = prepared
        self.circuit = prepared.circuit
        self.vector = vector
        self.values = node_values(prepared, vector)
        self._later: dict[int, int] = {}
        self.missing_of: dict[int, int] = {}
        self.explained: dict[tuple[int, int], Explanation] = {}

    def value(self, node: int) -> int:
        """A node's value; nodes built after compiling (see `together`) on demand."""
        if node < len(self.values):
            return self.values[node]
        found = self._later.get(node)
        if found is not None:
            return found
        circuit = self.circuit
        kind, children = circuit.kind[node], circuit.children[node]
        chosen = self.vector[circuit.fact[node]] if kind in (LEAF, DECIDE) else -1
        if kind == LEAF:
            result = UNKNOWN if chosen < 0 else (circuit.mask[node] >> chosen & 1) or FAILS
        elif kind == DECIDE and chosen >= 0:
            result = self.value(children[chosen])
        else:
            seen = [self.value(child) for child in children]
            holds = [v & HOLDS for v in seen]
            fails = [v & FAILS for v in seen]
            if kind == AND:
                result = (HOLDS if all(holds) else 0) | (FAILS if any(fails) else 0)
            elif kind == OR:
                result = (HOLDS if any(holds) else 0) | (FAILS if all(fails) else 0)
            else:
                result = (HOLDS if any(holds) else 0) | (FAILS if any(fails) else 0)
        self._later[node] = result
        return result

    # -- missing facts -----------------------------------------------------------

    def missing(self, node: int) -> int:
        """The facts an undecided node still depends on, as a bitmask."""
        found = self.missing_of.get(node)
        if found is not None:
            return found
        circuit = self.circuit
        kind = circuit.kind[node]
        if kind == LEAF:
            result = 1 << circuit.fact[node]
        elif kind == DECIDE and self.vector[circuit.fact[node]] >= 0:
            result = self.missing(circuit.children[node][self.vector[circuit.fact[node]]])
        else:
            result = 0
            children = circuit.children[node]
            for child in children:
                if self.value(child) == UNKNOWN:
                    result |= self.missing(child)
            if kind == DECIDE and not self._same_functions(children):
                result |= 1 << circuit.fact[node]
        self.missing_of[node] = result
        return result

    def _same_functions(self, nodes: Sequence[int]) -> bool:
        """Whether the branches of an undecided DECIDE node are one function
        under the case (then its fact does not matter)."""
        distinct = sorted(set(nodes))
        if len(distinct) == 1:
            return True
        values = {self.value(node) for node in distinct}
        if values != {UNKNOWN}:
            return False
        supports = {self.missing(node) for node in distinct}
        if len(supports) > 1:
            return False
        facts = list(bits(supports.pop()))
        sizes = [self.circuit.sizes[fact] for fact in facts]
        total = 1
        for size in sizes:
            total *= size
        if total > MAX_CHECKED:
            raise Undecided("branches too large to compare")
        for choice in itertools.product(*(range(size) for size in sizes)):
            vector = list(self.vector)
            for fact, value in zip(facts, choice, strict=True):
                vector[fact] = value
            run = Run(self.prepared, vector)
            if len({run.value(node) for node in distinct}) > 1:
                return False
        return True

    # -- explanations ------------------------------------------------------------

    def explain(self, node: int, target: int) -> Explanation:
        """The smallest set of the case's facts (lowest ranks among equals)
        under which `node` has the value `target`, which it has in the case."""
        key = (node, target)
        found = self.explained.get(key)
        if found is not None:
            return found
        circuit = self.circuit
        kind = circuit.kind[node]
        children = circuit.children[node]
        if kind == LEAF:
            result: Explanation = (circuit.fact[node],)
        elif kind <= TRUE:
            result = ()
        elif (kind == AND) == (target == HOLDS) and kind != DECIDE:
            # every child must keep its value
            result = self._union([self.explain(child, target) for child in children])
        elif kind != DECIDE:
            result = self._one_child(children, target)
        else:
            fact = circuit.fact[node]
            chosen = self.vector[fact]
            options = []
            if chosen >= 0:
                options.append(tuple(sorted((fact, *self.explain(children[chosen], target)))))
            if all(self.value(child) == target for child in children) and (
                not options or self.prepared.joint_bound(children, target) <= len(options[0])
            ):
                options.append(self._joint(children, target))
            result = _best(options)
        self.explained[key] = result
        return result

    def _one_child(self, children: Sequence[int], target: int) -> Explanation:
        """The best explanation of a child with the value `target` (one
        suffices). A child is skipped when its lower bound shows it cannot
        beat the best so far: more facts, or as many with a higher first one
        (its explanation starts at its lowest fact or later)."""
        prepared = self.prepared
        lower, side = prepared.lower, 0 if target == FAILS else 1
        support = self.circuit.support
        best: Explanation | None = None
        for child in children:
            if self.value(child) != target:
                continue
            if best is not None and child < len(lower):
                bound = lower[child][side]
                if bound > len(best):
                    continue
                if bound == len(best):
                    mask = support[child]
                    if (mask & -mask).bit_length() - 1 > best[0]:
                        continue
            found = self.explain(child, target)
            if best is None or (len(found), found) < (len(best), best):
                best = found
                if not best:
                    break
        assert best is not None
        return best

    @staticmethod
    def _union(parts: Sequence[Explanation]) -> Explanation:
        return tuple(sorted(itertools.chain.from_iterable(parts)))

    def _joint(self, nodes: Sequence[int], target: int) -> Explanation:
        """The smallest set of facts under which every node has the value `target`."""
        distinct = sorted(set(nodes))
        seen = 0
        for node in distinct:
            support = self.circuit.support[node]
            if seen & support:
                together = self.prepared.together(tuple(distinct), target)
                return self.explain(together, HOLDS)
            seen |= support
        return self._union([self.explain(node, target) for node in distinct])


class Prepared:
    """A circuit ready for runs: its nodes in order (children first) and, for
    each node, the fewest facts an explanation of it can have. Nodes built
    later (conjunctions `together` builds) answer on demand."""

    def __init__(self, circuit: Circuit) -> None:
        self.circuit = circuit
        self.program = node_program(circuit)
        leading = 0
        while leading < len(self.program) and self.program[leading][1] == LEAF:
            leading += 1
        self.leaf_rows = [
            (fact, [(mask >> v & 1) or FAILS for v in range(circuit.sizes[fact])] + [UNKNOWN])
            for _, _, fact, mask, _ in self.program[:leading]
        ]
        # The other nodes as (number, kind, fact, children or (mask,), reader
        # of the children's values): AND and OR read theirs in one call.
        self.inner = [
            (
                node,
                kind,
                fact,
                (mask,) if kind == LEAF else children,
                operator.itemgetter(*(children if kind in (AND, OR) else (0,))),
            )
            for node, kind, fact, mask, children in self.program[leading:]
        ]
        self.lower = self._lower_bounds()
        self._together: dict[tuple[tuple[int, ...], int], int] = {}

    def _lower_bounds(self) -> list[tuple[int, int]]:
        """For each node, the fewest facts any explanation of it can have, for
        the value false and for true (in any case): bounds that let a
        decision skip deciding every branch at once when keeping its fact
        is surely smaller."""
        circuit = self.circuit
        bounds = [(0, 0), (0, 0)]
        for _, kind, _, _, children in self.program:
            if kind == LEAF:
                bounds.append((1, 1))
                continue
            fails = [bounds[c][0] for c in children]
            holds = [bounds[c][1] for c in children]
            if kind == AND:
                bounds.append((min(fails), sum(holds)))
            elif kind == OR:
                bounds.append((sum(fails), min(holds)))
            else:
                keep = (1 + min(fails), 1 + min(holds))
                disjoint = self._disjoint(children)
                every = (sum(fails), sum(holds)) if disjoint else (max(fails), max(holds))
                bounds.append((min(keep[0], every[0]), min(keep[1], every[1])))
        assert len(bounds) == len(circuit)
        return bounds

    def _disjoint(self, nodes: Sequence[int]) -> bool:
        seen = 0
        for node in set(nodes):
            support = self.circuit.support[node]
            if seen & support:
                return False
            seen |= support
        return True

    def joint_bound(self, nodes: Sequence[int], target: int) -> int:
        """The fewest facts that can decide every one of `nodes` at once."""
        side = 0 if target == FAILS else 1
        distinct = set(nodes)
        if any(node >= len(self.lower) for node in distinct):
            return 0
        sizes = [self.lower[node][side] for node in distinct]
        return sum(sizes) if self._disjoint(list(distinct)) else max(sizes)

    def together(self, nodes: tuple[int, ...], target: int) -> int:
        """The node true where every one of `nodes` has the value `target`."""
        key = (nodes, target)
        found = self._together.get(key)
        if found is None:
            circuit = self.circuit
            parts = nodes if target == HOLDS else [circuit.negate(n) for n in nodes]
            try:
                found = circuit.conjoin(parts)
            except TooComplex as error:
                raise Undecided(str(error)) from None
            self._together[key] = found
        return found


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
        self._criteria = [
            (key, self.roots.applies[key], self.roots.met[key]) for key in self.policy.criteria
        ]
        facts = self.domain.facts
        self.number = {fact: n for n, fact in enumerate(facts)}
        self.value_number = [{key: i for i, key in enumerate(keys)} for keys in self.domain.keys]
        # Facts whose case values may be their own keys: fact -> (number, value numbers).
        self._direct = {
            fact: (n, self.value_number[n])
            for fact, n in self.number.items()
            if n not in self.domain.lists
        }
        self._items: dict[tuple[str, Value, bool], ExplanationItem] = {}
        self._defaults = {
            name: fact.default
            for name, fact in self.policy.facts.items()
            if fact.default is not None
        }
        self._missing_items = [evaluator.missing_item(fact) for fact in facts]
        self._by_vocabulary = [self.number[fact] for fact in self.policy.facts]
        from policykb.bridge.loading.rules import depends_on

        rules = evaluator.rules
        note_predicates = depends_on(rules, ["warning", "caution"])
        self.note_facts = sorted(
            {f for rule in rules if rule.head in note_predicates for f in rule.facts}
        )
        self._notes: dict[tuple[object, ...], tuple[Note, ...]] = {}

    def vector(self, known: Mapping[str, Value]) -> list[int]:
        """The number of each known fact's value (-1: unknown), by fact number."""
        vector = [-1] * len(self.domain.facts)
        direct = self._direct
        for fact, value in known.items():
            slot = direct.get(fact)
            if slot is not None:
                found = slot[1].get(value)
                if found is not None:  # a boolean, an option: the value is its own key
                    vector[slot[0]] = found
                    continue
            number = self.number[fact]
            key = self.evaluator.value_key(fact, value)
            if number in self.domain.lists:
                assert isinstance(key, frozenset)
                vector[number] = sum(
                    1 << i for i, option in enumerate(self.domain.keys[number]) if option in key
                )
            else:
                vector[number] = self.value_number[number][key]
        return vector

    def _item(self, fact: str, value: Value, assumed: bool) -> ExplanationItem:
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

    def verdict(self, values: Mapping[str, object]) -> Verdict:
        """The verdict of a partial scenario."""
        vector = self._scenario_vector(values)
        return VERDICTS[node_values(self.prepared, vector)[self.roots.covered]]

    def _notes_of(self, known: Mapping[str, Value]) -> tuple[Note, ...]:
        key = tuple((f, known.get(f)) for f in self.note_facts)
        if key not in self._notes:
            part = {f: known[f] for f in self.note_facts if f in known}
            self._notes[key] = self.evaluator.notes_of(part)
        return self._notes[key]

    def evaluate(self, case: Case) -> Evaluation:
        """The same evaluation as Evaluator.evaluate, from the circuits."""
        evaluator = self.evaluator
        # The case's facts with the defaults it leaves out (known_facts, without
        # putting them in vocabulary order: the vector is by fact number).
        known = dict(case.facts)
        assumed = {name for name in self._defaults if name not in known}
        for name in assumed:
            known[name] = self._defaults[name]
        run = Run(self.prepared, self.vector(known))
        try:
            outcome = run.value(self.roots.covered)
            explanation: Explanation = ()
            missing = 0
            if outcome == UNKNOWN:
                missing = run.missing(self.roots.covered)
            else:
                explanation = run.explain(self.roots.covered, outcome)
        except Undecided:
            return evaluator.evaluate(case)
        verdict = VERDICTS[outcome]
        facts = self.domain.facts
        return Evaluation(
            id=case.id,
            policy=self.policy.name,
            version=self.policy.version,
            verdict=verdict,
            criteria=self._statuses(run),
            explanation=tuple(
                self._item(facts[n], known[facts[n]], facts[n] in assumed) for n in explanation
            ),
            missing=tuple(self._missing_items[n] for n in self._by_vocabulary if missing >> n & 1),
            warnings=self._notes_of(known),
        )

    def _statuses(self, run: Run) -> dict[str, Status]:
        values = run.values
        return {
            key: Status.NOT_APPLICABLE if values[applies] == FAILS else STATUSES[values[met]]
            for key, applies, met in self._criteria
        }


def compile_policy(evaluator: Evaluator, *, seconds: float = MAX_SECONDS) -> CompiledPolicy | None:
    """The compiled policy, or None when the policy is outside what compiling
    covers (see program.py) or takes longer than `seconds` to compile. A
    policy with reference dates compiles once per day of them: pass the
    evaluator `Evaluator.for_known` gives."""
    if evaluator.references and not evaluator.anchors:
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
            evaluator = evaluator.for_known(known)
        compiled = self.of(evaluator)
        return compiled.evaluate(case) if compiled else evaluator.evaluate(case)
