"""`policykb impact`, Parquet in and out, the Arrow function and the Dask
path: each against a reference computed case by case with KnowledgeBase."""

from __future__ import annotations

import io
import json
import random
import re
import shutil
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.bridge.batch.arrow import evaluate_batches
from policykb.bridge.batch.impact import VERDICTS, ImpactSettings, run_impact
from policykb.bridge.loading.files import bundled_kb
from policykb.bridge.model.formats import InputFormat
from policykb.bridge.model.result import Verdict, value_words
from policykb.cli.main import app

REPO = Path(__file__).resolve().parents[2]
REVISION = str(REPO / "examples" / "revision" / "massage-therapy")
runner = CliRunner()

MASSAGE_BOOLS = [
    name
    for name, fact in KnowledgeBase().policy("massage-therapy").facts.items()
    if fact.type.value == "bool"
]


def massage_cases(count: int, seed: int, known: float = 0.85) -> list[dict[str, Any]]:
    """Random massage cases, most facts known (so that many are decided)."""
    rng = random.Random(seed)
    cases = []
    for number in range(count):
        facts: dict[str, Any] = {
            n: rng.random() < 0.5 for n in MASSAGE_BOOLS if rng.random() < known
        }
        # Lean towards the non-Medicare indications the revision changes.
        if rng.random() < 0.7:
            facts.update(medicare_member=False, benefit_in_contract=True, health_plan_referral=True)
            for name in ("for_prevention", "for_recreation", "for_stress_reduction"):
                facts[name] = False
        if rng.random() < known:
            facts["review_type"] = rng.choice(["initial", "continuation"])
        cases.append({"id": f"c{number}", "facts": facts})
    return cases


BARIATRIC_CODES = ["E11.65", "E08.00", "M17.11", "I10", "E66.01"]


