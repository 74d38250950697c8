"""Queries over the scenarios of a grounded program, shared by every analysis.

- `ValueLiterals`: the solver literal of each value a fact can take, so a
  case (or a part of one) becomes a list of assumptions.
- `MinimalSets`: smallest sets of items under learned constraints (implicit
  hitting sets), by plain satisfiability checks under a rising size bound.
- `QueryProgram`: the scenario program plus fixed extra rules (a finding's
  conditions, a second copy of the policy, ...), able to find scenarios,
  brave consequences, and the *smallest parts of a case* that force a
  condition: minimal explanations, minimal witnesses, minimal diff conditions
  are all this one computation.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import clingo
from clingo import Function

if TYPE_CHECKING:
    from clingo import ast

from policykb.bridge.errors import EngineError, PolicyError
from policykb.bridge.policy import FactType, Policy, python_value
from policykb.bridge.program import ground_files

COVERED = Function("verdict", [Function("covered")])
OTHER = Function("other_value")

# A case's facts as externals and a minimize statement over the facts on which
# a scenario disagrees with it: optimal models are the closest counterexamples.
CLOSEST = """
#external kb_case(F, V) : domain(F, V).
#external kb_stated(F) : fact(F, _).
kb_disagree(F) :- kb_case(F, V), not value(F, V).
kb_disagree(F) :- kb_stated(F), value(F, V), not kb_case(F, V).
#minimize { 1,F : kb_disagree(F) }.
#show kb_disagree/1.
"""


class ValueLiterals:
    """The solver literal and symbol of each value/2 atom of a grounded program."""

    def __init__(self, ctl: clingo.Control, policy: Policy) -> None:
        self.policy = policy
        self.of: dict[str, dict[object, int]] = {name: {} for name in policy.facts}
        self.symbol: dict[str, dict[object, clingo.Symbol]] = {name: {} for name in policy.facts}
        for atom in ctl.symbolic_atoms.by_signature("value", 2):
            fact, value = atom.symbol.arguments
            key: object = OTHER if value == OTHER else python_value(value)
            if fact.name in self.of:
                self.of[fact.name][key] = atom.literal
                self.symbol[fact.name][key] = value
        self.known = {
            atom.symbol.arguments[0].name: atom.literal
            for atom in ctl.symbolic_atoms.by_signature("known", 1)
        }

    def pin(self, fact: str, value: object) -> list[int]:
        """The assumptions that give `fact` the value `value` (a Value, or OTHER)."""
        domain = self.of[fact]
        kind = self.policy.facts[fact].type
        if kind is FactType.LIST:
            assert isinstance(value, frozenset)
            return [lit if option in value else -lit for option, lit in domain.items()]
        if kind is FactType.STRING and value not in domain:
            return [domain[OTHER]]
        return [domain[value]]

    def assumptions(
        self, known: Mapping[str, object], facts: Iterable[str] | None = None
    ) -> list[int]:
        chosen = known if facts is None else {f: known[f] for f in facts}
        return [lit for fact, value in chosen.items() for lit in self.pin(fact, value)]

    def known_flags(self, known: Mapping[str, object]) -> list[int]:
        return [lit if fact in known else -lit for fact, lit in self.known.items()]

    def values_in(self, true_literals: set[int], facts: Iterable[str]) -> dict[str, object]:
        """The value of each of `facts` in a scenario, given its true literals."""
        values: dict[str, object] = {}
        for fact in facts:
            held = [key for key, lit in self.of[fact].items() if lit in true_literals]
            if self.policy.facts[fact].type is FactType.LIST:
                values[fact] = frozenset(held)
            else:
                values[fact] = held[0] if held else None
        return values


class MinimalSets:
    """Smallest sets of items that meet every required group and avoid every blocked set.

    Items are opaque to the solver (atoms are numbered); items of one
    exclusive group are never chosen together. Candidates come by increasing
    size: a cardinality bound, raised when no candidate of that size is left,
    is assumed false, so each step is a plain satisfiability check (faster
    than proving optimality again after every new constraint).
    """

    def __init__(self, items: Sequence[Hashable], exclusive: Iterable[Sequence[Hashable]] = ()):
        self._ctl = clingo.Control()
        with self._ctl.backend() as backend:
            self._atom = {
                item: backend.add_atom(Function("pick", [clingo.Number(index)]))
                for index, item in enumerate(items)
            }
            if self._atom:
                backend.add_rule(list(self._atom.values()), [], choice=True)
            for group in exclusive:
                atoms = [self._atom[item] for item in group]
                for position, first in enumerate(atoms):
                    for second in atoms[position + 1 :]:
                        backend.add_rule([], [first, second])
        self._size = 0
        self._over: dict[int, int] = {}

    def _more_than(self, size: int) -> int:
        """An atom that holds when more than `size` items are picked."""
        if size not in self._over:
            with self._ctl.backend() as backend:
                atom = backend.add_atom()
                picks = [(pick, 1) for pick in self._atom.values()]
                backend.add_weight_rule([atom], size + 1, picks)
            self._over[size] = atom
        return self._over[size]

    def candidates(self) -> Iterator[list[Hashable]]:
        """Smallest candidates, one at a time, until none is left."""
        while self._size <= len(self._atom):
            found: list[Hashable] | None = None
            bound = [-self._more_than(self._size)]
            with self._ctl.solve(assumptions=bound, yield_=True) as handle:
                for model in handle:
                    found = [item for item, atom in self._atom.items() if model.is_true(atom)]
                    break
            if found is None:
                self._size += 1
                continue
            yield found

    def require_one_of(self, items: Iterable[Hashable], unless: Iterable[Hashable] = ()) -> None:
        """Every later candidate holds one of `items`, or lacks one of `unless`."""
        with self._ctl.backend() as backend:
            body = [-self._atom[item] for item in items]
            body += [self._atom[item] for item in unless]
            backend.add_rule([], body)

    def block_supersets(self, items: Iterable[Hashable]) -> None:
        with self._ctl.backend() as backend:
            backend.add_rule([], [self._atom[item] for item in items])


class QueryProgram:
    """A policy's scenario program plus fixed extra rules, grounded once.

    Case data only ever enters as assumptions and external assignments.
    """

    def __init__(
        self,
        policy: Policy,
        statements: Sequence[ast.AST] = (),
        extra: str = "",
        what: str = "query program",
        files: Sequence[Path] = (),
        control: clingo.Control | None = None,
    ) -> None:
        """The program is `statements` (parsed, possibly generated), `files`, or
        an already grounded `control` whose program includes CLOSEST."""
        self.policy = policy
        described = f"the {what} of {policy.name!r}"
        if control is not None:
            self.ctl = control
        elif files:
            self.ctl = ground_files(files, CLOSEST + extra, described, ["--opt-mode=opt"])
        else:
            from policykb.bridge.transform import ground_with

            self.ctl = ground_with(statements, CLOSEST + extra, described)
        self.literals = ValueLiterals(self.ctl, policy)
        self._case: set[clingo.Symbol] = set()
        self._modes = ("", "")

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
            if isinstance(value, frozenset):
                chosen = [symbols[option] for option in value]
            else:
                chosen = [symbols[value if value in symbols else OTHER]]
            wanted.update(Function("kb_case", [Function(fact), symbol]) for symbol in chosen)
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
        best: list[str] | None = None
        with self.ctl.solve(assumptions=pinned, yield_=True) as handle:
            for model in handle:
                best = [
                    s.arguments[0].name
                    for s in model.symbols(shown=True)
                    if s.match("kb_disagree", 1)
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
        hitting = MinimalSets(facts)
        self.set_case(known)
        batch: list[tuple[str, ...]] = []
        size = -1
        for candidate in hitting.candidates():
            if len(candidate) != size:
                yield from sorted(batch, key=lambda e: [rank[f] for f in e])
                if smallest_only and batch:
                    return
                batch, size = [], len(candidate)
            chosen = [str(fact) for fact in candidate]
            correction = self.correction(known, chosen, refute, extra)
            if correction is None:
                batch.append(tuple(sorted(chosen, key=rank.__getitem__)))
                hitting.block_supersets(candidate)
            elif not correction:
                raise EngineError("the case's own facts do not force the condition")
            else:
                hitting.require_one_of(correction)
        yield from sorted(batch, key=lambda e: [rank[f] for f in e])
