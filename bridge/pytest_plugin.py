"""A pytest plugin: collects YAML case suites (test_*.yaml) as test items.

Installed with policykb (entry point `pytest11`), so `pytest` runs an
analyst's suites next to the Python tests; each case is one test item whose
failure shows the diff of expected and actual verdict and explanation.
Suites must contain `cases` of the case-test format (see policykb.bridge.suite);
other YAML files named test_*.yaml are collected only if they look like one.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policykb.bridge.errors import PolicyKBError

_KB: Any = None


def _knowledge_base() -> Any:
    global _KB
    if _KB is None:
        from policykb.bridge.knowledge_base import KnowledgeBase

        _KB = KnowledgeBase()
    return _KB


class CaseTestFailed(Exception):
    pass


class CaseSuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from policykb.bridge.suite import load_suite

        for test in load_suite(Path(self.path)):
            yield CaseTestItem.from_parent(self, name=test.name, test=test)


class CaseTestItem(pytest.Item):
    def __init__(self, *, test: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test

    def runtest(self) -> None:
        from policykb.bridge.suite import knowledge_base_for, run_test

        result = run_test(knowledge_base_for(_knowledge_base(), self.test.path), self.test)
        if not result.passed:
            raise CaseTestFailed(result.error or result.diff)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException], style: Any = None) -> str:
        if isinstance(excinfo.value, CaseTestFailed | PolicyKBError):
            return f"case {self.test.ident} failed:\n{excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int, str]:
        return Path(self.path), self.test.index, f"case: {self.test.name}"


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if file_path.suffix == ".yaml" and file_path.name.startswith("test_"):
        return CaseSuiteFile.from_parent(parent, path=file_path)
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the knowledge base (and its clingo ASTs) before the interpreter exits."""
    global _KB
    _KB = None
    import gc

    from policykb.bridge import suite

    suite._derived.clear()
    gc.collect()
