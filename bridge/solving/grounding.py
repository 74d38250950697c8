"""Grounding and evaluation: a policy's grounded scenario program and what
it says about exactly these known facts.

A case pins the facts it knows; its unknown facts range over their domains.
The verdict, each criterion's status and each note are read from the brave
and cautious consequences of the scenario program under the case's
assumptions: what holds in some, and in every, way of filling in the unknowns.

A policy that compares dates with reference dates is grounded once per day of
those dates (see anchoring.py). A Grounding of such a policy without anchors
answers no case: its questions raise rather than answer over the wrong
program, so that resolving the case's dates is an explicit step.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import chain, combinations
from typing import TYPE_CHECKING

import clingo
from clingo import Function

from policykb.bridge.loading.declarations import read_policy
from policykb.bridge.loading.files import show_file
from policykb.bridge.model.case import Case
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import FactType, PolicySource, Value
from policykb.bridge.model.result import Note, Status, Verdict
from policykb.bridge.solving.control import ground_scenarios, is_bundled
from policykb.bridge.solving.literals import COVERED
from policykb.bridge.solving.query import QueryProgram, closest_file

if TYPE_CHECKING:
    from clingo import ast

    from policykb.bridge.loading.comparisons import Comparison
    from policykb.bridge.loading.rules import RuleInfo

Assignment = Mapping[str, Value]
"""Known facts: fact name -> value."""


@dataclass(frozen=True)
class Consequences:
    """What holds in some (`possible`), and in every (`certain`), scenario."""

    possible: frozenset[clingo.Symbol]
    certain: frozenset[clingo.Symbol]


class Grounding:
    """One policy's grounded scenario program (at one day of its reference
    dates, if it has any) and the questions it answers in one solve each.

    Not thread-safe by itself: a clingo Control answers one query at a time.
    Callers that share one across threads hold `lock` around each call
    (KnowledgeBase does).
    """

    def __init__(
        self,
        source: PolicySource,
        anchors: Mapping[str, int] | None = None,
        *,
        base: Grounding | None = None,
        fixed: bool | frozenset[str] = False,
    ) -> None:
        """The grounded program of the policy at `source`. For a policy that
        compares dates with reference dates, `anchors` gives each reference
        date's day and `base` is the grounding of the policy it specialises
        (its parsed statements are reused). With `fixed`, each reference
        date takes no other value than its anchor (for analyses of the policy
        as of a day); otherwise its own comparisons with constants still range
        over its values when a case's fact is set aside. A set for `fixed`
        fixes the reference dates it names only."""
        self.lock = threading.RLock()
        self.source = source
        self.anchors: dict[str, int] = dict(anchors or {})
        self.fixed = fixed
        self._statements: list[ast.AST] | None = None
        self.parsed: list[ast.AST] | None = None  # without the region facts
        self.comparisons: list[Comparison] = []
        self.references: dict[str, list[str]] = {}
        self._histories = False
        self._base = base
        if base is None:
            # One grounded program serves every query: the scenario program with
            # the closest-counterexample rules (ignored except for explanations).
            self._ctl = ground_scenarios(source, extra=[closest_file()])
            self.policy = read_policy(source, self._ctl)
            # Whether it declares a history (history/1), asked here so that a
            # policy without one never imports the histories' loader.
            self._histories = any(True for _ in self._ctl.symbolic_atoms.by_signature("history", 1))
            if self.policy.typed or self._histories or not is_bundled(source):
                self._load_typed()
        else:
            self.policy = base.policy
            self.parsed, self.comparisons = base.parsed, base.comparisons
            self.references = base.references
            self._ground_regions()
        self.program = QueryProgram(self.policy, control=self._ctl)
        self.literals = self.program.literals
        # The literal of verdict(covered); unanchored, a policy with reference
        # dates never answers a case itself (0: no literal).
        self.covered = 0 if self.needs_anchors else self._covered_literal()

    @property
    def needs_anchors(self) -> bool:
        """Whether this is a policy with reference dates grounded at none of
        them: its cases are answered by the grounding at their dates."""
        return bool(self.references) and not self.anchors

    def require_anchored(self) -> None:
        """Refuse a question about a case while the reference dates are unresolved."""
        if self.needs_anchors:
            raise ValueError(
                f"policy {self.policy.name!r} compares dates with "
                f"{', '.join(self.references)}: ask the evaluator for_known(case's facts) first"
            )

    # Parsed statements and their analysis are only needed by why, check, diff,
    # batch and the Prolog engine: computed on first use, not on start-up.

    def _load_typed(self) -> None:
        """Check the comparisons of the rules and, for a policy with number, date
        or code facts, ground it again with their regions (kb/core/typed.lp)."""
        from policykb.bridge.loading.comparisons import comparisons_of, references
        from policykb.bridge.loading.durations import written_durations
        from policykb.bridge.loading.parsing import policy_statements

        parsed = written_durations(policy_statements(self.source))
        if self._histories:
            from policykb.bridge.loading.histories import history_references, read_histories

            self.policy, linking = read_histories(self.source, self._ctl, self.policy, parsed)
            parsed = [*parsed, *linking]
        self.parsed = parsed
        self.comparisons = comparisons_of(parsed, self.policy)
        self.references = references(self.comparisons)
        if self.policy.typed:
            from policykb.bridge.loading.arithmetic import with_arithmetic

            direct = {comparison.fact for comparison in self.comparisons}
            self.policy = with_arithmetic(parsed, self.policy, direct)
        if self._histories:
            for reference, compared in history_references(self.policy).items():
                self.references.setdefault(reference, []).extend(compared)
        if not self.policy.typed and not self._histories:
            self._statements = parsed
            return
        self._ground_regions()

    def _ground_regions(self) -> None:
        from policykb.bridge.loading.region_facts import (
            fact_statements,
            region_symbols,
            with_regions,
        )
        from policykb.bridge.solving.transform import ground_with

        assert self.parsed is not None
        if self.fixed:
            fixed = self.anchors if self.fixed is True else self.fixed
            facts = dict(self.policy.facts)
            for name in fixed:
                day = self.anchors[name]
                facts[name] = replace(facts[name], low=day, high=day)
            self.policy = replace(self.policy, facts=facts)
        self.policy = with_regions(self.policy, self.comparisons, self.anchors)
        regions = region_symbols(self.policy, self.comparisons, self.anchors)
        if self.policy.histories:
            from policykb.bridge.loading.histories import history_symbols

            regions += history_symbols(self.policy, self.anchors)
        self._statements = [*self.parsed, *fact_statements(regions)]
        self._ctl = ground_with(
            self._statements,
            [show_file(), closest_file()],
            f"policy {self.source.name!r}",
            ["--models=0", "--opt-mode=opt"],
        )

    # -- what the program holds ---------------------------------------------------

    def anchor_values(self) -> dict[str, Value]:
        """The reference dates this evaluator is grounded at, as case values."""
        from datetime import date

        return {name: date.fromordinal(day) for name, day in self.anchors.items()}

    @cached_property
    def statements(self) -> list[ast.AST]:
        """The parsed statements of the policy with the core (for analyses),
        with the region facts of its typed facts."""
        if self._statements is not None:
            return self._statements
        from policykb.bridge.loading.parsing import policy_statements

        return policy_statements(self.source)

    @cached_property
    def rules(self) -> list[RuleInfo]:
        """What each rule defines and reads (see loading/rules.py), in the
        order of `statements`."""
        from policykb.bridge.loading.rules import rules_of

        base = self._base
        statements = self.statements
        if base is not None and base.parsed is not None and self.parsed is base.parsed:
            # The policy's own statements are the base's (the same objects),
            # only the region facts after them are this grounding's: each
            # statement's analysis reads that statement alone, so the base's
            # analysis of its statements is shared by every day it is grounded at.
            own = len(base.parsed)
            assert statements[:own] == base.parsed
            return [*base.parsed_rules, *rules_of(statements[own:])]
        return rules_of(statements)

    @cached_property
    def parsed_rules(self) -> list[RuleInfo]:
        """The analysis of the policy's parsed statements, without region facts."""
        from policykb.bridge.loading.rules import rules_of

        assert self.parsed is not None
        return rules_of(self.parsed)

    @cached_property
    def decision_facts(self) -> list[str]:
        """The facts the verdict depends on, in vocabulary order."""
        from policykb.bridge.loading.rules import ANY_FACT, decision_facts

        used = decision_facts(self.rules)
        return [f for f in self.policy.facts if f in used or ANY_FACT in used]

    def atoms(self, name: str, arity: int) -> list[clingo.Symbol]:
        """The atoms name/arity of the grounded policy (declarations and derivable ones)."""
        return [atom.symbol for atom in self._ctl.symbolic_atoms.by_signature(name, arity)]

    def _covered_literal(self) -> int:
        """The literal of verdict(covered). At some reference dates no scenario
        can be covered (a window the other date's bounds leave empty), and the
        grounder drops the atom: it then stands for a new atom that no rule
        derives, false in every scenario. A policy that never derives it at
        all is incomplete."""
        if self.anchors and self._ctl.symbolic_atoms[COVERED] is None:
            with self._ctl.backend() as backend:
                atom: int = backend.add_atom(COVERED)
            return atom
        return self._literal_of(self._ctl, COVERED)

    @staticmethod
    def _literal_of(ctl: clingo.Control, symbol: clingo.Symbol) -> int:
        atom = ctl.symbolic_atoms[symbol]
        if atom is None:
            raise PolicyError(f"the policy never derives {symbol}: it is not a complete policy")
        return atom.literal

    # -- known facts ---------------------------------------------------------

    def known_facts(self, case: Case) -> tuple[dict[str, Value], frozenset[str]]:
        """The case's facts with the defaults filled in, and which were assumed."""
        known = dict(case.facts)
        for use in self.policy.arithmetic:
            if use.fact in known:
                raise CaseError(
                    f"the case states {use.fact}, which the policy computes as {use.words}; "
                    f"state {use.left} and {use.right} instead"
                )
        assumed = frozenset(name for name in self._defaults if name not in known)
        for name in assumed:
            known[name] = self._defaults[name]
        return {name: known[name] for name in self.policy.facts if name in known}, assumed

    @cached_property
    def _defaults(self) -> dict[str, Value]:
        return {
            name: fact.default
            for name, fact in self.policy.facts.items()
            if fact.default is not None
        }

    # -- solving -------------------------------------------------------------

    def set_mode(self, mode: str) -> None:
        self.program.configure(mode, "ignore")

    def solve_consequences(self, assumptions: Sequence[int]) -> Consequences:
        """The brave and cautious consequences under these assumptions; a
        CaseError when no scenario satisfies them."""
        found: list[frozenset[clingo.Symbol]] = []
        for mode in ("brave", "cautious"):
            self.set_mode(mode)
            last: list[clingo.Symbol] | None = None
            with self._ctl.solve(assumptions=list(assumptions), yield_=True) as handle:
                for model in handle:
                    last = model.symbols(shown=True)
            if last is None:
                raise CaseError("the case's facts contradict the policy's domain constraints")
            found.append(frozenset(last))
        return Consequences(possible=found[0], certain=found[1])

    def case_consequences(self, known: Assignment) -> Consequences:
        """The consequences of exactly these known facts, the case's own
        flags (which facts it states) included."""
        self.require_anchored()
        return self.solve_consequences(
            [*self.literals.assumptions(known), *self.literals.known_flags(known)]
        )

    # -- verdict, statuses, notes ---------------------------------------------------

    @staticmethod
    def verdict(consequences: Consequences) -> Verdict:
        """The verdict the consequences settle (needs_information: neither)."""
        if COVERED in consequences.certain:
            return Verdict.COVERED
        if COVERED not in consequences.possible:
            return Verdict.NOT_COVERED
        return Verdict.NEEDS_INFORMATION

    def statuses(self, consequences: Consequences) -> dict[str, Status]:
        """Each criterion's status, in the policy's order."""
        statuses: dict[str, Status] = {}
        for key in self.policy.criteria:
            ident = clingo.String(key)
            met = Function("met", [ident])
            if Function("applies", [ident]) not in consequences.possible:
                statuses[key] = Status.NOT_APPLICABLE
            elif met in consequences.certain:
                statuses[key] = Status.MET
            elif met not in consequences.possible:
                statuses[key] = Status.NOT_MET
            else:
                statuses[key] = Status.UNKNOWN
        return statuses

    def notes(self, consequences: Consequences, known: Assignment) -> tuple[Note, ...]:
        """The warnings and cautions that hold in every scenario."""
        notes: list[Note] = []
        for symbol in sorted(consequences.certain):
            if symbol.match("warning", 3):
                ident, fact, text = symbol.arguments
                notes.append(
                    Note("warning", ident.string, text.string, fact.name, known.get(fact.name))
                )
            elif symbol.match("caution", 2):
                ident, text = symbol.arguments
                notes.append(Note("caution", ident.string, text.string))
        return tuple(notes)

    def notes_of(self, known: Assignment) -> tuple[Note, ...]:
        """The warnings and cautions of exactly these known facts."""
        return self.notes(self.case_consequences(known), known)

    def consequences(
        self, known: Assignment
    ) -> tuple[frozenset[clingo.Symbol], frozenset[clingo.Symbol]]:
        """What holds in some, and in every, scenario of exactly these known facts
        (shown atoms: verdict/1, met/1, applies/1, indicated/1, blocked/1, notes)."""
        found = self.case_consequences(known)
        return found.possible, found.certain

    def verdict_of(self, known: Assignment) -> Verdict:
        """The verdict on exactly these known facts, every other fact unknown."""
        self.require_anchored()
        return self.verdict(self.solve_consequences(self.literals.assumptions(known)))

    # -- scenario values and literals (for the compiled policy and the searches) ----

    def derivable(self, symbol: clingo.Symbol) -> bool:
        return self._ctl.symbolic_atoms[symbol] is not None

    def literal(self, symbol: clingo.Symbol) -> int:
        return self._literal_of(self._ctl, symbol)

    def value_keys(self, fact: str) -> list[object]:
        """The values `fact` takes in scenarios (OTHER stands for any other string)."""
        return list(self.literals.of[fact])

    def value_key(self, fact: str, value: object) -> object:
        """The scenario value of a case value (OTHER for a string outside the
        options, a region for a number, date or code, cells for a code list)."""
        return self.literals.key(fact, value)

    def scenario_of(
        self, known: Mapping[str, object], condition: int, facts: Sequence[str]
    ) -> dict[str, object] | None:
        """A scenario extending `known` where the literal `condition` holds, or None."""
        return self.program.scenario([*self.literals.assumptions(known), condition], facts)

    def value_symbols(self, fact: str) -> dict[object, clingo.Symbol]:
        """The ASP symbol of each value `fact` can take (other_value for strings)."""
        return self.literals.symbol[fact]

    def covered_scenarios(
        self, facts: Sequence[str], choices: Sequence[Sequence[object]]
    ) -> set[int]:
        """Codes of every covered complete scenario over `facts`, the other facts fixed.

        A scenario's code is the mixed-radix number whose digits are the index
        of each fact's value in `choices`, the first fact the least significant
        (as prove.pl's covered_codes/2 counts).
        """
        fixed: dict[str, object] = {}
        for name, fact in self.policy.facts.items():
            if name in facts:
                continue
            # A list no rule reads has no options in the program: it is fixed
            # empty, and only a single-valued fact needs its first value.
            fixed[name] = frozenset() if fact.type.many else next(iter(self.literals.of[name]))
        assumptions = [
            *self.literals.assumptions(fixed),
            *self.literals.known_flags({}),
            self.covered,
        ]
        pins = [
            [self.literals.pin(f, v) for v in options]
            for f, options in zip(facts, choices, strict=True)
        ]
        codes: set[int] = set()
        self.set_mode("auto")
        with self._ctl.solve(assumptions=assumptions, yield_=True) as handle:
            for model in handle:
                code = 0
                for fact_pins in reversed(pins):
                    index = next(
                        i
                        for i, lits in enumerate(fact_pins)
                        if all(model.is_true(abs(lit)) == (lit > 0) for lit in lits)
                    )
                    code = code * len(fact_pins) + index
                codes.add(code)
        return codes

    def candidate_values(self, fact: str) -> list[object]:
        """The values a change or an answer may give `fact` (a string fact: its
        options; a number, date or code: its regions; a list: any set)."""
        declared = self.policy.facts[fact]
        if declared.type is FactType.BOOL:
            return [True, False]
        if declared.type.many:
            options = [o for o in self.literals.of[fact]]
            subsets = chain.from_iterable(combinations(options, n) for n in range(len(options) + 1))
            return [frozenset(subset) for subset in subsets]
        if declared.type.typed:
            return list(self.literals.of[fact])
        return list(declared.options)

    def concrete(self, fact: str, value: object) -> Value:
        """A case value for a scenario value: a value inside a region, sample
        codes for code cells; other values are case values already."""
        from policykb.bridge.model.typed import CodeCell, Interval

        declared = self.policy.facts[fact]
        if declared.type is FactType.CODE_LIST and isinstance(value, frozenset):
            return frozenset(declared.example(cell) for cell in value)  # type: ignore[misc]
        if declared.type.typed and isinstance(value, Interval | CodeCell):
            return declared.example(value)
        return value  # type: ignore[return-value]
