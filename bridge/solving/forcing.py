"""Which part of a scenario forces a literal: the step that generalises a
counterexample in the change search, and the compiled policy's one-pass
answers to why's questions about partial scenarios.

The compiled policy lives in bridge/compile, a layer above solving: solving
states what it needs as the CompiledTests protocol and receives a function
that compiles (from the KnowledgeBase, which sits above both), so that
solving never imports compile.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from policykb.bridge.model.result import Status, Verdict
from policykb.bridge.solving.grounding import Assignment, Grounding
from policykb.bridge.solving.limits import SolvingLimits


class CompiledTests(Protocol):
    """What a compiled policy answers about a partial scenario (scenario
    values: regions, cells, option keys), in one pass each."""

    def forcing_part(self, values: Mapping[str, object], covered: bool) -> set[str] | None:
        """A smallest part of the scenario that forces the verdict covered
        (True) or not covered (False); None when the scenario does not force
        it or the circuit cannot settle it."""
        ...

    def verdict(self, values: Mapping[str, object]) -> Verdict:
        """The verdict where the scenario's facts are known."""
        ...

    def statuses(self, values: Mapping[str, object]) -> dict[str, Status]:
        """Each criterion's status, in the policy's order, where the
        scenario's facts are known and every other fact is unknown."""
        ...

    def refuting_part(
        self, values: Mapping[str, object], covered: bool
    ) -> dict[str, object] | None:
        """None when every completion of the scenario has the verdict covered
        (True) or not covered (False); else a subset-minimal partial scenario,
        agreeing with `values` on the facts both state, under which no
        completion has that verdict."""
        ...


Compile = Callable[[], CompiledTests | None]
"""Compiles one grounding's policy; None when it does not compile."""


class Forcing:
    """Minimal forcing parts over one grounding, from the compiled policy for
    questions over at least `limits.forcing_from` facts (compiled once, on
    first such question), else from the grounded program."""

    def __init__(
        self, grounding: Grounding, limits: SolvingLimits, compile: Compile | None
    ) -> None:
        self.grounding = grounding
        self.limits = limits
        self._compile = compile
        self._compiled: CompiledTests | None = None
        self._compiled_tried = False

    @property
    def compiled(self) -> CompiledTests | None:
        """The compiled policy if a question has compiled it (else None)."""
        return self._compiled

    def compiled_tests(self, facts: int) -> CompiledTests | None:
        """The compiled tests, for a question over `facts` facts or more."""
        if facts < self.limits.forcing_from or self._compile is None:
            return None
        if not self._compiled_tried:
            self._compiled_tried = True
            self._compiled = self._compile()
        return self._compiled

    def verdict_of(self, known: Assignment) -> Verdict:
        """The verdict on exactly these known facts (Grounding.verdict_of): on
        the compiled policy, for a policy with at least `limits.forcing_from`
        decision facts, in one pass; else by the solver."""
        grounding = self.grounding
        compiled = self.compiled_tests(len(grounding.decision_facts))
        if compiled is None:
            return grounding.verdict_of(known)
        grounding.require_anchored()
        return compiled.verdict({f: grounding.value_key(f, v) for f, v in known.items()})

    def minimal_implicant(self, values: Mapping[str, object], refute: int) -> set[str]:
        """A subset-minimal part of a complete scenario under which `refute` can
        never hold: on the compiled policy, its smallest part (one pass); else
        each fact in turn is left out if the rest still rule it out."""
        grounding = self.grounding
        covered = grounding.covered
        compiled = self.compiled_tests(len(values))
        if compiled is not None and refute in (covered, -covered):
            part = compiled.forcing_part(values, refute == -covered)
            if part is not None:
                return part
        kept = dict(values)
        for fact in list(kept):
            trial = {f: v for f, v in kept.items() if f != fact}
            pins = [lit for f, v in trial.items() for lit in grounding.literals.pin(f, v)]
            if grounding.program.scenario([*pins, refute], ()) is None:
                kept = trial
        return set(kept)
