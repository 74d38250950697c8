"""One version: pyproject.toml's, read from the installed distribution's
metadata by `policykb --version`, policykb.__version__ and the service."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from importlib.metadata import version
from pathlib import Path

import policykb

ROOT = Path(__file__).resolve().parents[2]


def test_the_installed_version_is_pyprojects() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert version("policykb") == declared
    assert policykb.__version__ == declared


def test_version_flag_prints_it_and_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "policykb.cli.main", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"policykb {version('policykb')}\n"


def test_the_services_openapi_document_states_it() -> None:
    from policykb.service.app import create_app
    from policykb.service.settings import ServiceSettings

    assert create_app(ServiceSettings()).version == version("policykb")


def test_the_package_is_typed() -> None:
    assert (Path(policykb.__file__).parent / "py.typed").is_file()
