"""Benchmark: the covered-from search against evaluating every day, in one run.

    python bench/covered_from.py [--days 366]

For each case (a denied defibrillator case inside the MI and revascularization
waits; the iron-infusion fixture inside its 28-day wait; NCD 100.1 before the
2009 version), times KnowledgeBase.covered_from over `--days` days against the
baseline that evaluates the case on each of those days in turn until one is
covered (the version in force on each, grounded at each; all of them when
none is), each in a fresh KnowledgeBase so that both
pay for their groundings; checks both give the same day; and times the
search over the whole ten-year horizon. Prints
one line per case and the median ratio baseline / search.
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

from policykb.bridge import KnowledgeBase, Verdict
from policykb.bridge.model.case import Case
from policykb.bridge.model.result import json_value

FIXTURE = ROOT / "tests" / "fixtures" / "kb" / "iron-infusion"
DEFIBRILLATOR = json.loads((ROOT / "examples" / "defibrillator-mi-waiting-period.json").read_text())


def cases() -> list[tuple[str, dict[str, Any]]]:
    icd = DEFIBRILLATOR["facts"]
    revascularized = {
        **icd,
        "last_mi_date": "2024-05-30",
        "prior_revascularization": True,
        "last_revascularization_date": "2024-05-01",
    }
    iron = {
        "date_of_service": "2024-08-31",
        "age": 40,
        "weight": 80.5,
        "ferritin": 200,
        "hemoglobin_drop": 2.5,
        "diagnoses": ["D50.9"],
        "lab_date": "2024-08-31",
        "oral_trial_start": "2024-07-06",
        "prior_infusion": True,
        "last_infusion": "2024-08-20",
    }
    bariatric = {
        "date_of_service": "2008-06-30",
        "bariatric_procedure": "lagb",
        "bmi": 40,
        "other_obesity_comorbidity": False,
        "diagnoses": ["E11.9"],
        "medical_treatment_unsuccessful": True,
        "facility_certified": True,
    }
    return [
        ("icd, MI 39 days before", {"policy": "implantable-defibrillators", "facts": icd}),
        (
            "icd, PCI 1 month before",
            {"policy": "implantable-defibrillators", "facts": revascularized},
        ),
        ("iron, infusion 11 days before", {"policy": "iron-infusion", "facts": iron}),
        (
            "iron, labs 4 months old (no day)",
            {"policy": "iron-infusion", "facts": {**iron, "lab_date": "2024-04-30"}},
        ),
        ("NCD 100.1 in 2008", {"policy": "bariatric-surgery-medicare", "facts": bariatric}),
    ]


def every_day(kb: KnowledgeBase, case: Case, start: date, days: int) -> date | None:
    """The baseline: evaluate the case on each day in turn, up to the first covered."""
    facts = {name: json_value(value) for name, value in case.facts.items()}
    for offset in range(days):
        day = start + timedelta(days=offset)
        document = {"policy": case.policy, "facts": {**facts, "date_of_service": day.isoformat()}}
        if kb.evaluate(kb.case(document)).verdict is Verdict.COVERED:
            return day
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=366, help="days the baseline evaluates")
    days = parser.parse_args().days
    ratios = []
    for name, document in cases():
        kb = KnowledgeBase([FIXTURE])
        case = kb.case(document)
        start = case.facts.get("date_of_service", case.as_of)
        assert isinstance(start, date) and kb.evaluate(case).verdict is Verdict.NOT_COVERED
        began = time.perf_counter()
        found = kb.covered_from(case, until=start + timedelta(days=days - 1))
        searched = time.perf_counter() - began
        kb = KnowledgeBase([FIXTURE])
        began = time.perf_counter()
        expected = every_day(kb, kb.case(document), start, days)
        baseline = time.perf_counter() - began
        assert found is not None and found.day == expected, (name, found, expected)
        kb = KnowledgeBase([FIXTURE])
        case = kb.case(document)
        began = time.perf_counter()
        whole = kb.covered_from(case)
        horizon = time.perf_counter() - began
        assert whole is not None
        ratios.append(baseline / searched)
        print(
            f"{name}: covered from {found.day}; {days} days: search {searched:.2f} s, "
            f"every day {baseline:.2f} s ({baseline / searched:.0f}x); "
            f"ten-year horizon ({whole.until}): {horizon:.2f} s"
        )
    print(f"median ratio every day / search: {statistics.median(ratios):.0f}x")


if __name__ == "__main__":
    main()
