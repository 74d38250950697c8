"""The entry point of the library: a knowledge base of policies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policykb.bridge.case import Case, case_policy_name, read_case_document, validate_case
from policykb.bridge.engine import Evaluator
from policykb.bridge.errors import EngineError
from policykb.bridge.kb_files import DEFAULT_POLICY, discover_policies, policy_source
from policykb.bridge.policy import Policy
from policykb.bridge.result import Evaluation, Verdict, WhyAnswer

if TYPE_CHECKING:
    from policykb.bridge.prolog_engine import PrologEngine


class KnowledgeBase:
    """The bundled policies plus any folders of the user's own.

    Each policy is grounded once, on first use, and then evaluates any number
    of cases. Not thread-safe: use one KnowledgeBase per thread.
    """

    def __init__(self, extra_dirs: Sequence[Path | str] = ()) -> None:
        self.extra_dirs = tuple(Path(d) for d in extra_dirs)
        self._evaluators: dict[str, Evaluator] = {}
        self._provers: dict[str, PrologEngine] = {}

    def policy_names(self) -> list[str]:
        return sorted(discover_policies(self.extra_dirs))

    def evaluator(self, policy: str | Path = DEFAULT_POLICY) -> Evaluator:
        """The evaluator of a policy, by name, folder or entry file."""
        key = str(policy)
        if key not in self._evaluators:
            evaluator = Evaluator(policy_source(policy, self.extra_dirs))
            self._evaluators[key] = evaluator
            self._evaluators.setdefault(evaluator.policy.name, evaluator)
        return self._evaluators[key]

    def policy(self, policy: str | Path = DEFAULT_POLICY) -> Policy:
        return self.evaluator(policy).policy

    def case(self, document: object, default_id: str = "case", policy: str | None = None) -> Case:
        """Validate a parsed case document (its own `policy` key, else `policy`)."""
        name = policy if policy is not None else case_policy_name(document)
        return validate_case(document, self.policy(name), default_id)

    def read_case(self, path: str, policy: str | None = None) -> Case:
        """Read and validate a case file (JSON or YAML; `-` for stdin)."""
        document, default_id = read_case_document(path)
        return self.case(document, default_id, policy)

    def evaluate(self, case: Case | object, policy: str | None = None) -> Evaluation:
        """Evaluate a case (a validated Case, or a document to validate)."""
        if not isinstance(case, Case):
            case = self.case(case, policy=policy)
        return self.evaluator(policy or case.policy).evaluate(case)

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
        return self.evaluator(policy or case.policy).why(case, max_changes, keep)

    def prover(self, policy: str | Path = DEFAULT_POLICY) -> PrologEngine:
        """The SWI-Prolog engine of a policy (starts Prolog on first use)."""
        from policykb.bridge.prolog_engine import PrologEngine

        evaluator = self.evaluator(policy)
        key = evaluator.policy.name
        if key not in self._provers:
            self._provers[key] = PrologEngine(evaluator)
        return self._provers[key]

    def prove(self, case: Case, policy: str | None = None) -> tuple[Verdict, dict[str, Any]]:
        """The Prolog engine's verdict on a case and its proof tree (published shape)."""
        from policykb.bridge.proof import proof_tree

        evaluator = self.evaluator(policy or case.policy)
        known, assumed = evaluator.known_facts(case)
        verdict, raw = self.prover(evaluator.policy.name).prove(known)
        return verdict, proof_tree(evaluator.policy, known, assumed, raw)

    def cross_check(self, case: Case, policy: str | None = None) -> Verdict:
        """The verdict, computed by both engines; EngineError if they disagree."""
        evaluator = self.evaluator(policy or case.policy)
        known, _ = evaluator.known_facts(case)
        by_clingo = evaluator.verdict_of(known)
        by_prolog, _ = self.prover(evaluator.policy.name).prove(known)
        if by_clingo is not by_prolog:
            raise EngineError(
                f"the engines disagree on case {case.id!r}: clingo says {by_clingo.value}, "
                f"SWI-Prolog says {by_prolog.value}"
            )
        return by_clingo
