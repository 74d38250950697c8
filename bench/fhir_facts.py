"""Benchmark: reading a policy's facts from one large CDS Hooks request.

    python bench/fhir_facts.py [--sizes 50x1000 500x1000 2000x4000] [--runs 3]

A bariatric order-sign request with N draft orders and a record of M BMI
Observations (plus a pregnancy status and a diabetes Condition) is checked
(crd_request.HookRequest) and every order routed (Decisions.route: the policy, and
the facts its fhir.yaml reads from the record). Nothing is decided: this
measures the FHIR side only. Prints the median seconds per request.

Issue 26 measured 500 x 1,000 at 11.2 s for a whole request through the
server. Before the record was indexed once per request (every order re-read
every Observation) the facts alone took 4.5 s (50 x 1,000) and 20.6-46.7 s
(500 x 1,000) on the shared two-core machine; after, 0.12 s, 0.18-0.19 s,
and 0.73-0.96 s for 2,000 x 4,000 (load average 12-14).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from policykb.bridge import KnowledgeBase
from policykb.service.crd_request import HookRequest
from policykb.service.decisions import Decisions
from tests.fhir_records import Record

ORDER_DAY = date(2026, 6, 1)


def request(orders: int, observations: int) -> dict[str, Any]:
    """An order-sign request of `orders` bariatric orders and a record of
    `observations` BMIs at distinct instants."""
    bmis = [
        (
            f"20{10 + i % 16}-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:00Z",
            30.0 + i % 20,
        )
        for i in range(observations)
    ]
    record = Record(bmis=bmis, pregnant=False, diagnoses=["E11.9"])
    return record.hook(orders=[record.order() | {"id": f"order-{i}"} for i in range(orders)])


def seconds_to_read(decisions: Decisions, body: dict[str, Any], runs: int) -> float:
    """Median seconds to check the request and read every order's facts."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        hook = HookRequest(body, "order-sign")
        for order in hook.orders:
            decisions.route(order.get("code"), hook.resources(order), ORDER_DAY)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=["50x1000", "500x1000", "2000x4000"])
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    decisions = Decisions(KnowledgeBase(), None, compile_now=False)
    for size in arguments.sizes:
        orders, observations = (int(part) for part in size.split("x"))
        seconds = seconds_to_read(decisions, request(orders, observations), arguments.runs)
        print(f"{orders:>5} orders x {observations:>5} observations: {seconds:.3f} s")


if __name__ == "__main__":
    main()
