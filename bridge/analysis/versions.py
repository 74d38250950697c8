"""Findings about a policy's versions: periods that overlap or leave days
uncovered, and versions without an effective date among several."""

from __future__ import annotations

from collections.abc import Sequence

from policykb.bridge.analysis.findings import Finding, Kind
from policykb.bridge.model.version import period_problems
from policykb.bridge.solving.evaluator import Evaluator


def version_findings(versions: Sequence[Evaluator]) -> list[Finding]:
    """Overlaps and gaps between the periods of a policy's versions (given by
    effective date), and versions that declare no effective date among several."""
    if len(versions) < 2:
        return []
    entries = [v.source.entry.name for v in versions]
    found = []
    undated = [
        entry
        for v, entry in zip(versions, entries, strict=True)
        if v.policy.version.effective is None
    ]
    for entry in undated:
        found.append(
            Finding(
                Kind.VERSIONS,
                (),
                f"{entry} declares no policy(effective, ...) but the policy has "
                f"{len(versions)} versions: each needs its effective date",
                location=entry,
            )
        )
    if undated:
        return found
    for problem in period_problems([v.policy.version for v in versions]):
        first, second = entries[problem.first], entries[problem.second]
        if problem.kind == "overlap":
            message = f"versions {first} and {second} are both in force {problem.days_words}"
        else:
            message = f"no version is in force {problem.days_words}, between {first} and {second}"
        found.append(Finding(Kind.VERSIONS, (), message, location=second))
    return found
