"""`policykb batch`: exact, ordered and lossless on mixed good and bad input."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from typer.testing import CliRunner

from policykb.bridge import Case, KnowledgeBase
from policykb.bridge.batch.runner import run_batch
from policykb.bridge.batch.settings import BatchSettings
from policykb.bridge.compile.compiled import CompiledPolicy
from policykb.bridge.model.formats import InputFormat, RecordFormat
from policykb.bridge.solving.evaluator import Evaluator
from policykb.cli.main import app
from tests.oracle.test_properties import cases
from tests.sampling import examples

runner = CliRunner()


@pytest.fixture(scope="module")
def compiled(massage: Evaluator) -> CompiledPolicy:
    return CompiledPolicy(massage)


@settings(
    max_examples=examples(400),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(facts=cases())
def test_compiled_policy_equals_the_evaluator(
    massage: Evaluator, compiled: CompiledPolicy, facts: dict[str, Any]
) -> None:
    case = Case("c", "massage-therapy", facts)
    assert compiled.evaluate(case) == massage.evaluate(case)


def _jsonl(records: list[Any]) -> bytes:
    return b"".join(
        (r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records
    )


MIXED = [
    {
        "id": "ok-1",
        "facts": {
            "medicare_member": True,
            "delivered_by_physical_therapist": True,
            "part_of_rehab_plan_of_care": True,
        },
    },
    {"id": "bad-fact", "facts": {"medicare_membr": True}},
    b'{"id": "broken", "facts": {',
    {"id": "bad-type", "facts": {"terminally_ill": "yes"}},
    {"id": 42, "facts": {}},
    {
        "facts": {
            "medicare_member": False,
            "terminally_ill": False,
            "ordered_by_treating_physician": False,
        }
    },
    {"id": '"). #show. :- true. %', "facts": {"for_prevention": True, "medicare_member": False}},
    {
        "id": "ok-1-again",
        "facts": {
            "medicare_member": True,
            "delivered_by_physical_therapist": True,
            "part_of_rehab_plan_of_care": True,
        },
    },
]


@pytest.mark.parametrize("jobs", [1, 2])
def test_mixed_input_keeps_order_and_every_record(jobs: int, kb: KnowledgeBase) -> None:
    out = io.BytesIO()
    summary = run_batch(io.BytesIO(_jsonl(MIXED)), out, InputFormat.JSONL, BatchSettings(), jobs)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == len(MIXED)
    assert [line.get("id") for line in lines] == [
        "ok-1",
        "bad-fact",
        None,
        "bad-type",
        None,
        "line-6",
        '"). #show. :- true. %',
        "ok-1-again",
    ]
    assert [line.get("line") for line in lines] == [None, 2, 3, 4, 5, None, None, None]
    assert summary.verdicts["covered"] == 2
    assert "did you mean 'medicare_member'" in lines[1]["error"]
    assert "malformed JSON" in lines[2]["error"]
    assert "must be true or false" in lines[3]["error"]
    assert summary.errors == 4 and summary.total == 8
    for line, record in zip(lines, MIXED, strict=True):
        if "error" in line:
            continue
        assert isinstance(record, dict)
        expected = kb.evaluate({**record, "id": line["id"]}).to_dict()
        assert line == expected


def test_csv_in_and_out(tmp_path: Path) -> None:
    source = tmp_path / "cases.csv"
    source.write_text(
        "id,medicare_member,ordered_by_treating_physician,terminally_ill,contraindications\n"
        "r1,false,false,no,burns;skin_infection\n"
        "r2,true,,,\n"
        "r3,maybe,,,\n"
    )
    target = tmp_path / "out.csv"
    result = runner.invoke(app, ["batch", str(source), "-o", str(target), "-f", "csv", "-j", "1"])
    assert result.exit_code == 1  # r3 failed
    rows = target.read_text().splitlines()
    assert rows[0] == "id,verdict,explanation,missing,error,version"
    assert rows[1].endswith(f",2007-06-21 sha256:{KnowledgeBase().policy().version.hash}")
    assert rows[1].startswith("r1,not_covered,")
    assert "ordered_by_treating_physician=false" in rows[1]
    assert rows[2].startswith("r2,needs_information,,")
    assert rows[3].startswith("r3,error,,,") and "must be true or false" in rows[3]
    assert "line 4: fact 'medicare_member' must be true or false" in result.stderr


def test_json_array_input_and_summary_file(tmp_path: Path) -> None:
    source = tmp_path / "cases.json"
    source.write_text(json.dumps([MIXED[0], MIXED[1], MIXED[5]], indent=2))
    summary = tmp_path / "summary.json"
    result = runner.invoke(app, ["batch", str(source), "--summary", str(summary), "-j", "1"])
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("verdict") for line in lines] == ["covered", None, "not_covered"]
    assert lines[1]["record"] == 2
    counts = json.loads(summary.read_text())
    assert counts["verdicts"] == {"covered": 1, "not_covered": 1} and counts["errors"] == 1
    assert {r["criterion"] for r in counts["denial_reasons"]} == {"A3", "B"}


def test_output_is_atomic(tmp_path: Path) -> None:
    target = tmp_path / "out.jsonl"
    target.write_text("previous\n")
    result = runner.invoke(
        app, ["batch", "-", "-o", str(target), "--input-format", "json"], input="[{}, "
    )
    assert result.exit_code == 1 and "not closed" in result.stderr
    assert target.read_text() == "previous\n"
    assert not list(tmp_path.glob(".*partial"))


def test_no_explain_and_unknown_policy() -> None:
    result = runner.invoke(
        app, ["batch", "-", "--no-explain", "-j", "1"], input=json.dumps(MIXED[0]) + "\n"
    )
    assert "explanation" not in json.loads(result.stdout)
    bad = runner.invoke(app, ["batch", "-", "--policy", "nope"], input="{}\n")
    assert bad.exit_code == 1 and "unknown policy 'nope'" in bad.stderr


def test_json_array_items_that_are_not_cases() -> None:
    result = runner.invoke(
        app, ["batch", "-", "--input-format", "json", "-j", "1"], input='[1, ["x"], {"facts": {}}]'
    )
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("record") for line in lines] == [1, 2, None]
    assert lines[2]["id"] == "record-3" and lines[2]["verdict"] == "needs_information"
    assert result.exit_code == 1


def test_byte_order_marks_are_tolerated(tmp_path: Path) -> None:
    source = tmp_path / "bom.jsonl"
    source.write_bytes(b'\xef\xbb\xbf{"facts": {"benefit_in_contract": false}}\n')
    result = runner.invoke(app, ["batch", str(source), "-j", "1"])
    assert json.loads(result.stdout)["verdict"] == "not_covered"
    case = tmp_path / "bom.json"
    case.write_bytes(source.read_bytes())
    assert (
        json.loads(runner.invoke(app, ["evaluate", str(case), "-f", "json"]).stdout)["verdict"]
        == "not_covered"
    )


@pytest.mark.parametrize("output", [RecordFormat.JSONL, RecordFormat.CSV])
def test_worker_processes_spool_their_records_into_files_and_pipes_alike(
    output: RecordFormat, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With -j 2 the records go through spool files, copied by the kernel into
    a file (copy_file_range), a pipe (sendfile) or written to a stream in
    memory: every way gives what one process gives, in order, and the spool
    folder is gone afterwards."""
    import os
    import random
    import tempfile
    import threading

    rng = random.Random(5)
    facts = list(KnowledgeBase().policy("massage-therapy").facts)
    records = [
        {"id": f"r{n}", "facts": {f: rng.random() < 0.5 for f in rng.sample(facts[:12], 6)}}
        for n in range(20_000)
    ]
    records[7_777] = {"id": "broken", "facts": {"no_such_fact": True}}
    source = _jsonl(records)  # several chunks of about 1 MB
    settings = BatchSettings(output=output)
    alone = io.BytesIO()
    run_batch(io.BytesIO(source), alone, InputFormat.JSONL, settings, 1)
    expected = alone.getvalue()
    assert expected.count(b"\n") >= 20_000 and len(source) > 2 << 20

    # The spool folders go to a temporary folder of this test's own (other
    # tests may run batches beside it).
    own = tmp_path / "temporary"
    own.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(own))
    from policykb.bridge.batch import runner as runner_module

    copied: list[str] = []
    copy = runner_module._copy_spooled

    def counted(spooled: Any, target: Any) -> None:
        assert Path(spooled.path).parent.parent == own
        copied.append(spooled.path)
        copy(spooled, target)

    monkeypatch.setattr(runner_module, "_copy_spooled", counted)
    in_memory = io.BytesIO()
    run_batch(io.BytesIO(source), in_memory, InputFormat.JSONL, settings, 2)
    assert in_memory.getvalue() == expected
    with (tmp_path / "out").open("wb") as file:
        file.write(b"kept\n")  # the copies go after what the file already holds
        run_batch(io.BytesIO(source), file, InputFormat.JSONL, settings, 2)
    assert (tmp_path / "out").read_bytes() == b"kept\n" + expected
    read, write = os.pipe()
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(os.fdopen(read, "rb").read()))
    reader.start()
    with os.fdopen(write, "wb") as pipe:
        run_batch(io.BytesIO(source), pipe, InputFormat.JSONL, settings, 2)
    reader.join()
    assert received == [expected]
    assert not list(own.iterdir()), "a spool folder was left behind"
    assert len(copied) >= 3 * 3, "each run spools its chunks"


