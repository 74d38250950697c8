"""The base install is the CLI and the library; a command that needs an extra
that is not installed says which one, in one line, with exit code 8.

An extra's absence is simulated in a subprocess by a meta-path finder that
refuses its modules, as an environment without them would."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from policykb.bridge.model.extras import EXTRAS, extra_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
EXIT_EXTRA_MISSING = 8

WITHOUT = """
import sys

blocked = set(sys.argv[1].split(",")) if sys.argv[1] else set()


class Uninstalled:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in blocked:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Uninstalled())
sys.argv = ["policykb", *sys.argv[2:]]
from policykb.cli.main import run

run()
"""


def _policykb_without(
    modules: frozenset[str], *arguments: str, cwd: Path = ROOT
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", WITHOUT, ",".join(sorted(modules)), *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


ALL_EXTRAS = frozenset().union(*EXTRAS.values())


def test_evaluate_why_and_check_need_no_extra() -> None:
    evaluated = _policykb_without(
        ALL_EXTRAS, "evaluate", str(EXAMPLES / "covered-initial.json"), "--format", "json"
    )
    assert evaluated.returncode == 0, evaluated.stderr
    assert '"verdict"' in evaluated.stdout
    why = _policykb_without(ALL_EXTRAS, "why", str(EXAMPLES / "bariatric-bmi-below-35.json"))
    assert why.returncode == 0, why.stderr
    checked = _policykb_without(ALL_EXTRAS, "check", "--policy", "massage-therapy")
    assert checked.returncode == 0, checked.stderr


@pytest.mark.parametrize(
    ("extra", "arguments"),
    [
        ("serve", ("serve", "--port", "1")),
        ("serve", ("replay", str(EXAMPLES / "massage-history.jsonl"))),
        ("lake", ("batch", str(EXAMPLES / "massage-history.jsonl"), "-o", "{tmp}/out.parquet")),
        (
            "lake",
            ("batch", str(EXAMPLES / "massage-history.jsonl"), "-o", "-", "--dask", "local[1]"),
        ),
        (
            "report",
            (
                "impact",
                "massage-therapy",
                str(EXAMPLES / "revision" / "massage-therapy"),
                str(EXAMPLES / "massage-history.jsonl"),
                "--format",
                "html",
                "-o",
                "{tmp}/impact.html",
            ),
        ),
    ],
    ids=["serve", "replay", "batch-parquet", "batch-dask", "impact-html"],
)
def test_a_command_without_its_extra_names_the_one_to_install(
    extra: str, arguments: tuple[str, ...], tmp_path: Path
) -> None:
    given = [argument.format(tmp=tmp_path) for argument in arguments]
    done = _policykb_without(EXTRAS[extra], *given)
    assert done.returncode == EXIT_EXTRA_MISSING, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert f"pip install 'policykb[{extra}]'" in lines[0]
    assert "Traceback" not in done.stderr


def test_a_missing_module_of_the_base_install_is_an_internal_error_not_an_extra() -> None:
    done = _policykb_without(
        frozenset({"yaml"}), "evaluate", str(EXAMPLES / "needs-information.yaml")
    )
    assert done.returncode == 70, done.stderr
    assert done.stderr.startswith("error: internal error (ModuleNotFoundError")
    assert "pip install" not in done.stderr


def test_every_module_named_for_an_extra_is_installed_by_the_test_extra() -> None:
    """The test extra pulls every extra, so a misspelt module name is caught here."""
    for extra, modules in EXTRAS.items():
        for module in modules:
            assert importlib.util.find_spec(module) is not None, f"{extra}: {module}"
            assert extra_of(f"{module}.sub") == extra


def test_the_extras_of_the_model_are_those_of_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = set(project["optional-dependencies"]) - {"test", "mutation"}
    assert declared == set(EXTRAS)
    base = " ".join(project["dependencies"]).lower()
    for heavy in ("fastapi", "uvicorn", "dask", "pyarrow", "matplotlib"):
        assert heavy not in base, heavy
