"""Benchmark: `policykb check` and `policykb diff` on the massage policy.

    python bench/check_diff.py [--runs 5]

Runs each command end to end (a fresh process, as an analyst or CI runs it)
and reports the median wall time, against `policykb evaluate` on one example
in the same run (the baseline: start-up plus one case). Target: under 3 s each.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import MASSAGE as POLICY
from common import ROOT, median_wall, policykb


def changed_policy(folder: Path) -> Path:
    """The massage policy with stress reduction dropped from E1."""
    target = folder / "massage-v2"
    target.mkdir()
    for file in POLICY.glob("*.lp"):
        text = file.read_text().replace('met("E1") :- holds(for_stress_reduction).\n', "")
        (target / file.name).write_text(text)
    return target


def measure(runs: int) -> dict[str, float]:
    base = policykb()
    with tempfile.TemporaryDirectory() as folder:
        changed = changed_policy(Path(folder))
        return {
            "evaluate": median_wall(
                [*base, "evaluate", str(ROOT / "examples/denied-no-order.json")], runs
            ),
            "check": median_wall([*base, "check"], runs),
            "diff": median_wall([*base, "diff", "massage-therapy", str(changed)], runs),
        }


def report(figures: dict[str, float]) -> str:
    base = figures["evaluate"]
    lines = ["check and diff on the massage policy (median wall time, fresh process):"]
    for name in ("check", "diff"):
        verdict = "met" if figures[name] < 3 else "NOT met"
        lines.append(
            f"  {name:8} {figures[name] * 1000:8.0f} ms  = {figures[name] / base:4.1f}x evaluate"
            f"   target < 3000 ms -> {verdict}"
        )
    lines.append(f"  evaluate {base * 1000:8.0f} ms  (baseline, same run)")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    print(report(measure(parser.parse_args().runs)))
