"""The entry point of the library: a knowledge base of policies."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from policykb.bridge.case import Case, case_policy_name, read_case_document, validate_case
from policykb.bridge.engine import Evaluator
from policykb.bridge.kb_files import DEFAULT_POLICY, discover_policies, policy_source
from policykb.bridge.policy import Policy
from policykb.bridge.result import Evaluation


class KnowledgeBase:
    """The bundled policies plus any folders of the user's own.

    Each policy is grounded once, on first use, and then evaluates any number
    of cases. Not thread-safe: use one KnowledgeBase per thread.
    """

    def __init__(self, extra_dirs: Sequence[Path | str] = ()) -> None:
        self.extra_dirs = tuple(Path(d) for d in extra_dirs)
        self._evaluators: dict[str, Evaluator] = {}

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
