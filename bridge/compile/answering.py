"""A case's Evaluation from a prepared circuit, with no solver.

`CircuitAnswers` holds what turns a case into the run's vector and the run's
answers into an Evaluation: the domain's value numbers, the criteria's
roots, the defaults, the missing-fact items. It reads the policy model only,
so that the compiled policy (compiled.py, beside its grounded program) and
the stored snapshot (snapshot.py, without clingo) answer through the same
code. What needs more than the model -- an explanation item's words for a
fact with a history, the warnings and cautions -- comes in as functions; a
fact read by several criteria cites the one model/citing.py chooses, from
the circuit's statuses.

Invariant: `evaluate` gives exactly Evaluator.evaluate's answer, or None
when the circuit cannot settle the case within its limits (`Undecided`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from policykb.bridge.compile.prepared import FAILS, UNKNOWN, Prepared, Undecided
from policykb.bridge.compile.run import STATUSES, VERDICTS, Explanation, Run
from policykb.bridge.model.case import Case
from policykb.bridge.model.citing import cite_shared_facts
from policykb.bridge.model.policy import Policy, Value
from policykb.bridge.model.result import Evaluation, ExplanationItem, MissingFact, Note, Status
from policykb.bridge.model.scenario_values import scenario_key

ItemOf = Callable[[str, Value, bool], ExplanationItem]
"""An explanation item of (fact, value, assumed)."""

NotesOf = Callable[[Mapping[str, Value]], "tuple[Note, ...] | None"]
"""The warnings and cautions of a case's known facts (None: not known here)."""


class CircuitAnswers:
    """A policy's circuit with its domain: evaluates cases exactly.

    `keys` are each fact's scenario values (in `facts` order: the policy's
    rank order) and `other` the one that stands for a string outside a
    fact's options; a list fact (`lists`) is numbered by the bitmask of its
    options. `roots` are the circuit nodes of the verdict, and of each
    criterion's met/1 and applies/1.
    """

    def __init__(
        self,
        policy: Policy,
        prepared: Prepared,
        roots: tuple[int, Mapping[str, int], Mapping[str, int]],
        facts: Sequence[str],
        keys: Sequence[Sequence[object]],
        lists: frozenset[int],
        other: object,
    ) -> None:
        self.policy = policy
        self.prepared = prepared
        self.covered, met, applies = roots
        self.facts = tuple(facts)
        self.keys = keys
        self.lists = lists
        self.other = other
        self.criteria = [(key, applies[key], met[key]) for key in policy.criteria]
        self.number = {fact: n for n, fact in enumerate(self.facts)}
        self.value_number = [{key: i for i, key in enumerate(options)} for options in keys]
        # Facts whose case values may be their own keys: fact -> (number, value numbers).
        self.direct = {
            fact: (n, self.value_number[n]) for fact, n in self.number.items() if n not in lists
        }
        self.defaults = {
            name: fact.default for name, fact in policy.facts.items() if fact.default is not None
        }
        self.missing_items = [
            MissingFact(fact, policy.facts[fact].question, policy.facts[fact].clauses)
            for fact in self.facts
        ]
        self.by_vocabulary = [self.number[fact] for fact in policy.facts]

    def key(self, fact: str, value: object) -> object:
        """The scenario value of a case value (model/scenario_values.py)."""
        number = self.number[fact]
        return scenario_key(self.policy.facts[fact], value, self.value_number[number], self.other)

    def vector(self, known: Mapping[str, Value]) -> list[int]:
        """The number of each known fact's value (-1: unknown), by fact number."""
        vector = [-1] * len(self.facts)
        direct = self.direct
        for fact, value in known.items():
            slot = direct.get(fact)
            if slot is not None:
                found = slot[1].get(value)
                if found is not None:  # a boolean, an option: the value is its own key
                    vector[slot[0]] = found
                    continue
            number = self.number[fact]
            key = self.key(fact, value)
            if number in self.lists:
                assert isinstance(key, frozenset)
                vector[number] = sum(
                    1 << i for i, option in enumerate(self.keys[number]) if option in key
                )
            else:
                vector[number] = self.value_number[number][key]
        return vector

    def known(self, case: Case) -> tuple[dict[str, Value], set[str]]:
        """The case's facts with the defaults it leaves out, and which those are
        (Grounding.known_facts without the vocabulary order: the vector is by
        fact number)."""
        known = dict(case.facts)
        assumed = {name for name in self.defaults if name not in known}
        for name in assumed:
            known[name] = self.defaults[name]
        return known, assumed

    def evaluate(self, case: Case, item: ItemOf, notes: NotesOf) -> Evaluation | None:
        """The same evaluation as Evaluator.evaluate; None when the circuit
        cannot settle the case or `notes` does not know its notes."""
        known, assumed = self.known(case)
        run = Run(self.prepared, self.vector(known))
        try:
            outcome = run.value(self.covered)
            explanation: Explanation = ()
            missing = 0
            if outcome == UNKNOWN:
                missing = run.missing(self.covered)
            else:
                explanation = run.explain(self.covered, outcome)
        except Undecided:
            return None
        warnings = notes(known)
        if warnings is None:
            return None
        facts = self.facts
        items = tuple(item(facts[n], known[facts[n]], facts[n] in assumed) for n in explanation)
        statuses = self.statuses(run)
        if outcome != UNKNOWN:
            try:
                items = cite_shared_facts(
                    self.policy, VERDICTS[outcome], items, known, self.statuses_on, statuses
                )
            except Undecided:
                return None
        return Evaluation(
            id=case.id,
            policy=self.policy.name,
            version=self.policy.version,
            verdict=VERDICTS[outcome],
            criteria=statuses,
            explanation=items,
            missing=tuple(self.missing_items[n] for n in self.by_vocabulary if missing >> n & 1),
            warnings=warnings,
        )

    def statuses_on(self, given: Mapping[str, Value]) -> dict[str, Status]:
        """Each criterion's status with `given` known and every other fact
        unknown, from one run of the circuit (Undecided past its limits)."""
        return self.statuses(Run(self.prepared, self.vector(given)))

    def statuses(self, run: Run) -> dict[str, Status]:
        values = run.values
        return {
            key: Status.NOT_APPLICABLE if values[applies] == FAILS else STATUSES[values[met]]
            for key, applies, met in self.criteria
        }
