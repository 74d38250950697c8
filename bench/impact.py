"""Benchmark: `policykb impact`, Parquet and Dask, each against a baseline
measured in the same run on the same cases.

    python bench/impact.py [--cases 1000000] [--jobs 2] [--runs 3]

The cases are bench/batch.py's realistic massage queue (a few dozen kinds of
request with small variations, many repeats), written as JSONL and as
Parquet (one column per fact, row groups of 64k rows).

1. impact massage-therapy against the example revision
   (examples/revision/massage-therapy) over the queue, against one `batch`
   of the same file. Target: <= 2.5x.
2. Parquet in and out (`batch cases.parquet -o out.parquet`) against the
   JSONL path (`batch cases.jsonl -o out.jsonl`). Target: <= 1.5x; peak RSS
   shows that Parquet is streamed.
3. The Dask path: `batch --dask local[2]` against `--jobs 2` on the Parquet
   file (a LocalCluster started by the run itself, its start-up included).
   No target: its overhead is reported.

Each figure is the median wall time of --runs fresh processes.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import orjson
from batch import MEASURE, write_queue
from common import ROOT, policykb

REVISION = ROOT / "examples" / "revision" / "massage-therapy"


def write_parquet(source: Path, target: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [orjson.loads(line) for line in source.read_bytes().splitlines()]
    names = sorted({name for row in rows for name in row["facts"]})
    columns: dict[str, list[object]] = {"id": [row["id"] for row in rows]}
    for name in names:
        columns[name] = [row["facts"].get(name) for row in rows]
    pq.write_table(pa.table(columns), target, row_group_size=65_536)


def timed(command: list[str], runs: int) -> tuple[float, float]:
    """Median wall seconds and the largest peak RSS (MB) of `runs` fresh runs
    (the command and its worker processes, measured by a fresh parent)."""
    times, peaks = [], []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", MEASURE, *command], check=True, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        peaks.append(int(done.stdout.split()[-1]) / 1024)
    return statistics.median(times), max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    run = policykb()
    jobs = ["-j", str(args.jobs)]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        jsonl, parquet = work / "cases.jsonl", work / "cases.parquet"
        write_queue(jsonl, args.cases)
        write_parquet(jsonl, parquet)
        print(f"{args.cases:,} realistic massage cases, --jobs {args.jobs}, median of {args.runs}:")

        batch, _ = timed(
            [*run, "batch", str(jsonl), "-o", str(work / "out.jsonl"), *jobs], args.runs
        )
        impact, impact_peak = timed(
            [
                *run,
                "impact",
                "massage-therapy",
                str(REVISION),
                str(jsonl),
                "-o",
                str(work / "impact.json"),
                *jobs,
            ],
            args.runs,
        )
        ratio = impact / batch
        print("1. impact against one batch of the same file:")
        print(f"   batch  {batch:7.2f} s  {args.cases / batch:10,.0f} cases/s")
        print(
            f"   impact {impact:7.2f} s  {args.cases / impact:10,.0f} cases/s  "
            f"ratio {ratio:4.2f}x  (target <= 2.5x: {'met' if ratio <= 2.5 else 'NOT met'}); "
            f"peak RSS {impact_peak:.0f} MB"
        )

        jsonl_path, jsonl_peak = timed(
            [*run, "batch", str(jsonl), "-o", str(work / "out2.jsonl"), *jobs], args.runs
        )
        parquet_path, parquet_peak = timed(
            [*run, "batch", str(parquet), "-o", str(work / "out.parquet"), *jobs], args.runs
        )
        ratio = parquet_path / jsonl_path
        print("2. Parquet in and out against JSONL in and out:")
        print(f"   JSONL   {jsonl_path:7.2f} s  peak RSS {jsonl_peak:5.0f} MB")
        print(
            f"   Parquet {parquet_path:7.2f} s  peak RSS {parquet_peak:5.0f} MB  "
            f"ratio {ratio:4.2f}x  (target <= 1.5x: {'met' if ratio <= 1.5 else 'NOT met'})"
        )

        dask, dask_peak = timed(
            [*run, "batch", str(parquet), "-o", str(work / "dask.parquet"), "--dask", "local[2]"],
            args.runs,
        )
        print("3. Dask LocalCluster with 2 workers against --jobs 2 (Parquet in and out):")
        print(
            f"   --dask local[2] {dask:7.2f} s  ratio {dask / parquet_path:4.2f}x of --jobs 2 "
            f"({dask - parquet_path:+.2f} s; cluster start-up included); "
            f"peak RSS {dask_peak:.0f} MB"
        )


if __name__ == "__main__":
    main()