def bariatric_cases(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    cases = []
    for number in range(count):
        facts: dict[str, Any] = {
            "epsdt": False,
            "age": rng.randint(16, 70),
            "bmi": round(rng.uniform(28, 45), 1),
            "pregnant": rng.random() < 0.1,
            "procedure": rng.choice(["lagb", "sleeve_gastrectomy", "gastric_bypass"]),
            "diagnoses": rng.sample(BARIATRIC_CODES, rng.randint(0, 2)),
        }
        for name in ("joint_replacement_candidate", "rare_comorbidity_with_evidence"):
            if rng.random() < 0.7:
                facts[name] = rng.random() < 0.4
        if rng.random() < 0.2:
            del facts[rng.choice(["bmi", "age", "pregnant"])]
        cases.append({"id": f"b{number}", "facts": facts})
    return cases


@pytest.fixture(scope="module")
def bariatric_revision(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The bariatric policy with BMI 33 instead of 35 in (6)(b), in a folder of its own."""
    folder = tmp_path_factory.mktemp("revision") / "bariatric-surgery"
    shutil.copytree(bundled_kb() / "policies" / "bariatric-surgery", folder)
    criteria = folder / "criteria.lp"
    text = criteria.read_text()
    assert 'met("(6)(b)") :- at_least(bmi, 35).' in text
    criteria.write_text(text.replace("at_least(bmi, 35)", "at_least(bmi, 33)"))
    return str(folder)


def _jsonl(cases: list[dict[str, Any]]) -> bytes:
    return b"".join(orjson.dumps(case) + b"\n" for case in cases)


def _cited(evaluation: Any, knowledge: KnowledgeBase, policy: str) -> list[str]:
    criteria = knowledge.policy(policy).criteria
    return list(
        dict.fromkeys(i.criterion for i in evaluation.explanation if i.criterion in criteria)
    )


def reference(old: str, new: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
    """Transitions and newly cited criteria, case by case with KnowledgeBase.evaluate."""
    knowledge = KnowledgeBase()
    transitions: Counter[tuple[str, str]] = Counter()
    newly: Counter[str] = Counter()
    outcome = {}
    for case in cases:
        before = knowledge.evaluate(knowledge.case(case, policy=old), old)
        after = knowledge.evaluate(knowledge.case(case, policy=new), new)
        transitions[(before.verdict.value, after.verdict.value)] += 1
        outcome[case["id"]] = (before.verdict.value, after.verdict.value)
        if after.verdict is Verdict.NOT_COVERED:
            was = _cited(before, knowledge, old) if before.verdict is Verdict.NOT_COVERED else []
            newly.update(c for c in _cited(after, knowledge, new) if c not in was)
    return {
        "transitions": {a: {b: transitions[(a, b)] for b in VERDICTS} for a in VERDICTS},
        "newly": dict(newly),
        "outcome": outcome,
    }


def _impact(old: str, new: str, cases: list[dict[str, Any]], **options: Any) -> dict[str, Any]:
    settings = ImpactSettings(old=old, new=new, examples=3)
    parts: list[Any] = []
    report = run_impact(
        io.BytesIO(_jsonl(cases)), InputFormat.JSONL, settings, on_part=parts.append, **options
    )
    assert all(part.rows == [] for part in parts)  # rows per case only for --records
    return report.to_dict()


@pytest.mark.parametrize(
    ("old", "new", "make"),
    [
        ("massage-therapy", REVISION, lambda: massage_cases(400, seed=5)),
        ("bariatric-surgery", "revision", lambda: bariatric_cases(300, seed=6)),
    ],
    ids=["massage", "bariatric-typed"],
)
def test_impact_equals_case_by_case_evaluation(
    old: str, new: str, make: Any, bariatric_revision: str
) -> None:
    new = bariatric_revision if new == "revision" else new
    cases = make()
    report = _impact(old, new, cases, jobs=1)
    expected = reference(old, new, cases)
    assert report["transitions"] == expected["transitions"]
    before = Counter(old for old, _ in expected["outcome"].values())
    after = Counter(new for _, new in expected["outcome"].values())
    assert report["verdicts"] == {
        "old": {v: before[v] for v in VERDICTS},
        "new": {v: after[v] for v in VERDICTS},
    }
    assert report["regions_capped"] is False and report["regions_note"] is None
    assert {c["criterion"]: c["cases"] for c in report["newly_cited_in_denials"]} == expected[
        "newly"
    ]
    assert report["records"] == report["evaluated"] == len(cases)
    assert report["changed"] > 0  # the generated history does meet the revision
    # Every pair is present, unchanged ones too.
    assert all(set(row) == set(VERDICTS) for row in report["transitions"].values())
    # Each region counts only cases that make its transition, and every
    # changed case whose facts decide it falls in some region (diff's regions
    # cover every scenario that changes).
    by_id = expected["outcome"]
    assert report["regions"], "diff finds regions for this revision"
    covered_ids: set[str] = set()
    for region in report["regions"]:
        for case_id in region["examples"]:
            assert by_id[case_id] == (region["old"], region["new"])
    in_region = _cases_in_regions(old, new, cases)
    for case in cases:
        before, after = by_id[case["id"]]
        if case["id"] in in_region:
            covered_ids.add(case["id"])
            assert {before, after} == {"covered", "not_covered"}, case
        elif before != after and "needs_information" not in (before, after):
            pytest.fail(f"{case['id']} changes {before} -> {after} outside every region")
    assert sum(r["cases"] for r in report["regions"]) >= len(covered_ids)


def _cases_in_regions(old: str, new: str, cases: list[dict[str, Any]]) -> set[str]:
    """The ids the regions' examples and counts stand for: run impact with
    room for every example."""
    settings = ImpactSettings(old=old, new=new, examples=len(cases))
    report = run_impact(io.BytesIO(_jsonl(cases)), InputFormat.JSONL, settings).to_dict()
    return {case_id for region in report["regions"] for case_id in region["examples"]}


def test_worker_processes_give_the_same_report() -> None:
    cases = massage_cases(3000, seed=7)
    one = _impact("massage-therapy", REVISION, cases, jobs=1)
    two = _impact("massage-therapy", REVISION, cases, jobs=2)
    assert one == two


def _parquet(cases: list[dict[str, Any]], path: Path, row_group: int = 250) -> None:
    """The cases as a Parquet table with one column per fact."""
    names = sorted({name for case in cases for name in case["facts"]})
    columns: dict[str, list[Any]] = {"id": [case["id"] for case in cases]}
    for name in names:
        columns[name] = [case["facts"].get(name) for case in cases]
    pq.write_table(pa.table(columns), path, row_group_size=row_group)


def test_parquet_input_gives_the_jsonl_report(tmp_path: Path) -> None:
    cases = massage_cases(600, seed=8)
    _parquet(cases, tmp_path / "cases.parquet")
    report = run_impact(
        (tmp_path / "cases.parquet").open("rb"),
        InputFormat.PARQUET,
        ImpactSettings(old="massage-therapy", new=REVISION, examples=3),
    ).to_dict()
    assert report == _impact("massage-therapy", REVISION, cases)


def test_cli_reports_in_three_formats(tmp_path: Path) -> None:
    cases = massage_cases(500, seed=9)
    source = tmp_path / "cases.jsonl"
    source.write_bytes(_jsonl([*cases, {"id": "bad", "facts": {"colour": "red"}}]))
    outputs = {}
    for suffix in ("json", "md", "html"):
        target = tmp_path / f"report.{suffix}"
        result = runner.invoke(
            app, ["impact", "massage-therapy", REVISION, str(source), "-o", str(target), "-j", "1"]
        )
        assert result.exit_code == 1, result.output  # the bad case
        assert "line 501: old version: unknown fact 'colour'" in result.stderr
        outputs[suffix] = target.read_text()
    data = json.loads(outputs["json"])
    assert data["errors"] == 1 and data["evaluated"] == 500
    assert data["old"]["version"]["effective"] == "2007-06-21"
    assert data["new"]["version"]["effective"] == "2027-01-01"
    changed = sum(n for a, row in data["transitions"].items() for b, n in row.items() if a != b)
    assert changed == data["changed"] > 0
    assert f"**{data['changed']:,} decided differently**" in outputs["md"]
    page = outputs["html"]
    assert "<svg" in page and "<script" not in page.lower()
    # Self-contained: nothing the page would fetch (namespace names are not fetched).
    assert re.findall(r'(?:src|href)\s*=\s*"(?!#|data:)', page) == []
    assert "<link " not in page and re.findall(r"url\((?!#)", page) == []
    for example in data["transition_examples"][0]["examples"]:
        assert f"<code>{example}</code>" in page


def test_html_escapes_case_ids(tmp_path: Path) -> None:
    case = massage_cases(1, seed=3)[0] | {"id": "<img src=x onerror=alert(1)>"}
    source = tmp_path / "cases.jsonl"
    source.write_bytes(_jsonl([case]))
    result = runner.invoke(
        app,
        [
            "impact",
            "massage-therapy",
            "massage-therapy",
            str(source),
            "-f",
            "html",
            "--examples",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "<img" not in result.stdout


def test_html_escapes_hostile_policy_and_case_text(tmp_path: Path) -> None:
    """A revision whose title and criterion text are markup, and cases whose
    ids are: the page shows them as text (the template autoescapes)."""
    bundled = bundled_kb() / "policies" / "massage-therapy"
    revision = tmp_path / "revision"
    revision.mkdir()
    title = "<script>alert(1)</script> & <b>Massage</b>"
    (revision / "vocabulary.lp").write_text(
        (bundled / "vocabulary.lp")
        .read_text()
        .replace("Clinical Review Criteria: Massage Therapy", title)
    )
    text = "<img src=x onerror=alert(2)> ordered & <i>signed</i>"
    (revision / "indications.lp").write_text(
        (Path(REVISION) / "indications.lp")
        .read_text()
        .replace("It has been ordered by the treating physician.", text)
    )
    parts = ["medicare", "exclusions", "benefit", "notes", "review"]
    (revision / "policy.lp").write_text(
        'policy(effective, "2027-01-01").\n#include "vocabulary.lp".\n#include "indications.lp".\n'
        + "".join(f'#include "{bundled / part}.lp".\n' for part in parts)
    )
    cases = [
        case | {"id": f"<u>c{n}</u>&<script>"} for n, case in enumerate(massage_cases(200, seed=4))
    ]
    source = tmp_path / "cases.jsonl"
    source.write_bytes(_jsonl(cases))
    result = runner.invoke(
        app,
        ["impact", "massage-therapy", str(revision), str(source), "-f", "html", "-j", "1"],
    )
    assert result.exit_code == 0, result.output
    page = result.stdout
    for markup in ("<script", "<b>", "<img", "<i>", "<u>"):
        assert markup not in page, markup
    assert "New: &lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;Massage&lt;/b&gt; (" in page
    assert "&lt;img src=x onerror=alert(2)&gt; ordered &amp; &lt;i&gt;signed&lt;/i&gt;</li>" in page
    assert "<code>&lt;u&gt;c" in page and "&lt;/u&gt;&amp;&lt;script&gt;</code>" in page
    assert page.count("<code>") == page.count("</code>") > 0


def test_no_regions_and_a_bad_parquet_file(tmp_path: Path) -> None:
    broken = tmp_path / "cases.parquet"
    broken.write_bytes(b"PAR1 not really")
    result = runner.invoke(
        app, ["impact", "massage-therapy", REVISION, str(broken), "--no-regions"]
    )
    assert result.exit_code == 1
    assert result.stderr == (
        "error: not a Parquet file: Parquet magic bytes not found in footer. "
        "Either the file is corrupted or this is not a parquet file.\n"
    )


# -- Parquet batch, the Arrow function, Dask -----------------------------------------------


def test_parquet_batch_equals_jsonl_batch(tmp_path: Path) -> None:
    cases = bariatric_cases(400, seed=10)
    _parquet(cases, tmp_path / "cases.parquet")
    (tmp_path / "cases.jsonl").write_bytes(_jsonl(cases))
    for args in (["-o", str(tmp_path / "out.parquet")], ["-o", str(tmp_path / "out.jsonl")]):
        target = args[1]
        source = "cases.parquet" if target.endswith("jsonl") else "cases.jsonl"
        result = runner.invoke(
            app,
            ["batch", str(tmp_path / source), "--policy", "bariatric-surgery", "-j", "1", *args],
        )
        assert result.exit_code == 0, result.output
    rows = pq.read_table(tmp_path / "out.parquet").to_pylist()
    lines = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    assert [r["id"] for r in rows] == [line["id"] for line in lines] == [c["id"] for c in cases]
    for row, line in zip(rows, lines, strict=True):
        assert row["verdict"] == line["verdict"]
        assert row["missing"] == [m["fact"] for m in line["missing"]]
        assert row["version_hash"] == line["version"]["hash"]
        assert row["cited"] == list(dict.fromkeys(i["criterion"] for i in line["explanation"]))


def test_the_arrow_function_equals_evaluate(tmp_path: Path) -> None:
    cases = massage_cases(300, seed=11, known=0.6)
    _parquet(cases, tmp_path / "cases.parquet", row_group=100)
    batches = pq.ParquetFile(tmp_path / "cases.parquet").iter_batches(batch_size=70)
    rows = [row for batch in evaluate_batches(batches) for row in batch.to_pylist()]
    knowledge = KnowledgeBase()
    assert len(rows) == len(cases)
    for row, case in zip(rows, cases, strict=True):
        evaluation = knowledge.evaluate(case)
        assert row["id"] == case["id"]
        assert row["verdict"] == evaluation.verdict.value
        assert row["missing"] == [m.fact for m in evaluation.missing]
        assert row["explanation"] == [
            f"{i.fact}={value_words(i.value)}" for i in evaluation.explanation
        ]


def test_arrow_rows_with_wrong_values_get_error_rows() -> None:
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b"], "review_type": ["initial", "weekly"]})
    rows = next(evaluate_batches([batch])).to_pylist()
    assert rows[0]["error"] is None and rows[0]["verdict"] == "needs_information"
    assert rows[1]["verdict"] is None
    assert (
        rows[1]["error"]
        == "row 2: fact 'review_type' must be one of initial, continuation, not 'weekly'"
    )


def test_a_local_dask_cluster_gives_the_single_process_output(tmp_path: Path) -> None:
    cases = massage_cases(4000, seed=12, known=0.7)
    _parquet(cases, tmp_path / "cases.parquet", row_group=500)
    single = tmp_path / "single.parquet"
    clustered = tmp_path / "clustered.parquet"
    first = runner.invoke(
        app, ["batch", str(tmp_path / "cases.parquet"), "-o", str(single), "-j", "1"]
    )
    assert first.exit_code == 0, first.output
    second = runner.invoke(
        app, ["batch", str(tmp_path / "cases.parquet"), "-o", str(clustered), "--dask", "local[2]"]
    )
    assert second.exit_code == 0, second.output
    assert pq.read_table(clustered).equals(pq.read_table(single))
    # And impact on the cluster reports what one process does.
    report = tmp_path / "impact.json"
    third = runner.invoke(
        app,
        [
            "impact",
            "massage-therapy",
            REVISION,
            str(tmp_path / "cases.parquet"),
            "-o",
            str(report),
            "--dask",
            "local[2]",
        ],
    )
    assert third.exit_code == 0, third.output
    alone = run_impact(
        (tmp_path / "cases.parquet").open("rb"),
        InputFormat.PARQUET,
        ImpactSettings(old="massage-therapy", new=REVISION),
    ).to_dict()
    assert json.loads(report.read_text()) == json.loads(json.dumps(alone))


def test_dask_usage_errors_are_one_line(tmp_path: Path) -> None:
    source = tmp_path / "cases.jsonl"
    source.write_bytes(_jsonl(massage_cases(3, seed=1)))
    result = runner.invoke(app, ["batch", str(source), "--dask", "local[x]"])
    assert result.exit_code == 1
    assert result.stderr.strip() == "error: --dask 'local[x]': write local[N] for N local workers"


@pytest.mark.parametrize("suffix", ["parquet", "jsonl"])
def test_records_give_each_case_its_two_verdicts(tmp_path: Path, suffix: str) -> None:
    cases = massage_cases(300, seed=13)
    source = tmp_path / "cases.jsonl"
    bad = {"id": "bad", "facts": {"review_type": "weekly"}}
    source.write_bytes(_jsonl([*cases[:150], bad, *cases[150:]]))
    records = tmp_path / f"records.{suffix}"
    result = runner.invoke(
        app,
        [
            "impact",
            "massage-therapy",
            REVISION,
            str(source),
            "-f",
            "json",
            "--records",
            str(records),
            "-j",
            "2",
        ],
    )
    assert result.exit_code == 1, result.output
    if suffix == "parquet":
        rows = pq.read_table(records).to_pylist()
    else:
        rows = [orjson.loads(line) for line in records.read_bytes().splitlines()]
    expected = reference("massage-therapy", REVISION, cases)["outcome"]
    ids = [c["id"] for c in cases]
    assert [row["id"] for row in rows] == [*ids[:150], "bad", *ids[150:]]
    failed = rows.pop(150)
    assert failed["error"].startswith("line 151: old version: fact 'review_type'")
    for row in rows:
        assert (row["old_verdict"], row["new_verdict"]) == expected[row["id"]]
        assert row["changed"] == (row["old_verdict"] != row["new_verdict"])
        assert row["error"] is None
    report = json.loads(result.stdout)
    for number, region in enumerate(report["regions"], start=1):
        assert region["cases"] == sum(number in row["regions"] for row in rows)


def test_a_process_makes_the_worker_of_a_run_once() -> None:
    """What lets each Dask worker (or Spark executor) compile a policy once:
    settings that arrive pickled anew find the worker already made."""
    import pickle

    from policykb.bridge.batch.runner import worker_for
    from policykb.bridge.batch.settings import BatchSettings

    settings = BatchSettings(policy="massage-therapy")
    first = worker_for(settings)
    assert worker_for(pickle.loads(pickle.dumps(settings))) is first
    assert worker_for(BatchSettings(policy="bariatric-surgery")) is not first
    impact = ImpactSettings(old="massage-therapy", new=REVISION)
    assert worker_for(pickle.loads(pickle.dumps(impact))) is worker_for(impact)


def test_parquet_rows_are_numbered_across_row_groups(tmp_path: Path) -> None:
    """Row N of the file, whatever row group and chunk it is in; an id that is
    not a string is that row's error."""
    cases = massage_cases(25, seed=14)
    cases[22]["facts"]["review_type"] = "weekly"
    _parquet(cases, tmp_path / "cases.parquet", row_group=10)
    result = runner.invoke(app, ["batch", str(tmp_path / "cases.parquet"), "-j", "1"])
    assert result.exit_code == 1
    assert "row 23: fact 'review_type' must be one of initial, continuation, not 'weekly'" in (
        result.stderr
    )
    lines = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert lines[22] == {"row": 23, "id": "c22", "error": lines[22]["error"]}
    pq.write_table(
        pa.table({"id": [7, None], "medicare_member": [True, False]}), tmp_path / "ids.parquet"
    )
    result = runner.invoke(app, ["batch", str(tmp_path / "ids.parquet"), "-j", "1"])
    rows = [orjson.loads(line) for line in result.stdout.splitlines()]
    assert rows[0] == {"row": 1, "error": "'id' must be a string, not int"}
    assert rows[1]["id"] == "row-2" and rows[1]["verdict"] == "needs_information"


def test_examples_are_the_first_cases_in_input_order(tmp_path: Path) -> None:
    """Across chunks (and worker processes), each count's examples are its
    first cases in input order, at most --examples of them; the per-case
    rows of --records tell which cases those are."""
    cases = massage_cases(7000, seed=15)  # about 2 MiB of JSONL: several chunks
    source = tmp_path / "cases.jsonl"
    source.write_bytes(_jsonl([*cases, {"id": "odd", "facts": [1]}]))
    records = tmp_path / "records.jsonl"
    result = runner.invoke(
        app,
        [
            "impact",
            "massage-therapy",
            REVISION,
            str(source),
            "-f",
            "json",
            "--records",
            str(records),
            "--examples",
            "4",
            "-j",
            "2",
        ],
    )
    assert result.exit_code == 1
    assert "line 7001: 'facts' must be an object" in result.stderr
    report = json.loads(result.stdout)
    rows = [orjson.loads(line) for line in records.read_bytes().splitlines()][:-1]

    def first(ids: list[str]) -> list[str]:
        return ids[:4]

    for change in report["transition_examples"]:
        pair = (change["old"], change["new"])
        ids = [r["id"] for r in rows if (r["old_verdict"], r["new_verdict"]) == pair]
        assert (change["examples"], change["cases"]) == (first(ids), len(ids))
    for number, region in enumerate(report["regions"], start=1):
        ids = [r["id"] for r in rows if number in r["regions"]]
        assert (region["examples"], region["cases"]) == (first(ids), len(ids))
    for cited in report["newly_cited_in_denials"]:
        ids = [r["id"] for r in rows if cited["criterion"] in r["newly_cited"]]
        assert (cited["examples"], cited["cases"]) == (first(ids), len(ids))


def test_report_order_and_reference_dates(tmp_path: Path) -> None:
    """Only changed pairs have examples; newly cited criteria come most cases
    first; a policy that compares dates with a reference date has its regions
    counted only as of a day (--as-of)."""
    report = _impact("massage-therapy", REVISION, massage_cases(800, seed=16))
    changed = {
        (a, b) for a, row in report["transitions"].items() for b, n in row.items() if n and a != b
    }
    assert {(c["old"], c["new"]) for c in report["transition_examples"]} == changed
    order = [(-c["cases"], c["criterion"]) for c in report["newly_cited_in_denials"]]
    assert order == sorted(order) and len(order) > 1
    fixtures = Path(__file__).parents[1] / "fixtures" / "kb"
    cases = [
        {
            "id": f"r{n}",
            "facts": {"date_of_service": f"2024-0{n % 9 + 1}-15", "home_program": n % 2 == 0},
        }
        for n in range(20)
    ]
    for as_of, note in ((None, "give --as-of"), (date(2024, 5, 15), None)):
        settings = ImpactSettings(
            old="rehab-visits", new="rehab-visits", kb_dirs=(str(fixtures),), as_of=as_of
        )
        result = run_impact(io.BytesIO(_jsonl(cases)), InputFormat.JSONL, settings).to_dict()
        assert result["changed"] == 0 and result["evaluated"] == 20
        if note is None:
            assert result["regions_note"] is None and result["regions"] == []
        else:
            assert note in result["regions_note"]


def test_one_version_with_reference_dates_is_enough_to_need_a_day(tmp_path: Path) -> None:
    """A revision that drops every comparison with the date of service still
    has an old version that needs one: regions are counted only with --as-of."""
    folder = tmp_path / "rehab-visits"
    shutil.copytree(Path(__file__).parents[1] / "fixtures" / "kb" / "rehab-visits", folder)
    criteria = folder / "criteria.lp"
    kept = [
        line
        for line in criteria.read_text().splitlines()
        if not line.lstrip().startswith(("met(", "on_or", "after(", "before("))
    ]
    kept += [f'met("{c}") :- holds(home_program).' for c in ("DOS", "EVAL", "POST-OP", "REFERRAL")]
    criteria.write_text("\n".join(kept) + "\n")
    fixtures = str(Path(__file__).parents[1] / "fixtures" / "kb")
    cases = [{"id": "r1", "facts": {"date_of_service": "2024-05-15", "home_program": True}}]
    settings = ImpactSettings(old="rehab-visits", new=str(folder), kb_dirs=(fixtures,))
    result = run_impact(io.BytesIO(_jsonl(cases)), InputFormat.JSONL, settings).to_dict()
    assert "give --as-of" in result["regions_note"]
