"""Render `check` and `diff` reports, and export their witnesses as case files."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence

from policykb.bridge.analysis.catalogue import Conflict
from policykb.bridge.analysis.diff import DiffReport
from policykb.bridge.analysis.findings import CheckReport, Finding, Level
from policykb.bridge.model.policy import Value
from policykb.bridge.model.result import json_value, value_words


def _facts_words(facts: Mapping[str, Value] | None) -> str:
    if facts is None:
        return "none"
    return ", ".join(f"{f}={value_words(v)}" for f, v in facts.items()) or "(no facts)"


def render_check(report: CheckReport, markdown: bool = False) -> str:
    warnings = len(report.warnings)
    acknowledged = len(report.findings) - warnings
    head = "## " if markdown else ""
    lines = [
        f"{head}check {report.policy}: {warnings} warning(s), {acknowledged} acknowledged",
        "",
    ]
    if report.version is not None:
        lines[1:1] = [f"Version: {report.version.words}", ""]
    for number, finding in enumerate(report.findings, start=1):
        level = "WARNING" if finding.level is Level.WARNING else "acknowledged"
        criteria = ", ".join(finding.criteria)
        title = f"{number}. [{level}] {finding.kind.value}" + (f" ({criteria})" if criteria else "")
        lines.append(f"{'### ' if markdown else ''}{title}")
        lines.append(f"   {finding.message}")
        if finding.witness is not None:
            verdict = finding.verdict.value if finding.verdict else "?"
            lines.append(f"   witness: {_facts_words(finding.witness)} -> {verdict}")
        if finding.reason:
            lines.append(f"   reason: {finding.reason}")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_catalogue(conflicts: Sequence[Conflict], markdown: bool = False) -> str:
    """check --all's catalogue section: each conflict on one line."""
    head = "## " if markdown else ""
    lines = [f"{head}check the catalogue: {len(conflicts)} conflict(s)", ""]
    for number, conflict in enumerate(conflicts, start=1):
        lines.append(f"{number}. [{conflict.kind.value}] {conflict.message}")
    return "\n".join(lines).rstrip() + "\n"


def render_diff(report: DiffReport, markdown: bool = False) -> str:
    head = "## " if markdown else ""
    bullet = "- " if markdown else "  - "
    lines = [f"{head}diff {report.old} -> {report.new}", ""]
    if report.old_version is not None and report.new_version is not None:
        lines[1:1] = [
            f"Old version: {report.old_version.words}",
            f"New version: {report.new_version.words}",
            "",
        ]
    lines.append(f"{head}Verdict changes ({len(report.changes)} region(s))")
    lines += [f"{bullet}{change.summary}" for change in report.changes] or [f"{bullet}none"]
    if report.capped:
        lines.append(f"{bullet}(more regions exist; the list was capped)")
    lines += ["", f"{head}Criteria"]
    lines += [
        f"{bullet}{c.id}: {c.change}" + (f" ({c.detail})" if c.detail else "")
        for c in report.criteria
    ] or [f"{bullet}no change"]
    lines += ["", f"{head}Facts"]
    lines += [
        f"{bullet}{c.id}: {c.change}" + (f" ({c.detail})" if c.detail else "") for c in report.facts
    ] or [f"{bullet}no change"]
    return "\n".join(lines) + "\n"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower() or "case"


def _witness_file(name: str, policy: str, facts: Mapping[str, Value]) -> tuple[str, str]:
    case = {"id": name, "policy": policy, "facts": {f: json_value(v) for f, v in facts.items()}}
    return f"{name}.json", json.dumps(case, indent=2) + "\n"


def check_witness_files(report: CheckReport) -> list[tuple[str, str]]:
    """Each finding's witness as (file name, case file text) that `policykb evaluate` runs."""
    files = []
    for number, finding in enumerate(report.findings, start=1):
        if finding.witness is not None:
            name = f"{number:02d}-{finding.kind.value}"
            if finding.criteria:
                name += f"-{_slug('-'.join(finding.criteria))}"
            files.append(_witness_file(name, report.policy, finding.witness))
    return files


def diff_witness_files(report: DiffReport, policy: str) -> list[tuple[str, str]]:
    """Each changed region's witness as (file name, case file text)."""
    files = []
    for number, change in enumerate(report.changes, start=1):
        name = f"{number:02d}-{change.old.value}-to-{change.new.value}"
        files.append(_witness_file(name, policy, change.witness))
    return files


def finding_counts(findings: tuple[Finding, ...]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.kind.value] = counts.get(finding.kind.value, 0) + 1
    return counts