def test_lines_seen_before_are_not_parsed_again_and_decide_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A line whose bytes after a plain id were decided before reuses that
    decision: the output equals the output of parsing every line, for ids
    plain, escaped, non-ASCII or not first, and for repeated invalid records
    (each error names its own line)."""
    import random

    from policykb.bridge.batch import records as records_module

    rng = random.Random(8)
    bodies = [
        b'"facts":{"medicare_member":true}}',
        b'"facts":{"medicare_member":false,"health_plan_referral":true}}',
        b'"facts":{"no_such_fact":true}}',
        b'"facts":{"medicare_member":"yes"}}',
        b'"facts":{"medicare_member":true},"facts":{}}',  # a repeated key
        b'"facts":{"medicare_member":true},"id":"again"}',  # the id twice
        b'"policy":"bariatric-surgery","facts":{"bmi":41.5}}',
        b'"facts":{"medicare_member":true} }',
    ]
    ids = [b"a", b"b\\u00e9", b'c\\"q', "d\u00e9".encode(), b"", b"e\\n"]
    lines = []
    for number in range(600):
        body = rng.choice(bodies)
        if number % 7 == 0:
            lines.append(b"{" + body)  # no id
        elif number % 11 == 0:
            lines.append(b"{" + body[:-1] + b',"id":"late' + str(number).encode() + b'"}')
        else:
            lines.append(b'{"id":"' + rng.choice(ids) + str(number).encode() + b'",' + body)
    lines.append(b'{"id":"\xff","facts":{}}')  # not UTF-8
    source = b"\n".join(lines) + b"\n"

    def batch() -> bytes:
        out = io.BytesIO()
        run_batch(io.BytesIO(source), out, InputFormat.JSONL, BatchSettings(), 1)
        return out.getvalue()

    parsed: list[bytes] = []
    parse = records_module.parse_record

    def counted(line: bytes) -> object:
        parsed.append(line)
        return parse(line)

    monkeypatch.setattr(records_module, "parse_record", counted)
    fast = batch()
    fast_parses = len(parsed)
    monkeypatch.setattr(records_module, "PLAIN_ID", __import__("re").compile(rb"(?!)"))
    assert fast == batch()
    assert len(parsed) - fast_parses == len(lines) > fast_parses + 100
    errors = [json.loads(line) for line in fast.splitlines() if b'"error"' in line]
    assert len({e["line"] for e in errors}) == len(errors) > 50
