"""The analyst's workflow: YAML case tests, show, facts, init-case, a KB of
one's own (--kb), and the generated KB reference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml
from typer.testing import CliRunner

from policykb.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
OWN_KB = Path(__file__).parents[1] / "fixtures" / "kb"
runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_shipped_massage_suite_passes() -> None:
    """The massage suite through `policykb test` (every bundled suite runs as
    pytest items of its own, and the default of every policy's suite is run
    by test_own_kb_works_with_every_command)."""
    code, out, _ = invoke("test", str(ROOT / "kb" / "policies" / "massage-therapy" / "tests"))
    assert code == 0, out
    assert out.strip().endswith("0 failed")
    assert int(out.strip().splitlines()[-1].split()[0]) >= 20


def test_a_failing_case_shows_a_readable_diff(tmp_path: Path) -> None:
    suite = tmp_path / "test_wrong.yaml"
    suite.write_text(
        "- name: wrong on purpose\n"
        "  facts: {medicare_member: false, ordered_by_treating_physician: false,\n"
        "          terminally_ill: false}\n"
        "  expect: {verdict: covered, explanation: [A3]}\n"
    )
    code, out, _ = invoke("test", str(suite))
    assert code == 1
    assert "FAIL  test_wrong.yaml::wrong on purpose" in out
    assert "-verdict: covered" in out and "+verdict: not_covered" in out
    assert "+explanation: B" in out and "+explanation: heading" in out
    assert out.strip().endswith("0 passed, 1 failed")


def test_malformed_suite_is_a_clear_error(tmp_path: Path) -> None:
    suite = tmp_path / "test_bad.yaml"
    suite.write_text("- name: no expectation\n  facts: {}\n")
    code, _, err = invoke("test", str(suite))
    assert code == 1 and "'expect' must give at least a verdict" in err


def test_pytest_plugin_collects_yaml_suites() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            str(ROOT / "kb" / "policies" / "massage-therapy" / "tests"),
            str(OWN_KB / "physio-visits" / "tests"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert "test_massage_therapy.yaml::A3 not met - not ordered by the treating physician" in (
        done.stdout
    )
    assert "test_physio_visits.yaml::cosmetic" in done.stdout


def test_own_kb_works_with_every_command(tmp_path: Path) -> None:
    kb = ["--kb", str(OWN_KB)]
    case = json.dumps({"policy": "physio-visits", "facts": {"visits_used": "at_limit"}})
    code, out, _ = invoke("evaluate", "-", "-f", "json", *kb, stdin=case)
    assert code == 0 and json.loads(out)["verdict"] == "needs_information"
    assert [m["fact"] for m in json.loads(out)["missing"]] == ["post_surgery", "cosmetic"]
    code, out, _ = invoke("why", "-", "-f", "json", *kb, stdin=case)
    assert code == 0 and json.loads(out)["changes"]
    code, out, _ = invoke("check", "--policy", "physio-visits", *kb)
    assert code == 0 and "0 warning(s)" in out
    code, out, _ = invoke("test", *kb)  # every policy's suite, the bundled ones too
    assert code == 0 and "test_physio_visits.yaml::cosmetic" in out
    assert "test_massage_therapy.yaml::" in out and "test_home_oxygen.yaml::" in out
    code, out, _ = invoke("policies", *kb)
    assert "physio-visits" in out and "massage-therapy" in out
    code, out, _ = invoke("show", "physio-visits", *kb)
    assert "V2 [Rule 2; all members]" in out


def test_show_formats() -> None:
    _, out, _ = invoke("show", "-f", "json")
    tree = json.loads(out)
    assert tree["title"] == "Clinical Review Criteria: Massage Therapy"
    assert [g["role"] for g in tree["tree"]] == ["indication", "exclusion", "prerequisite"]
    a = next(c for c in tree["tree"][0]["criteria"] if c["id"] == "A")
    assert a["combines"] == "all"
    assert [p["id"] for p in a["parts"]] == ["A1", "A2", "A3", "A4"]
    assert tree["document"]["revised"] == ["06/21/2007"]
    _, markdown, _ = invoke("show", "-f", "markdown")
    assert markdown.startswith("# Clinical Review Criteria: Massage Therapy")


def test_facts_lists_the_vocabulary() -> None:
    _, out, _ = invoke("facts", "-f", "json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert len(rows) == 21
    assert rows["review_type"]["default"] == "initial"
    assert rows["benefit_in_contract"]["clauses"] == ["BEN"]
    assert rows["medicare_member"]["question"] == "Is the member a Medicare member?"


def test_init_case_template_round_trips(tmp_path: Path) -> None:
    target = tmp_path / "case.yaml"
    code, _, _ = invoke("init-case", "-o", str(target))
    assert code == 0
    text = target.read_text()
    assert "# Is the member a Medicare member?" in text
    document = yaml.safe_load(text)
    vocabulary = [row["name"] for row in json.loads(invoke("facts", "-f", "json")[1])]
    assert list(document["facts"]) == vocabulary
    assert all(value is None for value in document["facts"].values())
    code, out, _ = invoke("evaluate", str(target), "-f", "json")
    assert code == 0 and json.loads(out)["verdict"] == "needs_information"
    filled = text.replace("medicare_member: null", "medicare_member: true").replace(
        "delivered_by_physical_therapist: null", "delivered_by_physical_therapist: false"
    )
    target.write_text(filled)
    assert json.loads(invoke("evaluate", str(target), "-f", "json")[1])["verdict"] == (
        "not_covered"
    )


def test_kb_reference_is_generated_and_current() -> None:
    code, out, _ = invoke("reference")
    assert code == 0
    assert "#### `value(Fact, Value)`" in out and "#### `acknowledge(Kind, Id, Reason)`" in out
    assert (ROOT / "kb" / "REFERENCE.md").read_text() == out, (
        "kb/REFERENCE.md is stale: run `make reference`"
    )


def test_every_command_has_help() -> None:
    commands = [
        "evaluate",
        "why",
        "notice",
        "check",
        "diff",
        "batch",
        "test",
        "show",
        "policies",
        "facts",
        "init-case",
        "reference",
    ]
    _, top, _ = invoke("--help")
    for command in commands:
        assert command in top
        code, out, _ = invoke(command, "--help")
        assert code == 0 and "--kb" in out, command


def test_every_shipped_denial_pins_the_criteria_it_cites() -> None:
    from policykb.bridge.testing.suite import load_suite

    suites = sorted((ROOT / "kb" / "policies").glob("*/tests/test_*.yaml"))
    assert suites
    for suite in suites:
        for case in load_suite(suite):
            if case.expect["verdict"] != "not_covered":
                continue
            by_criteria = isinstance(case.expect.get("explanation"), list)
            assert by_criteria or "cites" in case.expect, f"{case.ident}: cites no criterion"


def test_a_wrong_citation_fails_the_case(tmp_path: Path) -> None:
    suite = tmp_path / "test_cites.yaml"
    suite.write_text(
        "- name: M2 cited as M1\n"
        "  facts: {medicare_member: true, delivered_by_physical_therapist: false}\n"
        "  expect:\n"
        "    verdict: not_covered\n"
        "    explanation: {medicare_member: true, delivered_by_physical_therapist: false}\n"
        "    cites: [heading, M1]\n"
    )
    code, out, _ = invoke("test", str(suite))
    assert code == 1
    assert "-cites: M1" in out and "+cites: M2" in out
