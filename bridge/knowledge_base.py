"""The entry point of the library: a knowledge base of policies."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policykb.bridge.loading.case import (
    case_policy_name,
    read_case_document,
    service_date_of,
    validate_case,
)
from policykb.bridge.loading.files import discover_policies, looks_like_path, policy_source
from policykb.bridge.loading.version_choice import in_force, split_version
from policykb.bridge.model.case import DEFAULT_POLICY, Case
from policykb.bridge.model.errors import EngineError, ProofUnsupported
from policykb.bridge.model.policy import Policy, PolicySource, Value
from policykb.bridge.model.result import CoveredFrom, Evaluation, Verdict, WhyAnswer
from policykb.bridge.model.version import SERVICE_DATE, ordered, periods
from policykb.bridge.solving.evaluator import CompiledTests, Compiler, Evaluator
from policykb.bridge.solving.limits import SolvingLimits

if TYPE_CHECKING:
    from policykb.bridge.analysis.findings import CheckReport
    from policykb.bridge.prolog.engine import PrologEngine
    from policykb.bridge.solving.unknown_dates import UnknownDate


class KnowledgeBase:
    """The bundled policies plus any folders of the user's own.

    Each policy is grounded once, on first use, and then evaluates any number
    of cases. Thread-safe: threads may share one KnowledgeBase. A policy's
    grounded program answers one query at a time (its evaluator's lock);
    different policies answer in parallel, and Prolog runs on a thread of its
    own.
    """

    def __init__(
        self,
        extra_dirs: Sequence[Path | str] = (),
        *,
        limits: SolvingLimits | None = None,
        compiled: bool = True,
    ) -> None:
        """The bundled policies and those in `extra_dirs`. `limits` bounds
        every evaluator's searches; with `compiled`, large policies' `why`
        asks the compiled policy (bridge/compile) where it compiles."""
        self.extra_dirs = tuple(Path(d) for d in extra_dirs)
        self.limits = limits or SolvingLimits()
        # solving cannot import compile (it sits below it): the compiler is
        # passed down from here, the layer above both.
        self._compiler: Compiler | None = _compiled_tests if compiled else None
        self._versions: dict[str, tuple[Evaluator, ...]] = {}
        self._by_entry: dict[Path, Evaluator] = {}
        # Per policy version, days of its reference dates, and which are fixed.
        self._provers: dict[
            tuple[str, str, tuple[tuple[str, int], ...], bool | frozenset[str]], PrologEngine
        ] = {}
        self._loading = threading.Lock()

    def policy_names(self) -> list[str]:
        return sorted(discover_policies(self.extra_dirs))

    def evaluator(self, policy: str | Path = DEFAULT_POLICY, day: date | None = None) -> Evaluator:
        """The evaluator of a policy, by name, folder or entry file (from the
        command line), of its version in force on `day` (None: today, or the
        policy's only version whatever its period).

        `NAME@YYYY-MM-DD` names the version in force on that day, whatever `day` is.
        """
        return self._evaluator(policy, allow_paths=True, day=day)

    def named_evaluator(self, name: str, day: date | None = None) -> Evaluator:
        """The evaluator of a policy by name only: what case data may choose."""
        return self._evaluator(name, allow_paths=False, day=day)

    def versions(self, policy: str | Path = DEFAULT_POLICY) -> tuple[Evaluator, ...]:
        """The evaluators of every version of a policy, by effective date."""
        return self._versions_of(policy, allow_paths=True)

    def _versions_of(self, policy: str | Path, allow_paths: bool) -> tuple[Evaluator, ...]:
        key = str(policy)
        found = self._versions.get(key)
        if found is not None:
            return found
        if not allow_paths and looks_like_path(key):
            policy_source(key, self.extra_dirs, allow_paths=False)  # raises: names only
        with self._loading:
            if key not in self._versions:
                source = policy_source(policy, self.extra_dirs, allow_paths)
                loaded = [self._load(version) for version in source.versions]
                order = ordered([e.policy.version for e in loaded])
                self._versions[key] = tuple(loaded[i] for i in order)
                in_force_days(self._versions[key])
            return self._versions[key]

    def _load(self, source: PolicySource) -> Evaluator:
        entry = source.entry.resolve()
        if entry not in self._by_entry:
            self._by_entry[entry] = Evaluator(source, limits=self.limits, compiler=self._compiler)
        return self._by_entry[entry]

    def _evaluator(self, policy: str | Path, allow_paths: bool, day: date | None) -> Evaluator:
        reference, pinned = split_version(policy)
        versions = self._versions_of(reference, allow_paths)
        if len(versions) == 1 and (not versions[0].policy.version.dated or not (pinned or day)):
            return versions[0]  # undated, or no day asked for: the only version
        return in_force(versions, pinned or day, undated=pinned is None and day is None)

    def policy(self, policy: str | Path = DEFAULT_POLICY, day: date | None = None) -> Policy:
        return self.evaluator(policy, day).policy

    def case(
        self,
        document: object,
        default_id: str = "case",
        policy: str | None = None,
        as_of: date | None = None,
    ) -> Case:
        """Validate a parsed case document (its own `policy` key, else
        `policy`) against the version in force on `as_of`, else on its
        date_of_service, else today."""
        day = as_of or service_date_of(document)
        if policy is not None:
            evaluator = self.evaluator(policy, day)
        else:
            evaluator = self.named_evaluator(case_policy_name(document), day)
        return validate_case(document, evaluator.policy, default_id, as_of)

    def read_case(self, path: str, policy: str | None = None, as_of: date | None = None) -> Case:
        """Read and validate a case file (JSON or YAML; `-` for stdin)."""
        document, default_id = read_case_document(path)
        return self.case(document, default_id, policy, as_of)

    def case_evaluator(self, case: Case, policy: str | None = None) -> Evaluator:
        """The evaluator of the version that decides a validated case."""
        return self.evaluator(policy or case.policy, case.as_of)

    def evaluate(self, case: Case | object, policy: str | None = None) -> Evaluation:
        """Evaluate a case (a validated Case, or a document to validate)."""
        if not isinstance(case, Case):
            case = self.case(case, policy=policy)
        evaluator = self.case_evaluator(case, policy)
        with evaluator.lock:
            evaluator = evaluator.for_case(evaluator.known_facts(case)[0])
        with evaluator.lock:
            return evaluator.evaluate(case)

    def keep_snapshot(self, case: Case, policy: str | None, evaluation: Evaluation) -> None:
        """Store what lets `evaluate --format json` answer the next case of
        this policy without clingo (compile/snapshot.py): for a policy of one
        version without reference dates or histories that compiles, once its
        compiled answer to `case` equals `evaluation` (the grounded answer).
        Does nothing when the cache is off or the snapshot already knows this
        case's warnings."""
        from policykb.bridge.compile.cache_folder import cache_folder
        from policykb.bridge.compile.snapshot import load_snapshot, store_snapshot

        folder = cache_folder()
        reference, pinned = split_version(policy or case.policy)
        if folder is None or pinned is not None:
            return
        versions = self._versions_of(reference, allow_paths=True)
        evaluator = versions[0]
        if len(versions) != 1 or evaluator.references or evaluator.policy.histories:
            return
        stored = load_snapshot(folder, evaluator.source)
        with evaluator.lock:
            known = evaluator.known_facts(case)[0]
            if stored is not None and stored.notes_key(known) in stored.notes:
                return
            from policykb.bridge.compile.compiled import compile_policy

            compiled = compile_policy(evaluator)
            if (
                compiled is None
                or compiled.answers.evaluate(case, compiled.explain_item, compiled.notes_of)
                != evaluation
            ):
                return
            notes = {compiled.notes_key(known): evaluation.warnings}
            store_snapshot(folder, evaluator.source, compiled.answers, compiled.note_facts, notes)

    def why(
        self,
        case: Case,
        policy: str | None = None,
        max_changes: int = 20,
        keep: Sequence[str] = (),
    ) -> WhyAnswer:
        """Every minimal explanation, the smallest changes that flip the verdict
        (never changing the facts in `keep`), and for each missing fact what its
        answers would lead to."""
        evaluator = self.case_evaluator(case, policy)
        with evaluator.lock:
            evaluator.check_keep(keep)
            evaluator = evaluator.for_case(evaluator.known_facts(case)[0])
        with evaluator.lock:
            answer = evaluator.why(case, max_changes, keep)
        if answer.verdict is Verdict.NOT_COVERED:
            found = self.covered_from(case, policy)
            if found is not None:
                answer = dataclasses.replace(answer, covered_from=found)
            elif SERVICE_DATE in evaluator.policy.facts and SERVICE_DATE not in case.facts:
                reason = (
                    f"the case leaves {SERVICE_DATE} unknown: the search starts from the "
                    "case's own date of service"
                )
                answer = dataclasses.replace(answer, covered_from_reason=reason)
        return answer

    def covered_from(
        self, case: Case, policy: str | None = None, until: date | None = None
    ) -> CoveredFrom | None:
        """The earliest date of service, from the case's own through `until`
        (default: HORIZON_MONTHS later), from which the case is covered with
        every other fact unchanged, each day decided by the version in force
        on it (solving/covered_from.py: exact, one evaluation per distinct
        day pattern). The case's own date is its date_of_service fact, or for
        a policy that does not declare one, the day whose version decides it
        (case.as_of). None for an undated case, and for a policy of one
        version that does not declare a date of service (no day changes its
        verdict)."""
        from policykb.bridge.solving.covered_from import (
            DayKey,
            DayPatterns,
            covered_from,
            history_key,
            repinned,
        )

        reference, _ = split_version(policy or case.policy)
        versions = self._versions_of(reference, allow_paths=True)
        declared = any(SERVICE_DATE in version.policy.facts for version in versions)
        start = case.facts.get(SERVICE_DATE) if declared else case.as_of
        if not isinstance(start, date) or (not declared and len(versions) == 1):
            return None
        spans = periods([version.policy.version for version in versions])
        # Per version: its day patterns, and the case's known facts (defaults
        # filled in), into which each day's date of service goes.
        patterns: dict[int, DayPatterns] = {}
        known: dict[int, dict[str, Value]] = {}
        for index, version in enumerate(versions):
            with version.lock:
                patterns[index] = DayPatterns(version)
                known[index] = dict(version.known_facts(case)[0])

        def version_at(day: date) -> int | None:
            holding = [i for i, span in enumerate(spans) if span.holds(day)]
            if len(holding) > 1:
                in_force(versions, day)  # raises: several versions in force
            return holding[0] if holding else None

        def known_at(index: int, day: date) -> dict[str, Value]:
            facts = known[index]
            if SERVICE_DATE in versions[index].policy.facts:
                facts = {**facts, SERVICE_DATE: day}
            if case.histories:
                # The records fall in other classes as the date of service
                # moves (a colonoscopy leaves the 119 months before it): pin
                # the levels as of this day, with this version's classes.
                facts = repinned(versions[index].policy, case.histories, facts)
            return facts

        def key_of(day: date) -> DayKey | None:
            index = version_at(day)
            if index is None:
                return None
            declared = versions[index].policy.facts.get(SERVICE_DATE)
            ordinal = day.toordinal()
            if declared is not None and (
                (declared.low is not None and ordinal < declared.low)
                or (declared.high is not None and ordinal > declared.high)
            ):
                return None
            facts = known_at(index, day)
            return DayKey(
                index,
                patterns[index].of(facts, day),
                history_key(versions[index].policy, facts),
            )

        def verdict_at(day: date) -> Verdict:
            index = version_at(day)
            assert index is not None  # key_of gave the day a key
            evaluator, facts = versions[index], known_at(index, day)
            with evaluator.lock:
                anchored = evaluator.for_known(facts)
            with anchored.lock:
                return anchored.verdict(anchored.case_consequences(facts))

        return covered_from(start, key_of, verdict_at, until)

    def check(self, evaluator: Evaluator, as_of: date | None = None) -> CheckReport:
        """The check findings of an evaluator's policy, with a rule the second
        engine cannot translate as an `unprovable` finding (found without
        starting Prolog); a policy with reference dates as of `as_of`."""
        from policykb.bridge.analysis.check import check_policy
        from policykb.bridge.analysis.findings import Finding, Kind
        from policykb.bridge.analysis.versions import version_findings
        from policykb.bridge.loading.files import folder_source
        from policykb.bridge.prolog.translate import translate

        extra = []
        folder = folder_source(evaluator.source.folder)
        if folder is not None and folder.entries:
            extra += version_findings(self.versions(folder.folder))
        with evaluator.lock:
            try:
                translate(evaluator.statements, evaluator.rules, "check", "prove.pl")
            except ProofUnsupported as error:
                where, _, problem = str(error).rpartition(": the Prolog translation")
                short = f"{Path(where).name}: " if where else ""
                message = (
                    f"{short}the Prolog translation{problem}: --proof and --cross-check "
                    "cannot run on this policy"
                )
                extra.append(Finding(Kind.UNPROVABLE, (), message, location=where or None))
            return check_policy(evaluator, extra, as_of)

    def prover(self, policy: str | Path = DEFAULT_POLICY) -> PrologEngine:
        """The SWI-Prolog engine of a policy (starts Prolog on first use)."""
        return self.prover_for(self.evaluator(policy))

    def prover_for(self, evaluator: Evaluator) -> PrologEngine:
        """The SWI-Prolog engine of an evaluator's program (for a policy with
        reference dates, one per day of those dates, and per set of them fixed
        to that day: a grounding that fixes one answers a case that leaves it
        unknown, so it must not be shared with one that does not)."""
        from policykb.bridge.prolog.engine import PrologEngine

        key = (
            evaluator.policy.name,
            evaluator.policy.version.hash,
            tuple(sorted(evaluator.anchors.items())),
            evaluator.fixed,
        )
        with self._loading:
            if key not in self._provers:
                with evaluator.lock:
                    self._provers[key] = PrologEngine(evaluator)
            return self._provers[key]

    def prove(self, case: Case, policy: str | None = None) -> tuple[Verdict, dict[str, Any]]:
        """The Prolog engine's verdict on a case and its proof tree (published
        shape); a case that leaves a reference date unknown is proved by cases
        over its day classes (prolog/day_cases.py)."""
        from policykb.bridge.prolog.day_cases import prove_by_days
        from policykb.bridge.prolog.tree import proof_tree

        evaluator = self.case_evaluator(case, policy)
        with evaluator.lock:
            known, assumed = evaluator.known_facts(case)
            split = _unknown_date(evaluator, known, case)
            if split is None:
                evaluator = evaluator.for_known(known)
        if split is not None:
            return prove_by_days(split, known, assumed, self.prover_for)
        verdict, raw = self.prover_for(evaluator).prove(known)
        return verdict, proof_tree(evaluator.policy, known, assumed, raw, verdict.value)

    def cross_check(self, case: Case, policy: str | None = None) -> Verdict:
        """The verdict, computed by both engines; EngineError if they disagree
        (for a case that leaves a reference date unknown, in some day class:
        prolog/day_cases.py)."""
        from policykb.bridge.prolog.day_cases import cross_check_by_days

        evaluator = self.case_evaluator(case, policy)
        with evaluator.lock:
            known, _ = evaluator.known_facts(case)
            split = _unknown_date(evaluator, known, case)
        if split is not None:
            return cross_check_by_days(split, known, self.prover_for, case.id)
        with evaluator.lock:
            evaluator = evaluator.for_known(known)
            by_clingo = evaluator.verdict_of(known)
        by_prolog, _ = self.prover_for(evaluator).prove(known)
        if by_clingo is not by_prolog:
            raise EngineError(
                f"the engines disagree on case {case.id!r}: clingo says {by_clingo.value}, "
                f"SWI-Prolog says {by_prolog.value}"
            )
        return by_clingo


def _unknown_date(
    evaluator: Evaluator, known: Mapping[str, object], case: Case
) -> UnknownDate | None:
    """The case's day classes when it leaves a reference date unknown, else
    None (the caller holds the evaluator's lock)."""
    if evaluator.for_case(known) is evaluator and evaluator.needs_anchors:
        return evaluator.unknown_date(known, case.histories)  # type: ignore[arg-type]
    return None


def in_force_days(versions: Sequence[Evaluator]) -> None:
    """Give each version the days it is in force (first, last; None: open),
    over which a case's unknown date of service ranges."""
    spans = periods([e.policy.version for e in versions])
    for evaluator, span in zip(versions, spans, strict=True):
        first = span.start.toordinal() if span.start else None
        last = span.end.toordinal() - 1 if span.end else None
        evaluator.in_force = (first, last)


def _compiled_tests(evaluator: Evaluator) -> CompiledTests | None:
    """The compiled policy, for large policies' `why` (imported only when one
    needs it)."""
    from policykb.bridge.compile.compiled import compile_policy

    return compile_policy(evaluator)
