"""Benchmark: cases with histories (issue 29, "Performance"), against a plain
pass over the same file in one run.

    python bench/histories.py [--cases 5000] [--records 20] [--jobs 2] [--why 40]

The screening-history fixture (tests/fixtures/kb) has two histories,
screenings and visits. Each case is distinct: a date of service, high_risk
(sometimes unknown), and both histories with `--records` records each, each
history complete or partial at random. Dates of service spread over `--days`
days (default 30, a month of requests): each distinct day is grounded once,
with or without histories, so a spread of years measures grounding, not
histories.

1. Batch throughput: `policykb batch -j JOBS` on the cases, against the plain
   pass: the same cases with the history columns removed, batched the same
   way (so both pay start-up, reading, grounding and writing; the ratio is
   the histories' own cost). Also the pure read: orjson reading and writing
   the file, evaluating nothing. Targets: >= 5,000 cases/s on 2 cores, or
   within 10x the plain pass.
2. `why` against `evaluate` on the same cases (the Evaluator in process,
   `--why` cases): medians and their ratio. Target: why within 3x evaluate.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from batch import plain_pass, run_batch
from common import ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "kb"
POLICY = "screening-history"
HISTORIES = ("screenings", "visits")


def _day(rng: random.Random, first: date, last: date) -> str:
    return (first + timedelta(days=rng.randrange((last - first).days + 1))).isoformat()


FIRST_SERVICE = date(2024, 3, 1)


def random_case(rng: random.Random, number: int, records: int, days: int) -> dict[str, object]:
    """One case with both histories of `records` records, dated around its
    date of service (so that the windows' edges are crossed), a day of the
    `days` days from FIRST_SERVICE."""
    service = FIRST_SERVICE + timedelta(days=rng.randrange(days))
    screenings = [
        {
            "test": rng.choice(["colonoscopy", "fit", "sigmoidoscopy"]),
            "date": _day(rng, date(2005, 1, 1), service + timedelta(days=30)),
            "result": rng.choice(["negative", "positive"]),
        }
        for _ in range(records)
    ]
    visits = [
        {
            "kind": rng.choice(["physical", "occupational", "speech"]),
            "date": _day(rng, date(2019, 1, 1), service),
            "minutes": rng.randint(10, 90),
        }
        for _ in range(records)
    ]
    facts: dict[str, object] = {"date_of_service": service.isoformat()}
    if rng.random() < 0.8:
        facts["high_risk"] = rng.random() < 0.3
    facts["screenings"] = {"complete": rng.random() < 0.5, "records": screenings}
    facts["visits"] = {"complete": rng.random() < 0.5, "records": visits}
    return {"id": f"h{number}", "policy": POLICY, "facts": facts}


def write_cases(
    path: Path, plain: Path, count: int, records: int, days: int, seed: int = 29
) -> list[dict]:
    """`count` distinct cases to `path`, and the same without histories to `plain`."""
    rng = random.Random(seed)
    seen: set[bytes] = set()
    cases: list[dict] = []
    with path.open("wb") as out, plain.open("wb") as bare:
        while len(cases) < count:
            case = random_case(rng, len(cases), records, days)
            key = orjson.dumps(case["facts"], option=orjson.OPT_SORT_KEYS)
            if key in seen:
                continue
            seen.add(key)
            cases.append(case)
            out.write(orjson.dumps(case) + b"\n")
            facts = {k: v for k, v in case["facts"].items() if k not in HISTORIES}
            bare.write(orjson.dumps(case | {"facts": facts}) + b"\n")
    return cases


def why_and_evaluate(cases: list[dict], count: int) -> dict[str, float]:
    """Median seconds of evaluate and of why on the same `count` cases: the
    first of each on its case (cold: a date of service not seen before pays
    its grounding and, for why, the rules' analysis) and again (warm)."""
    from policykb.bridge import KnowledgeBase

    kb = KnowledgeBase([FIXTURES])
    evaluator = kb.evaluator(POLICY)
    times: dict[str, list[float]] = {
        "evaluate": [],
        "why": [],
        "evaluate_warm": [],
        "why_warm": [],
    }
    for raw in cases[:count]:
        case = kb.case(raw)
        for suffix in ("", "_warm"):
            start = time.perf_counter()
            evaluator.evaluate(case)
            times["evaluate" + suffix].append(time.perf_counter() - start)
            start = time.perf_counter()
            evaluator.why(case)
            times["why" + suffix].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=5_000)
    parser.add_argument("--records", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--why", type=int, default=40)
    parser.add_argument(
        "--days",
        type=int,
        default=30,
        help="dates of service spread over this many days (each day is grounded once)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        source, plain = work / "histories.jsonl", work / "plain.jsonl"
        cases = write_cases(source, plain, args.cases, args.records, args.days)
        read = plain_pass(source, work / "read.jsonl")
        histories_time, peak = run_batch(source, work / "out.jsonl", args.jobs, FIXTURES)
        plain_time, _ = run_batch(plain, work / "plain.out.jsonl", args.jobs, FIXTURES)
        errors = sum(b'"error"' in line for line in (work / "out.jsonl").open("rb"))
        rate = args.cases / histories_time
        ratio = histories_time / plain_time
        print(
            f"1. {args.cases:,} distinct cases, two histories of {args.records} records each, "
            f"dates of service over {args.days} days, --jobs {args.jobs} ({errors} errors):"
        )
        print(
            f"   batch      {histories_time:7.2f} s  {rate:10,.0f} cases/s  peak {peak:5.0f} MB  "
            f"(target >= 5,000: {'met' if rate >= 5_000 else 'NOT met'})"
        )
        print(
            f"   plain pass {plain_time:7.2f} s  {args.cases / plain_time:10,.0f} cases/s  "
            f"ratio {ratio:5.2f}x  (target <= 10x: {'met' if ratio <= 10 else 'NOT met'})"
        )
        print(f"   pure read  {read:7.2f} s  {args.cases / read:10,.0f} cases/s (orjson in/out)")
        medians = why_and_evaluate(cases, args.why)
        print(f"2. why and evaluate on the same {args.why} cases (medians):")
        for label, suffix in (("first on its case", ""), ("again (warm)", "_warm")):
            evaluate, why = medians["evaluate" + suffix], medians["why" + suffix]
            print(
                f"   {label:17} evaluate {evaluate * 1000:7.1f} ms   why {why * 1000:7.1f} ms   "
                f"ratio {why / evaluate:5.2f}x  (target <= 3x: "
                f"{'met' if why <= 3 * evaluate else 'NOT met'})"
            )


if __name__ == "__main__":
    main()
