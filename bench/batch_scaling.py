"""Benchmark: `policykb batch` as policies grow, against a plain JSON pass.

    python bench/batch_scaling.py [--cases 100000] [--jobs 2] [--memory-cases 1000000]

For each synthetic policy (bench/synthetic.py: two shapes, 63 and 183 facts)
and the bundled bariatric policy: distinct cases with verdict, explanation
and missing facts, each case's facts drawn at random (30%, 5% or none
unknown). The baseline, measured in the same run, is a plain pass that reads
and writes the same JSONL file with orjson, evaluating nothing.

Targets: 63 facts >= 10,000 cases/s and <= 10x the plain pass; 183 facts
>= 3,000 cases/s and <= 15x; the 183-fact rate at least a quarter of the
63-fact rate of the same shape; peak RSS <= 300 MB on --memory-cases cases
of the 63-fact policy.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from batch import plain_pass, run_batch
from synthetic import SHAPES, fact_names, random_case, write_policy


def write_cases(path: Path, policy: str, names: list[str], count: int, seed: int = 11) -> None:
    rng = random.Random(seed)
    with path.open("wb") as out:
        for number in range(count):
            facts = random_case(rng, names, unknown=(0.3, 0.05, 0.0)[number % 3])
            out.write(orjson.dumps({"id": f"c{number}", "policy": policy, "facts": facts}))
            out.write(b"\n")


def bariatric_case(rng: random.Random, declared: list[Any]) -> dict[str, Any]:
    """A bariatric case: age, BMI, diagnosis codes and the booleans, some unknown."""
    from policykb.bridge import FactType

    facts: dict[str, Any] = {}
    codes = ["E11.9", "I10", "G47.33", "E66.01", "K21.9", "M17.11", "Z68.41"]
    for fact in declared:
        name = fact.name
        if rng.random() < 0.2:
            continue
        if fact.type is FactType.BOOL:
            facts[name] = rng.random() < 0.8
        elif fact.type is FactType.INT:
            facts[name] = rng.randint(10, 80)
        elif fact.type is FactType.DECIMAL:
            facts[name] = round(rng.uniform(25, 55), 1)
        elif fact.type is FactType.CODE_LIST:
            facts[name] = rng.sample(codes, rng.randint(0, 3))
        elif fact.type.many or fact.options:
            options = sorted(fact.options)
            facts[name] = rng.choice(options) if not fact.type.many else options[:1]
    return facts


def write_bariatric(path: Path, count: int, seed: int = 12) -> None:
    from policykb.bridge import KnowledgeBase

    declared = list(KnowledgeBase().policy("bariatric-surgery").facts.values())
    rng = random.Random(seed)
    with path.open("wb") as out:
        for number in range(count):
            facts = bariatric_case(rng, declared)
            case = {"id": f"b{number}", "policy": "bariatric-surgery", "facts": facts}
            out.write(orjson.dumps(case) + b"\n")


def measure(source: Path, work: Path, jobs: int, kb: Path | None) -> tuple[float, float, float]:
    plain = plain_pass(source, work / "plain.jsonl")
    elapsed, peak = run_batch(source, work / "out.jsonl", jobs, kb)
    return elapsed, plain, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--memory-cases", type=int, default=1_000_000)
    args = parser.parse_args()
    rates: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        kb = work / "kb"
        print(
            f"batch of {args.cases:,} distinct cases, --jobs {args.jobs} (plain pass = baseline):"
        )
        for name, params in SHAPES.items():
            write_policy(kb / name, **params)
            source = work / f"{name}.jsonl"
            write_cases(source, name, fact_names(**params), args.cases)
            elapsed, plain, _ = measure(source, work, args.jobs, kb)
            rate = args.cases / elapsed
            rates[name] = rate
            size = len(fact_names(**params))
            floor, ceiling = (10_000, 10) if size <= 63 else (3_000, 15)
            print(
                f"  {name:12} {size:4} facts {rate:10,.0f} cases/s (>= {floor:,}: "
                f"{'met' if rate >= floor else 'NOT met'})  {elapsed / plain:5.1f}x plain "
                f"(<= {ceiling}x: {'met' if elapsed <= ceiling * plain else 'NOT met'})"
            )
        for shape in ("either", "nested"):
            ratio = rates[f"{shape}-183"] / rates[f"{shape}-63"]
            print(
                f"  {shape}: 183-fact rate / 63-fact rate = {ratio:4.2f} "
                f"(>= 0.25: {'met' if ratio >= 0.25 else 'NOT met'})"
            )
        source = work / "bariatric.jsonl"
        write_bariatric(source, args.cases)
        elapsed, plain, _ = measure(source, work, args.jobs, None)
        print(
            f"  bariatric-surgery {args.cases / elapsed:10,.0f} cases/s  "
            f"{elapsed / plain:5.1f}x plain"
        )
        if args.memory_cases:
            name = "either-63"
            source = work / "memory.jsonl"
            write_cases(source, name, fact_names(**SHAPES[name]), args.memory_cases, seed=13)
            elapsed, plain, peak = measure(source, work, args.jobs, kb)
            print(
                f"memory: {args.memory_cases:,} cases of {name}: peak RSS {peak:5.0f} MB "
                f"(<= 300 MB: {'met' if peak <= 300 else 'NOT met'}), "
                f"{args.memory_cases / elapsed:,.0f} cases/s, {elapsed / plain:4.1f}x plain"
            )
            (work / "out.jsonl").unlink()


if __name__ == "__main__":
    main()
