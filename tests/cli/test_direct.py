"""The console script's direct path calls a command exactly as typer would.

Over generated argument lists (the command's own flags and values, other
flags, stray tokens, letter cases, `=` forms), whenever the direct path
takes the arguments, typer calls the same function with the same keyword
arguments; and the shapes it is there for are taken, so the path is not
dead. The console script itself is run on both paths and gives the same
output and exit code.
"""

from __future__ import annotations

import functools
import inspect
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.cli import direct, main
from policykb.cli.commands import case
from tests.sampling import examples

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "examples", "covered-initial.json")

TOKENS = st.sampled_from(
    [
        "a.json",
        "b.yaml",
        "-",
        "",
        "--format",
        "-f",
        "json",
        "JSON",
        "Json",
        "text",
        "markdown",
        "dot",
        "js",
        "--format=json",
        "-fjson",
        "--policy",
        "massage-therapy",
        "--proof",
        "--cross-check",
        "--as-of",
        "2024-01-01",
        "--kb",
        "--help",
        "-h",
        "--",
        "--load-timeout",
        "5",
        "--version",
    ]
)


def recording(function: Callable[..., Any], calls: list[dict[str, Any]]) -> Callable[..., Any]:
    """`function`'s stand-in: same signature and declarations, records its keywords."""

    @functools.wraps(function)
    def record(**keywords: Any) -> None:
        calls.append(keywords)

    record.__signature__ = inspect.signature(function, eval_str=True)  # type: ignore[attr-defined]
    return record


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[dict[str, Any]]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(case, "evaluate", recording(case.__dict__["evaluate"], calls))
    yield calls


def typer_call(arguments: list[str], calls: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The keywords typer calls the command with (None: it called nothing)."""
    calls.clear()
    CliRunner().invoke(main._app_for(arguments), arguments)
    return calls[-1] if calls else None


# Near the shape (a case and one format, in any order) as often as anywhere.
NEAR = st.tuples(
    st.sampled_from(["a.json", "-", "--proof"]),
    st.sampled_from(["--format", "-f", "--as-of"]),
    st.sampled_from(["json", "text", "markdown", "dot", "JSON", "--"]),
).flatmap(lambda near: st.permutations(list(near)))


@settings(max_examples=examples(300), deadline=None)
@given(rest=st.lists(TOKENS, max_size=5) | NEAR)
def test_whenever_the_direct_path_takes_arguments_typer_makes_the_same_call(
    rest: list[str],
) -> None:
    calls: list[dict[str, Any]] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(case, "evaluate", recording(case.__dict__["evaluate"], calls))
        arguments = ["evaluate", *rest]
        taken = direct.direct_call(arguments)
        if taken is None:
            return
        function, keywords = taken
        assert function is case.evaluate
        assert typer_call(arguments, calls) == keywords


@pytest.mark.parametrize(
    "arguments",
    [
        ["evaluate", "a.json", "--format", "json"],
        ["evaluate", "--format", "json", "a.json"],
        ["evaluate", "-f", "markdown", "-"],
        ["evaluate", "a.json"],
    ],
)
def test_the_shapes_it_is_for_are_taken_and_typer_agrees(
    arguments: list[str], recorded: list[dict[str, Any]]
) -> None:
    taken = direct.direct_call(arguments)
    assert taken is not None
    assert typer_call(arguments, recorded) == taken[1]


@pytest.mark.parametrize(
    "arguments",
    [
        ["evaluate", "a.json", "--format", "JSON"],  # typer folds the case
        ["evaluate", "a.json", "--format=json"],
        ["evaluate", "a.json", "--policy", "massage-therapy"],
        ["evaluate", "a.json", "--format", "json", "--format", "text"],
        ["--load-timeout", "5", "evaluate", "a.json"],
        ["evaluate", "--help"],
        ["evaluate"],
        ["why", "a.json"],
    ],
)
def test_every_other_shape_goes_to_typer(arguments: list[str]) -> None:
    assert direct.direct_call(arguments) is None


def test_shell_completion_goes_to_typer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("_POLICYKB_COMPLETE", "bash_complete")
    assert direct.direct_call(["evaluate", "a.json"]) is None


def console(*arguments: str, **environment: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "policykb.cli.main", *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **environment},
        check=False,
    )


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        ([EXAMPLE, "--format", "json"], 0),
        (["does-not-exist.json", "--format", "json"], 1),
    ],
)
def test_the_console_script_answers_alike_on_both_paths(arguments: list[str], code: int) -> None:
    # JSON in another letter case is typer's to read; the answer is the same.
    fast = console("evaluate", *arguments)
    slow = console("evaluate", *[a.upper() if a == "json" else a for a in arguments])
    assert fast.returncode == slow.returncode == code
    assert fast.stdout == slow.stdout and fast.stderr == slow.stderr
    # An exit handler: the direct path runs them before it ends the process.
    probe = (
        "import atexit, sys, runpy; sys.argv = ['policykb', 'evaluate', *sys.argv[1:]]\n"
        "atexit.register(lambda: print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('typer', 'click')), file=sys.stderr))\n"
        "runpy.run_module('policykb.cli.main', run_name='__main__')"
    )
    traced = subprocess.run(
        [sys.executable, "-c", probe, *arguments], capture_output=True, text=True, check=False
    )
    assert traced.stderr.rstrip().endswith("[]"), traced.stderr  # typer was never imported


def probed(setup: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """The console script's entry point run on `arguments` after `setup`."""
    probe = (
        f"import atexit, sys, threading, runpy\n{setup}\n"
        "sys.argv = ['policykb', *sys.argv[1:]]\n"
        "runpy.run_module('policykb.cli.main', run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-c", probe, *arguments],
        capture_output=True,
        text=True,
        cwd=ROOT,
        # Buffered streams, as for a user: what is not flushed would be lost.
        env={k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"},
        check=False,
    )


@pytest.mark.parametrize(
    ("arguments", "code"),
    [
        (["evaluate", EXAMPLE, "--format", "json"], 0),
        (["evaluate", "does-not-exist.json", "--format", "json"], 1),
    ],
)
def test_the_direct_path_ends_after_the_exit_handlers_with_both_streams_flushed(
    arguments: list[str], code: int
) -> None:
    # The handlers write without flushing: only the flush after them keeps their text.
    setup = (
        "atexit.register(lambda: sys.stdout.write('[out handler]'))\n"
        "atexit.register(lambda: sys.stderr.write('[err handler]'))"
    )
    run = probed(setup, *arguments)
    plain = console(*arguments)
    assert run.returncode == plain.returncode == code
    assert run.stdout == plain.stdout + "[out handler]"
    assert run.stderr == plain.stderr + "[err handler]"


def test_a_thread_still_alive_keeps_the_normal_exit_that_waits_for_it() -> None:
    # The thread writes only once the main thread has finished: a process
    # ended without waiting for it would lose the line.
    setup = (
        "def late():\n"
        "    threading.main_thread().join()\n"
        "    print('thread done', flush=True)\n"
        "threading.Thread(target=late).start()"
    )
    run = probed(setup, "evaluate", EXAMPLE, "--format", "json")
    assert run.returncode == 0
    assert run.stdout == console("evaluate", EXAMPLE, "--format", "json").stdout + "thread done\n"
