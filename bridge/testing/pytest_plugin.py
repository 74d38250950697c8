"""A pytest plugin: collects YAML case suites (test_*.yaml) as test items.

Installed with policykb (entry point `pytest11`), so pytest loads it in
every project of an environment where policykb is installed. It is therefore
opt-in: it collects nothing unless the project's pytest configuration sets
the ini option `policykb_suites = true`; a project that does not know
policykb keeps its own test_*.yaml files to itself. Where enabled, `pytest`
runs an analyst's suites next to the Python tests; each case is one test
item whose failure shows the diff of expected and actual verdict and
explanation. Suites contain `cases` of the case-test format (see
testing/suite.py).

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


ENABLED = "policykb_suites"
"""The ini option that turns collection on (off unless a project sets it)."""


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        ENABLED,
        type="bool",
        default=False,
        help="collect policykb case suites (test_*.yaml) as tests",
    )


def pytest_collect_file(parent: pytest.Collector, file_path: Path) -> pytest.Collector | None:
    if not parent.config.getini(ENABLED):
        return None
    if file_path.suffix == ".yaml" and file_path.name.startswith("test_"):
        return CaseSuiteFile.from_parent(parent, path=file_path)
    return None


def pytest_unconfigure(config: pytest.Config) -> None:
    """Drop the knowledge bases (and their clingo ASTs) before the interpreter exits."""
    if _RUNNER in config.stash:
        del config.stash[_RUNNER]
        import gc

        gc.collect()
