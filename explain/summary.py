"""The summary of a batch run, for a person."""

from __future__ import annotations

from policykb.bridge.batch import Summary


def render_summary(summary: Summary) -> str:
    lines = [
        f"{summary.total:,} record(s): "
        + ", ".join(f"{verdict} {count:,}" for verdict, count in sorted(summary.verdicts.items()))
        + f", errors {summary.errors:,}"
    ]
    if summary.denial_reasons:
        lines.append("most common reasons for denial (criterion: cases):")
        lines += [
            f"  {criterion}: {count:,}"
            for criterion, count in summary.denial_reasons.most_common(5)
        ]
    return "\n".join(lines)
