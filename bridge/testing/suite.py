"""Case tests analysts write in YAML, and running them.

A suite file holds a list of cases (or `{policy: ..., cases: [...]}`):

    - name: A3 not met, not terminally ill
      facts: {medicare_member: false, ordered_by_treating_physician: false,
              terminally_ill: false}
      expect:
        verdict: not_covered
        explanation: [heading, A3, B]      # criterion IDs ...
        # explanation: {ordered_by_treating_physician: false, ...}   # ... or facts
        missing: []

`expect.explanation`, `expect.cites` and `expect.missing` are optional; when
given they must match exactly (as sets: the order does not matter). `cites`
lists the criterion IDs the explanation cites: with an explanation written as
facts, it pins the reason a denial gives as well. `missing` names a history
by its fact name (`a1c_results`) when the verdict still turns on any of its
record classes: the classes' boolean facts are numbered by the bridge, not
by the policy's author, so a suite does not name them.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policykb.bridge.knowledge_base import KnowledgeBase
from policykb.bridge.loading.case import parse_yaml
from policykb.bridge.model.case import DEFAULT_POLICY
from policykb.bridge.model.errors import CaseError, PolicyKBError
from policykb.bridge.model.policy import Policy
from policykb.bridge.model.result import Evaluation, json_value, value_words

SUITE_GLOB = "test_*.yaml"
EXPECT_KEYS = ("verdict", "explanation", "cites", "missing")


@dataclass(frozen=True)
class CaseTest:
    """One case of a suite, as written."""

    name: str
    policy: str
    facts: Mapping[str, Any]
    expect: Mapping[str, Any]
    path: Path
    index: int

    @property
    def ident(self) -> str:
        return f"{self.path.name}::{self.name}"


@dataclass(frozen=True)
class CaseTestResult:
    test: CaseTest
    passed: bool
    diff: str = ""
    error: str | None = None
    evaluation: Evaluation | None = field(default=None, compare=False)


def load_suite(path: Path) -> list[CaseTest]:
    """The cases of a suite file; CaseError names what is malformed and where."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise CaseError(f"{path}: cannot read: {error.strerror}") from None
    document = parse_yaml(text, str(path))
    policy = DEFAULT_POLICY
    if isinstance(document, Mapping):
        policy = str(document.get("policy", policy))
        document = document.get("cases")
    if not isinstance(document, list):
        raise CaseError(f"{path}: a suite is a list of cases (or a mapping with 'cases')")
    tests = []
    for index, raw in enumerate(document, start=1):
        where = f"{path}: case {index}"
        if not isinstance(raw, Mapping):
            raise CaseError(f"{where}: a case is a mapping with name, facts and expect")
        unknown = set(raw) - {"name", "facts", "expect", "policy"}
        if unknown:
            raise CaseError(f"{where}: unknown key(s) {', '.join(sorted(map(str, unknown)))}")
        expect = raw.get("expect")
        if not isinstance(expect, Mapping) or "verdict" not in expect:
            raise CaseError(f"{where}: 'expect' must give at least a verdict")
        extra = set(expect) - set(EXPECT_KEYS)
        if extra:
            raise CaseError(f"{where}: unknown expect key(s) {', '.join(sorted(map(str, extra)))}")
        facts = raw.get("facts") or {}
        if not isinstance(facts, Mapping):
            raise CaseError(f"{where}: 'facts' must be a mapping")
        _check_expect(expect, where)
        tests.append(
            CaseTest(
                name=str(raw.get("name", f"case {index}")),
                policy=str(raw.get("policy", policy)),
                facts=dict(facts),
                expect=dict(expect),
                path=path,
                index=index,
            )
        )
    return tests


def _check_expect(expect: Mapping[str, Any], where: str) -> None:
    """The shape of an expect block: a verdict word; lists of IDs or facts."""
    verdicts = ("covered", "not_covered", "needs_information")
    if expect["verdict"] not in verdicts:
        raise CaseError(f"{where}: expect.verdict must be one of {', '.join(verdicts)}")
    explanation = expect.get("explanation")
    if explanation is not None and not isinstance(explanation, list | Mapping):
        raise CaseError(
            f"{where}: expect.explanation must be a list of criterion IDs or a mapping of facts"
        )
    for key in ("cites", "missing"):
        value = expect.get(key)
        if value is not None and not (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        ):
            raise CaseError(f"{where}: expect.{key} must be a list of names")


def find_suites(paths: list[Path]) -> Iterator[Path]:
    """Suite files: the files given, and test_*.yaml files under the folders given."""
    for path in paths:
        if path.is_dir():
            yield from sorted(path.rglob(SUITE_GLOB))
        elif path.is_file():
            yield path
        else:
            raise CaseError(f"{path}: no such file or folder")


