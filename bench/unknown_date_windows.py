"""Benchmark: evaluate with the date of service left out, where history
windows move from it, against stating it, in one run.

    python bench/unknown_date_windows.py [--runs 3]

For each case (colorectal-cancer-screening requests of examples/, under the
prior version and under version 8; glp1-step-therapy's closed request and
its step-therapy path; the session-window fixture with a partial history),
times `evaluate` on the case with its date of service stated and with it
left out, each run in a fresh KnowledgeBase whose policy is already loaded
(a first evaluate with another stated day), so that both pay for their own
groundings and neither for loading; and counts the day classes the unknown
date falls into. Prints one line per case (classes, medians, ratio) and the
median ratio.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT

from policykb.bridge import KnowledgeBase

FIXTURE = ROOT / "tests" / "fixtures" / "kb" / "session-window"


def cases() -> list[tuple[str, dict[str, Any], date | None, str]]:
    """(label, case document with its date, as_of for the unknown-date run,
    the date stated in the baseline)."""
    rows = [
        json.loads(line)
        for line in (ROOT / "examples" / "colorectal-requests-2022.jsonl").read_text().splitlines()
    ]
    found: list[tuple[str, dict[str, Any], date | None, str]] = []
    partial = dict(rows[4]["facts"])
    partial["screenings"] = [{"test": "colonoscopy", "date": "2016-05-10", "result": "negative"}]
    partial.pop("age")
    rows = [*rows[:3], {**rows[4], "id": "crc-2022-0004, age unknown, partial", "facts": partial}]
    for row in rows:
        for as_of, day in ((date(2024, 1, 1), "2024-06-15"), (None, "2027-02-15")):
            version = "prior" if as_of else "v8"
            found.append((f"crc {row['id']} {version}", row, as_of, day))
    sys.path.insert(0, str(ROOT))
    from tests.kb.test_glp1_step_therapy import CLOSED, COVERED_BY

    glp1 = {"policy": "glp1-step-therapy", "facts": CLOSED}
    stepped = {"policy": "glp1-step-therapy", "facts": {**CLOSED, **COVERED_BY["step therapy"]}}
    found.append(("glp1 closed", glp1, None, CLOSED["date_of_service"]))
    found.append(("glp1 step therapy", stepped, None, CLOSED["date_of_service"]))
    sessions = {
        "policy": "session-window",
        "facts": {
            "enrolled": True,
            "sessions": [
                {"kind": "therapy", "date": "2024-05-20"},
                {"kind": "review", "date": "2024-09-01"},
            ],
        },
    }
    found.append(("session-window partial", sessions, None, "2024-07-15"))
    return found


def timed(document: dict[str, Any], as_of: date | None, warm: str) -> tuple[float, int, str]:
    """Seconds to evaluate in a fresh KnowledgeBase with the policy's version
    loaded (a first evaluate stating the day `warm`), the day classes (0
    when the date is stated) and the verdict."""
    kb = KnowledgeBase([FIXTURE])
    kb.evaluate(kb.case({**document, "facts": {**document["facts"], "date_of_service": warm}}))
    start = time.perf_counter()
    case = kb.case(document, as_of=as_of)
    evaluation = kb.evaluate(case)
    seconds = time.perf_counter() - start
    classes = 0
    if "date_of_service" not in document["facts"]:
        evaluator = kb.case_evaluator(case)
        known, _ = evaluator.known_facts(case)
        classes = len(evaluator.unknown_date(known, case.histories).classes)
    return seconds, classes, evaluation.verdict.value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    ratios = []
    print(f"{'case':34} {'classes':>7} {'stated s':>9} {'unknown s':>9} {'ratio':>6}  verdicts")
    for label, document, as_of, day in cases():
        stated_doc = {**document, "facts": {**document["facts"], "date_of_service": day}}
        unknown_facts = {k: v for k, v in document["facts"].items() if k != "date_of_service"}
        unknown_doc = {**document, "facts": unknown_facts}
        warm = (date.fromisoformat(day) - timedelta(days=40)).isoformat()
        stated = [timed(stated_doc, None, warm) for _ in range(runs)]
        unknown = [timed(unknown_doc, as_of, warm) for _ in range(runs)]
        a = statistics.median(s for s, _, _ in stated)
        b = statistics.median(s for s, _, _ in unknown)
        ratios.append(b / a)
        print(
            f"{label:34} {unknown[0][1]:>7} {a:>9.2f} {b:>9.2f} {b / a:>6.1f}  "
            f"{stated[0][2]} / {unknown[0][2]}"
        )
    print(f"median ratio unknown / stated: {statistics.median(ratios):.1f}")


if __name__ == "__main__":
    main()
