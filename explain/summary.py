"""The summary of a batch run, for a person."""

from __future__ import annotations

from policykb.bridge.batch.output import Summary


def render_summary(summary: Summary) -> str:
    counts = [f"{verdict} {count:,}" for verdict, count in sorted(summary.verdicts.items())]
    counts.append(f"errors {summary.errors:,}")
    noun = "record" if summary.total == 1 else "records"
    lines = [f"{summary.total:,} {noun}: " + ", ".join(counts)]
    if summary.denial_reasons:
        lines.append("most common reasons for denial (criterion: cases):")
        lines += [
            f"  {criterion}: {count:,}"
            for criterion, count in summary.denial_reasons.most_common(5)
        ]
    return "\n".join(lines)
