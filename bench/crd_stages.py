"""Where a CRD order-sign request's CPU goes inside the service, by stage,
without HTTP: reading and checking the call (strict JSON, the CDS Hooks and
Bundle envelopes), routing and reading the policy's facts from the record
(FHIRPath), deciding (case checks, the compiled policy, the audit entry,
written but not fsync'd), and the rest of the answer (coverage information,
cards, orjson). The same distinct bariatric records as bench/serve.py.

    python bench/crd_stages.py [--requests 400] [--runs 7] [--policy NAME ...]

Reported: the median over runs of each stage's CPU per request (process
time, one thread), and their sum. Comparing two checkouts on a shared
machine: run both in turn, more than once, and compare the medians.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import orjson

from bench.serve import bodies
from policykb.bridge import KnowledgeBase
from policykb.service import crd, crd_request
from policykb.service.audit import AuditLog
from policykb.service.decisions import Decisions
from policykb.service.deps import strict_json
from policykb.service.request_budget import Budget

STAGES = ("read", "route and facts", "decide and audit", "answer")


def timed(spent: dict[str, float], stage: str, work: Callable[..., Any]) -> Callable[..., Any]:
    def measured(*args: Any, **options: Any) -> Any:
        start = time.process_time()
        try:
            return work(*args, **options)
        finally:
            spent[stage] += time.process_time() - start

    return measured


def one_run(decisions: Decisions, payloads: list[bytes], count: int, seed: int) -> dict[str, float]:
    """CPU seconds per request of each stage, over `count` requests."""
    spent = dict.fromkeys(STAGES, 0.0)
    route, decide = decisions.route, decisions.decide
    decisions.route = timed(spent, "route and facts", route)  # type: ignore[method-assign]
    decisions.decide = timed(spent, "decide and audit", decide)  # type: ignore[method-assign]
    rng = random.Random(seed)
    budget = Budget(100, 10_000)
    try:
        for _ in range(count):
            body = rng.choice(payloads)
            start = time.process_time()
            call = crd_request.HookRequest(strict_json(body), "order-sign", budget)
            call.histories_read(decisions.history_types)
            spent["read"] += time.process_time() - start
            start = time.process_time()
            orjson.dumps(crd.decide(call, decisions, "http://localhost", [], None))
            spent["answer"] += time.process_time() - start
    finally:
        decisions.route, decisions.decide = route, decide  # type: ignore[method-assign]
    spent["answer"] -= spent["route and facts"] + spent["decide and audit"]
    return {stage: seconds / count for stage, seconds in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--policy", action="append", default=[], help="Serve only these.")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        audit = AuditLog(Path(folder) / "audit.jsonl", sync=False)
        decisions = Decisions(KnowledgeBase(()), audit, served=tuple(args.policy))
        payloads = bodies(2000)
        one_run(decisions, payloads, args.requests, seed=-1)  # warm up
        runs = [one_run(decisions, payloads, args.requests, seed) for seed in range(args.runs)]
    served = ", ".join(args.policy) or f"every bundled policy ({len(decisions.names)})"
    print(f"CRD order-sign in-process, serving {served}: CPU per request, median of runs")
    for stage in STAGES:
        print(f"  {stage:<17} {1000 * statistics.median(r[stage] for r in runs):.3f} ms")
    total = statistics.median(sum(r.values()) for r in runs)
    print(f"  {'total':<17} {1000 * total:.3f} ms")


if __name__ == "__main__":
    main()
