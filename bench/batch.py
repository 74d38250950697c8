"""Benchmark: `policykb batch` and single-case start-up, each against a baseline
measured in the same run.

    python bench/batch.py [--queue 1000000] [--distinct 100000] [--jobs 2]

1. Realistic queue: a few dozen kinds of request with small variations and
   many repeats. policykb batch (verdict, explanation, missing) against a plain
   pass that reads and writes the same JSONL with orjson, evaluating nothing.
   Targets: >= 100k cases/s, <= 3x the plain pass, <= 300 MB peak RSS.
2. All distinct: distinct cases with explanations, against the naive baseline
   of a fresh clingo Control (a newly grounded policy) per case, timed on a
   sample. Targets: >= 10k cases/s and >= 10x the naive rate.
3. Single case: `policykb evaluate` on one case against the bare
   `python -c "import clingo, typer, rich"`. Target: <= 2x.
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from common import ROOT, median_wall, policykb


def _bool_facts() -> list[str]:
    from policykb.bridge import FactType, KnowledgeBase

    facts = KnowledgeBase().policy("massage-therapy").facts.values()
    return [fact.name for fact in facts if fact.type is FactType.BOOL]


BOOLS = _bool_facts()


def random_facts(rng: random.Random) -> dict[str, object]:
    facts: dict[str, object] = {}
    for name in BOOLS:
        roll = rng.random()
        if roll < 0.25:
            continue
        facts[name] = roll < 0.7
    if rng.random() < 0.5:
        facts["review_type"] = rng.choice(["initial", "continuation"])
    if rng.random() < 0.5:
        facts["cpt_code"] = rng.choice(["97124", "97140", "97110"])
    return facts


def write_queue(path: Path, count: int, kinds: int = 40, seed: int = 1) -> None:
    """`kinds` templates, each with a few variations, repeated to `count` cases."""
    rng = random.Random(seed)
    templates = []
    for _ in range(kinds):
        base = random_facts(rng)
        for _ in range(3):  # small variations of each kind
            variant = dict(base)
            name = rng.choice(BOOLS)
            variant[name] = not variant.get(name, False)
            templates.append(variant)
    with path.open("wb") as out:
        for number in range(count):
            case = {"id": f"q{number}", "facts": templates[rng.randrange(len(templates))]}
            out.write(orjson.dumps(case) + b"\n")


def write_distinct(path: Path, count: int, seed: int = 2) -> list[dict[str, object]]:
    rng = random.Random(seed)
    seen: set[bytes] = set()
    cases = []
    with path.open("wb") as out:
        while len(cases) < count:
            facts = random_facts(rng)
            key = orjson.dumps(facts, option=orjson.OPT_SORT_KEYS)
            if key in seen:
                continue
            seen.add(key)
            case = {"id": f"d{len(cases)}", "facts": facts}
            cases.append(case)
            out.write(orjson.dumps(case) + b"\n")
    return cases


def plain_pass(source: Path, target: Path) -> float:
    start = time.perf_counter()
    with source.open("rb") as lines, target.open("wb") as out:
        for line in lines:
            out.write(orjson.dumps(orjson.loads(line)) + b"\n")
    return time.perf_counter() - start


MEASURE = (
    "import resource, subprocess, sys;"
    "subprocess.run(sys.argv[1:], check=True, stderr=subprocess.DEVNULL);"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def run_batch(source: Path, target: Path, jobs: int, kb: Path | None = None) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of a batch run: the largest of the batch
    process and its workers, measured by a fresh parent that runs only it."""
    command = [*policykb(), "batch", str(source), "-o", str(target), "-j", str(jobs)]
    if kb is not None:
        command += ["--kb", str(kb)]
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", MEASURE, *command], check=True, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    return elapsed, int(done.stdout.split()[-1]) / 1024


def naive_rate(cases: list[dict[str, object]], sample: int) -> float:
    """Cases per second with a freshly grounded policy (new clingo Control) per case."""
    from policykb.bridge import KnowledgeBase
    from policykb.bridge.loading.files import policy_source
    from policykb.bridge.solving.evaluator import Evaluator

    source = policy_source("massage-therapy")
    kb = KnowledgeBase()
    start = time.perf_counter()
    for case in cases[:sample]:
        Evaluator(source).evaluate(kb.case(case))
    return sample / (time.perf_counter() - start)


def startup(runs: int) -> tuple[float, float]:
    """Median wall seconds of `policykb evaluate` on one case and of the bare
    imports, run in turns (so both see the machine alike). The package's
    modules are compiled to bytecode first, as installing it does and as the
    bare imports' packages are, whatever PYTHONDONTWRITEBYTECODE says."""
    import compileall
    import statistics

    for part in ("bridge", "cli", "explain", "kb", "service"):
        compileall.compile_dir(ROOT / part, quiet=1)
    example = str(ROOT / "examples/denied-no-order.json")
    bare: list[float] = []
    single: list[float] = []
    for _ in range(runs):
        bare.append(median_wall([sys.executable, "-c", "import clingo, typer, rich"], 1))
        single.append(median_wall([*policykb(), "evaluate", example], 1))
    return statistics.median(single), statistics.median(bare)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queue", type=int, default=1_000_000)
    parser.add_argument("--distinct", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--naive-sample", type=int, default=300)
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        queue, distinct = work / "queue.jsonl", work / "distinct.jsonl"
        write_queue(queue, args.queue)
        cases = write_distinct(distinct, args.distinct)

        plain = plain_pass(queue, work / "plain.jsonl")
        batch_time, peak = run_batch(queue, work / "queue.out.jsonl", args.jobs)
        rate = args.queue / batch_time
        print(f"1. realistic queue, {args.queue:,} cases, --jobs {args.jobs}:")
        print(
            f"   batch      {batch_time:7.2f} s  {rate:12,.0f} cases/s  "
            f"(target >= 100,000: {'met' if rate >= 100_000 else 'NOT met'})"
        )
        print(
            f"   plain pass {plain:7.2f} s  ratio {batch_time / plain:5.2f}x  "
            f"(target <= 3x: {'met' if batch_time <= 3 * plain else 'NOT met'})"
        )
        print(
            f"   peak RSS   {peak:7.0f} MB  (target <= 300 MB: "
            f"{'met' if peak <= 300 else 'NOT met'})"
        )

        distinct_time, _ = run_batch(distinct, work / "distinct.out.jsonl", args.jobs)
        distinct_rate = args.distinct / distinct_time
        naive = naive_rate(cases, args.naive_sample)
        print(f"2. all distinct, {args.distinct:,} cases with explanations:")
        print(
            f"   batch      {distinct_time:7.2f} s  {distinct_rate:12,.0f} cases/s  "
            f"(target >= 10,000: {'met' if distinct_rate >= 10_000 else 'NOT met'})"
        )
        print(
            f"   naive      {naive:12,.0f} cases/s (fresh Control per case, "
            f"{args.naive_sample} cases)  speed-up {distinct_rate / naive:6.1f}x  "
            f"(target >= 10x: {'met' if distinct_rate >= 10 * naive else 'NOT met'})"
        )

        single, bare = startup(args.runs)
        print(f"3. single case, median of {args.runs}:")
        print(
            f"   policykb evaluate {single * 1000:6.0f} ms; bare imports {bare * 1000:6.0f} ms; "
            f"ratio {single / bare:4.2f}x  (target <= 2x: "
            f"{'met' if single <= 2 * bare else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
