"""Benchmark: `why` on synthetic policies, against `evaluate` in the same run.

    python bench/why_synthetic.py [--cases 40] [--shapes either-63,either-183]

Prints, per policy (bench/synthetic.py SHAPES), the median and 90th
percentile seconds per case for why and for evaluate (the baseline, the
Evaluator on the same case), and their ratio. Targets: why median under 1 s
at 63 facts; within 3x evaluate at 183 facts.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from synthetic import SHAPES, fact_names, random_case, write_policy

from policykb.bridge import KnowledgeBase


def measure(cases: int, shape: str = "either-63", seed: int = 7) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        policy_folder = write_policy(Path(folder) / "synthetic", **SHAPES[shape])
        kb = KnowledgeBase([policy_folder])
        evaluator = kb.evaluator("synthetic")
        names = fact_names(**SHAPES[shape])
        rng = random.Random(seed)
        why_times: list[float] = []
        evaluate_times: list[float] = []
        verdicts: dict[str, int] = {}
        for number in range(cases):
            facts = random_case(rng, names, unknown=[0.0, 0.05, 0.3][number % 3])
            case = kb.case({"id": f"s{number}", "facts": facts}, policy="synthetic")
            start = time.perf_counter()
            evaluation = evaluator.evaluate(case)
            evaluate_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            evaluator.why(case)
            why_times.append(time.perf_counter() - start)
            verdicts[evaluation.verdict.value] = verdicts.get(evaluation.verdict.value, 0) + 1
    return {
        "facts": len(names),
        "cases": cases,
        "why_median": statistics.median(why_times),
        "why_p90": statistics.quantiles(why_times, n=10)[-1],
        "why_max": max(why_times),
        "evaluate_median": statistics.median(evaluate_times),
        "verdicts": verdicts,  # type: ignore[dict-item]
    }


def report(figures: dict[str, float]) -> str:
    ratio = figures["why_median"] / figures["evaluate_median"]
    if figures["facts"] > 63:
        target = f"why within 3x evaluate -> {'met' if ratio <= 3 else 'NOT met'}"
    else:
        target = f"why median < 1000 ms -> {'met' if figures['why_median'] < 1 else 'NOT met'}"
    return (
        f"why on a {figures['facts']}-fact synthetic policy, {figures['cases']} cases "
        f"({figures['verdicts']}):\n"
        f"  why      median {figures['why_median'] * 1000:8.1f} ms   p90 "
        f"{figures['why_p90'] * 1000:8.1f} ms   max {figures['why_max'] * 1000:8.1f} ms\n"
        f"  evaluate median {figures['evaluate_median'] * 1000:8.1f} ms   (baseline, same run)\n"
        f"  why/evaluate    {ratio:8.1f}x   target: {target}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--shapes", default="either-63,either-183")
    arguments = parser.parse_args()
    for name in arguments.shapes.split(","):
        # why on the largest policies takes seconds a case: a quarter of the cases
        count = arguments.cases if "183" not in name else max(5, arguments.cases // 4)
        print(report(measure(count, name)))