def _words(value: object) -> str:
    """A value as YAML writes it, so expected and actual compare as text."""
    if isinstance(value, bool | str):
        return value_words(value)
    shown = json_value(value) if isinstance(value, frozenset) else value
    if isinstance(shown, list | tuple | set | frozenset):
        return "[" + ", ".join(sorted(map(str, shown))) + "]"
    return str(shown)


def _expected_lines(test: CaseTest) -> list[str]:
    lines = [f"verdict: {test.expect['verdict']}"]
    explanation = test.expect.get("explanation")
    if isinstance(explanation, Mapping):
        lines += [f"explanation: {f} = {_words(v)}" for f, v in sorted(explanation.items())]
    elif explanation is not None:
        lines += [f"explanation: {c}" for c in sorted(map(str, explanation))]
    if test.expect.get("cites") is not None:
        lines += [f"cites: {c}" for c in sorted(set(map(str, test.expect["cites"])))]
    if test.expect.get("missing") is not None:
        lines += [f"missing: {f}" for f in sorted(map(str, test.expect["missing"]))]
    return lines


def _actual_lines(
    test: CaseTest, evaluation: Evaluation, missing_names: Iterable[str] = ()
) -> list[str]:
    lines = [f"verdict: {evaluation.verdict.value}"]
    explanation = test.expect.get("explanation")
    if isinstance(explanation, Mapping):
        lines += [
            f"explanation: {i.fact} = {_words(i.value)}"
            for i in sorted(evaluation.explanation, key=lambda i: i.fact)
        ]
    elif explanation is not None:
        lines += [
            f"explanation: {c}" for c in sorted({i.criterion for i in evaluation.explanation})
        ]
    if test.expect.get("cites") is not None:
        lines += [f"cites: {c}" for c in sorted({i.criterion for i in evaluation.explanation})]
    if test.expect.get("missing") is not None:
        lines += [f"missing: {f}" for f in sorted(set(missing_names))]
    return lines


def _missing_names(policy: Policy, evaluation: Evaluation) -> list[str]:
    """The missing facts by the names a suite writes: a history's record
    classes by the history's name."""
    names = []
    for missing in evaluation.missing:
        history = policy.history_of(missing.fact)
        names.append(history.name if history is not None else missing.fact)
    return names


def run_test(kb: KnowledgeBase, test: CaseTest) -> CaseTestResult:
    """Evaluate a case test; on failure, a unified diff of expected and actual."""
    try:
        document = {"id": test.name, "policy": test.policy, "facts": test.facts}
        case = kb.case(document)
        evaluation = kb.evaluate(case)
        policy = kb.case_evaluator(case).policy
    except PolicyKBError as error:
        return CaseTestResult(test, False, error=str(error))
    missing = _missing_names(policy, evaluation)
    expected, actual = _expected_lines(test), _actual_lines(test, evaluation, missing)
    if expected == actual:
        return CaseTestResult(test, True, evaluation=evaluation)
    diff = "\n".join(
        difflib.unified_diff(expected, actual, "expected", "actual", lineterm="", n=len(actual))
    )
    return CaseTestResult(test, False, diff=diff, evaluation=evaluation)


class SuiteRunner:
    """Runs case tests against a knowledge base. A suite in a policy's tests/
    folder also sees that policy, so suites next to a policy of one's own run
    as they are; the KB that adds the folder is made once per folder."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self._derived: dict[tuple[Path, ...], KnowledgeBase] = {}

    def knowledge_base_for(self, suite: Path) -> KnowledgeBase:
        """The KB to run the suite file `suite` with."""
        from policykb.bridge.loading.files import ENTRY_FILE

        folder = suite.resolve().parent.parent
        extra = self.kb.extra_dirs
        if (folder / ENTRY_FILE).is_file() and folder not in [d.resolve() for d in extra]:
            key = (*extra, folder)
            if key not in self._derived:
                self._derived[key] = KnowledgeBase(list(key))
            return self._derived[key]
        return self.kb

    def run(self, test: CaseTest) -> CaseTestResult:
        return run_test(self.knowledge_base_for(test.path), test)

    def run_suites(self, paths: list[Path]) -> Iterator[CaseTestResult]:
        for suite in find_suites(paths):
            for test in load_suite(suite):
                yield self.run(test)


def bundled_suites(kb: KnowledgeBase) -> list[Path]:
    """The tests/ folders of every policy in the knowledge base."""
    from policykb.bridge.loading.files import discover_policies

    folders = []
    for source in discover_policies(kb.extra_dirs).values():
        folder = source.folder / "tests"
        if folder.is_dir():
            folders.append(folder)
    return folders


def as_dict(result: CaseTestResult) -> dict[str, Any]:
    return {
        "test": result.test.ident,
        "passed": result.passed,
        "diff": result.diff,
        "error": result.error,
    }
