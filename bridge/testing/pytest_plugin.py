"""A pytest plugin: collects YAML case suites (test_*.yaml) as test items.

Installed with policykb (entry point `pytest11`), so `pytest` runs an
analyst's suites next to the Python tests; each case is one test item whose
failure shows the diff of expected and actual verdict and explanation.
Suites must contain `cases` of the case-test format (see testing/suite.py);
other YAML files named test_*.yaml are collected only if they look like one.

The knowledge base lives in the session's config stash, made on first use
and dropped when the session ends: the plugin keeps no global state.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from policykb.bridge.model.errors import PolicyKBError

if TYPE_CHECKING:
    from policykb.bridge.testing.suite import CaseTest, SuiteRunner

_RUNNER = pytest.StashKey["SuiteRunner"]()


def _runner(config: pytest.Config) -> SuiteRunner:
    if _RUNNER not in config.stash:
        from policykb.bridge.knowledge_base import KnowledgeBase
        from policykb.bridge.testing.suite import SuiteRunner

        config.stash[_RUNNER] = SuiteRunner(KnowledgeBase())
    return config.stash[_RUNNER]


class CaseTestFailed(Exception):
    pass


class CaseSuiteFile(pytest.File):
    def collect(self) -> Iterator[pytest.Item]:
        from policykb.bridge.testing.suite import load_suite

        for test in load_suite(Path(self.path)):
            yield CaseTestItem.from_parent(self, name=test.name, test=test)


class CaseTestItem(pytest.Item):
    def __init__(self, *, test: CaseTest, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.test = test

    def runtest(self) -> None:
        result = _runner(self.config).run(self.test)
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
    """Drop the knowledge bases (and their clingo ASTs) before the interpreter exits."""
    if _RUNNER in config.stash:
        del config.stash[_RUNNER]
        import gc

        gc.collect()
