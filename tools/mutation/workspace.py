"""A private copy of the repository in which mutants are applied and tested.

The copy holds every file git knows of (committed or not, ignored files
excluded, the installed npm packages linked), among them the import package
policykb/ whose relative links then point into the copy: with the copy first
on the import path `policykb` imports from it, so
the installed environment is reused and the working tree is never touched:
a harness that is interrupted leaves no mutant behind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
INSTALLED = ("tests/js/node_modules",)
"""Installed, ignored folders the tests need (npm packages): linked, not copied."""

# Fast, decisive tests first: with -x a killed mutant stops at its first failure.
FIRST = (
    "tests/kb/test_encoding.py",
    "kb",
    "tests/fixtures",
    "tests/cli/test_cli.py",
    "tests/kb/test_check.py",
    "tests/cli/test_analyst.py",
    "tests/cli/test_batch.py",
    "tests/oracle/test_why.py",
    "tests/oracle/test_engines.py",
    "tests/oracle/test_properties.py",
    "tests/oracle/test_own_policy_properties.py",
)


TIMING_TEST = (
    "tests/cli/test_files_signals_and_limits.py::test_ctrl_c_stops_a_grounding_within_a_second"
)


def _whole_suite() -> tuple[str, ...]:
    """Every test file, the fast and decisive ones first: nothing is left out."""
    others = sorted(
        str(path.relative_to(REPOSITORY))
        for path in (REPOSITORY / "tests").rglob("test_*.py")
        if str(path.relative_to(REPOSITORY)) not in FIRST
    )
    return (*FIRST, *others)


TEST_ORDER = _whole_suite()


def repository_files() -> list[str]:
    """Files git tracks or would track (untracked but not ignored), that exist
    (a link counts as a file: policykb/'s links to the folders)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPOSITORY,
        check=True,
        capture_output=True,
    ).stdout.decode()
    return [
        name
        for name in listed.split("\0")
        if name and ((REPOSITORY / name).is_file() or (REPOSITORY / name).is_symlink())
    ]


@dataclass(frozen=True)
class TestRun:
    """The outcome of one pytest run in a workspace."""

    returncode: int
    timed_out: bool
    seconds: float
    output: str


class Workspace:
    """A copy of the repository under a temporary folder."""

    def __init__(self, parent: Path) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="workspace-", dir=parent))
        self._process: subprocess.Popen[bytes] | None = None
        for name in repository_files():
            target = self.root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPOSITORY / name, target, follow_symlinks=False)
        for folder in INSTALLED:
            if (REPOSITORY / folder).is_dir():
                (self.root / folder).symlink_to(REPOSITORY / folder, target_is_directory=True)
        self.environment = {
            **os.environ,
            "PYTHONPATH": str(self.root),
            "PYTHONDONTWRITEBYTECODE": "1",
            # A mutant is judged by the property tests at their full widths
            # (tests/sampling.py), unless the caller sets another scale.
            "POLICYKB_TEST_SCALE": os.environ.get("POLICYKB_TEST_SCALE", "1"),
        }

    def path(self, relative: str) -> Path:
        return self.root / relative

    def stop(self) -> None:
        """End the test run in progress here, if any (the harness is stopped)."""
        process = self._process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)

    def pytest(self, selection: list[str], timeout: float, first_failure: bool = True) -> TestRun:
        """Run pytest on `selection` (paths or node ids) in the copy."""
        import time

        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--hypothesis-profile=mutation",
            "-o",
            "addopts=",
            # A bound of one second on answering Ctrl-C holds neither under
            # coverage tracing (which follows subprocesses) nor beside another
            # mutant's run; it tests the CLI's signal handling, which no mutant
            # here touches, so it is left out rather than allowed to flake.
            f"--deselect={TIMING_TEST}",
            *(["-x"] if first_failure else []),
            *selection,
        ]
        started = time.monotonic()
        process = self._process = subprocess.Popen(
            command,
            cwd=self.root,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            output, _ = process.communicate()
            return TestRun(-9, True, time.monotonic() - started, output.decode(errors="replace"))
        except BaseException:  # the harness is stopped: its test runs stop with it
            os.killpg(process.pid, signal.SIGKILL)
            raise
        return TestRun(
            process.returncode,
            False,
            time.monotonic() - started,
            output.decode(errors="replace"),
        )

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)
