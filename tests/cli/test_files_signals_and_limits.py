"""Hardening: no input, signal or path destroys data, loses a record, runs away,
or ends in a traceback. One test (or more) per class of defect found by the
adversarial review; the fuzzing properties are in test_fuzzing.py."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "denied-no-order.json"
CHECK_FIXTURES = ROOT / "tests" / "fixtures" / "check"
runner = CliRunner()
CASE = {"facts": {"medicare_member": False, "ordered_by_treating_physician": False}}


def invoke(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), input=stdin)
    return result.exit_code, result.stdout, result.stderr


def policykb(*args: str, **options: object) -> subprocess.CompletedProcess[str]:
    """The console script's code in a process of its own, as a user runs it."""
    streams: dict[str, object] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
    return subprocess.run(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "policykb.cli.main", *args],
        text=True,
        timeout=120,
        **{**streams, **options},
    )


def one_clear_line(stderr: str) -> None:
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr


# -- output that cannot destroy --


def jsonl(tmp_path: Path, count: int = 3) -> Path:
    source = tmp_path / "cases.jsonl"
    source.write_text("".join(json.dumps({**CASE, "id": f"r{i}"}) + "\n" for i in range(count)))
    return source


@pytest.mark.skipif(os.geteuid() != 0, reason="replacing /dev/null needs root")
def test_dev_null_stays_a_device(tmp_path: Path) -> None:
    code, _, err = invoke("batch", str(jsonl(tmp_path)), "-o", "/dev/null", "-j", "1")
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_a_fifo_is_written_in_place(tmp_path: Path) -> None:
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()
    code, _, err = invoke("batch", str(jsonl(tmp_path)), "-o", str(fifo), "-j", "1")
    reader.join(30)
    assert code == 0, err
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert received and received[0].count(b"\n") == 3


def test_a_symlink_is_followed_and_mode_and_content_kept_right(tmp_path: Path) -> None:
    target = tmp_path / "results.jsonl"
    target.write_text("old\n")
    target.chmod(0o644)
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    code, _, err = invoke("batch", str(jsonl(tmp_path)), "-o", str(link), "-j", "1")
    assert code == 0, err
    assert link.is_symlink()
    assert stat.S_IMODE(target.stat().st_mode) == 0o644
    assert target.read_text().count("\n") == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "cases.jsonl",
        "link.jsonl",
        "results.jsonl",
    ]


def test_the_input_is_never_the_output(tmp_path: Path) -> None:
    source = jsonl(tmp_path)
    before = source.read_bytes()
    code, _, err = invoke("batch", str(source), "-o", str(source), "-j", "1")
    assert code == 5 and "is the input file" in err
    assert source.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [
        ["batch", "{cases}", "-o", "{folder}"],
        ["batch", "{cases}", "-o", "{folder}/missing/out.jsonl"],
        ["batch", "{cases}", "--summary", "{folder}"],
        ["batch", "{cases}", "--summary", "{folder}/missing/summary.json"],
        ["init-case", "-o", "{folder}"],
        ["reference", "-o", "{folder}"],
        ["evaluate", "{example}", "--format", "dot", "-o", "{folder}"],
        ["check", "--export", "{cases}"],
    ],
)
def test_bad_output_paths_are_one_line_and_exit_5(tmp_path: Path, args: list[str]) -> None:
    cases = jsonl(tmp_path)
    values = {"cases": str(cases), "folder": str(tmp_path), "example": str(EXAMPLE)}
    result = runner.invoke(app, [a.format(**values) for a in args])
    assert result.exit_code == 5, result.stderr
    one_clear_line(result.stderr)
    assert cases.read_text().count("\n") == 3


