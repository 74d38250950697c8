"""check on a policy with two reference dates, a list fact, a code set and a
threshold (tests/fixtures/pap-reevaluation), against brute force.

The oracle below is the fixture's rules written again in Python, over the
fixture's small domain: every date is tried on each side of every boundary
that the other dates of the case put on it, so every region of every
placement of the reference dates is reached. A scenario's verdict depends only
on which rule bodies hold (its firing vector), so the findings are computed
over the firing vectors that some scenario reaches.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.bridge.analysis.check import check_policy
from policykb.bridge.analysis.findings import Kind
from policykb.bridge.analysis.placements import placements
from policykb.cli.main import app

FIXTURE = Path(__file__).parents[1] / "fixtures" / "pap-reevaluation"
DAY = date(2024, 6, 15)
runner = CliRunner()

INDICATIONS = ("AHI-15", "AHI-5")
PREREQUISITES = ("DEV", "TEST", "START", "REEVAL")
EXCLUSIONS = ("SURGERY",)
SYMPTOMS = ("sleepiness", "insomnia", "hypertension", "mood_disorder")

Scenario = dict[str, object]
# The rules of version 1, in file order: (criterion, body).
RULES: list[tuple[str, Callable[[Scenario], bool]]] = [
    ("AHI-15", lambda s: s["ahi"] >= 15),  # type: ignore[operator]
    *(
        ("AHI-5", lambda s, x=x: 5 <= s["ahi"] <= 14 and x in s["symptoms"])  # type: ignore[operator]
        for x in ("sleepiness", "insomnia", "hypertension")
    ),
    ("DEV", lambda s: s["device"] == "E0601"),
    ("DEV", lambda s: s["device"] in ("E0470", "E0471", "E0472") and s["ahi"] >= 30),  # type: ignore[operator]
    (
        "TEST",
        lambda s: s["sleep"] < s["start"] and s["sleep"] >= _year_before(s["service"]),  # type: ignore[operator]
    ),
    ("START", lambda s: s["start"] <= s["service"]),  # type: ignore[operator]
    (
        "REEVAL",
        lambda s: (
            s["start"] + timedelta(31) <= s["reeval"] <= s["start"] + timedelta(90)  # type: ignore[operator]
            and s["reeval"] <= s["service"]
        ),  # type: ignore[operator]
    ),
    ("SURGERY", lambda s: bool(s["surgery"])),
]


def _year_before(day: date) -> date:
    return day.replace(year=day.year - 1)


def _around(*days: date) -> set[date]:
    return {d + timedelta(step) for d in days for step in (-1, 0, 1)}


def _dated() -> Iterator[Scenario]:
    """Every date of the case on each side of every boundary, the date of
    service on DAY (check as of DAY)."""
    service = DAY
    low = date(2015, 1, 1)
    starts = _around(service, _year_before(service), low + timedelta(1)) | {low, date(2030, 12, 31)}
    for start in sorted(d for d in starts if low <= d <= date(2030, 12, 31)):
        sleeps = _around(start, _year_before(service)) | {date(2010, 1, 1)}
        reevals = _around(start + timedelta(31), start + timedelta(90), service) | {low}
        for sleep in sleeps:
            for reeval in reevals:
                if low <= reeval <= date(2030, 12, 31):
                    yield {"service": service, "start": start, "sleep": sleep, "reeval": reeval}


def _undated(ahis: tuple[int, ...] = (0, 4, 5, 14, 15, 29, 30, 150)) -> Iterator[Scenario]:
    subsets = itertools.chain.from_iterable(
        itertools.combinations(SYMPTOMS, n) for n in range(len(SYMPTOMS) + 1)
    )
    for ahi, symptoms, device, surgery in itertools.product(
        ahis, list(subsets), ("E0601", "E0470", "A0000"), (False, True)
    ):
        yield {"ahi": ahi, "symptoms": set(symptoms), "device": device, "surgery": surgery}


DATED = range(6, 9)  # the rules on dates: TEST, START, REEVAL


def firing_vectors() -> set[tuple[bool, ...]]:
    """The firing vectors some scenario reaches (dates and the rest are
    independent facts, so the vectors are the products of their parts)."""
    dated = {tuple(RULES[i][1](s) for i in DATED) for s in _dated()}
    undated = {
        tuple(body(s) for i, (_, body) in enumerate(RULES) if i not in DATED) for s in _undated()
    }
    vectors = set()
    for left, right in itertools.product(dated, undated):
        rest = iter(right)
        parts = iter(left)
        vectors.add(tuple(next(parts) if i in DATED else next(rest) for i in range(len(RULES))))
    return vectors


def met(vector: tuple[bool, ...], dropped: int | None = None) -> dict[str, bool]:
    found: dict[str, bool] = {}
    for index, (criterion, _) in enumerate(RULES):
        fires = vector[index] and index != dropped
        found[criterion] = found.get(criterion, False) or fires
    return found


def blockers(met_: dict[str, bool]) -> set[str]:
    return {p for p in PREREQUISITES if not met_[p]} | {e for e in EXCLUSIONS if met_[e]}


def covered(vector: tuple[bool, ...], dropped: int | None = None) -> bool:
    found = met(vector, dropped)
    return any(found[i] for i in INDICATIONS) and not blockers(found)


def oracle_findings() -> set[tuple[str, tuple[str, ...]]]:
    vectors = firing_vectors()
    expected: set[tuple[str, tuple[str, ...]]] = set()
    for vector in vectors:
        found = met(vector)
        for indication in INDICATIONS:
            if found[indication]:
                expected |= {("overlap", (indication, b)) for b in blockers(found)}
        if not any(found[i] for i in INDICATIONS) and not blockers(found):
            expected.add(("gap", ()))
    for index, (criterion, _) in enumerate(RULES):
        if not any(v[index] for v in vectors):
            expected.add(("unreachable", (criterion,)))
        elif all(covered(v) == covered(v, index) for v in vectors):
            expected.add(("redundant", (criterion,)))
    for indication in INDICATIONS:
        held = [v for v in vectors if met(v)[indication]]
        if held and all(blockers(met(v)) for v in held):
            expected.add(("shadowed", (indication,)))
    return expected


@pytest.fixture(scope="module")
def report() -> object:
    return check_policy(KnowledgeBase().evaluator(FIXTURE / "v1"), as_of=DAY)


def test_check_finds_exactly_what_brute_force_finds(report: object) -> None:
    """Nothing false (the old check put both reference dates on one day and
    found REEVAL unreachable), and the planted overlap with SURGERY."""
    found = {(f.kind.value, f.criteria) for f in report.warnings}  # type: ignore[attr-defined]
    expected = oracle_findings()
    assert ("overlap", ("AHI-15", "SURGERY")) in expected
    assert found == expected


def test_every_witness_states_both_reference_dates_and_its_verdict(report: object) -> None:
    knowledge = KnowledgeBase((str(FIXTURE),))
    for finding in report.findings:  # type: ignore[attr-defined]
        if finding.witness is None:
            continue
        assert {"date_of_service", "therapy_start_date"} <= set(finding.witness), finding
        assert finding.witness["date_of_service"] == DAY
        case = {"policy": "v1", "facts": _json_facts(finding.witness)}
        evaluation = knowledge.evaluate(case)
        assert evaluation.verdict is finding.verdict, finding
        if finding.kind is Kind.OVERLAP:
            indication, blocker = finding.criteria
            assert evaluation.criteria[indication].value == "met"
            expected = "met" if blocker in EXCLUSIONS else "not_met"
            assert evaluation.criteria[blocker].value == expected


def _json_facts(witness: dict[str, object]) -> dict[str, object]:
    return {
        f: sorted(v) if isinstance(v, frozenset) else v.isoformat() if isinstance(v, date) else v
        for f, v in witness.items()
    }


def test_a_reference_date_is_used() -> None:
    report = check_policy(KnowledgeBase().evaluator(FIXTURE / "v1"), as_of=DAY)
    assert not [f for f in report.findings if f.kind is Kind.VOCABULARY]


def test_placements_reach_every_order_of_the_two_reference_dates() -> None:
    """One placement per class: the therapy start lands after the date of
    service, and on each side of the day 12 months before it (where TEST can
    first hold)."""
    evaluator = KnowledgeBase().evaluator(FIXTURE / "v1")
    found = placements(evaluator.policy, evaluator.comparisons, list(evaluator.references), DAY)
    service = DAY.toordinal()
    assert all(p["date_of_service"] == service for p in found)
    starts = {p["therapy_start_date"] - service for p in found}
    year = _year_before(DAY).toordinal() - service
    assert any(s > 0 for s in starts)
    assert any(s < year for s in starts) and any(year < s <= 0 for s in starts)


def test_check_through_the_cli_needs_a_day_and_states_it() -> None:
    bare = runner.invoke(app, ["check", "--policy", str(FIXTURE / "v1")])
    assert bare.exit_code == 2 and "--as-of" in bare.stderr
    result = runner.invoke(
        app, ["check", "--policy", str(FIXTURE / "v1"), "--as-of", DAY.isoformat(), "-f", "json"]
    )
    assert result.exit_code == 1, result.stderr
    kinds = {f["kind"] for f in json.loads(result.stdout)["findings"]}
    assert "unreachable" not in kinds and "redundant" not in kinds


# Version 2 moves the AHI threshold from 15 to 14 and ends the range with
# symptoms at 13; the rules on dates, codes and surgery are version 1's.
RULES_V2 = [
    ("AHI-15", lambda s: s["ahi"] >= 14),  # type: ignore[operator]
    *(
        ("AHI-5", lambda s, x=x: 5 <= s["ahi"] <= 13 and x in s["symptoms"])  # type: ignore[operator]
        for x in ("sleepiness", "insomnia", "hypertension")
    ),
    *RULES[4:],
]


def _covered_by(rules: list[tuple[str, Callable[[Scenario], bool]]], scenario: Scenario) -> bool:
    found: dict[str, bool] = {}
    for criterion, body in rules:
        found[criterion] = found.get(criterion, False) or body(scenario)
    return any(found[i] for i in INDICATIONS) and not blockers(found)


NAMES = {
    "service": "date_of_service",
    "start": "therapy_start_date",
    "sleep": "sleep_test_date",
    "reeval": "reevaluation_date",
    "ahi": "ahi",
    "symptoms": "symptoms",
    "device": "device",
    "surgery": "airway_surgery_planned",
}


def test_diff_regions_are_sound_and_complete_against_brute_force() -> None:
    """Every scenario (as of DAY, every date on each side of every boundary)
    whose verdict changes lies in a region stating that change, and every
    scenario in a region changes as it states. Dates and the other facts are
    independent, so scenarios are grouped by what each part decides."""
    from policykb.bridge.analysis.diff import diff_policies
    from policykb.bridge.batch.impact import Region

    knowledge = KnowledgeBase((str(FIXTURE),))
    report = diff_policies(knowledge.evaluator("v1"), knowledge.evaluator("v2"), DAY)
    assert report.changes and not report.capped and report.policy is not None
    facts = report.policy.facts
    dated_names = {"date_of_service", "therapy_start_date", "sleep_test_date", "reevaluation_date"}

    def part(index: int, names: set[str]) -> Region:
        change = report.changes[index]
        return Region(tuple((f, v) for f, v in change.region.items() if f in names))

    def known(scenario: Scenario) -> dict[str, object]:
        return {
            NAMES[k]: frozenset(v) if isinstance(v, set) else v  # type: ignore[arg-type]
            for k, v in scenario.items()
        }

    count = range(len(report.changes))
    undated_names = set(facts) - dated_names
    dated: dict[tuple[object, ...], Scenario] = {}
    for scenario in _dated():
        values = known(scenario)
        key = (
            tuple(RULES[i][1](scenario) for i in DATED),
            frozenset(i for i in count if part(i, dated_names).holds(values, facts)),
        )
        dated.setdefault(key, scenario)
    undated: dict[tuple[object, ...], Scenario] = {}
    for scenario in _undated(ahis=(0, 4, 5, 13, 14, 15, 29, 30, 150)):
        values = known(scenario)
        key = (
            frozenset(i for i in count if part(i, undated_names).holds(values, facts)),
            tuple(scenario.items()).__repr__(),
        )
        undated.setdefault(key, scenario)
    changed = 0
    for (_, in_dated), date_part in dated.items():
        for (in_undated, _), rest in undated.items():
            scenario = {**date_part, **rest}
            before, after = _covered_by(RULES, scenario), _covered_by(RULES_V2, scenario)
            regions = in_dated & in_undated
            for index in regions:
                change = report.changes[index]
                assert (change.old.value == "covered", change.new.value == "covered") == (
                    before,
                    after,
                ), (change.summary, scenario)
            if before != after:
                changed += 1
                assert regions, scenario
    assert changed


def test_impact_counts_both_versions_and_says_why_there_are_no_regions(tmp_path: Path) -> None:
    """The transitions equal case-by-case evaluation of both versions."""
    knowledge = KnowledgeBase((str(FIXTURE),))
    history = tmp_path / "history.jsonl"
    cases = []
    for number, (ahi, symptoms, start) in enumerate(
        itertools.product((13, 14, 15), ([], ["mood_disorder"], ["sleepiness"]), (-100, -400))
    ):
        begun = DAY + timedelta(start)
        facts = {
            "date_of_service": DAY.isoformat(),
            "therapy_start_date": begun.isoformat(),
            "sleep_test_date": (begun - timedelta(1)).isoformat(),
            "reevaluation_date": (begun + timedelta(40)).isoformat(),
            "ahi": ahi,
            "symptoms": symptoms,
            "device": "E0601",
            "airway_surgery_planned": False,
        }
        cases.append({"id": f"c{number}", "facts": facts})
    history.write_text("".join(json.dumps(c) + "\n" for c in cases))
    expected: dict[tuple[str, str], int] = {}
    for case in cases:
        pair = tuple(
            knowledge.evaluate({"policy": name, "facts": case["facts"]}).verdict.value
            for name in ("v1", "v2")
        )
        expected[pair] = expected.get(pair, 0) + 1  # type: ignore[index]
    result = runner.invoke(
        app,
        [
            "impact",
            "v1",
            "v2",
            str(history),
            "--kb",
            str(FIXTURE),
            "-f",
            "json",
            "--as-of",
            DAY.isoformat(),
        ],
    )
    assert result.exit_code in (0, 1), result.stderr
    report = json.loads(result.stdout)
    found = {(a, b): n for a, row in report["transitions"].items() for b, n in row.items() if n}
    assert found == expected
    assert ("not_covered", "covered") in expected  # AHI 14 with no listed symptom
    regions = report["regions"]
    assert regions and report["regions_note"] is None
    # Each changed case lies in a region stating its change, and no case in
    # a region is decided otherwise.
    assert sum(r["cases"] for r in regions) >= report["changed"] > 0
    assert all(r["not_as_stated"] == 0 for r in regions)


def test_impact_places_each_case_by_its_own_date_of_service(tmp_path: Path) -> None:
    """Issue 27, item 3: with regions relative to the date of service, a case
    lies in a region by its own dates, whatever its day: every case that
    changes lies in a region stating its change, and no case in a region is
    decided otherwise."""
    import io
    import shutil

    from policykb.bridge.batch.impact import ImpactSettings, run_impact
    from policykb.bridge.model.formats import InputFormat

    kb = Path(__file__).parents[1] / "fixtures" / "kb"
    revised = tmp_path / "rehab-visits"
    shutil.copytree(kb / "rehab-visits", revised)
    criteria = revised / "criteria.lp"
    criteria.write_text(criteria.read_text().replace("months(-6)", "months(-3)"))
    cases = []
    for number, (service, evaluated_before, surgery_before) in enumerate(
        itertools.product(
            (date(2021, 6, 30), date(2022, 3, 1), date(2024, 6, 15), date(2026, 11, 20)),
            (10, 80, 100, 200),
            (30, 100),
        )
    ):
        facts = {
            "date_of_service": service.isoformat(),
            "evaluation_date": (service - timedelta(evaluated_before)).isoformat(),
            "surgery_date": (service - timedelta(surgery_before)).isoformat(),
            "referral_date": (service - timedelta(5)).isoformat(),
            "home_program": False,
        }
        cases.append({"id": f"c{number}", "facts": facts})
    settings = ImpactSettings(
        old="rehab-visits",
        new=str(revised),
        kb_dirs=(str(kb),),
        as_of=DAY,
        records=True,
    )
    rows: list[tuple[object, ...]] = []
    history = "".join(json.dumps(c) + "\n" for c in cases).encode()
    report = run_impact(
        io.BytesIO(history), InputFormat.JSONL, settings, on_part=lambda p: rows.extend(p.rows)
    )
    result = report.to_dict()
    assert result["regions"] and result["changed"] > 0
    changes = [(r["old"], r["new"]) for r in result["regions"]]
    for case_id, old, new, changed, _, regions, error in rows:
        assert error is None
        for number in regions:  # type: ignore[union-attr]
            assert changes[number - 1] == (old, new), case_id
        assert bool(regions) == changed, case_id
    assert all(r["not_as_stated"] == 0 for r in result["regions"])
    # Cases on four days, 2021-06-30 before the policy's first day among them.
    assert {r[1] for r in rows} >= {"covered", "not_covered"}


def test_overlap_messages_say_how_the_blocker_blocks() -> None:
    # Its own report, not the module's: the mutation harness runs the tests
    # that cover a line, and a module fixture's lines count for its first user.
    report = check_policy(KnowledgeBase().evaluator(FIXTURE / "v1"), as_of=DAY)
    messages = {f.criteria: f.message for f in report.warnings}
    assert "SURGERY holds" in messages[("AHI-15", "SURGERY")]
    assert "DEV is not met" in messages[("AHI-15", "DEV")]


def test_a_range_no_comparison_speaks_to_is_found_without_reference_dates() -> None:
    """sleep-apnea compares AHI from 5 through 14 and at 15 or more: 14 < AHI < 15
    is a gap; the pap fixture's dates, compared with reference dates, have none."""
    fixture = Path(__file__).parents[1] / "fixtures" / "kb" / "sleep-apnea"
    gaps = [
        f
        for f in check_policy(KnowledgeBase().evaluator(fixture)).findings
        if f.kind is Kind.RANGE_GAP
    ]
    assert len(gaps) == 1 and gaps[0].message.startswith("ahi ")
    pap = check_policy(KnowledgeBase().evaluator(FIXTURE / "v1"), as_of=DAY)
    assert not [f for f in pap.findings if f.kind is Kind.RANGE_GAP]
