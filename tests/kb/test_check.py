"""`policykb check` and `policykb diff` find exactly the planted defects."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterable
from datetime import date
from pathlib import Path

import clingo
import pytest
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.bridge.analysis.check import acknowledged, check_policy
from policykb.bridge.analysis.clauses import clause_findings
from policykb.bridge.analysis.diff import diff_policies
from policykb.bridge.analysis.findings import Finding, Kind, Level
from policykb.cli.main import app

FIXTURES = Path(__file__).parents[1] / "fixtures" / "check"
runner = CliRunner()


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("clean", set()),
        ("gap", {("gap", ())}),
        ("redundant", {("redundant", ("I",))}),
        ("unreachable", {("unreachable", ("E",))}),
        ("shadowed", {("shadowed", ("I2",))}),
        ("undeclared-fact", {("vocabulary", ())}),
    ],
)
def test_check_finds_exactly_the_planted_defect(
    fixture: str, expected: set[tuple[str, tuple[str, ...]]]
) -> None:
    report = check_policy(KnowledgeBase().evaluator(FIXTURES / fixture))
    assert {(f.kind.value, f.criteria) for f in report.warnings} == expected
    acknowledged = {
        (f.kind.value, f.criteria) for f in report.findings if f.level is Level.ACKNOWLEDGED
    }
    assert ("overlap", ("I", "E")) in acknowledged


def test_planted_messages_name_the_cause() -> None:
    vocabulary = check_policy(KnowledgeBase().evaluator(FIXTURES / "undeclared-fact")).warnings
    assert "'mystery'" in vocabulary[0].message and "rules.lp" in vocabulary[0].message
    shadowed = check_policy(KnowledgeBase().evaluator(FIXTURES / "shadowed")).warnings[0]
    assert shadowed.witness == {"ok2": True} and shadowed.verdict is not None
    assert shadowed.verdict.value == "not_covered"
    gap = check_policy(KnowledgeBase().evaluator(FIXTURES / "gap")).warnings[0]
    assert gap.witness == {"ok": False, "blocker": False}


def test_check_exit_codes() -> None:
    assert runner.invoke(app, ["check", "--policy", str(FIXTURES / "clean")]).exit_code == 0
    assert runner.invoke(app, ["check", "--policy", str(FIXTURES / "gap")]).exit_code == 1
    bad = runner.invoke(app, ["check", "--policy", "no-such-policy"])
    assert bad.exit_code == 2 and "unknown policy" in bad.stderr


def test_massage_check_witnesses_are_confirmed_by_evaluate(tmp_path: Path) -> None:
    result = runner.invoke(app, ["check", "--format", "json", "--export", str(tmp_path)])
    assert result.exit_code == 0, result.stdout
    report = json.loads(result.stdout)
    findings = [f for f in report["findings"] if f["witness"] is not None]
    assert {f["kind"] for f in findings} == {"overlap", "redundant", "gap"}
    exported = sorted(tmp_path.glob("*.json"))
    assert len(exported) == len(findings)
    for finding, path in zip(findings, exported, strict=True):
        evaluated = runner.invoke(app, ["evaluate", str(path), "-f", "json"])
        assert evaluated.exit_code == 0, evaluated.stderr
        evaluation = json.loads(evaluated.stdout)
        assert evaluation["verdict"] == finding["verdict"], path.name
        if finding["kind"] == "overlap":
            indication, blocker = finding["criteria"]
            assert evaluation["criteria"][indication] == "met"
            expected = "not_met" if blocker == "BEN" else "met"
            assert evaluation["criteria"][blocker] == expected


def test_overlap_witnesses_are_minimal(kb: KnowledgeBase) -> None:
    """A witness forces the overlap in every scenario; without any one fact it does not."""
    evaluator = kb.evaluator()

    def shows(facts: dict[str, object], indication: str, blocker: str) -> bool:
        _, certain = evaluator.consequences(facts)  # type: ignore[arg-type]
        return {
            clingo.Function("indicated", [clingo.String(indication)]),
            clingo.Function("blocked", [clingo.String(blocker)]),
        } <= certain

    overlaps = [f for f in check_policy(evaluator).findings if f.kind is Kind.OVERLAP]
    assert len(overlaps) == 9
    for finding in overlaps:
        assert finding.witness is not None
        witness = dict(finding.witness)
        assert shows(witness, *finding.criteria)
        for dropped in witness:
            rest = {f: v for f, v in witness.items() if f != dropped}
            assert not shows(rest, *finding.criteria), (finding.criteria, dropped)


def test_diff_finds_exactly_the_one_change(tmp_path: Path) -> None:
    kb = KnowledgeBase()
    report = diff_policies(
        kb.evaluator(FIXTURES / "diff" / "v1"), kb.evaluator(FIXTURES / "diff" / "v2")
    )
    assert [c.summary for c in report.changes] == [
        "ok=true and blocker=false and late=true: covered -> not_covered"
    ]
    assert [(c.id, c.change) for c in report.criteria] == [("E", "changed")]
    assert [(c.id, c.change) for c in report.facts] == [("late", "added")]
    same = diff_policies(
        kb.evaluator(FIXTURES / "diff" / "v1"), kb.evaluator(FIXTURES / "diff" / "v1")
    )
    assert same.empty


def test_diff_cli_exports_witnesses_that_show_the_change(tmp_path: Path) -> None:
    v1, v2 = str(FIXTURES / "diff" / "v1"), str(FIXTURES / "diff" / "v2")
    result = runner.invoke(app, ["diff", v1, v2, "--format", "json", "--export", str(tmp_path)])
    assert result.exit_code == 1
    assert json.loads(result.stdout)["changes"][0]["old"] == "covered"
    (witness,) = tmp_path.glob("*.json")
    out = runner.invoke(app, ["evaluate", str(witness), "--policy", v2, "-f", "json"])
    assert json.loads(out.stdout)["verdict"] == "not_covered"
    # v1 has no fact `late`: without it, the same case is covered there.
    case = json.loads(witness.read_text())
    del case["facts"]["late"]
    old = runner.invoke(
        app, ["evaluate", "-", "--policy", v1, "-f", "json"], input=json.dumps(case)
    )
    assert json.loads(old.stdout)["verdict"] == "covered"
    assert runner.invoke(app, ["diff", v1, v1]).exit_code == 0


def test_diff_of_massage_versions(tmp_path: Path) -> None:
    """Dropping stress reduction from E1 covers exactly the stress-reduction cases."""
    source = Path(__file__).parents[2] / "kb" / "policies" / "massage-therapy"
    changed = tmp_path / "massage-v2"
    changed.mkdir()
    for file in source.glob("*.lp"):
        text = file.read_text()
        (changed / file.name).write_text(
            text.replace('met("E1") :- holds(for_stress_reduction).\n', "")
        )
    kb = KnowledgeBase()
    report = diff_policies(kb.evaluator("massage-therapy"), kb.evaluator(changed))
    assert report.changes and all(
        c.conditions.get("for_stress_reduction") is True
        and c.old.value == "not_covered"
        and c.new.value == "covered"
        for c in report.changes
    )
    for change in report.changes:
        case = {"facts": dict(change.conditions)}
        assert kb.evaluate(case, policy="massage-therapy").verdict.value == "not_covered"
        assert kb.evaluate(case, policy=str(changed)).verdict.value == "covered"


def test_vocabulary_findings_name_unused_facts_and_criteria_without_text(tmp_path: Path) -> None:
    policy = tmp_path / "vocab"
    policy.mkdir()
    for name in ("vocabulary.lp", "rules.lp", "review.lp"):
        (policy / name).write_text((FIXTURES / "clean" / name).read_text())
    (policy / "vocabulary.lp").write_text(
        (FIXTURES / "clean" / "vocabulary.lp").read_text()
        + 'fact(unused, bool). rank(unused, 3). question(unused, "Never read?").\n'
    )
    (policy / "rules.lp").write_text(
        (FIXTURES / "clean" / "rules.lp").read_text()
        + '% a criterion used in a rule but never quoted\nrole("Q", exclusion).\n'
        + 'met("Q") :- holds(blocker), holds(ok).\n'
    )
    (policy / "policy.lp").write_text(
        '#include "vocabulary.lp".\n#include "rules.lp".\n#include "review.lp".\n'
    )
    unquoted = check_policy(KnowledgeBase().evaluator(policy)).warnings
    assert any("criterion Q is used but has no quoted text" in f.message for f in unquoted)
    (policy / "rules.lp").write_text(
        (FIXTURES / "clean" / "rules.lp").read_text()
        + 'criterion("Q", "Rule 9", "").\nrole("Q", exclusion).\n'
        + 'met("Q") :- holds(blocker), holds(ok).\n'
    )
    report = check_policy(KnowledgeBase().evaluator(policy))
    messages = [f.message for f in report.warnings if f.kind is Kind.VOCABULARY]
    assert any("'unused' is declared but no rule uses it" in m for m in messages)
    assert any("criterion Q has empty quoted text" in m for m in messages)


# The clause/2 lines left out in check/unlisted-clause: (criterion, fact).
UNLISTED = {
    ("N", "unlisted"),  # no clause at all
    ("H", "deep"),  # read two helpers down; its clause names I
    ("D", "first_date"),  # both dates of a two-date comparison
    ("D", "second_date"),
    ("G", "given"),  # given to a helper that compares its argument
    ("R", "hours"),  # an operand of the ratio R compares (in both its rules)
    ("R", "shallow"),  # listed under H only
}


def _unlisted(findings: Iterable[Finding]) -> set[tuple[str, str]]:
    pairs = set()
    for finding in findings:
        if finding.kind is Kind.CLAUSE:
            fact = re.search(r"reads the fact '(\w+)'", finding.message)
            assert fact is not None, finding.message
            pairs.add((*finding.criteria, fact[1]))
    return pairs


def test_clause_findings_name_exactly_the_criteria_left_out() -> None:
    """Not found: a fact listed under the criterion itself (shallow), under
    the whole its part's part is in (part_fact under P, read by P1A), read
    only through a variable (watched_a, watched_b), or a heading's fact that
    a rule reaches through section/1 (adult, read by S)."""
    fixture = FIXTURES / "unlisted-clause"
    findings = clause_findings(KnowledgeBase().evaluator(fixture))
    assert _unlisted(findings) == UNLISTED
    assert len(findings) == len(UNLISTED)  # once each, at the first rule that reads it
    rules = (fixture / "rules.lp").read_text().splitlines()
    for finding in findings:
        (criterion,) = finding.criteria
        fact = re.search(r"reads the fact '(\w+)'", finding.message)
        assert fact is not None
        # The first rule of the criterion that names the fact, else (read
        # through a helper or a ratio) its first rule.
        lines = [n for n, text in enumerate(rules, 1) if text.startswith(f'met("{criterion}")')]
        naming = [n for n in lines if f"{fact[1]})" in rules[n - 1]]
        line = (naming or lines)[0]
        assert finding.location == f"rules.lp:{line}"
        assert finding.message.startswith(f"rules.lp:{line}: the rule for {criterion} reads")
    operand = next(f for f in findings if "'hours'" in f.message)
    assert "an operand of 'rate'" in operand.message


def test_acknowledged_clause_findings_and_the_listed_ones_vanish(tmp_path: Path) -> None:
    fixture = FIXTURES / "unlisted-clause"
    report = check_policy(KnowledgeBase().evaluator(fixture), as_of=date(2024, 6, 15))
    assert _unlisted(report.warnings) == {p for p in UNLISTED if p[0] != "D"}
    acknowledged = [f for f in report.findings if f.level is Level.ACKNOWLEDGED]
    assert _unlisted(acknowledged) == {("D", "first_date"), ("D", "second_date")}
    assert {f.reason for f in acknowledged if f.criteria == ("D",)} == {
        "Fixture: acknowledged on purpose."
    }
    # Listing each pair leaves nothing to find.
    copy = tmp_path / "unlisted-clause"
    shutil.copytree(fixture, copy)
    lines = "".join(f'clause({fact}, "{criterion}").\n' for criterion, fact in sorted(UNLISTED))
    with (copy / "vocabulary.lp").open("a") as vocabulary:
        vocabulary.write(lines)
    assert clause_findings(KnowledgeBase().evaluator(copy)) == []


def test_every_bundled_version_reviews_its_clause_findings(kb: KnowledgeBase) -> None:
    """Each criterion a bundled policy leaves out of a fact's clauses is
    acknowledged in its review.lp, with the reason (a criterion that only
    routes on the fact): a new omission is a warning."""
    bundled = Path(__file__).parents[2] / "kb" / "policies"
    for folder in sorted(p for p in bundled.iterdir() if (p / "policy.lp").exists()):
        for evaluator in kb.versions(folder.name):
            findings = acknowledged(evaluator, clause_findings(evaluator))
            assert all(f.level is Level.ACKNOWLEDGED for f in findings), (folder.name, findings)
