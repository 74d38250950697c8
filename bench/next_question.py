"""Benchmark: DTR `$next-question` (service/dtr_adaptive.py), the latency a
clinician waits for between answers.

    python bench/next_question.py [--policies colorectal-cancer-screening ...] [--runs 20]

For each policy, a walk from an empty QuestionnaireResponse: each call's
asked questions are answered from one drawn complete case (a history with
two records), until nothing new is asked. The first call of a walk (the
bridge grounds the policy's twin program on first use) and the later calls
are reported apart, as DTR's timing expectation does (spec-38: a first call
within 5 s, later calls within 1 s, 90% of the time). Calls go through the
ASGI app in process (no network). Prints the median and 90th percentile in
seconds.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fastapi.testclient import TestClient

from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests.service.test_dtr_adaptive import asked, form_items, start, truth_of

POLICIES = ("bariatric-surgery", "colorectal-cancer-screening", "glp1-step-therapy")


def walk(client: TestClient, name: str, draw: random.Random) -> list[float]:
    decisions = client.app.state.decisions  # type: ignore[attr-defined]
    policy = decisions.knowledge.policy(name)
    truth = truth_of(policy, draw)
    response: dict[str, Any] = start(client, name)
    given: dict[str, object] = {}
    times: list[float] = []
    for _ in range(len(policy.facts) + 1):
        began = time.perf_counter()
        answer = client.post(
            "/fhir/Questionnaire/$next-question",
            json={
                "resourceType": "Parameters",
                "parameter": [{"name": "questionnaire-response", "resource": response}],
            },
        )
        times.append(time.perf_counter() - began)
        if answer.status_code != 200:
            break  # a drawn case the policy refuses ends the walk
        response = answer.json()["parameter"][0]["resource"]
        form = response["contained"][0]["item"]
        new = (asked(response) | {i["linkId"] for i in form} & set(policy.histories)) - set(given)
        if not new:
            break
        given.update({fact: truth[fact] for fact in new})
        response["item"] = form_items(policy, given)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--policies", nargs="+", default=list(POLICIES))
    parser.add_argument("--runs", type=int, default=20)
    options = parser.parse_args()
    for name in options.policies:
        with TestClient(create_app(ServiceSettings())) as client:
            draw = random.Random(f"bench {name}")
            first: list[float] = []
            later: list[float] = []
            for _ in range(options.runs):
                times = walk(client, name, draw)
                first.append(times[0])
                later += times[1:]
            cold = first[0]
            later.sort()
            p90 = later[int(0.9 * (len(later) - 1))] if later else float("nan")
            print(
                f"{name}: first call cold {cold:.3f} s, later walks' first "
                f"{statistics.median(first[1:] or first):.3f} s; later calls "
                f"median {statistics.median(later) if later else float('nan'):.3f} s, "
                f"p90 {p90:.3f} s over {len(later)} calls"
            )


if __name__ == "__main__":
    main()
