"""Issue 27's smaller items, each against the output a user sees.

- a code fact's hint names a code of the policy's own code sets, or none;
- a reference date is marked as such by `facts` and `init-case`;
- `show` labels a part shared under two headings by both, not "all members";
- a top-level date_of_service is refused with where it goes.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from policykb.cli.main import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kb"
runner = CliRunner()


def run(*arguments: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(arguments), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_a_code_hint_comes_from_the_policy_own_code_sets(tmp_path: Path) -> None:
    code, out, _ = run("facts", "sleep-apnea", "--kb", str(FIXTURES))
    assert code == 0
    assert "an HCPCS code such as E0470" in out and "L1832" not in out
    code, out, _ = run("init-case", "signs-and-codes", "--kb", str(FIXTURES))
    assert code == 0 and "a list of ICD-10-CM codes such as E11.9" in out
    # No code set: a generic hint, no code of another policy.
    folder = tmp_path / "no-sets"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(device, code).  code_system(device, hcpcs).\n"
        'question(device, "Which device?").\n'
        "fact(ok, bool).\n"
        'criterion("OK", "1", "OK.").  role("OK", indication).\n'
        'met("OK") :- holds(ok).\n',
        encoding="utf-8",
    )
    code, out, _ = run("facts", "no-sets", "--kb", str(folder))
    assert code == 0
    assert "device  (an HCPCS code;" in out and "such as" not in out


def test_reference_dates_are_marked_as_such() -> None:
    kb = ["--kb", str(FIXTURES)]
    code, out, _ = run("facts", "therapy-start", "-f", "json", *kb)
    assert code == 0
    reference = {row["name"]: row["reference"] for row in json.loads(out)}
    assert reference == {
        "therapy_start_date": True,
        "sleep_test_date": False,
        "followup_date": False,
        "symptomatic": False,
    }
    code, text, _ = run("facts", "therapy-start", *kb)
    assert "reference date: the policy compares sleep_test_date, followup_date with it" in text
    code, template, _ = run("init-case", "therapy-start", *kb)
    assert code == 0
    assert (
        "# Reference dates (left null, the answer ranges over their days): therapy_start_date."
        in template
    )
    (line,) = [x for x in template.splitlines() if "When did therapy start?" in x]
    assert "reference date" in line
    # Left null as written, the case is answered over every day of it and asks
    # for it (issue 29); with the required fact given, it is judged.
    case = yaml.safe_load(template)
    code, out, err = run("evaluate", "-", *kb, "-f", "json", stdin=json.dumps(case))
    assert code == 0, err
    assert "therapy_start_date" in {item["fact"] for item in json.loads(out)["missing"]}
    case["facts"]["therapy_start_date"] = "2024-03-01"
    code, out, err = run("evaluate", "-", *kb, stdin=json.dumps(case))
    assert code == 0, err


def test_a_part_shared_under_two_headings_names_both(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(initial, bool).  fact(a, bool).  fact(b, bool).  fact(r, bool).\n"
        'heading("INIT", "Initial coverage").  heading("CONT", "Continued coverage").\n'
        'section("INIT") :- holds(initial).  section("CONT") :- fails(initial).\n'
        'criterion("IA", "1", "Initial: a and R.").  role("IA", indication).\n'
        'under("IA", "INIT").  combines("IA", all).\n'
        'criterion("IB", "2", "Continued: b and R.").  role("IB", indication).\n'
        'under("IB", "CONT").  combines("IB", all).\n'
        'criterion("A", "1a", "a.").  role("A", requirement).  part_of("A", "IA").\n'
        'under("A", "INIT").  met("A") :- holds(a).\n'
        'criterion("B", "2a", "b.").  role("B", requirement).  part_of("B", "IB").\n'
        'under("B", "CONT").  met("B") :- holds(b).\n'
        'criterion("R", "3", "r.").  role("R", requirement).\n'
        'part_of("R", "IA").  part_of("R", "IB").  met("R") :- holds(r).\n',
        encoding="utf-8",
    )
    code, out, err = run("show", "shared", "--kb", str(folder))
    assert code == 0, err
    shared = [line for line in out.splitlines() if line.strip().startswith("- R [")]
    assert shared and all(
        "where its parents apply: Initial coverage; Continued coverage" in line for line in shared
    )
    assert "all members" not in out


def test_a_top_level_date_of_service_says_where_it_goes() -> None:
    case = {"policy": "massage-therapy", "date_of_service": "2024-05-01", "facts": {}}
    code, out, err = run("evaluate", "-", stdin=json.dumps(case))
    assert code == 1 and not out
    assert err.strip() == (
        "error: 'date_of_service' goes inside 'facts', not beside it: "
        '"facts": {"date_of_service": "YYYY-MM-DD", ...}'
    )
    inside = {"policy": "massage-therapy", "facts": {"date_of_service": "2024-05-01"}}
    code, _, err = run("evaluate", "-", stdin=json.dumps(inside))
    assert code == 0, err


def test_why_refuses_a_change_search_past_its_budget_in_one_line() -> None:
    """A case with nearly every fact unknown and its reference date unknown:
    the smallest changes that leave the date unknown would take billions of
    trials, so `why` refuses (exit 6, one line naming the date to state)
    instead of running for hours; `evaluate` still answers."""
    case = json.dumps({"policy": "home-oxygen", "facts": {}})
    code, out, err = run("why", "-", "-f", "json", stdin=case)
    assert code == 6, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err
    assert "qualifying_test_date" in lines[0] and "trials" in lines[0]
    code, out, err = run("evaluate", "-", "-f", "json", stdin=case)
    assert code == 0, err
    assert json.loads(out)["verdict"] == "needs_information"
