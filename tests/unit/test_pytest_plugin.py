"""policykb's pytest plugin is installed in every environment that has
policykb, so it collects case suites only in a project that turns it on
(ini option policykb_suites); elsewhere it leaves test_*.yaml files alone."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MASSAGE_SUITE = ROOT / "kb" / "policies" / "massage-therapy" / "tests" / "test_massage_therapy.yaml"


def _unrelated_project(folder: Path, ini: str = "") -> Path:
    """A project that knows nothing of policykb: a Python test and a YAML
    file named like a suite that is not one (a configuration under test)."""
    (folder / "pytest.ini").write_text(f"[pytest]\n{ini}")
    (folder / "test_config.yaml").write_text("database:\n  host: localhost\n  port: 5432\n")
    (folder / "test_settings.py").write_text(
        "import yaml\n\n\n"
        "def test_the_configuration_reads() -> None:\n"
        "    with open('test_config.yaml') as file:\n"
        "        assert yaml.safe_load(file)['database']['port'] == 5432\n"
    )
    return folder


def _pytest(folder: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=folder,
    )


def test_an_unrelated_project_with_a_yaml_named_test_passes_untouched(tmp_path: Path) -> None:
    done = _pytest(_unrelated_project(tmp_path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed" in done.stdout
    assert "suite" not in done.stdout + done.stderr


def test_a_project_that_turns_the_plugin_on_gets_its_suites_collected(tmp_path: Path) -> None:
    project = _unrelated_project(tmp_path, ini="policykb_suites = true\n")
    (project / "test_config.yaml").unlink()
    shutil.copy(MASSAGE_SUITE, project / MASSAGE_SUITE.name)
    done = _pytest(project, "--collect-only")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_massage_therapy.yaml::A3 not met - not ordered by the treating physician" in (
        done.stdout
    )


def test_turned_on_a_yaml_that_is_not_a_suite_is_reported_as_one(tmp_path: Path) -> None:
    """The option is what decides: the same project fails collection once on."""
    done = _pytest(_unrelated_project(tmp_path, ini="policykb_suites = true\n"))
    assert done.returncode != 0
    assert "test_config.yaml" in done.stdout


def test_the_projects_own_suites_are_collected() -> None:
    done = _pytest(ROOT, "--collect-only", str(MASSAGE_SUITE.parent))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "test_massage_therapy.yaml::" in done.stdout
