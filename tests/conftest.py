"""Shared fixtures: one knowledge base per test session (grounding is done once);
and the markers of what a test needs beyond Python and clingo, set here from
what the test and its fixtures call, so no test has to remember its own.

- prolog: SWI-Prolog, the second engine (proofs, cross-checks, agreement);
- node: Node.js and the npm packages of tests/js (FHIR.js, axe-core);
- browser: Chromium (every test of tests/browser).

`make test-fast` leaves the three out. A test that calls SWI-Prolog while
unmarked fails and says so, so the markers cannot drift from the tests.
"""

from __future__ import annotations

import ast
import functools
import inspect
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import Phase, settings

from policykb.bridge import KnowledgeBase
from policykb.bridge.solving.evaluator import Evaluator

# Compiled policies are cached in a folder of this test run's own, never in
# the user's cache (so every run compiles afresh at least once); the two
# pytest-xdist workers of one run share it (the cache writes atomically), so
# a policy is compiled once per run rather than once per worker.
_RUN = os.environ.get("PYTEST_XDIST_TESTRUNUID")
if _RUN:
    _CACHE = Path(tempfile.gettempdir()) / f"policykb-cache-{_RUN}"
    _CACHE.mkdir(exist_ok=True)
    os.environ["POLICYKB_CACHE_DIR"] = str(_CACHE)
else:
    os.environ["POLICYKB_CACHE_DIR"] = tempfile.mkdtemp(prefix="policykb-cache-")


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture(scope="session")
def massage(kb: KnowledgeBase) -> Evaluator:
    return kb.evaluator("massage-therapy")


# The mutation harness (tools/mutation) runs the suite once per mutant: the
# same examples every run, no example database carried from one mutant to the
# next, and no shrinking (a mutant is killed by its first failing example;
# shrinking it can take minutes).
settings.register_profile(
    "mutation",
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


TESTS = Path(__file__).resolve().parent
DEF = re.compile(r"^\s*(async\s+)?def\s", re.MULTILINE)
NEEDS = {
    # Calls into the second engine: in Python, through the command line
    # (--proof, --cross-check, --format dot draws the proof), through the
    # service (/v1/prove, the page's proof button), or through schemathesis,
    # which calls every route of the service.
    "prolog": re.compile(
        r"\.prove\(|\bprover(_for)?\(|PrologEngine|\bcross_check\(|--proof\b|--cross-check\b"
        r"|['\"]dot['\"]|/prove\b|show-proof|schemathesis"
    ),
    # The FHIR.js validator and sdc-populate of tests/js, run by node (directly,
    # or through the DTR and PAS tests' checking helpers).
    "node": re.compile(
        r"\bfhir_js\(|\[\"node\"|\b(populate|conforms|package_conforms|submit_conforming)\("
    ),
}


_SOURCES: dict[Any, str] = {}


def _source(function: Callable[..., Any] | None) -> str:
    """A function's source, decorators included; read once per function (each
    of thousands of items asks again for its function's and fixtures')."""
    try:
        return _SOURCES[function]
    except KeyError:
        pass
    except TypeError:  # unhashable
        return _read_source(function)
    _SOURCES[function] = found = _read_source(function)
    return found


def _read_source(function: Callable[..., Any] | None) -> str:
    try:
        return inspect.getsource(function)  # type: ignore[arg-type]
    except (OSError, TypeError):
        return ""


@functools.cache
def _definitions(path: Path) -> dict[str, str]:
    """The source of each top-level function of a test module, decorators included."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            found[node.name] = "".join(lines[first - 1 : node.end_lineno])
    return found


def _test_source(item: pytest.Item) -> str:
    """The test function's own source, also when a plugin (schemathesis)
    wrapped it in a function of its own."""
    name = getattr(item, "originalname", item.name)
    own = _source(getattr(item, "function", None))
    if f"def {name}(" in own:
        return own
    return _definitions(Path(str(item.path))).get(name, own)


def _needs(item: pytest.Item) -> set[str]:
    """What an item needs: by its folder, and by what its own code or any
    fixture it uses calls."""
    needs = set()
    path = Path(str(item.path)).resolve()
    if TESTS / "browser" in path.parents:
        needs |= {"browser", "node"}  # axe-core comes from npm
    own = _test_source(item)
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        # One parameter set of several: its own values, not its siblings' in
        # the decorator, say what it calls.
        signature = DEF.search(own)
        own = own[signature.start() if signature else 0 :]
        own += " ".join(str(v) for v in callspec.params.values())
    sources = [own]
    fixtures = getattr(item, "_fixtureinfo", None)
    for definitions in fixtures.name2fixturedefs.values() if fixtures else ():
        sources += [_source(definition.func) for definition in definitions]
    for mark, pattern in NEEDS.items():
        if any(pattern.search(text) for text in sources):
            needs.add(mark)
    return needs


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:  # test functions, schemathesis's, not the YAML suites' cases
        if hasattr(item, "function"):
            for mark in sorted(_needs(item)):
                item.add_marker(mark)


@pytest.fixture(autouse=True)
def _prolog_only_where_marked(request: pytest.FixtureRequest) -> Iterator[None]:
    """An unmarked test that reaches SWI-Prolog in this process fails at its
    teardown, naming the marker (the call itself goes through, so a service
    or page under test is not disturbed)."""
    if request.node.get_closest_marker("prolog") is not None:
        yield
        return
    from policykb.bridge.prolog import engine

    calls: list[str] = []
    passed_on = engine.on_prolog_thread

    def noted(work: Callable[..., Any], *arguments: Any) -> Any:
        calls.append(getattr(work, "__name__", repr(work)))
        return passed_on(work, *arguments)

    patch = pytest.MonkeyPatch()
    patch.setattr(engine, "on_prolog_thread", noted)
    try:
        yield
    finally:
        patch.undo()
    if calls:
        pytest.fail(
            f"{request.node.nodeid} calls SWI-Prolog ({calls[0]}): mark it prolog "
            "(tests/conftest.py NEEDS)",
            pytrace=False,
        )
