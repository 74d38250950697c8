"""`check` answers on every bundled policy and fixture, through the CLI and
through POST /v1/check: never an internal error (issue 26: a string fact in a
witness made knee-brace exit 70 and /v1/check answer 500)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from policykb.cli.main import app
from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests.sampling import knob

ROOT = Path(__file__).parents[2]
FIXTURES = Path(__file__).parents[1] / "fixtures"
# Each folder of policies the project ships, and the policies in it.
FOLDERS = {
    folder: sorted(p.name for p in folder.iterdir() if (p / "policy.lp").exists())
    for folder in (
        ROOT / "kb" / "policies",
        FIXTURES / "kb",
        FIXTURES / "check",
        FIXTURES / "check" / "diff",
        FIXTURES / "pap-reevaluation",
    )
}
POLICIES = [folder / name for folder, names in FOLDERS.items() for name in names]
runner = CliRunner()


def _case_value(value: object) -> bool:
    """A value a case file can state."""
    if isinstance(value, list):
        return all(isinstance(item, str) for item in value)
    return isinstance(value, bool | int | float | str)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_check_through_the_cli(policy: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["check", "--policy", str(policy), "--as-of", "2024-06-15", "-f", "json"]
    )
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    for finding in report["findings"]:
        if finding["witness"] is None:
            continue
        facts = finding["witness"]["facts"]
        assert all(_case_value(v) for v in facts.values()), finding
        # The witness is a case evaluate runs as it is, with the stated verdict.
        case = tmp_path / "witness.json"
        case.write_text(json.dumps({"facts": facts}))
        evaluated = runner.invoke(
            app, ["evaluate", str(case), "--policy", str(policy), "-f", "json"]
        )
        assert evaluated.exit_code == 0, (finding, evaluated.stderr)
        assert json.loads(evaluated.stdout)["verdict"] == finding["verdict"], finding


@pytest.mark.parametrize("folder", list(FOLDERS), ids=lambda f: f.name)
def test_check_through_the_service(folder: Path) -> None:
    """The service's own layer (request, report model, JSON) over the same
    check the CLI test runs on every policy: a fresh draw of each folder's
    policies per run, every one at full width."""
    names = FOLDERS[folder]
    drawn = random.sample(names, min(len(names), knob("CHECK_SERVICE_POLICIES", len(names), 2)))
    service = create_app(ServiceSettings(kb_dirs=(str(folder),), audit_sync=False))
    with TestClient(service) as client:
        for name in drawn:
            response = client.post("/v1/check", json={"policy": name, "as_of": "2024-06-15"})
            assert response.status_code == 200, (name, response.text)
            report = response.json()
            assert report["policy"] == name
            for finding in report["findings"]:
                if finding["witness"] is not None:
                    facts = finding["witness"]["facts"]
                    assert all(_case_value(v) for v in facts.values()), finding


def test_knee_brace_states_a_string_outside_the_options() -> None:
    result = runner.invoke(
        app, ["check", "--policy", str(FIXTURES / "kb" / "knee-brace"), "-f", "json"]
    )
    assert result.exit_code == 1, result.stderr
    codes = [
        f["witness"]["facts"]["hcpcs_code"]
        for f in json.loads(result.stdout)["findings"]
        if f["witness"] and "hcpcs_code" in f["witness"]["facts"]
    ]
    assert "other" in codes and all(isinstance(c, str) for c in codes)
