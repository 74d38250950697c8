"""Exact evaluation of cases over a policy's grounded scenario program.

A case pins the facts it knows; its unknown facts range over their domains.
The verdict, each criterion's status and each note are read from the brave
and cautious consequences of the scenario program under the case's
assumptions: what holds in some, and in every, way of filling in the unknowns.

Minimal explanations are found by implicit hitting sets (solving/query.py): a small
clingo program proposes the smallest set of the case's facts not yet refuted;
the scenario program either confirms that it alone forces the verdict or
returns the closest counterexample, whose disagreements with the case (a
minimum correction set) become a new constraint. Every confirmed proposal is
a minimal explanation, and they come smallest first. Smallest change sets
(`why`) are searched the same way over changes instead of facts.

One grounded program serves all of this; the twin program (missing facts) is
grounded on first use.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from itertools import chain, combinations
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import clingo
from clingo import Function

from policykb.bridge.loading.declarations import read_policy
from policykb.bridge.loading.files import show_file
from policykb.bridge.model.case import Case
from policykb.bridge.model.errors import CaseError, PolicyError
from policykb.bridge.model.policy import FactType, PolicySource, Span, Value
from policykb.bridge.model.result import (
    Answer,
    Change,
    Evaluation,
    ExplanationItem,
    MissingFact,
    Note,
    Status,
    Verdict,
    WhyAnswer,
)
from policykb.bridge.solving.control import ground_scenarios, is_bundled
from policykb.bridge.solving.hitting_sets import Correction, MinimalSets
from policykb.bridge.solving.literals import COVERED, ValueLiterals
from policykb.bridge.solving.query import QueryProgram, closest_file

if TYPE_CHECKING:
    from clingo import ast

    from policykb.bridge.loading.comparisons import Comparison
    from policykb.bridge.loading.rules import RuleInfo

Assignment = Mapping[str, Value]
"""Known facts: fact name -> value."""


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


Method = TypeVar("Method", bound=Callable[..., Any])


def _at_reference_dates(method: Method) -> Method:
    """Run a method that takes the known facts first on the evaluator grounded
    at their reference dates (`Evaluator.for_known`)."""

    @functools.wraps(method)
    def run(self: Evaluator, known: Mapping[str, object], *args: Any, **kwargs: Any) -> Any:
        target = self.for_known(known)
        if target is not self:
            return getattr(target, method.__name__)(known, *args, **kwargs)
        return method(self, known, *args, **kwargs)

    return run  # type: ignore[return-value]


@dataclass(frozen=True)
class ListEdits:
    """The smallest edits of a list fact's value that work: each adds some
    options and removes others (for a code list: cells of its code sets)."""

    base: frozenset[object]
    edits: tuple[tuple[frozenset[object], frozenset[object]], ...]
    answers: bool = False
    """Answers to a missing list (from nothing) rather than changes of a value."""

    def span(
        self, words: Callable[[object], str], example: Callable[[frozenset[object]], Value]
    ) -> Span:
        """{"edits": {"from": [...], "any_of": [{"add": [...], "remove": [...]}]}}."""

        def named(options: frozenset[object]) -> list[str]:
            return sorted(words(o) for o in options)

        alternatives = sorted(
            (
                {key: named(part) for key, part in (("add", add), ("remove", remove)) if part}
                for add, remove in self.edits
            ),
            key=lambda edit: (edit.get("add", []), edit.get("remove", [])),
        )
        if not self.edits:
            text = "no edit of the list helps"
        elif self.answers:
            text = "smallest answers: " + "; ".join(
                ", ".join(named(add)) or "none" for add, _ in self.edits
            )
        elif all(len(add) == 1 and not remove for add, remove in self.edits):
            text = "add any one of: " + ", ".join(
                sorted(words(next(iter(a))) for a, _ in self.edits)
            )
        elif all(len(remove) == 1 and not add for add, remove in self.edits):
            text = "remove any one of: " + ", ".join(
                sorted(words(next(iter(r))) for _, r in self.edits)
            )
        else:
            text = "any one of: " + "; ".join(
                " and ".join(f"{verb} {', '.join(items)}" for verb, items in alternative.items())
                or "as it is"
                for alternative in alternatives
            )
        first = self.base
        if self.edits:
            first = first.symmetric_difference(self.edits[0][0] | self.edits[0][1])
        return Span(
            "edits", {"from": named(self.base), "any_of": alternatives}, text, example(first)
        )


@dataclass(frozen=True)
class _Consequences:
    possible: frozenset[clingo.Symbol]
    certain: frozenset[clingo.Symbol]


class Evaluator:
    """Evaluates cases of one policy. Grounds its programs once.

    Not thread-safe by itself: a clingo Control answers one query at a time.
    Callers that share an evaluator across threads hold `lock` around each
    call (KnowledgeBase does).
    """

    def __init__(
        self,
        source: PolicySource,
        anchors: Mapping[str, int] | None = None,
        *,
        base: Evaluator | None = None,
        fixed: bool = False,
    ) -> None:
        """An evaluator of the policy at `source`. A policy that compares dates
        with reference dates is grounded once per day of those dates: `anchors`
        gives each reference date's day (see `for_known`), and `base` is the
        evaluator of the policy it specialises. With `fixed`, each reference
        date takes no other value than its anchor (for analyses of the policy
        as of a day); otherwise its own comparisons with constants still range
        over its values when a case's fact is set aside."""
        self.lock = threading.RLock()
        self.source = source
        self.anchors: dict[str, int] = dict(anchors or {})
        self.fixed = fixed
        self._anchored: OrderedDict[tuple[object, ...], Evaluator] = OrderedDict()
        self._statements: list[ast.AST] | None = None
        self.parsed: list[ast.AST] | None = None  # without the region facts
        self.comparisons: list[Comparison] = []
        self.references: dict[str, list[str]] = {}
        if base is None:
            # One grounded program serves every query: the scenario program with
            # the closest-counterexample rules (ignored except for explanations).
            self._ctl = ground_scenarios(source, extra=[closest_file()])
            self.policy = read_policy(source, self._ctl)
            if self.policy.typed or not is_bundled(source):
                self._load_typed()
        else:
            self.policy = base.policy
            self.parsed, self.comparisons = base.parsed, base.comparisons
            self.references = base.references
            self._ground_regions()
        self._program = QueryProgram(self.policy, control=self._ctl)
        self._literals = self._program.literals
        # Unanchored, a policy with reference dates never answers a case itself.
        unanchored = bool(self.references) and not self.anchors
        self._covered = 0 if unanchored else self._covered_literal()
        self._twin: clingo.Control | None = None
        self._twin_literals: ValueLiterals | None = None
        self._flip: dict[str, int] = {}
        self._compiled: CompiledTests | None = None
        self._compiled_tried = False

    # Parsed statements and their analysis are only needed by why, check, diff,
    # batch and the Prolog engine: computed on first use, not on start-up.

    def _load_typed(self) -> None:
        """Check the comparisons of the rules and, for a policy with number, date
        or code facts, ground it again with their regions (kb/core/typed.lp)."""
        from policykb.bridge.loading.comparisons import comparisons_of, references
        from policykb.bridge.loading.parsing import policy_statements

        parsed = policy_statements(self.source)
        self.parsed = parsed
        self.comparisons = comparisons_of(parsed, self.policy)
        self.references = references(self.comparisons)
        if not self.policy.typed:
            self._statements = parsed
            return
        self._ground_regions()

    def _ground_regions(self) -> None:
        from policykb.bridge.loading.comparisons import (
            fact_statements,
            region_symbols,
            with_regions,
        )
        from policykb.bridge.solving.transform import ground_with

        assert self.parsed is not None
        if self.fixed:
            facts = dict(self.policy.facts)
            for name, day in self.anchors.items():
                facts[name] = replace(facts[name], low=day, high=day)
            self.policy = replace(self.policy, facts=facts)
        self.policy = with_regions(self.policy, self.comparisons, self.anchors)
        regions = region_symbols(self.policy, self.comparisons, self.anchors)
        self._statements = [*self.parsed, *fact_statements(regions)]
        self._ctl = ground_with(
            self._statements,
            [show_file(), closest_file()],
            f"policy {self.source.name!r}",
            ["--models=0", "--opt-mode=opt"],
        )

    # -- reference dates -------------------------------------------------------

    ANCHORED_KEPT = 32
    """How many days of the reference dates keep their grounded program."""

    def for_known(self, known: Mapping[str, object]) -> Evaluator:
        """The evaluator for a case with these known facts: this one, or for a
        policy that compares dates with reference dates, the one grounded at
        the case's reference dates (which the case must state)."""
        if not self.references or self.anchors:
            return self
        from datetime import date

        for reference, compared in self.references.items():
            if not isinstance(known.get(reference), date):
                raise CaseError(
                    f"the case must state {reference}: the policy compares "
                    f"{', '.join(compared)} with it"
                )
        return self.at(
            {name: known[name].toordinal() for name in self.references}  # type: ignore[attr-defined]
        )

    def at(self, anchors: Mapping[str, int], *, fixed: bool = False) -> Evaluator:
        """The evaluator grounded with each reference date at its day in
        `anchors` (with `fixed`, taking no other value)."""
        key = (fixed, *sorted(anchors.items()))
        found = self._anchored.get(key)
        if found is None:
            found = Evaluator(self.source, anchors, base=self, fixed=fixed)
            found.compiler = self.compiler
            self._anchored[key] = found
            if len(self._anchored) > self.ANCHORED_KEPT:
                self._anchored.popitem(last=False)
        else:
            self._anchored.move_to_end(key)
        return found

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
        """What each rule defines and reads (see loading/rules.py)."""
        from policykb.bridge.loading.rules import rules_of

        return rules_of(self.statements)

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
        """The literal of verdict(covered). Grounded at reference dates that no
        case covered there can have (a therapy start after the date of
        service, say), the policy never derives it: then it is a fresh atom
        that no rule defines, false in every scenario."""
        if self.anchors and self._ctl.symbolic_atoms[COVERED] is None:
            with self._ctl.backend() as backend:
                fresh: int = backend.add_atom()
            return fresh
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

    def _set_mode(self, mode: str) -> None:
        self._program.configure(mode, "ignore")

    def _consequences(self, assumptions: Sequence[int]) -> _Consequences:
        found: list[frozenset[clingo.Symbol]] = []
        for mode in ("brave", "cautious"):
            self._set_mode(mode)
            last: list[clingo.Symbol] | None = None
            with self._ctl.solve(assumptions=list(assumptions), yield_=True) as handle:
                for model in handle:
                    last = model.symbols(shown=True)
            if last is None:
                raise CaseError("the case's facts contradict the policy's domain constraints")
            found.append(frozenset(last))
        return _Consequences(possible=found[0], certain=found[1])

    # -- verdict -------------------------------------------------------------

    @staticmethod
    def _verdict(consequences: _Consequences) -> Verdict:
        if COVERED in consequences.certain:
            return Verdict.COVERED
        if COVERED not in consequences.possible:
            return Verdict.NOT_COVERED
        return Verdict.NEEDS_INFORMATION

    def _statuses(self, consequences: _Consequences) -> dict[str, Status]:
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

    def _notes(self, consequences: _Consequences, known: Assignment) -> tuple[Note, ...]:
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

    # -- support for the compiled policy ------------------------------------------

    def derivable(self, symbol: clingo.Symbol) -> bool:
        return self._ctl.symbolic_atoms[symbol] is not None

    def literal(self, symbol: clingo.Symbol) -> int:
        return self._literal_of(self._ctl, symbol)

    def value_keys(self, fact: str) -> list[object]:
        """The values `fact` takes in scenarios (OTHER stands for any other string)."""
        return list(self._literals.of[fact])

    def value_key(self, fact: str, value: object) -> object:
        """The scenario value of a case value (OTHER for a string outside the
        options, a region for a number, date or code, cells for a code list)."""
        return self._literals.key(fact, value)

    def scenario_of(
        self, known: Mapping[str, object], condition: int, facts: Sequence[str]
    ) -> dict[str, object] | None:
        """A scenario extending `known` where the literal `condition` holds, or None."""
        return self._program.scenario([*self._literals.assumptions(known), condition], facts)

    @_at_reference_dates
    def notes_of(self, known: Assignment) -> tuple[Note, ...]:
        """The warnings and cautions of exactly these known facts."""
        assumptions = [*self._literals.assumptions(known), *self._literals.known_flags(known)]
        return self._notes(self._consequences(assumptions), known)

    def minimal_implicant(self, values: Mapping[str, object], never: int) -> set[str]:
        """A subset-minimal part of a complete scenario under which the literal
        `never` cannot hold."""
        return self._minimal_implicant(values, never)

    @_at_reference_dates
    def consequences(
        self, known: Assignment
    ) -> tuple[frozenset[clingo.Symbol], frozenset[clingo.Symbol]]:
        """What holds in some, and in every, scenario of exactly these known facts
        (shown atoms: verdict/1, met/1, applies/1, indicated/1, blocked/1, notes)."""
        found = self._consequences(
            [*self._literals.assumptions(known), *self._literals.known_flags(known)]
        )
        return found.possible, found.certain

    @_at_reference_dates
    def verdict_of(self, known: Assignment) -> Verdict:
        """The verdict on exactly these known facts, every other fact unknown."""
        return self._verdict(self._consequences(self._literals.assumptions(known)))

    # -- missing facts -------------------------------------------------------

    def _ensure_twin(self) -> clingo.Control:
        if self._twin is None:
            from policykb.bridge.solving.transform import ground_twin

            self._twin = ground_twin(self.statements, self.source.name)
            self._twin.configuration.solve.enum_mode = "brave"  # type: ignore[union-attr]
            self._twin_literals = ValueLiterals(self._twin, self.policy)
            self._flip = {
                atom.symbol.arguments[0].name: atom.literal
                for atom in self._twin.symbolic_atoms.by_signature("flip", 1)
            }
        return self._twin

    @_at_reference_dates
    def missing_facts(self, known: Assignment) -> list[str]:
        """The unknown facts the verdict still depends on.

        Fact F is missing when some way of filling in the other unknowns makes
        coverage turn on F's value (two scenarios differing only in F differ in
        verdict). Computed as brave consequences of the twin program.
        """
        twin = self._ensure_twin()
        assert self._twin_literals is not None
        assumptions = self._twin_literals.assumptions(known)
        assumptions += [-lit for fact, lit in self._flip.items() if fact in known]
        last: list[clingo.Symbol] = []
        with twin.solve(assumptions=assumptions, yield_=True) as handle:
            for model in handle:
                last = model.symbols(shown=True)
        flipped = {symbol.arguments[0].name for symbol in last}
        return [name for name in self.policy.facts if name in flipped]

    # -- explanations --------------------------------------------------------

    @_at_reference_dates
    def explanations(
        self, known: Assignment, verdict: Verdict, *, smallest_only: bool = False
    ) -> Iterator[tuple[str, ...]]:
        """Every minimal explanation of `verdict` among `known`, smallest first.

        A minimal explanation is a set S of known facts such that S alone (every
        other fact unknown) gets `verdict`, and no proper subset of S does.
        With `smallest_only`, stop after the explanations of the smallest size.
        Within one size, explanations come in vocabulary order.
        """
        if verdict is Verdict.NEEDS_INFORMATION:
            # With every fact unknown the case already needs information, so
            # the empty set is the one minimal explanation.
            yield ()
            return
        refute = -self._covered if verdict is Verdict.COVERED else self._covered
        yield from self._program.implicants(known, refute, smallest_only=smallest_only)

    # -- scenarios -------------------------------------------------------------

    def value_symbols(self, fact: str) -> dict[object, clingo.Symbol]:
        """The ASP symbol of each value `fact` can take (other_value for strings)."""
        return self._literals.symbol[fact]

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
            if name not in facts:
                first = next(iter(self._literals.of[name]))
                fixed[name] = frozenset() if fact.type.many else first
        assumptions = [
            *self._literals.assumptions(fixed),
            *self._literals.known_flags({}),
            self._covered,
        ]
        pins = [
            [self._literals.pin(f, v) for v in options]
            for f, options in zip(facts, choices, strict=True)
        ]
        codes: set[int] = set()
        self._set_mode("auto")
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

    # -- changes that flip the verdict ---------------------------------------

    def _option_words(self, fact: str, option: object) -> str:
        """A list option by its name; a code list's cell by its code sets."""
        declared = self.policy.facts[fact]
        if declared.type is FactType.CODE_LIST:
            return declared.span(frozenset({option})).words  # type: ignore[arg-type]
        return str(option)

    def candidate_values(self, fact: str) -> list[object]:
        """The values a change or an answer may give `fact` (a string fact: its
        options; a number, date or code: its regions; a list: any set)."""
        declared = self.policy.facts[fact]
        if declared.type is FactType.BOOL:
            return [True, False]
        if declared.type.many:
            options = [o for o in self._literals.of[fact]]
            subsets = chain.from_iterable(combinations(options, n) for n in range(len(options) + 1))
            return [frozenset(subset) for subset in subsets]
        if declared.type.typed:
            return list(self._literals.of[fact])
        return list(declared.options)

    @_at_reference_dates
    def smallest_changes(
        self,
        known: Assignment,
        target: Verdict,
        limit: int,
        keep: Collection[str] = (),
    ) -> tuple[list[tuple[tuple[str, object], ...]], int, bool]:
        """Every smallest set of fact changes that gives the case the `target` verdict.

        A change sets one fact (given or absent) to a value; facts in `keep`
        are never changed (a member's Medicare status, say). Returns at most
        `limit` sets in vocabulary order, each set of facts represented before a
        second value of the same facts; how many more of that size were left
        out; and whether that count is exact (else a lower bound).
        Only facts the verdict depends on are changed: no other change helps.
        A reference date is never changed: the case is judged as of it.
        """
        keep = {*keep, *self.references}
        if target is Verdict.NEEDS_INFORMATION:
            raise ValueError("a change set targets covered or not_covered")
        opposite = -self._covered if target is Verdict.COVERED else self._covered
        facts = self.decision_facts
        choices = [
            (fact, value)
            for fact in facts
            if fact not in keep
            for value in self.candidate_values(fact)
            if fact not in known or self.value_key(fact, known[fact]) != value
        ]
        groups = [[c for c in choices if c[0] == fact] for fact in facts]

        def test(candidate: list[tuple[str, object]]) -> Correction[tuple[str, object]] | None:
            changes = [c for c in choices if c in candidate]
            pinned = [*self._literals.assumptions({**known, **dict(changes)}), opposite]
            scenario = self._program.scenario(pinned, facts)
            if scenario is None:
                return None
            # Generalise the counterexample to a minimal part of it that alone
            # keeps the verdict off target. A valid change set must give some
            # fact of that part a known, different value: change it to another
            # value, or leave a given fact at its own value (which the failed
            # candidate had changed).
            core = self._minimal_implicant(scenario, -opposite)
            return Correction(
                [c for c in choices if c[0] in core and scenario[c[0]] != c[1]],
                unless=[
                    (fact, scenario[fact])
                    for fact in core
                    if fact in known and self.value_key(fact, known[fact]) != scenario[fact]
                ],
            )

        def chosen(candidate: list[tuple[str, object]]) -> tuple[tuple[str, object], ...]:
            return tuple(c for c in choices if c in candidate)

        # One set for each combination of facts first, so that many values of
        # one fact (age 21, 22, ...) do not hide a change of another fact;
        # then other values of the same facts while there is room. Past the
        # limit, the sets left out are counted (up to COUNT_BOUND).
        lists = [i for i, fact in enumerate(facts) if self.policy.facts[fact].type.many]
        search = MinimalSets(choices, groups, alike=lists)
        found: list[tuple[tuple[str, object], ...]] = []

        def past_distinct(size: int) -> bool:
            return bool(found) and (size > len(found[0]) or len(found) >= limit)

        for candidate in search.search(test, stop_at=past_distinct, distinct_groups=True):
            found.append(chosen(candidate))
        left_out = 0
        beyond: list[tuple[tuple[str, object], ...]] = []
        if found:
            size = len(found[0])

            def past_counted(next_size: int) -> bool:
                return next_size > size or len(found) + left_out >= limit + self.COUNT_BOUND

            for candidate in search.search(test, stop_at=past_counted):
                if len(found) < limit:
                    found.append(chosen(candidate))
                else:
                    beyond.append(chosen(candidate))
                    left_out += 1
        exact = len(found) + left_out < limit + self.COUNT_BOUND
        if beyond and exact:
            # Every smallest set is known: list the first ones in a fixed order,
            # not in the order the solver happened to find them.
            found = _first_sets([*found, *beyond], limit, {c: i for i, c in enumerate(choices)})
        if lists:
            found = self._summarise_lists(found, known, opposite, facts)
        # By the facts' ranks, then (one set of facts, several values) by the
        # values' order: never by the order the search met them.
        rank = {fact: self.policy.facts[fact].rank for fact in facts}
        order = {choice: number for number, choice in enumerate(choices)}
        found.sort(key=lambda changes: [(rank[c[0]], order.get(c, -1)) for c in changes])
        return found, left_out, exact

    MAX_EDITS = 50
    """How many smallest edits of one list fact a change lists."""

    def _summarise_lists(
        self,
        found: list[tuple[tuple[str, object], ...]],
        known: Assignment,
        opposite: int,
        facts: Sequence[str],
    ) -> list[tuple[tuple[str, object], ...]]:
        """Each change of a list fact as every smallest edit of the list that
        works with the set's other changes ("add any one of: a, b, c")."""
        summarised: dict[tuple[tuple[str, object], ...], None] = {}
        for changes in found:
            edited = []
            for fact, value in changes:
                if self.policy.facts[fact].type.many:
                    others = {f: v for f, v in changes if f != fact}
                    value = self._list_edits(known, others, fact, opposite, facts)
                edited.append((fact, value))
            summarised[tuple(edited)] = None
        return list(summarised)

    def _list_edits(
        self,
        known: Assignment,
        others: Mapping[str, object],
        fact: str,
        opposite: int,
        facts: Sequence[str],
    ) -> ListEdits:
        """The smallest edits (options added, options removed) of list `fact`
        from its value in the case (empty when unknown) that, with `others`,
        rule out the literal `opposite`. Found by hitting sets over the options
        to toggle: a counterexample's list value must be moved away from."""
        base = self.value_key(fact, known[fact]) if fact in known else frozenset()
        assert isinstance(base, frozenset)
        options = list(self._literals.of[fact])

        def test(toggled: list[object]) -> Correction[object] | None:
            value = base.symmetric_difference(toggled)
            pinned = [*self._literals.assumptions({**known, **others, fact: value}), opposite]
            scenario = self._program.scenario(pinned, facts)
            if scenario is None:
                return None
            if fact not in self._minimal_implicant(scenario, -opposite):
                return Correction([])  # no edit of this list can help
            differ = base.symmetric_difference(scenario[fact])  # type: ignore[arg-type]
            return Correction(
                [o for o in options if o not in differ], unless=[o for o in options if o in differ]
            )

        edits: list[tuple[frozenset[object], frozenset[object]]] = []
        for toggled in MinimalSets(options).search(
            test, stop_at=lambda size: len(edits) >= self.MAX_EDITS
        ):
            chosen = frozenset(toggled)
            edits.append((chosen - base, chosen & base))
        return ListEdits(base, tuple(edits))

    COUNT_BOUND = 100
    """How many smallest change sets past --max-changes are counted."""

    FORCING_FROM = 40
    """From how many facts why's questions about partial scenarios (a
    counterexample's minimal part, a missing fact's answers) go to the
    compiled policy rather than to clingo."""

    def _minimal_implicant(self, values: Mapping[str, object], refute: int) -> set[str]:
        """A subset-minimal part of a complete scenario under which `refute` can
        never hold: on the compiled policy, its smallest part (one pass); else
        each fact in turn is left out if the rest still rule it out."""
        compiled = self._compiled_tests(len(values))
        if compiled is not None and refute in (self._covered, -self._covered):
            part = compiled.forcing_part(values, refute == -self._covered)
            if part is not None:
                return part
        kept = dict(values)
        for fact in list(kept):
            trial = {f: v for f, v in kept.items() if f != fact}
            pins = [lit for f, v in trial.items() for lit in self._literals.pin(f, v)]
            if self._program.scenario([*pins, refute], ()) is None:
                kept = trial
        return set(kept)

    compiler: Callable[[Evaluator], CompiledTests | None] | None = None
    """Set by the KnowledgeBase: compiles a policy into exact tests of partial
    scenarios (CompiledTests); None when it does not compile. The same
    answers as the scenario program, one pass each."""

    def _compiled_tests(self, facts: int) -> CompiledTests | None:
        """The compiled tests, for a question over `facts` facts or more."""
        if facts < self.FORCING_FROM or self.compiler is None:
            return None
        if not self._compiled_tried:
            self._compiled_tried = True
            self._compiled = self.compiler(self)
        return self._compiled

    @_at_reference_dates
    def answers(self, known: Assignment, fact: str) -> list[Answer]:
        """What each possible answer for a missing fact would lead to; for a
        number or date, the ranges of answers, neighbours with one verdict
        merged; for a list, the smallest answers that give each verdict."""
        if self.policy.facts[fact].type.many:
            return [
                Answer(self.shown(fact, replace(edits, answers=True)), verdict)
                for verdict, refute in (
                    (Verdict.COVERED, -self._covered),
                    (Verdict.NOT_COVERED, self._covered),
                )
                if (edits := self._list_edits(known, {}, fact, refute, self.decision_facts)).edits
            ]
        compiled = self._compiled_tests(len(self.policy.facts))
        if compiled is not None:
            keys = {f: self.value_key(f, v) for f, v in known.items()}
            found = [
                (value, compiled.verdict({**keys, fact: value}))
                for value in self.candidate_values(fact)
            ]
        else:
            found = [
                (value, self.verdict_of({**known, fact: value}))  # type: ignore[dict-item]
                for value in self.candidate_values(fact)
            ]
        declared = self.policy.facts[fact]
        if declared.type.numeric:
            from policykb.bridge.model.typed import Interval

            merged: list[tuple[Interval, Verdict]] = []
            for region, verdict in found:
                assert isinstance(region, Interval)
                if merged and merged[-1][1] is verdict:
                    first = merged[-1][0]
                    region = Interval(first.low, first.low_closed, region.high, region.high_closed)
                    merged[-1] = (region, verdict)
                else:
                    merged.append((region, verdict))
            found = list(merged)
        return [Answer(self.shown(fact, value), verdict) for value, verdict in found]

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

    def shown(self, fact: str, value: object) -> Value | Span:
        """A value a change or an answer gives `fact`, in the analyst's terms."""
        declared = self.policy.facts[fact]
        if isinstance(value, ListEdits):
            return value.span(
                lambda option: self._option_words(fact, option),
                lambda options: self.concrete(fact, options),
            )
        if declared.type.typed:
            return declared.span(value)  # type: ignore[arg-type]
        assert isinstance(value, bool | str | frozenset)
        return value

    # -- evaluation ----------------------------------------------------------

    def evaluate(self, case: Case) -> Evaluation:
        """Evaluate one case: verdict, criteria, smallest explanation, missing facts, notes."""
        known, assumed = self.known_facts(case)
        anchored = self.for_known(known)
        if anchored is not self:
            return anchored.evaluate(case)
        assumptions = [*self._literals.assumptions(known), *self._literals.known_flags(known)]
        consequences = self._consequences(assumptions)
        verdict = self._verdict(consequences)
        explanation = next(self.explanations(known, verdict, smallest_only=True), ())
        missing = self.missing_facts(known) if verdict is Verdict.NEEDS_INFORMATION else []
        return Evaluation(
            id=case.id,
            policy=self.policy.name,
            version=self.policy.version,
            verdict=verdict,
            criteria=self._statuses(consequences),
            explanation=tuple(self.explain_item(f, known[f], f in assumed) for f in explanation),
            missing=tuple(self.missing_item(f) for f in missing),
            warnings=self._notes(consequences, known),
        )

    def why(self, case: Case, max_changes: int = 20, keep: Collection[str] = ()) -> WhyAnswer:
        """Every minimal explanation, the smallest flipping changes (never changing
        the facts in `keep`), and the missing facts."""
        known, assumed = self.known_facts(case)
        unknown_facts = [fact for fact in keep if fact not in self.policy.facts]
        if unknown_facts:
            raise CaseError(f"--keep names unknown fact {unknown_facts[0]!r}")
        anchored = self.for_known(known)
        if anchored is not self:
            return anchored.why(case, max_changes, keep)
        verdict = self.verdict_of(known)
        target = Verdict.NOT_COVERED if verdict is Verdict.COVERED else Verdict.COVERED
        changes, left_out, exact = self.smallest_changes(known, target, max_changes, keep)
        missing = self.missing_facts(known) if verdict is Verdict.NEEDS_INFORMATION else []
        return WhyAnswer(
            id=case.id,
            policy=self.policy.name,
            version=self.policy.version,
            verdict=verdict,
            explanations=tuple(
                tuple(self.explain_item(f, known[f], f in assumed) for f in explanation)
                for explanation in self.explanations(known, verdict)
            ),
            target=target,
            changes=tuple(tuple(Change(f, self.shown(f, v)) for f, v in c) for c in changes),
            changes_capped=left_out > 0,
            changes_left_out=left_out,
            changes_left_out_exact=exact,
            missing=tuple(
                MissingFact(
                    f,
                    self.policy.facts[f].question,
                    self.policy.facts[f].clauses,
                    tuple(self.answers(known, f)),
                )
                for f in missing
            ),
        )

    def explain_item(self, fact: str, value: Value, assumed: bool) -> ExplanationItem:
        citation = self.policy.citation(fact, value)
        declared = self.policy.facts[fact]
        region = declared.span(self.value_key(fact, value)) if declared.type.typed else None  # type: ignore[arg-type]
        return ExplanationItem(fact, value, citation.criterion, citation.text, assumed, region)

    def missing_item(self, fact: str) -> MissingFact:
        declared = self.policy.facts[fact]
        return MissingFact(fact, declared.question, declared.clauses)


def _first_sets(
    sets: list[tuple[tuple[str, object], ...]], limit: int, order: Mapping[tuple[str, object], int]
) -> list[tuple[tuple[str, object], ...]]:
    """The first `limit` change sets: one for each set of facts (its first by
    vocabulary and value order), then the others, each part in that order."""
    ranked = sorted(sets, key=lambda changes: [order[c] for c in changes])
    firsts: dict[tuple[str, ...], tuple[tuple[str, object], ...]] = {}
    for changes in ranked:
        firsts.setdefault(tuple(fact for fact, _ in changes), changes)
    chosen = list(firsts.values())
    chosen += [changes for changes in ranked if changes not in firsts.values()]
    return chosen[:limit]
