"""Benchmark: start-up of `policykb evaluate --format json` on one massage
case, against baselines measured in the same run.

    python bench/startup.py [--runs 11] [--scasp SOURCE] [--venv DIR] [--cache MODE]

Baselines: `python -c "import clingo"` (the floor any clingo-based tool
starts from), and with --scasp the s(CASP) peer: SOURCE is a checkout of
SWI-Prolog's sCASP repository (https://github.com/SWI-Prolog/sCASP); the
script builds a saved state of bench/scasp/verdict.pl with it (swipl on
PATH) in bench/results/, which loads the massage policy's decision
(bench/scasp/massage_policy.pl) and the case (bench/scasp/covered_initial.pl)
and asks the two queries a three-valued verdict takes.

Every command runs once per round, the order rotating each round, after one
warm-up run each; each run is a fresh process, timed whole (wall clock around
it, its CPU time from the kernel's rusage of the child). Prints the medians,
and the median of the per-round ratios policykb / baseline (pairing the runs
of a round keeps the ratio meaningful when the machine's speed drifts).
Bytecode caches are allowed (PYTHONDONTWRITEBYTECODE is dropped), as for a
user. Both verdicts are checked to be "covered" before anything is timed.
With --venv, policykb and the clingo import are those of another
environment (DIR/bin/policykb, DIR/bin/python): a normal `pip install .`
there measures what users get, where this repository's environment has the
editable install (whose import hook every Python start-up of it loads, the
clingo import's included).
--cache chooses what `evaluate` finds in its cache folder (a folder of the
benchmark's own, bench/results/cache, emptied first): `warm` (the default)
the policy's stored snapshot, written by the first (unmeasured) run, so
every timed run takes the stored fast path (compile/snapshot.py, no
clingo); `cold` an empty folder before every run, so every run grounds,
compiles and stores the snapshot (what a first run costs); `off` no cache
(POLICYKB_CACHE_DIR=off): the grounded path, storing nothing.
Targets (issue 28): policykb at or below s(CASP)'s wall time; where s(CASP)
is not built, at or below 2.5x the clingo import.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, policykb

CASE = ROOT / "examples" / "covered-initial.json"
SCASP = ROOT / "bench" / "scasp"
RESULTS = ROOT / "bench" / "results"
CACHE = RESULTS / "cache"


@dataclass
class Timed:
    """One command and the wall and CPU seconds of each of its runs."""

    name: str
    command: list[str]
    before: Callable[[], None] = lambda: None
    """Run before each of its runs, untimed."""
    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


CACHE_MODES = ("warm", "cold", "off")
_cache_setting = {"POLICYKB_CACHE_DIR": str(CACHE)}


def environment() -> dict[str, str]:
    kept = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    return {**kept, **_cache_setting}


def empty_cache() -> None:
    shutil.rmtree(CACHE, ignore_errors=True)


def run_once(command: list[str]) -> tuple[float, float, bytes]:
    """Wall and CPU (user + system) seconds of one run, and its output."""
    started = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=environment()
    )
    assert process.stdout is not None
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)}: exit {process.returncode}")
    return wall, usage.ru_utime + usage.ru_stime, output


def build_scasp(source: Path) -> list[str]:
    """The s(CASP) verdict command, its saved state built from `source`."""
    swipl = shutil.which("swipl")
    if swipl is None:
        raise SystemExit("--scasp needs swipl on PATH")
    library = source / "prolog"
    if not (library / "scasp.pl").is_file():
        raise SystemExit(f"{source}: not a checkout of sCASP (no prolog/scasp.pl)")
    RESULTS.mkdir(exist_ok=True)
    state = RESULTS / "scasp-verdict"
    subprocess.run(
        [
            swipl,
            "-O",
            "--no-pce",
            "-p",
            f"library={library}",
            "-o",
            str(state),
            "-c",
            str(SCASP / "verdict.pl"),
        ],
        check=True,
        capture_output=True,
    )
    return [str(state), str(SCASP / "massage_policy.pl"), str(SCASP / "covered_initial.pl")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--scasp", type=Path, help="a checkout of SWI-Prolog/sCASP")
    parser.add_argument("--venv", type=Path, help="time the policykb installed in this venv")
    parser.add_argument("--cache", choices=CACHE_MODES, default="warm")
    options = parser.parse_args()
    if options.cache == "off":
        _cache_setting["POLICYKB_CACHE_DIR"] = "off"
    empty_cache()

    command, python = policykb(), sys.executable
    if options.venv is not None:
        folder = options.venv / "bin"
        command, python = [str(folder / "policykb")], str(folder / "python")
    evaluate = Timed(
        f"policykb evaluate ({options.cache})",
        [*command, "evaluate", str(CASE), "--format", "json"],
        empty_cache if options.cache == "cold" else lambda: None,
    )
    clingo = Timed('python -c "import clingo"', [python, "-c", "import clingo"])
    commands = [evaluate, clingo]
    if options.scasp is not None:
        scasp = Timed("s(CASP) two queries", build_scasp(options.scasp))
        commands.append(scasp)
        verdict = run_once(scasp.command)[2].decode().strip()
        if verdict != "covered":
            raise SystemExit(f"s(CASP) says {verdict!r}, not covered")
    verdict = json.loads(run_once(evaluate.command)[2])["verdict"]
    if verdict != "covered":
        raise SystemExit(f"policykb says {verdict!r}, not covered")
    for timed in commands:  # warm-up: caches, bytecode
        run_once(timed.command)

    for round_number in range(options.runs):
        shift = round_number % len(commands)
        for timed in commands[shift:] + commands[:shift]:
            timed.before()
            wall, cpu, _ = run_once(timed.command)
            timed.wall.append(wall)
            timed.cpu.append(cpu)

    print(f"{options.runs} rounds, each command once per round (order rotating), whole process")
    print(f"{'command':<28} {'wall ms':>9} {'cpu ms':>9}")
    for timed in commands:
        wall = 1000 * statistics.median(timed.wall)
        cpu = 1000 * statistics.median(timed.cpu)
        print(f"{timed.name:<28} {wall:>9.1f} {cpu:>9.1f}")
    for baseline in commands[1:]:
        wall_ratio = statistics.median(
            a / b for a, b in zip(evaluate.wall, baseline.wall, strict=True)
        )
        cpu_ratio = statistics.median(
            a / b for a, b in zip(evaluate.cpu, baseline.cpu, strict=True)
        )
        print(f"policykb / {baseline.name}: wall {wall_ratio:.2f}x, cpu {cpu_ratio:.2f}x")


if __name__ == "__main__":
    main()