def live_processes_in_group(group: int) -> list[int]:
    """Processes of a process group that still run (zombies not yet reaped do not)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            alive.append(int(entry.name))
    return alive


def test_sigkill_and_sigterm_leave_nothing_behind(tmp_path: Path) -> None:
    records = "".join(
        json.dumps({"id": f"r{i}", "facts": {"terminally_ill": i % 3 == 0}}) + "\n"
        for i in range(50_000)
    ).encode()
    for kill, code in ((signal.SIGKILL, -9), (signal.SIGTERM, 130)):
        target = tmp_path / "out.jsonl"
        # The records come through a pipe left open: the batch is still running
        # when the signal comes, however fast the machine.
        process = subprocess.Popen(
            [sys.executable, "-m", "policykb.cli.main", "batch", "-", "-o", str(target)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        assert process.stdin is not None
        process.stdin.write(records)  # returns once the batch has read most of it
        process.stdin.flush()
        time.sleep(1)
        assert process.poll() is None
        process.send_signal(kill)
        process.wait(30)
        process.stdin.close()
        assert process.returncode == code
        time.sleep(1)
        assert not live_processes_in_group(process.pid)  # the workers died with their parent
        assert list(tmp_path.iterdir()) == []


DASK = ("--dask", "local[2]")


@pytest.mark.parametrize(
    ("stop", "whole_group"),
    [(signal.SIGINT, True), (signal.SIGTERM, False)],
    ids=["ctrl-c-to-the-terminal-group", "sigterm-to-the-command"],
)
def test_an_interrupted_dask_batch_exits_130_within_2_s_leaving_nothing(
    tmp_path: Path, stop: signal.Signals, whole_group: bool
) -> None:
    """Issue 26: Ctrl-C during `batch --dask local[2]` never exited, and left
    dask tracebacks and a resource_tracker behind."""
    records = "".join(
        json.dumps({"id": f"r{i}", "facts": {"terminally_ill": i % 3 == 0}}) + "\n"
        for i in range(20_000)
    ).encode()
    target = tmp_path / "out.jsonl"
    process = subprocess.Popen(
        [sys.executable, "-m", "policykb.cli.main", "batch", "-", "-o", str(target), *DASK],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert process.stdin is not None
    # The driver reads its input only once the cluster is up, and this write
    # returns only once it has read all but a pipe's buffer: the chunks are
    # then on the workers, and the pipe left open keeps the batch running.
    process.stdin.write(records)
    process.stdin.flush()
    assert process.poll() is None
    if whole_group:
        os.killpg(process.pid, stop)  # what a terminal's Ctrl-C does
    else:
        process.send_signal(stop)
    sent = time.monotonic()
    try:
        process.wait(2)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        pytest.fail("the batch was still running 2 s after the signal")
    finally:
        process.stdin.close()
    assert process.returncode == 130
    while live_processes_in_group(process.pid) and time.monotonic() - sent < 2:
        time.sleep(0.05)
    left = live_processes_in_group(process.pid)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    assert left == []  # no worker, no resource_tracker
    assert process.stderr is not None
    stderr = process.stderr.read().decode()
    assert stderr.strip() == "error: interrupted", stderr  # no dask traceback or warning
    assert list(tmp_path.iterdir()) == []  # nothing partial


def test_stdout_on_a_full_disk_is_one_line() -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full")
    with open("/dev/full", "w") as full:
        done = policykb("evaluate", str(EXAMPLE), "--format", "json", stdout=full)
    assert done.returncode == 5
    one_clear_line(done.stderr)
    assert "disk is full" in done.stderr


# -- never lose a record --


def batch_csv(tmp_path: Path, text: str) -> tuple[int, list[dict[str, object]], str]:
    source = tmp_path / "cases.csv"
    source.write_text(text)
    result = runner.invoke(app, ["batch", str(source), "-j", "1"])
    records = [json.loads(line) for line in result.stdout.splitlines()]
    return result.exit_code, records, result.stderr


def test_csv_rows_with_extra_or_missing_cells_are_error_records(tmp_path: Path) -> None:
    code, records, _ = batch_csv(
        tmp_path,
        "id,medicare_member,terminally_ill\n"
        "a,true,false\n"
        "b,true,false,extra\n"
        "c,true\n"
        'd,"x" y,false\n'
        "e,false,true\n",
    )
    assert code == 1
    assert [r.get("id", r.get("line")) for r in records] == ["a", 3, 4, 5, "e"]
    assert "malformed CSV row" in str(records[3]["error"])
    assert "6 cells" not in records[1]["error"] and "4 cells" in str(records[1]["error"])


def test_an_unterminated_csv_quote_names_its_line(tmp_path: Path) -> None:
    code, records, err = batch_csv(
        tmp_path, 'id,medicare_member\na,true\nb,"oops\nc,false\nd,true\ne,false\n'
    )
    assert code == 1
    assert [r["id"] for r in records] == ["a"]
    assert "line 3" in err and "never closed" in err
    one_clear_line(err)


def test_an_oversized_csv_field_is_an_error_record(tmp_path: Path) -> None:
    huge = "x" * (2 << 20)
    code, records, _ = batch_csv(tmp_path, f"id,medicare_member\na,true\nb,{huge}\nc,false\n")
    assert code == 1
    assert [r.get("id", r.get("line")) for r in records] == ["a", 3, "c"]
    assert "longer than the limit" in str(records[1]["error"])


def test_an_oversized_jsonl_line_is_an_error_record() -> None:
    lines = [json.dumps({**CASE, "id": "a"}), "x" * (3 << 20), json.dumps({**CASE, "id": "c"})]
    result = runner.invoke(app, ["batch", "-", "-j", "1"], input="\n".join(lines) + "\n")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r.get("id", r.get("line")) for r in records] == ["a", 2, "c"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[{"facts": {}} {"facts": {}}]', "after array element"),
        ('[{"facts": {}}] [1]', "trailing garbage"),
        ('{"facts": {}}', "not a JSON array"),
    ],
)
def test_a_json_array_is_checked_as_a_whole(text: str, message: str) -> None:
    result = runner.invoke(app, ["batch", "-", "--input-format", "json", "-j", "1"], input=text)
    assert result.exit_code == 1
    assert message in result.stderr
    one_clear_line(result.stderr)


@pytest.mark.parametrize(
    ("kind", "text"),
    [
        ("jsonl", '{"facts": {"terminally_ill": true, "terminally_ill": false}}\n'),
        ("json", '[{"facts": {}, "facts": {"terminally_ill": true}}]'),
        ("csv", "id,terminally_ill,terminally_ill\na,true,false\n"),
    ],
)
def test_repeated_keys_are_an_error_in_every_format(kind: str, text: str) -> None:
    result = runner.invoke(app, ["batch", "-", "--input-format", kind, "-j", "1"], input=text)
    assert result.exit_code == 1
    assert "duplicate key" in result.stdout + result.stderr or "repeats" in result.stderr


def test_repeated_keys_in_a_yaml_case() -> None:
    code, _, err = invoke(
        "evaluate", "-", stdin="facts:\n  terminally_ill: true\n  terminally_ill: false\n"
    )
    assert code == 1 and "duplicate key 'terminally_ill'" in err


# -- case data never chooses code --


def test_a_case_names_its_policy_by_name_never_by_path(tmp_path: Path) -> None:
    folder = ROOT / "kb" / "policies" / "massage-therapy"
    for policy in (str(folder), str(folder / "policy.lp"), "../x", "x.lp"):
        code, _, err = invoke("evaluate", "-", stdin=json.dumps({"policy": policy, "facts": {}}))
        assert code == 1 and "by name, not by path" in err
    record = json.dumps({"policy": str(folder), "facts": {}})
    result = runner.invoke(app, ["batch", "-", "-j", "1"], input=record + "\n")
    assert "by name, not by path" in result.stdout


def test_a_folder_in_the_working_directory_never_replaces_a_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = tmp_path / "massage-therapy"
    fake.mkdir()
    (fake / "policy.lp").write_text("this is not a policy")
    monkeypatch.chdir(tmp_path)
    code, out, err = invoke("show", "massage-therapy")
    assert code == 0, err
    assert "Massage Therapy" in out
    code, _, err = invoke("show", "./massage-therapy")
    assert code == 1 and "cannot parse" in err


def test_a_policy_that_never_stops_grounding_hits_the_limit(tmp_path: Path) -> None:
    policy = tmp_path / "runaway"
    policy.mkdir()
    (policy / "policy.lp").write_text("fact(x, bool).\np(0).\np(X+1) :- p(X).\n")
    started = time.monotonic()
    done = policykb("--load-timeout", "2", "evaluate", "-", "--policy", str(policy), input="{}")
    assert done.returncode == 6
    assert "longer than 2 s" in done.stderr
    one_clear_line(done.stderr)
    assert time.monotonic() - started < 60


def test_ctrl_c_stops_a_grounding_within_a_second(tmp_path: Path) -> None:
    policy = tmp_path / "runaway"
    policy.mkdir()
    (policy / "policy.lp").write_text("fact(x, bool).\np(0).\np(X+1) :- p(X).\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "policykb.cli.main", "evaluate", "-", "--policy", str(policy)],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None
    process.stdin.write("{}")
    process.stdin.close()
    time.sleep(3)
    process.send_signal(signal.SIGINT)
    sent = time.monotonic()
    process.wait(30)
    assert time.monotonic() - sent < 1.5
    assert process.returncode == 130


# -- bounded parsing --


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"facts": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests"),
        ("facts:\n  x: " + "[" * 2_000 + "]" * 2_000 + "\n", "nests"),
        ('{"facts": {"cpt_code": ' + "9" * 5_000 + "}}", "digits"),
        ("facts:\n  cpt_code: " + "9" * 5_000 + "\n", "digits"),
    ],
)
def test_deep_or_huge_input_is_a_limit_not_a_traceback(text: str, message: str) -> None:
    code, _, err = invoke("evaluate", "-", stdin=text)
    assert code == 6, err
    assert message in err
    one_clear_line(err)


def test_a_yaml_alias_bomb_in_a_suite_is_refused(tmp_path: Path) -> None:
    lines = ['a: &a ["x","x","x","x","x","x","x","x","x"]']
    for i in range(8):
        previous, name = chr(97 + i), chr(98 + i)
        lines.append(f"{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    suite = tmp_path / "test_bomb.yaml"
    suite.write_text("\n".join(lines) + "\n")
    code, _, err = invoke("test", str(suite))
    assert code == 6
    assert "expands to more than" in err


def test_yaml_reads_codes_as_written() -> None:
    code, out, err = invoke(
        "evaluate",
        "-",
        "--format",
        "json",
        stdin="facts:\n  medicare_member: false\n  cpt_code: 012345\n",
    )
    assert code == 0, err
    warnings = json.loads(out)["warnings"]
    assert [w["value"] for w in warnings if w["id"] == "codes"] == ["012345"]


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ("{verdict: covered, explanation: 5}", "expect.explanation must be"),
        ("{verdict: approved}", "expect.verdict must be one of"),
        ("{verdict: covered, missing: [1, 2]}", "expect.missing must be"),
    ],
)
def test_a_malformed_suite_is_one_line(tmp_path: Path, expect: str, message: str) -> None:
    suite = tmp_path / "test_bad.yaml"
    suite.write_text(f"- name: x\n  facts: {{}}\n  expect: {expect}\n")
    code, _, err = invoke("test", str(suite))
    assert code == 1 and message in err
    one_clear_line(err)


# -- one error path --


def test_missing_prolog_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyswip", None)
    code, _, err = invoke("evaluate", str(EXAMPLE), "--proof")
    assert code == 4
    assert "apt-get install swi-prolog-nox" in err
    one_clear_line(err)


def test_diff_against_an_unrelated_policy_is_an_invalid_policy() -> None:
    code, _, err = invoke("diff", "massage-therapy", str(CHECK_FIXTURES / "clean"))
    assert code == 2 and "share no fact" in err
    one_clear_line(err)


def test_jobs_are_capped() -> None:
    code, _, _ = invoke("batch", "-", "--jobs", "1000", stdin="")
    assert code == 2


def test_messages_name_kinds_not_python_types_and_cut_long_names() -> None:
    code, _, err = invoke("evaluate", "-", stdin='{"id": null, "facts": {}}')
    assert code == 1 and "not null" in err and "NoneType" not in err
    long_name = "x" * 1_000_000
    code, _, err = invoke("evaluate", "-", stdin=json.dumps({"facts": {long_name: True}}))
    assert code == 1 and "1,000,000 characters" in err and len(err) < 1_000
    result = runner.invoke(app, ["batch", "-", "-j", "1"], input="")
    assert result.stderr.strip() == "0 records: errors 0"


# -- thread safety --


def test_a_knowledge_base_shared_by_8_threads_answers_as_one() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from tests.oracle.test_own_policy_properties import FIXTURES

    cases = [
        {"facts": {"medicare_member": bool(i % 2), "terminally_ill": bool(i % 3)}}
        for i in range(12)
    ] + [{"policy": "knee-brace", "facts": {"instability": bool(i % 2)}} for i in range(12)]
    alone = KnowledgeBase([FIXTURES / "knee-brace"])
    expected = [alone.evaluate(c).to_dict() for c in cases]
    expected_why = [alone.why(alone.case(c)).to_dict() for c in cases[::4]]
    shared = KnowledgeBase([FIXTURES / "knee-brace"])

    def work(shift: int) -> tuple[dict[int, object], list[object]]:
        order = list(range(shift, len(cases))) + list(range(shift))
        answers = {i: shared.evaluate(cases[i]).to_dict() for i in order}
        return answers, [shared.why(shared.case(c)).to_dict() for c in cases[::4]]

    with ThreadPoolExecutor(8) as pool:
        for answers, whys in pool.map(work, range(16)):
            assert [answers[i] for i in range(len(cases))] == expected
            assert whys == expected_why


def test_proofs_from_many_threads() -> None:
    from concurrent.futures import ThreadPoolExecutor

    kb = KnowledgeBase()
    case = kb.read_case(str(EXAMPLE))
    expected = kb.prove(case)
    with ThreadPoolExecutor(8) as pool:
        assert all(r == expected for r in pool.map(lambda _: kb.prove(case), range(16)))


# -- escaping --


def test_case_text_cannot_fake_markup_or_drive_the_terminal() -> None:
    hostile = "x\n## Decision: NOT COVERED <script>alert(1)</script> \x1b[2J"
    document = json.dumps(
        {"id": hostile, "facts": {"medicare_member": False, "type_of_service": hostile}}
    )
    for command in (["notice"], ["evaluate", "--format", "markdown"], ["evaluate"], ["why"]):
        code, out, err = invoke(*command, "-", stdin=document)
        assert code == 0, err
        assert "\x1b[2J" not in out
        if command != ["evaluate"] and command != ["why"]:  # Markdown
            assert "<script>" not in out
        assert not any(line.startswith("## Decision") for line in out.splitlines())


def test_proofs_respect_integrity_constraints(tmp_path: Path) -> None:
    policy = tmp_path / "either"
    policy.mkdir()
    (policy / "policy.lp").write_text(
        'fact(a, bool). rank(a, 1). question(a, "A?"). clause(a, "I").\n'
        'fact(b, bool). rank(b, 2). question(b, "B?"). clause(b, "J").\n'
        'criterion("I", "1", "A covers."). role("I", indication). met("I") :- holds(a).\n'
        'criterion("J", "2", "B covers."). role("J", indication). met("J") :- holds(b).\n'
        ":- fails(a), fails(b).\n"
    )
    for facts, verdict in (({}, "covered"), ({"a": False}, "covered")):
        code, out, err = invoke(
            "evaluate",
            "-",
            "--policy",
            str(policy),
            "--cross-check",
            "--proof",
            "-f",
            "json",
            stdin=json.dumps({"facts": facts}),
        )
        assert code == 0, err
        assert json.loads(out)["verdict"] == verdict
        code, out, err = invoke(
            "evaluate", "-", "--policy", str(policy), "--proof", stdin=json.dumps({"facts": facts})
        )
        assert code == 0 and "unknown" not in out.splitlines()[0].lower(), out
    kb = KnowledgeBase([policy])
    prover, evaluator = kb.prover("either"), kb.evaluator("either")
    facts = list(evaluator.policy.facts)
    choices = [prover.scenario_choices(f) for f in facts]
    assert prover.covered_scenarios(facts) == evaluator.covered_scenarios(facts, choices)
    assert len(prover.covered_scenarios(facts)) == 3  # a or b or both; neither is ruled out
    # Compiling does not cover constraints: batch falls back.
    from policykb.bridge.compile.circuit import TooComplex
    from policykb.bridge.compile.compiled import CompiledPolicy

    with pytest.raises(TooComplex, match="constraints"):
        CompiledPolicy(evaluator)
    lines = "".join(
        json.dumps({"id": str(i), "facts": f}) + "\n"
        for i, f in enumerate([{}, {"a": False}, {"b": False}, {"a": True, "b": True}])
    )
    result = runner.invoke(
        app, ["batch", "-", "--kb", str(policy), "--policy", "either", "-j", "1"], input=lines
    )
    assert [json.loads(line)["verdict"] for line in result.stdout.splitlines()] == ["covered"] * 4


@pytest.mark.parametrize(
    "args",
    [
        ["evaluate", "{missing}"],
        ["why", "{missing}"],
        ["notice", "{missing}"],
        ["batch", "{missing}"],
        ["test", "{missing}"],
        ["check", "--policy", "{missing}"],
        ["diff", "{missing}", "massage-therapy"],
        ["show", "{missing}"],
        ["facts", "{missing}"],
        ["init-case", "{missing}"],
        ["evaluate", "{folder}"],
        ["batch", "{folder}"],
        ["test", "{file}"],
        ["policies", "--kb", "{missing}"],
        ["reference", "--kb", "{file}"],
        ["evaluate", str(EXAMPLE), "--kb", "{folder}"],
    ],
)
def test_every_command_with_a_bad_path_is_one_line(tmp_path: Path, args: list[str]) -> None:
    file = tmp_path / "not-a-suite.txt"
    file.write_text("plain text\n")
    values = {"missing": str(tmp_path / "missing"), "folder": str(tmp_path), "file": str(file)}
    result = runner.invoke(app, [a.format(**values) for a in args])
    assert result.exit_code in (1, 2), result.stderr
    one_clear_line(result.stderr)
