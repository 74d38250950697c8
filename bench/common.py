"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MASSAGE = ROOT / "kb" / "policies" / "massage-therapy"


def policykb(python: str | None = None) -> list[str]:
    """The policykb command installed beside `python` (default: this
    interpreter), or its module when no script is installed."""
    python = python or sys.executable
    script = shutil.which("policykb", path=str(Path(python).parent))
    return [script] if script else [python, "-m", "policykb.cli.main"]


def median_wall(command: list[str], runs: int, limit: float | None = None) -> float:
    """Median wall seconds of running `command` (a fresh process each time).
    A run stopped at `limit` seconds counts as infinity."""
    import statistics
    import subprocess
    import time

    times = []
    for _ in range(runs):
        start = time.perf_counter()
        try:
            subprocess.run(command, capture_output=True, check=False, timeout=limit)
        except subprocess.TimeoutExpired:
            times.append(float("inf"))
            continue
        times.append(time.perf_counter() - start)
    return statistics.median(times)
