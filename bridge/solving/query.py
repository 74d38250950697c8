"""A policy's scenario program plus fixed meta-programs, and the questions
every analysis asks of it: find a scenario, brave consequences, and the
*smallest parts of a case* that force a condition (minimal explanations,
minimal witnesses and minimal diff conditions are all this one computation,
by implicit hitting sets over the closest counterexamples of
kb/meta/closest.lp).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import clingo
from clingo import Function

from policykb.bridge.loading.files import meta_file
from policykb.bridge.model.errors import EngineError, PolicyError
from policykb.bridge.model.policy import Policy
from policykb.bridge.solving.hitting_sets import Correction, minimal_sets_by_rank
from policykb.bridge.solving.literals import ValueLiterals

if TYPE_CHECKING:
    from clingo import ast


def closest_file() -> Path:
    """The meta-program of closest counterexamples, part of every query program."""
    return meta_file("closest")


class QueryProgram:
    """A policy's scenario program plus fixed extra rules, grounded once.

    Case data only ever enters as assumptions and external assignments.
    """

    def __init__(
        self,
        policy: Policy,
        statements: Sequence[ast.AST] = (),
        extra: Sequence[Path] = (),
        what: str = "query program",
        control: clingo.Control | None = None,
    ) -> None:
        """The program is `statements` (parsed, possibly generated) plus the
        meta-programs `extra`, or an already grounded `control` whose program
        includes kb/meta/closest.lp."""
        self.policy = policy
        if control is not None:
            self.ctl = control
        else:
            from policykb.bridge.solving.transform import ground_with

            described = f"the {what} of {policy.name!r}"
            self.ctl = ground_with(statements, [closest_file(), *extra], described)
        self.literals = ValueLiterals(self.ctl, policy)
        self._case: set[clingo.Symbol] = set()
        self._modes = ("", "")
        # A model's kb_disagree(F) atoms, looked up by symbol: hashing a symbol
        # is one call into clingo, Symbol.match several (most of evaluate's time).
        self._disagreeing = {
            Function("kb_disagree", [Function(name)]): name for name in policy.facts
        }

    def literal(self, symbol: clingo.Symbol) -> int:
        atom = self.ctl.symbolic_atoms[symbol]
        if atom is None:
            raise PolicyError(f"the policy never derives {symbol}: it is not a complete policy")
        return atom.literal

    def has(self, symbol: clingo.Symbol) -> bool:
        return self.ctl.symbolic_atoms[symbol] is not None

    def configure(self, enum_mode: str = "auto", opt_mode: str = "ignore") -> None:
        """Set how the next solve enumerates and optimises (set only when it changes)."""
        if (enum_mode, opt_mode) != self._modes:
            solve = self.ctl.configuration.solve
            solve.enum_mode = enum_mode  # type: ignore[union-attr]
            solve.opt_mode = opt_mode  # type: ignore[union-attr]
            self._modes = (enum_mode, opt_mode)

    def scenario(
        self, assumptions: Sequence[int], facts: Iterable[str]
    ) -> dict[str, object] | None:
        """Some scenario under `assumptions`, as the values of `facts`; None if none."""
        self.configure("auto", "ignore")
        watch = [lit for fact in facts for lit in self.literals.of[fact].values()]
        with self.ctl.solve(assumptions=list(assumptions), yield_=True) as handle:
            for model in handle:
                true = {lit for lit in watch if model.is_true(lit)}
                return self.literals.values_in(true, facts)
        return None

    def brave(
        self, assumptions: Sequence[int], shown: Iterable[clingo.Symbol]
    ) -> set[clingo.Symbol]:
        """Which of `shown` hold in some scenario under `assumptions`."""
        self.configure("auto", "ignore")
        pending = {symbol: self.literal(symbol) for symbol in shown if self.has(symbol)}
        found: set[clingo.Symbol] = set()
        while pending:
            # Ask for a scenario with at least one atom not yet seen; record all it holds.
            with self.ctl.backend() as backend:
                goal = backend.add_atom()
                for lit in pending.values():
                    backend.add_rule([goal], [lit])
            hit: set[clingo.Symbol] = set()
            with self.ctl.solve(assumptions=[*assumptions, goal], yield_=True) as handle:
                for model in handle:
                    hit = {s for s, lit in pending.items() if model.is_true(lit)}
                    break
            if not hit:
                break
            found |= hit
            for symbol in hit:
                del pending[symbol]
        return found

    def set_case(self, known: Mapping[str, object]) -> None:
        """Make `known` the case that counterexamples stay close to."""
        wanted: set[clingo.Symbol] = set()
        for fact, value in known.items():
            wanted.add(Function("kb_stated", [Function(fact)]))
            symbols = self.literals.symbol[fact]
            key = self.literals.key(fact, value)
            chosen = [symbols[o] for o in key] if isinstance(key, frozenset) else [symbols[key]]
            wanted.update(Function("kb_case", [Function(fact), symbol]) for symbol in chosen)
        if self.policy.arithmetic:
            from policykb.bridge.solving.arithmetic import excluded_parts

            wanted.update(excluded_parts(self.policy, self.literals.symbol, known))
        for symbol in self._case - wanted:
            self.ctl.assign_external(symbol, False)
        for symbol in wanted - self._case:
            self.ctl.assign_external(symbol, True)
        self._case = wanted

    def correction(
        self,
        known: Mapping[str, object],
        chosen: Sequence[str],
        refute: int,
        extra: Sequence[int] = (),
    ) -> list[str] | None:
        """None if the facts `chosen` of the case make `refute` impossible; else a
        minimum correction set: facts of the case of which every such set holds one."""
        self.configure("auto", "opt")
        pinned = [*self.literals.assumptions(known, chosen), refute, *extra]
        # A pinned operand of a product or ratio keeps the case's value.
        moved = self.literals.moved
        pinned += [-moved[fact] for fact in chosen if fact in moved]
        best: list[str] | None = None
        with self.ctl.solve(assumptions=pinned, yield_=True) as handle:
            for model in handle:
                disagreeing = self._disagreeing
                best = [
                    disagreeing[symbol]
                    for symbol in model.symbols(shown=True)
                    if symbol in disagreeing
                ]
        return best

    def implicants(
        self,
        known: Mapping[str, object],
        refute: int,
        *,
        smallest_only: bool = False,
        extra: Sequence[int] = (),
    ) -> Iterator[tuple[str, ...]]:
        """Every minimal set of the case's facts under which `refute` cannot hold,
        smallest first (vocabulary order within a size).

        The case itself must make `refute` impossible. `extra` assumptions hold
        throughout (they select a part of the program, never a fact).
        """
        facts = list(known)
        rank = {name: self.policy.facts[name].rank for name in facts}
        self.set_case(known)

        def test(chosen: list[str]) -> Correction[str] | None:
            correction = self.correction(known, chosen, refute, extra)
            if correction is None:
                return None
            if not correction:
                raise EngineError("the case's own facts do not force the condition")
            return Correction(correction)

        yield from minimal_sets_by_rank(facts, test, rank, smallest_only=smallest_only)
