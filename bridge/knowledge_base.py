"""The entry point of the library: a knowledge base of policies."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policykb.bridge.loading.case import case_policy_name, read_case_document, validate_case
from policykb.bridge.loading.files import discover_policies, looks_like_path, policy_source
from policykb.bridge.model.case import DEFAULT_POLICY, Case
from policykb.bridge.model.errors import EngineError, ProofUnsupported
from policykb.bridge.model.policy import Policy
from policykb.bridge.model.result import Evaluation, Verdict, WhyAnswer
from policykb.bridge.solving.evaluator import Evaluator

if TYPE_CHECKING:
    from policykb.bridge.analysis.check import CheckReport
    from policykb.bridge.prolog.engine import PrologEngine


class KnowledgeBase:
    """The bundled policies plus any folders of the user's own.

    Each policy is grounded once, on first use, and then evaluates any number
    of cases. Thread-safe: threads may share one KnowledgeBase. A policy's
    grounded program answers one query at a time (its evaluator's lock);
    different policies answer in parallel, and Prolog runs on a thread of its
    own.
    """

    def __init__(self, extra_dirs: Sequence[Path | str] = ()) -> None:
        self.extra_dirs = tuple(Path(d) for d in extra_dirs)
        self._evaluators: dict[str, Evaluator] = {}
        self._provers: dict[tuple[str, tuple[tuple[str, int], ...]], PrologEngine] = {}
        self._loading = threading.Lock()

    def policy_names(self) -> list[str]:
        return sorted(discover_policies(self.extra_dirs))

    def evaluator(self, policy: str | Path = DEFAULT_POLICY) -> Evaluator:
        """The evaluator of a policy, by name, folder or entry file (from the command line)."""
        return self._evaluator(policy, allow_paths=True)

    def named_evaluator(self, name: str) -> Evaluator:
        """The evaluator of a policy by name only: what case data may choose."""
        return self._evaluator(name, allow_paths=False)

    def _evaluator(self, policy: str | Path, allow_paths: bool) -> Evaluator:
        key = str(policy)
        if not allow_paths and looks_like_path(key):
            policy_source(key, self.extra_dirs, allow_paths=False)  # raises: names only
        found = self._evaluators.get(key)
        if found is not None:
            return found
        with self._loading:
            if key not in self._evaluators:
                source = policy_source(policy, self.extra_dirs, allow_paths)
                evaluator = Evaluator(source)
                evaluator.compiler = _forcing_test
                self._evaluators.setdefault(evaluator.policy.name, evaluator)
                self._evaluators[key] = self._evaluators[evaluator.policy.name]
            return self._evaluators[key]

    def policy(self, policy: str | Path = DEFAULT_POLICY) -> Policy:
        return self.evaluator(policy).policy

    def case(self, document: object, default_id: str = "case", policy: str | None = None) -> Case:
        """Validate a parsed case document (its own `policy` key, else `policy`)."""
        if policy is not None:
            return validate_case(document, self.policy(policy), default_id)
        evaluator = self.named_evaluator(case_policy_name(document))
        return validate_case(document, evaluator.policy, default_id)

    def read_case(self, path: str, policy: str | None = None) -> Case:
        """Read and validate a case file (JSON or YAML; `-` for stdin)."""
        document, default_id = read_case_document(path)
        return self.case(document, default_id, policy)

    def evaluate(self, case: Case | object, policy: str | None = None) -> Evaluation:
        """Evaluate a case (a validated Case, or a document to validate)."""
        if not isinstance(case, Case):
            case = self.case(case, policy=policy)
        evaluator = self.evaluator(policy or case.policy)
        with evaluator.lock:
            return evaluator.evaluate(case)

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
        evaluator = self.evaluator(policy or case.policy)
        with evaluator.lock:
            return evaluator.why(case, max_changes, keep)

    def check(self, evaluator: Evaluator) -> CheckReport:
        """The check findings of an evaluator's policy, with a rule the second
        engine cannot translate as an `unprovable` finding (found without
        starting Prolog)."""
        from policykb.bridge.analysis.check import Finding, Kind, check_policy
        from policykb.bridge.prolog.translate import translate

        extra = []
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
            return check_policy(evaluator, extra)

    def prover(self, policy: str | Path = DEFAULT_POLICY) -> PrologEngine:
        """The SWI-Prolog engine of a policy (starts Prolog on first use)."""
        return self.prover_for(self.evaluator(policy))

    def prover_for(self, evaluator: Evaluator) -> PrologEngine:
        """The SWI-Prolog engine of an evaluator's program (for a policy with
        reference dates, one per day of those dates)."""
        from policykb.bridge.prolog.engine import PrologEngine

        key = (evaluator.policy.name, tuple(sorted(evaluator.anchors.items())))
        with self._loading:
            if key not in self._provers:
                with evaluator.lock:
                    self._provers[key] = PrologEngine(evaluator)
            return self._provers[key]

    def prove(self, case: Case, policy: str | None = None) -> tuple[Verdict, dict[str, Any]]:
        """The Prolog engine's verdict on a case and its proof tree (published shape)."""
        from policykb.bridge.prolog.tree import proof_tree

        evaluator = self.evaluator(policy or case.policy)
        with evaluator.lock:
            known, assumed = evaluator.known_facts(case)
            evaluator = evaluator.for_known(known)
        verdict, raw = self.prover_for(evaluator).prove(known)
        return verdict, proof_tree(evaluator.policy, known, assumed, raw)

    def cross_check(self, case: Case, policy: str | None = None) -> Verdict:
        """The verdict, computed by both engines; EngineError if they disagree."""
        evaluator = self.evaluator(policy or case.policy)
        with evaluator.lock:
            known, _ = evaluator.known_facts(case)
            evaluator = evaluator.for_known(known)
            by_clingo = evaluator.verdict_of(known)
        by_prolog, _ = self.prover_for(evaluator).prove(known)
        if by_clingo is not by_prolog:
            raise EngineError(
                f"the engines disagree on case {case.id!r}: clingo says {by_clingo.value}, "
                f"SWI-Prolog says {by_prolog.value}"
            )
        return by_clingo


def _forcing_test(evaluator: Evaluator) -> Callable[[Mapping[str, object], bool], bool] | None:
    """The compiled policy's test of a partial scenario, for large policies'
    `why` (imported only when one needs it)."""
    from policykb.bridge.compile.compiled import forcing_test

    return forcing_test(evaluator)
