"""The command line as a user meets it: outputs, exit codes and error messages."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policykb.cli.main import app
from tests import reference

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GOLDEN = Path(__file__).parents[1] / "golden"
runner = CliRunner()


def evaluate(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, ["evaluate", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def evaluate_json(facts: dict[str, object], **case: object) -> dict[str, object]:
    code, out, err = evaluate("-", "--format", "json", stdin=json.dumps({**case, "facts": facts}))
    assert code == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_json_output_has_the_contract_keys() -> None:
    code, out, _ = evaluate(str(EXAMPLES / "denied-no-order.json"), "--format", "json")
    assert code == 0
    result = json.loads(out)
    assert list(result)[:7] == [
        "id",
        "policy",
        "verdict",
        "criteria",
        "explanation",
        "missing",
        "warnings",
    ]
    assert result["id"] == "req-0042"
    assert result["verdict"] == "not_covered"
    assert result["criteria"]["A3"] == "not_met"
    assert [(e["fact"], e["value"], e["criterion"]) for e in result["explanation"]] == [
        ("medicare_member", False, "heading"),
        ("ordered_by_treating_physician", False, "A3"),
        ("terminally_ill", False, "B"),
    ]
    assert result["explanation"][1]["text"] == "It has been ordered by the treating physician."


def test_covered_initial_request_names_every_criterion_and_the_assumed_defaults() -> None:
    _, out, _ = evaluate(str(EXAMPLES / "covered-initial.json"), "--format", "json")
    result = json.loads(out)
    assert result["verdict"] == "covered"
    assumed = {e["fact"] for e in result["explanation"] if e.get("assumed")}
    assert assumed == {"benefit_in_contract", "health_plan_referral", "review_type"}
    cited = {e["criterion"] for e in result["explanation"]}
    assert cited == {"heading", "A1", "A2", "A3", "A4", "E1", "E2", "E3", "BEN"}


def test_needs_information_lists_the_question_and_notes() -> None:
    _, out, _ = evaluate(str(EXAMPLES / "needs-information.yaml"), "--format", "json")
    result = json.loads(out)
    assert result["verdict"] == "needs_information"
    assert result["explanation"] == []
    assert [m["fact"] for m in result["missing"]] == ["part_of_rehab_plan_of_care"]
    assert result["missing"][0]["question"].endswith("?")
    assert [w["id"] for w in result["warnings"]] == ["contraindications"]


def test_unknown_medicare_status_covered_by_both_branches() -> None:
    facts = dict(reference.BOTH_BRANCHES_COVER)
    result = evaluate_json(facts)
    assert result["verdict"] == "covered"
    assert "medicare_member" not in {e["fact"] for e in result["explanation"]}


@pytest.mark.parametrize(
    ("code", "type_of_service", "warned"),
    [
        ("97124", None, False),
        ("97140", "massage", False),
        ("97140", None, True),
        ("97140", "manual therapy", True),
        ("99999", None, True),
        ("99999", "massage", True),
        ("97124", "manual therapy", False),
        (None, None, False),
    ],
)
def test_code_warnings(code: str | None, type_of_service: str | None, warned: bool) -> None:
    facts = {
        "medicare_member": False,
        "terminally_ill": False,
        "ordered_by_treating_physician": False,
    }
    if code is not None:
        facts["cpt_code"] = code  # type: ignore[assignment]
    if type_of_service is not None:
        facts["type_of_service"] = type_of_service  # type: ignore[assignment]
    result = evaluate_json(facts)
    warnings = [w for w in result["warnings"] if w["id"] == "codes"]  # type: ignore[union-attr]
    assert bool(warnings) == warned
    assert result["verdict"] == "not_covered"
    if warned:
        assert warnings[0]["value"] == code


def test_contraindications_caution_but_never_change_the_verdict() -> None:
    base = {
        "medicare_member": True,
        "delivered_by_physical_therapist": True,
        "part_of_rehab_plan_of_care": True,
    }
    plain = evaluate_json(base)
    cautioned = evaluate_json({**base, "contraindications": ["burns", "unhealed_fracture"]})
    assert plain["verdict"] == cautioned["verdict"] == "covered"
    assert plain["explanation"] == cautioned["explanation"]
    caution = cautioned["warnings"][0]  # type: ignore[index]
    assert caution["kind"] == "caution" and "contraindicated" in caution["text"]
    # An empty list states that none of them is present: no caution.
    assert evaluate_json({**base, "contraindications": []})["warnings"] == []


def test_hostile_id_comes_back_verbatim_and_changes_nothing() -> None:
    hostile = '"). #show. :- true. %'
    facts = {
        "medicare_member": False,
        "ordered_by_treating_physician": False,
        "terminally_ill": False,
    }
    plain = evaluate_json(facts, id="plain")
    result = evaluate_json(facts, id=hostile)
    assert result["id"] == hostile
    assert {k: v for k, v in result.items() if k != "id"} == {
        k: v for k, v in plain.items() if k != "id"
    }
    odd_type = evaluate_json({"medicare_member": False, "type_of_service": hostile})
    assert odd_type["verdict"] == "needs_information"


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ('{"facts": {\n  "medicare_member": tru}}', "<stdin>:2:22: malformed JSON"),
        ("facts:\n  medicare_member: [true\n", "<stdin>:3:1: malformed YAML: expected ',' or ']'"),
        ("facts:\n  x: 1\n  ]", "<stdin>:3:3: malformed YAML: expected <block end>, but found"),
        ('{"facts": {"medicare_member": [true]}}', "must be true or false, not a list"),
        ('{"facts": {"contraindications": [5]}}', "'contraindications': a number is not one of"),
        ('{"facts": {"medicare_membr": true}}', "did you mean 'medicare_member'"),
        ('{"facts": {"medicare_member": "yes"}}', "must be true or false, not a string"),
        ('{"facts": {"medicare_member": 1}}', "must be true or false, not a number"),
        ('{"facts": {"type_of_service": true}}', "not a boolean"),
        ('{"facts": {"cpt_code": 97124.5}}', "not a number"),
        ('{"facts": {"review_type": "renewal"}}', "must be one of initial, continuation"),
        ('{"facts": {"contraindications": ["burn"]}}', "did you mean 'burns'"),
        ('{"facts": {"contraindications": "burns"}}', "must be a list of"),
        ('{"policy": "no-such-policy", "facts": {}}', "unknown policy 'no-such-policy'"),
        ('{"id": 7, "facts": {}}', "'id' must be a string"),
        ('{"fact": {}}', "did you mean 'facts'"),
        ("[1, 2]", "a case must be an object"),
        ('{"facts": {"terminally_ill": true, "terminally_ill": false}}', "duplicate key"),
    ],
)
def test_bad_input_gets_one_clear_line_and_exit_1(stdin: str, message: str) -> None:
    code, out, err = evaluate("-", stdin=stdin)
    assert code == 1
    assert message in err
    assert "Traceback" not in err
    assert out == ""


def test_missing_file_and_usage_errors() -> None:
    code, _, err = evaluate("no/such/case.json")
    assert (code, "no such file" in err) == (1, True)
    assert runner.invoke(app, ["evaluate"]).exit_code == 2
    assert runner.invoke(app, ["evaluate", "-", "--format", "pdf"], input="{}").exit_code == 2


@pytest.mark.parametrize(
    ("example", "fmt"),
    [
        ("denied-no-order.json", "text"),
        ("denied-no-order.json", "markdown"),
        ("needs-information.yaml", "text"),
    ],
)
def test_rendered_output_matches_golden_file(example: str, fmt: str) -> None:
    """Golden files: review the diff when a rendering changes, then update them
    with POLICYKB_UPDATE_GOLDEN=1."""
    result = runner.invoke(
        app, ["evaluate", str(EXAMPLES / example), "--format", fmt], env={"COLUMNS": "80"}
    )
    out = _without_hashes(result.stdout)
    golden = GOLDEN / f"{Path(example).stem}.{fmt}"
    if os.environ.get("POLICYKB_UPDATE_GOLDEN"):
        golden.parent.mkdir(exist_ok=True)
        golden.write_text(out)
    assert out == golden.read_text()


def _without_hashes(text: str) -> str:
    """A rendering with the policy version's content hash masked: any edit of a
    policy file changes it (tests/kb/test_versions.py checks the hashes shown)."""
    return re.sub(r"sha256 [0-9a-f]{12}\b", "sha256 <hash>", text)


def test_installed_console_script_runs() -> None:
    script = shutil.which("policykb", path=str(Path(sys.executable).parent))
    assert script is not None, "the policykb console script is not installed"
    done = subprocess.run(
        [script, "evaluate", str(EXAMPLES / "denied-no-order.json"), "--format", "json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"] == "not_covered"
    bad = subprocess.run(
        [script, "evaluate", "-"], input="{", capture_output=True, text=True, check=False
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


@pytest.mark.parametrize(
    ("arguments", "named"),
    [
        (["evaluate", "case.json"], "evaluate"),
        (["--load-timeout", "5", "why", "x"], "why"),
        (["--load-memory=512", "init-case"], "init-case"),
        (["--help", "evaluate"], None),
        (["-h"], None),
        ([], None),
        (["--load-timeout", "5"], None),
    ],
)
def test_the_console_script_builds_only_the_command_named(
    arguments: list[str], named: str | None
) -> None:
    from policykb.cli.main import _app_for, _named_command

    assert _named_command(arguments) == named
    chosen = _app_for(arguments)
    if named is None:
        assert chosen is app
    else:
        assert [c.callback.__name__.replace("_", "-") for c in chosen.registered_commands] == [
            named
        ]
        assert chosen.registered_callback is app.registered_callback


def test_the_console_script_answers_help_usage_and_global_options() -> None:
    script = shutil.which("policykb", path=str(Path(sys.executable).parent))
    assert script is not None

    def run(*arguments: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([script, *arguments], capture_output=True, text=True, check=False)

    everything = run("--help")
    assert everything.returncode == 0 and "check" in everything.stdout
    assert "impact" in everything.stdout
    one = run("evaluate", "--help")
    assert one.returncode == 0 and "Usage: policykb evaluate" in one.stdout
    typo = run("evaluat", "x")
    assert typo.returncode == 2 and "Did you mean 'evaluate'" in typo.stderr
    example = str(EXAMPLES / "denied-no-order.json")
    limited = run("--load-timeout", "5", "evaluate", example, "--format", "json")
    assert limited.returncode == 0 and json.loads(limited.stdout)["verdict"] == "not_covered"
    refused = run("--load-timeout", "0", "evaluate", example)
    assert refused.returncode == 2 and "load-timeout" in refused.stderr


@pytest.mark.parametrize(
    ("example", "command", "fmt"),
    [
        ("denied-no-order.json", "notice", "markdown"),
        ("needs-information.yaml", "notice", "markdown"),
        ("covered-initial.json", "notice", "text"),
        ("denied-no-order.json", "why", "text"),
        ("needs-information.yaml", "why", "markdown"),
        ("covered-initial.json", "evaluate --proof", "text"),
        ("bariatric-bmi-below-35.json", "evaluate --proof", "text"),
    ],
)
def test_notice_and_why_match_golden_files(example: str, command: str, fmt: str) -> None:
    words = command.split()
    result = runner.invoke(app, [*words, str(EXAMPLES / example), "--format", fmt])
    assert result.exit_code == 0, result.stderr
    golden = GOLDEN / f"{Path(example).stem}.{'-'.join(w.strip('-') for w in words)}.{fmt}"
    out = _without_hashes(result.stdout)
    if os.environ.get("POLICYKB_UPDATE_GOLDEN"):
        golden.write_text(out)
    assert out == golden.read_text()


def test_denial_notice_has_the_required_parts() -> None:
    result = runner.invoke(app, ["notice", str(EXAMPLES / "denied-no-order.json")])
    text = result.stdout
    assert (
        "## Specific reasons" in text and "It has been ordered by the treating physician." in text
    )
    assert "## Criteria relied on" in text and "**A3** (Non-Medicare A.3)" in text
    assert "Clinical Review Criteria: Massage Therapy" in text and "06/21/2007" in text
    assert "physician reviewer" in text


def test_cross_check_passes_and_exit_code_3_is_documented() -> None:
    result = runner.invoke(
        app, ["evaluate", str(EXAMPLES / "covered-initial.json"), "--cross-check", "-f", "json"]
    )
    assert result.exit_code == 0
    assert "3 the two engines disagree" in runner.invoke(app, ["evaluate", "--help"]).stdout


def test_engine_disagreement_exits_3(monkeypatch: pytest.MonkeyPatch) -> None:
    from policykb.bridge import EngineError, KnowledgeBase

    def disagree(*_: object, **__: object) -> None:
        raise EngineError("the engines disagree on case 'x'")

    monkeypatch.setattr(KnowledgeBase, "cross_check", disagree)
    result = runner.invoke(
        app, ["evaluate", str(EXAMPLES / "covered-initial.json"), "--cross-check"]
    )
    assert result.exit_code == 3 and "the engines disagree" in result.stderr


def test_null_facts_and_null_values_are_unknown() -> None:
    empty = evaluate_json({})
    code, out, err = evaluate("-", "--format", "json", stdin='{"facts": null}')
    assert code == 0, err
    assert json.loads(out) == empty
    assert evaluate_json({"medicare_member": None}) == empty


M2_TEXT = (
    "It is not covered when delivered by a massage therapist who is not licensed as a "
    "physical therapist."
)


def test_explanations_quote_the_policy_and_missing_facts_name_their_criteria() -> None:
    denied = evaluate_json({"medicare_member": True, "delivered_by_physical_therapist": False})
    assert denied["explanation"] == [
        {"fact": "medicare_member", "value": True, "criterion": "heading",
         "text": "For Medicare Members"},
        {"fact": "delivered_by_physical_therapist", "value": False, "criterion": "M2",
         "text": M2_TEXT},
    ]  # fmt: skip
    other_half = evaluate_json({"medicare_member": False, "for_recreation": True})
    assert other_half["explanation"][0]["text"] == "For Non-Medicare Members"
    # Each missing fact names the criteria whose sentences read it (the policy's text).
    criteria = {m["fact"]: m["criteria"] for m in evaluate_json({})["missing"]}  # type: ignore[union-attr,index]
    assert criteria == {
        "medicare_member": ["heading"],
        "delivered_by_physical_therapist": ["M1", "M2"],
        "part_of_rehab_plan_of_care": ["M1"],
        "objective_limitations_documented": ["A1"],
        "physical_therapeutic_benefit": ["A2"],
        "ordered_by_treating_physician": ["A3"],
        "significant_improvement_expected": ["A4"],
        "terminally_ill": ["B"],
        "needed_for_comfort": ["B"],
        "for_prevention": ["E1"],
        "for_recreation": ["E1"],
        "for_stress_reduction": ["E1"],
        "directed_at_maintenance": ["E2"],
    }
    continuation = evaluate_json({"medicare_member": False, "review_type": "continuation"})
    later = {m["fact"]: m["criteria"] for m in continuation["missing"]}  # type: ignore[union-attr,index]
    assert later["therapeutic_goals_achieved"] == later["showing_meaningful_progress"] == ["E3"]


def test_a_null_fact_leaves_the_others_in_place() -> None:
    later = evaluate_json({"medicare_member": None, "benefit_in_contract": False})
    assert later["verdict"] == "not_covered"
    assert [item["fact"] for item in later["explanation"]] == ["benefit_in_contract"]


def test_the_case_size_limit_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import policykb.bridge.loading.case as case_module

    monkeypatch.setattr(case_module, "MAX_CASE_BYTES", 64)
    fits = '{"facts": {}}'.ljust(64)
    too_big = fits + " "
    assert evaluate("-", stdin=fits)[0] == 0
    code, _, err = evaluate("-", stdin=too_big)
    assert code == 6 and "<stdin>: larger than 64 bytes" in err
    file = tmp_path / "case.json"
    file.write_text(fits)
    assert evaluate(str(file))[0] == 0
    file.write_text(too_big)
    code, _, err = evaluate(str(file))
    assert code == 6 and f"{file}: larger than 64 bytes" in err


def test_long_names_are_cut_at_the_stated_length() -> None:
    from policykb.bridge.loading.case import MAX_NAME_SHOWN, shown_name

    fits = "x" * (MAX_NAME_SHOWN - 2)  # with its quotes, exactly the limit
    assert shown_name(fits) == repr(fits)
    longer = fits + "y"
    assert shown_name(longer).endswith(f"({len(longer):,} characters)")
    # A suggestion is looked for up to MAX_NAME_SHOWN characters, not beyond.
    near = "significant_improvement_expected"
    at_limit = near + "_" * (MAX_NAME_SHOWN - len(near))
    _, _, err = evaluate("-", stdin=json.dumps({"facts": {at_limit: True}}))
    assert f"did you mean '{near}'" in err
    _, _, err = evaluate("-", stdin=json.dumps({"facts": {at_limit + "_": True}}))
    assert "did you mean" not in err


def test_the_vocabulary_names_the_clause_of_every_fact() -> None:
    result = runner.invoke(app, ["facts", "--format", "json"])
    clauses = {fact["name"]: fact["clauses"] for fact in json.loads(result.stdout)}
    assert clauses == {
        "medicare_member": ["heading"],
        "delivered_by_physical_therapist": ["M1", "M2"],
        "part_of_rehab_plan_of_care": ["M1"],
        "objective_limitations_documented": ["A1"],
        "physical_therapeutic_benefit": ["A2"],
        "ordered_by_treating_physician": ["A3"],
        "significant_improvement_expected": ["A4"],
        "terminally_ill": ["B"],
        "needed_for_comfort": ["B"],
        "for_prevention": ["E1"],
        "for_recreation": ["E1"],
        "for_stress_reduction": ["E1"],
        "directed_at_maintenance": ["E2"],
        "review_type": ["E3"],
        "therapeutic_goals_achieved": ["E3"],
        "showing_meaningful_progress": ["E3"],
        "benefit_in_contract": ["BEN"],
        "health_plan_referral": ["BEN"],
        "contraindications": ["background"],
        "cpt_code": ["codes"],
        "type_of_service": ["codes"],
    }


@pytest.mark.parametrize(
    ("declaration", "line", "message"),
    [
        ("default(b, maybe).", 3, "default of b must be true or false, not maybe"),
        ("default(c, z).", 3, "default of c must be one of x, y, not z"),
        ("default(nope, true).", 3, "default/2 names nope, which is not a declared fact"),
        ('criterion("C2", "2", "text").', 3, "criterion C2 has no role/2 declaration"),
        ('role("C1", sometimes).', 3, "criterion C1: unknown role sometimes"),
        ("fact(d, number).", 3, "fact d: unknown type number"),
    ],
)
def test_a_wrong_declaration_is_named_by_file_and_line(
    tmp_path: Path, declaration: str, line: int, message: str
) -> None:
    folder = tmp_path / "wrong"
    folder.mkdir()
    (folder / "policy.lp").write_text(
        "fact(a, bool). fact(b, bool). fact(c, enum). option(c, x). option(c, y).\n"
        'criterion("C1", "1", "A holds."). met("C1") :- holds(a).\n'
        f"{declaration}\n" + ('role("C1", indication).\n' if "role(" not in declaration else ""),
        encoding="utf-8",
    )
    code, _, err = evaluate("--policy", str(folder), "-", stdin='{"facts": {}}')
    assert code == 1
    assert err.startswith(f"error: {folder / 'policy.lp'}:{line}: {message}")
    assert err.count("\n") == 1


def test_the_documented_case_size_limit_is_16_mib(tmp_path: Path) -> None:
    """README, Limits: a case file is at most 16 MiB."""
    fits = '{"facts": {}}'.ljust(16 << 20)
    file = tmp_path / "case.json"
    file.write_text(fits)
    assert evaluate(str(file))[0] == 0
    file.write_text(fits + " ")
    code, _, err = evaluate(str(file))
    assert code == 6 and f"{file}: larger than 16,777,216 bytes" in err


def test_error_messages_name_an_object_and_cut_long_names_at_80_characters() -> None:
    from policykb.bridge import CaseError, KnowledgeBase

    kb = KnowledgeBase()
    with pytest.raises(CaseError, match=r"must be true or false, not an object$"):
        kb.case({"facts": {"medicare_member": {}}})
    whole, cut = "x" * 78, "x" * 79  # quoted: 80 and 81 characters
    with pytest.raises(CaseError) as shown:
        kb.case({"facts": {whole: True}})
    assert f"unknown fact '{whole}' for policy" in str(shown.value)
    with pytest.raises(CaseError) as shortened:
        kb.case({"facts": {cut: True}})
    assert f"unknown fact '{cut[:79]}...' (79 characters) for policy" in str(shortened.value)
