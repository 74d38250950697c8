"""Benchmark: `policykb check` and `policykb diff` on the massage policy and
on the 183-fact synthetic policy (bench/synthetic.py, either-183).

    python bench/check_diff.py [--runs 5] [--large-runs 3]

Runs each command end to end (a fresh process, as an analyst or CI runs it)
and reports the median wall time, against `policykb evaluate` on one case of
the same policy in the same run (the baseline: start-up plus one case).
Targets: massage under 3 s each; 183 facts within 25x evaluate.
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


def measure_large(runs: int) -> dict[str, float]:
    """check, and diff against the policy without exclusion E0, on either-183."""
    from synthetic import SHAPES, write_policy

    base = policykb()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        policy = write_policy(work / "large", **SHAPES["either-183"])
        changed = write_policy(work / "large-v2", **SHAPES["either-183"])
        criteria = changed / "criteria.lp"
        criteria.write_text(criteria.read_text().replace('met("E0") :- holds(exc0_b).\n', ""))
        case = work / "case.json"
        case.write_text('{"facts": {"in_section_one": true, "ind0_part0": true}}')
        return {
            "evaluate": median_wall([*base, "evaluate", str(case), "--policy", str(policy)], runs),
            "why": median_wall([*base, "why", str(case), "--policy", str(policy)], runs),
            "check": median_wall([*base, "check", "--policy", str(policy)], runs, LIMIT),
            "diff": median_wall([*base, "diff", str(policy), str(changed)], runs, LIMIT),
        }


LIMIT = 300.0
"""Seconds after which a check or diff run on the large policy is stopped."""


def report_large(figures: dict[str, float]) -> str:
    base = figures["evaluate"]
    lines = ["why, check and diff on the 183-fact synthetic policy (median wall time):"]
    for name, target in (("why", 3), ("check", 25), ("diff", 25)):
        ratio = figures[name] / base
        shown = f"{figures[name] * 1000:8.0f} ms" if ratio < float("inf") else f"> {LIMIT:.0f} s"
        lines.append(
            f"  {name:8} {shown}  = {ratio:5.1f}x evaluate"
            f"   target <= {target}x -> {'met' if ratio <= target else 'NOT met'}"
        )
    lines.append(f"  evaluate {base * 1000:8.0f} ms  (baseline, same run)")
    return "\n".join(lines)


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
    parser.add_argument("--large-runs", type=int, default=3)
    arguments = parser.parse_args()
    print(report(measure(arguments.runs)))
    if arguments.large_runs:
        print(report_large(measure_large(arguments.large_runs)))
