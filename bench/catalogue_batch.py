"""Benchmark: `policykb batch` on each policy of the catalogue.

    python bench/catalogue_batch.py [--cases 20000] [--runs 3] [--jobs 1] [--days 5]
                                    [--records 5] [--kb DIR ...] [--policy NAME ...]

For every policy the knowledge base holds (bundled, and those of --kb: a
policy added later is measured with no change here), a JSONL file of random
cases is written from the policy's own vocabulary: each fact unknown one time
in four, else a value of its type (a boolean, an option, a subset of a
list's options, a number or code in one of the regions the policy's
comparisons divide its values into, a date around the date of service). Every
case states its date of service (in force under the policy's latest version)
and the policy's reference dates, each drawn from `--days` days (default 5: a
few days' queue). A history is left unknown one time in four, else 0 to
`--records` records (default 5) with every field drawn over its type, stated
as complete one time in two. A policy that compares dates
with a reference date is grounded once per distinct day of it, so the number
of distinct reference days, not of cases, sets that cost: a queue of cases
with hundreds of reference days is far slower (a figure of its own).

`policykb batch FILE -o OUT -j JOBS` runs `--runs` times on each file, each a
fresh process, so a figure includes start-up and the policy's compilation
(cached on disk after the first run). Reported per policy: cases per second
(the median run's), the runs' spread and the error records of the last run
(a case the policy refuses, such as one outside its bounds, is an error
record, not a failure of the run). The table is Markdown, as the README
carries it.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.common import policykb
from policykb.bridge import KnowledgeBase
from policykb.bridge.model.history import History
from policykb.bridge.model.policy import Fact, FactType
from policykb.bridge.model.result import json_value
from policykb.bridge.model.version import SERVICE_DATE
from policykb.bridge.solving.evaluator import Evaluator

UNKNOWN = 0.25
"""The share of facts a case leaves unknown (references and the date of service never)."""


def service_day(evaluator: Evaluator) -> date:
    """A day the latest version is in force: a year after its effective date."""
    effective = evaluator.policy.version.effective
    return effective + timedelta(days=365) if effective else date(2025, 6, 1)


def random_value(fact: Fact, rng: random.Random, day: date) -> Any:
    """A JSON value of `fact`, drawn over its type (and its regions, when typed)."""
    kind = fact.type
    if kind is FactType.BOOL:
        return rng.random() < 0.5
    if kind is FactType.ENUM:
        return rng.choice(fact.options)
    if kind is FactType.LIST:
        return sorted(o for o in fact.options if rng.random() < 0.3)
    if kind is FactType.STRING:
        return rng.choice([*fact.options, "something else"])
    if kind is FactType.DATE:
        return (day - timedelta(days=rng.randint(-30, 800))).isoformat()
    if kind is FactType.CODE_LIST:
        cells = [r for r in fact.regions if getattr(r, "inside", None) is not None]
        chosen = rng.sample(cells, min(len(cells), rng.randint(0, 2)))
        return sorted({json_value(fact.example(cell)) for cell in chosen})  # type: ignore[misc]
    if fact.regions:
        return json_value(fact.example(rng.choice(fact.regions)))
    low = int(fact.low) if fact.low is not None else 0
    high = int(fact.high) if fact.high is not None else low + 100
    return rng.randint(low, high)


def random_history(history: History, rng: random.Random, day: date, records: int) -> Any:
    """A history as a case states it: a bare list (at least these records) or
    `{"complete": true, "records": [...]}`, each record's fields drawn over
    their types."""
    drawn = [
        {name: random_value(field, rng, day) for name, field in history.fields.items()}
        for _ in range(rng.randint(0, records))
    ]
    return {"complete": True, "records": drawn} if rng.random() < 0.5 else drawn


def write_cases(
    path: Path, evaluator: Evaluator, count: int, seed: int, days: int, records: int = 5
) -> None:
    rng = random.Random(seed)
    policy = evaluator.policy
    day = service_day(evaluator)
    required = set(evaluator.references)
    pools = {
        name: [random_value(policy.facts[name], rng, day) for _ in range(days)]
        for name in required
        if name in policy.facts
    }
    with path.open("wb") as out:
        for number in range(count):
            facts: dict[str, Any] = {SERVICE_DATE: day.isoformat()}
            for fact in policy.facts.values():
                if fact.name == SERVICE_DATE or policy.history_of(fact.name):
                    continue
                if fact.name in pools:
                    facts[fact.name] = rng.choice(pools[fact.name])
                elif rng.random() >= UNKNOWN:
                    facts[fact.name] = random_value(fact, rng, day)
            for history in policy.histories.values():
                if rng.random() >= UNKNOWN:
                    facts[history.name] = random_history(history, rng, day, records)
            case = {"id": f"{policy.name}-{number}", "policy": policy.name, "facts": facts}
            out.write(orjson.dumps(case) + b"\n")


def run_batch(source: Path, target: Path, jobs: int, kb: list[str]) -> float:
    command = [*policykb(), "batch", str(source), "-o", str(target), "-j", str(jobs)]
    for folder in kb:
        command += ["--kb", folder]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):  # 1: some record is an error record
        raise SystemExit(f"batch failed ({done.returncode}): {done.stderr.decode()[-400:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--days", type=int, default=5)
    parser.add_argument("--records", type=int, default=5)
    parser.add_argument("--kb", action="append", default=[])
    parser.add_argument("--policy", action="append", default=[], help="only these (repeatable)")
    args = parser.parse_args()
    knowledge = KnowledgeBase(args.kb)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for index, name in enumerate(knowledge.policy_names()):
            if args.policy and name not in args.policy:
                continue
            evaluator = knowledge.evaluator(name, service_day(knowledge.versions(name)[-1]))
            source, target = Path(folder) / f"{name}.jsonl", Path(folder) / f"{name}.out"
            write_cases(source, evaluator, args.cases, index, args.days, args.records)
            walls = sorted(run_batch(source, target, args.jobs, args.kb) for _ in range(args.runs))
            errors = sum(1 for line in target.open("rb") if b'"error"' in line)
            rates = [args.cases / wall for wall in walls]
            rows.append(
                (
                    name,
                    evaluator.policy.payer or "-",
                    len(knowledge.versions(name)),
                    len(evaluator.policy.facts)
                    - sum(len(h.fact_names) for h in evaluator.policy.histories.values())
                    + len(evaluator.policy.histories),
                    statistics.median(rates),
                    min(rates),
                    max(rates),
                    errors,
                )
            )
    print(
        f"policykb batch, {args.cases:,} random cases per policy ({args.days} reference "
        f"days), -j {args.jobs}, "
        f"median of {args.runs} runs (each a fresh process: start-up included)"
    )
    print()
    print("| policy | payer | versions | facts | cases/s (median) | runs' range | error records |")
    print("|---|---|---|---|---|---|---|")
    for name, payer, versions, facts, median, low, high, errors in rows:
        print(
            f"| `{name}` | {payer} | {versions} | {facts} | {median:,.0f} | "
            f"{low:,.0f}-{high:,.0f} | {errors:,} |"
        )


if __name__ == "__main__":
    main()
