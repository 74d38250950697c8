"""The audit log (issue 26): chained, escaped, thread- and worker-safe,
refused when gone or full, and a replay that catches every edit.

Each probe of the issue is a regression test here: edited facts, a forged
denial, a malformed entry, ANSI escapes, /dev/null, undated decisions, a
deleted log, a full disk, U+2028 and U+0085, requester / hook / order."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.cli.main import app as cli
from policykb.service import decisions as decisions_module
from policykb.service.app import create_app
from policykb.service.audit import (
    GENESIS,
    REQUESTER,
    AuditLog,
    AuditUnavailable,
    assertion_id,
    facts_digest,
    json_line,
    line_hash,
)
from policykb.service.audit_replay import Chain, replay
from policykb.service.decisions import Decisions
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record

runner = CliRunner()
CASES = [
    {"medicare_member": True},
    {"medicare_member": False, "ordered_by_treating_physician": False},
    {"medicare_member": False, "terminally_ill": True},
]
RAW_SEPARATORS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@pytest.fixture(scope="module")
def knowledge() -> KnowledgeBase:
    return KnowledgeBase()


@pytest.fixture
def audited(tmp_path: Path, knowledge: KnowledgeBase) -> Iterator[tuple[Decisions, Path]]:
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, sync=False)
    yield Decisions(knowledge, log, compile_now=False), path
    log.close()


def strict_jsonl(path: Path) -> list[dict[str, Any]]:
    """Each line one JSON object, with no raw control or separator character
    (a reader that splits on U+2028 or U+0085 sees the same lines)."""
    data = path.read_bytes()
    assert data.endswith(b"\n")
    text = data.decode("utf-8")
    lines = text[:-1].split("\n")
    assert text.splitlines() == lines  # no other line break anywhere
    entries = []
    for line in lines:
        assert not RAW_SEPARATORS.search(line), line
        entry = orjson.loads(line)
        assert isinstance(entry, dict)
        entries.append(entry)
    return entries


def chain_holds(path: Path) -> bool:
    previous = GENESIS
    for line in path.read_bytes().splitlines():
        if orjson.loads(line)["prev_hash"] != previous:
            return False
        previous = line_hash(line)
    return True


def replayed(path: Path, *extra: str) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(cli, ["replay", str(path), "--format", "json", *extra])
    assert "Traceback" not in result.stderr
    return result.exit_code, orjson.loads(result.stdout) if result.stdout else {}


# -- the entries ---------------------------------------------------------------------


def test_entries_chain_and_name_the_date_used_and_replay_clean(
    audited: tuple[Decisions, Path],
) -> None:
    decisions, path = audited
    for facts in CASES:
        decisions.decide("massage-therapy", facts, channel="api")
    entries = strict_jsonl(path)
    assert entries[0]["prev_hash"] == GENESIS and chain_holds(path)
    # Undated decisions name the day decided, never null.
    assert all(e["date_of_service"] == date.today().isoformat() for e in entries)
    assert all(e["requester"] is None and e["order_id"] is None for e in entries)
    code, report = replayed(path)
    assert (code, report["entries"], report["bad"], report["differ"]) == (0, 3, 0, [])
    assert report["chain_head"] == line_hash(path.read_bytes().splitlines()[-1])


def test_concurrent_threads_and_two_writers_keep_one_chain(
    tmp_path: Path, knowledge: KnowledgeBase
) -> None:
    """Decisions are made in a thread pool, by several workers: the chain runs
    through every entry in file order, no line torn."""
    path = tmp_path / "audit.jsonl"
    logs = [AuditLog(path, sync=False), AuditLog(path, sync=False)]  # two workers
    both = [Decisions(knowledge, log, compile_now=False) for log in logs]
    errors: list[BaseException] = []

    def work(index: int) -> None:
        try:
            for round_ in range(25):
                facts = CASES[(index + round_) % len(CASES)]
                both[index % 2].decide("massage-therapy", facts, channel="api")
        except BaseException as error:  # reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(strict_jsonl(path)) == 200
    assert chain_holds(path)
    for log in logs:
        log.close()


@given(st.text())
def test_every_control_and_separator_is_escaped(text: str) -> None:
    line = json_line({"text": text, "key": text})
    assert line.endswith(b"\n") and b"\n" not in line[:-1]
    decoded = line[:-1].decode("utf-8")
    assert not RAW_SEPARATORS.search(decoded)
    assert decoded.splitlines() == [decoded]
    assert orjson.loads(line) == {"text": text, "key": text}


def test_a_requester_with_separators_and_escapes_is_written_escaped(
    audited: tuple[Decisions, Path],
) -> None:
    decisions, path = audited
    hostile = "client\u2028\u2029\u0085\x1b[31m\x9b2J\x7f"
    token = REQUESTER.set({"iss": "https://ehr.example", "sub": hostile})
    try:
        decisions.decide("massage-therapy", CASES[0], channel="api")
    finally:
        REQUESTER.reset(token)
    (entry,) = strict_jsonl(path)
    assert entry["requester"] == {"iss": "https://ehr.example", "sub": hostile}


def test_crd_entries_name_the_requester_hook_instance_and_order(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    service = create_app(ServiceSettings(audit=str(log), audit_sync=False))
    request = Record(code="97124").hook()
    with TestClient(service) as client:
        answered = client.post("/cds-services/policykb-order-sign", json=request)
    assert answered.status_code == 200
    (entry,) = strict_jsonl(log)
    order = request["context"]["draftOrders"]["entry"][0]["resource"]
    assert entry["hook_instance"] == request["hookInstance"]
    assert entry["order_id"] == f"{order['resourceType']}/{order['id']}"
    assert entry["date_of_service"] is not None


# -- durable: group commit, waited for without a thread -----------------------------------


@pytest.fixture
def synced(tmp_path: Path, knowledge: KnowledgeBase) -> Iterator[tuple[Decisions, AuditLog]]:
    log = AuditLog(tmp_path / "audit.jsonl", sync=True)
    yield Decisions(knowledge, log, compile_now=False), log
    log.close()


def held_fsync(monkeypatch: pytest.MonkeyPatch, log: AuditLog) -> tuple[threading.Event, list[int]]:
    """os.fsync of the log's file waits for the returned event; the list gets
    an item per fsync of it begun."""
    release, began = threading.Event(), []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        if fd == log._fd:
            began.append(fd)
            assert release.wait(60)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", fsync)
    return release, began


def test_an_entry_is_durable_only_after_an_fsync_that_began_after_it(
    synced: tuple[Decisions, AuditLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Entries appended while an fsync runs wait for the next one, which
    covers them all (one fsync, not one each)."""
    decisions, log = synced
    release, began = held_fsync(monkeypatch, log)
    first: list[int] = []
    decisions.decide("massage-therapy", CASES[0], channel="api", pending=first)
    waiting = decisions.durable(first)
    wait_until_true(lambda: len(began) == 1)  # the first fsync has begun
    later: list[int] = []
    for facts in CASES:
        decisions.decide("massage-therapy", facts, channel="api", pending=later)
    durable_later = decisions.durable(later)
    assert not waiting.done() and not durable_later.done()
    release.set()
    waiting.result(timeout=60)
    durable_later.result(timeout=60)
    assert len(began) == 2  # the later entries shared the second fsync
    assert decisions.durable(later).done()  # on disk: done at once


def test_a_failed_fsync_fails_every_entry_it_was_to_cover_and_the_next_one_recovers(
    synced: tuple[Decisions, AuditLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    decisions, log = synced

    real_fsync = os.fsync

    def failing(fd: int) -> None:
        if fd == log._fd:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", failing)
    pending: list[int] = []
    for facts in CASES:
        decisions.decide("massage-therapy", facts, channel="api", pending=pending)
    futures = [log.durable(entry) for entry in pending]
    for future in futures:
        with pytest.raises(AuditUnavailable, match="Input/output error"):
            future.result(timeout=60)
    monkeypatch.undo()
    decisions.decide("massage-therapy", CASES[0], channel="api")  # durable: waits and returns
    assert len(strict_jsonl(log.path)) == len(CASES) + 1


def test_entries_queued_meanwhile_are_written_together_and_fail_together(
    synced: tuple[Decisions, AuditLog], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With sync, the entries queued while an fsync runs are chained and
    written with one write(2) before the next fsync; a group whose write
    fails (the log replaced, the disk full) fails every entry of it, also
    when its wait is asked for after the failure, and leaves the file whole."""
    decisions, log = synced
    writes: list[int] = []
    real_write = os.write

    def counted(fd: int, data: bytes) -> int:
        if fd == log._fd:
            writes.append(data.count(b"\n"))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", counted)
    release, began = held_fsync(monkeypatch, log)
    first: list[int] = []
    decisions.decide("massage-therapy", CASES[0], channel="api", pending=first)
    wait_until_true(lambda: len(began) == 1)
    later: list[int] = []
    for facts in CASES * 2:
        decisions.decide("massage-therapy", facts, channel="api", pending=later)
    release.set()
    decisions.durable(first + later).result(timeout=60)
    assert writes == [1, len(later)] and len(began) == 2
    assert len(strict_jsonl(log.path)) == 1 + len(later) and chain_holds(log.path)
    monkeypatch.undo()

    before = log.path.read_bytes()
    aside = log.path.with_name("aside.jsonl")
    log.path.rename(aside)
    gone: list[int] = []
    for facts in CASES:
        decisions.decide("massage-therapy", facts, channel="api", pending=gone)
    with pytest.raises(AuditUnavailable, match="deleted or replaced"):
        decisions.durable(gone).result(timeout=60)
    for entry in gone:  # asked for after the failure: still failed
        with pytest.raises(AuditUnavailable, match="deleted or replaced"):
            log.durable(entry).result(timeout=0)
    aside.replace(log.path)

    def full(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])  # a torn group, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(AuditUnavailable, match="disk is full"):
        decisions.decide("massage-therapy", CASES[1], channel="api")
    monkeypatch.undo()
    assert log.path.read_bytes() == before
    decisions.decide("massage-therapy", CASES[2], channel="api")  # durable: waits and returns
    assert decisions.durable(gone[:1]).exception(timeout=0) is not None
    assert len(strict_jsonl(log.path)) == 2 + len(later) and chain_holds(log.path)


def test_closing_the_log_settles_the_entries_waiting(
    tmp_path: Path, knowledge: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = AuditLog(tmp_path / "audit.jsonl", sync=True)
    decisions = Decisions(knowledge, log, compile_now=False)
    release, began = held_fsync(monkeypatch, log)
    pending: list[int] = []
    decisions.decide("massage-therapy", CASES[0], channel="api", pending=pending)
    waiting = decisions.durable(pending)
    wait_until_true(lambda: len(began) == 1)
    closing = threading.Thread(target=log.close)
    closing.start()
    release.set()
    closing.join(60)
    assert not closing.is_alive() and waiting.result(timeout=0) is None


def wait_until_true(condition: Callable[[], bool], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# -- replay catches every edit ---------------------------------------------------------


def logged(decisions: Decisions, path: Path) -> list[dict[str, Any]]:
    for facts in CASES:
        decisions.decide("massage-therapy", facts, channel="api")
    return [orjson.loads(line) for line in path.read_bytes().splitlines()]


def rewrite(path: Path, entries: list[dict[str, Any]]) -> None:
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in entries))


def bad_lines(report: dict[str, Any]) -> dict[int, str]:
    return {e["line"]: e["problem"] for e in report["differ"] if "problem" in e}


def test_edited_facts_are_caught(audited: tuple[Decisions, Path]) -> None:
    decisions, path = audited
    entries = logged(decisions, path)
    entries[0]["facts"]["medicare_member"] = False  # verdict left as it was
    rewrite(path, entries)
    code, report = replayed(path)
    assert code == 1 and report["bad"] >= 1
    assert "facts_hash does not match" in bad_lines(report)[1]


def test_a_forged_denial_with_its_hashes_recomputed_breaks_the_chain(
    audited: tuple[Decisions, Path],
) -> None:
    """Facts, verdict, facts_hash and assertion id edited together: the entry
    is consistent in itself and decides as it says, but the next entry's
    prev_hash no longer names it; at the log's end, the head hash changes."""
    decisions, path = audited
    entries = logged(decisions, path)
    head = line_hash(path.read_bytes().splitlines()[-1])
    for forged_line in (1, 3):
        forged = [dict(e) for e in entries]
        victim = forged[forged_line - 1]
        victim["facts"] = {"medicare_member": True}
        victim["verdict"] = "not_covered"
        victim["criteria"] = decisions.decide(
            "massage-therapy", victim["facts"], channel="api", audit=False
        ).cited
        stated = facts_digest(victim["facts"])
        victim["facts_hash"] = hashlib.sha256(stated).hexdigest()
        victim["coverage_assertion_id"] = assertion_id(
            victim["policy"], victim["policy_hash"], stated
        )
        rewrite(path, forged)
        code, report = replayed(path)
        if forged_line < len(entries):
            assert code == 1
            assert "the chain is broken" in bad_lines(report)[forged_line + 1]
        else:
            assert report["chain_head"] != head  # only an anchored head shows it


def test_malformed_entries_are_reported_by_line_and_replay_goes_on(
    audited: tuple[Decisions, Path],
) -> None:
    decisions, path = audited
    entries = logged(decisions, path)
    lines = [orjson.dumps(e) for e in entries]
    broken = {
        2: b'{"half a line',
        3: b"[1, 2, 3]",
        4: b'{"time": "x"}',
        5: orjson.dumps({**entries[0], "facts": [1, 2]}),
        6: orjson.dumps({**entries[0], "date_of_service": "yesterday"}),
    }
    path.write_bytes(b"\n".join([lines[0], *broken.values(), lines[1], lines[2]]) + b"\n")
    code, report = replayed(path)
    assert code == 1  # not 70
    assert report["entries"] == 8
    bad = bad_lines(report)
    assert set(bad) >= set(broken)
    assert "not JSON" in bad[2] and "not an object" in bad[3] and "no prev_hash" in bad[4]
    decided = {e["line"] for e in report["differ"] if "verdict" in e}
    assert 1 not in bad and 7 in decided  # the entries after are still decided
    assert "the chain is broken" in bad[7] and 8 not in bad  # 8 chains to 7: sound


def test_replay_output_holds_no_raw_escape(audited: tuple[Decisions, Path]) -> None:
    decisions, path = audited
    entries = logged(decisions, path)
    entries[0]["coverage_assertion_id"] = "\x1b[2J\x1b]0;pwned\x07"
    entries[1]["policy"] = "\x1b[31mmassage\u009b"
    rewrite(path, entries)
    result = runner.invoke(cli, ["replay", str(path)])
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\x9b" not in result.stdout
    assert "\\x1b" in result.stdout


@pytest.mark.parametrize("empty", ["/dev/null", "empty"])
def test_an_empty_log_is_zero_entries(tmp_path: Path, empty: str) -> None:
    path = Path(empty) if empty.startswith("/") else tmp_path / empty
    if not path.exists():
        path.write_bytes(b"")
    result = runner.invoke(cli, ["replay", str(path)])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("0 entries replayed, 0 bad, 0 differ")
    missing = runner.invoke(cli, ["replay", str(tmp_path / "missing.jsonl")])
    assert missing.exit_code == 1 and "no such audit log" in missing.stderr


class _DecidedOn(date):
    """A day before the later version took effect (patched in as today)."""

    @classmethod
    def today(cls) -> _DecidedOn:
        return cls(2025, 6, 1)


def test_an_undated_decision_replays_under_the_version_that_decided_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 26: an undated decision was logged with date_of_service null and,
    replayed after a later version took effect, reported a false change."""
    from tests.kb.test_versions import COMFORT, versioned_kb

    kb = versioned_kb(tmp_path / "kb", second='policy(effective, "2026-01-01").')
    path = tmp_path / "audit.jsonl"
    log = AuditLog(path, sync=False)
    monkeypatch.setattr(decisions_module, "date", _DecidedOn)
    decided = Decisions(KnowledgeBase([kb]), log, compile_now=False).decide(
        "massage-therapy", COMFORT, channel="api"
    )
    monkeypatch.undo()
    log.close()
    assert decided.verdict.value == "covered"  # under the 2007 wording
    (entry,) = strict_jsonl(path)
    assert entry["date_of_service"] == "2025-06-01"
    later = Decisions(KnowledgeBase([kb]), compile_now=False)
    assert later.decide("massage-therapy", COMFORT, channel="api", audit=False).verdict.value == (
        "not_covered"
    )  # today the revision is in force
    (again,) = list(replay(path, later, Chain()))
    assert not again.differs and not again.policy_changed


# -- gone, replaced, full: 503 -----------------------------------------------------------


def test_a_deleted_or_replaced_log_is_refused_until_it_is_back(
    audited: tuple[Decisions, Path],
) -> None:
    decisions, path = audited
    decisions.decide("massage-therapy", CASES[0], channel="api")
    aside = path.with_name("aside.jsonl")
    path.rename(aside)
    with pytest.raises(AuditUnavailable, match="deleted or replaced"):
        decisions.decide("massage-therapy", CASES[0], channel="api")
    path.write_bytes(b"")  # another file at the path
    with pytest.raises(AuditUnavailable, match="deleted or replaced"):
        decisions.decide("massage-therapy", CASES[0], channel="api")
    aside.replace(path)  # the log is back
    decisions.decide("massage-therapy", CASES[1], channel="api")
    assert len(strict_jsonl(path)) == 2 and chain_holds(path)


def test_a_full_disk_leaves_the_log_whole_and_refuses(
    audited: tuple[Decisions, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    decisions, path = audited
    decisions.decide("massage-therapy", CASES[0], channel="api")
    before = path.read_bytes()
    real_write = os.write

    def half_then_full(fd: int, data: bytes) -> int:
        real_write(fd, data[: len(data) // 2])  # a torn line, then the disk is full
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", half_then_full)
    with pytest.raises(AuditUnavailable, match="disk is full"):
        decisions.decide("massage-therapy", CASES[1], channel="api")
    monkeypatch.undo()
    assert path.read_bytes() == before  # the torn half was taken back
    decisions.decide("massage-therapy", CASES[1], channel="api")
    assert len(strict_jsonl(path)) == 2 and chain_holds(path)


def test_the_service_answers_503_while_the_log_is_gone_or_the_disk_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "audit.jsonl"
    service = create_app(ServiceSettings(audit=str(log), audit_sync=False))
    case = {"policy": "massage-therapy", "facts": CASES[0]}
    with TestClient(service, raise_server_exceptions=False) as client:
        assert client.post("/v1/evaluate", json=case).status_code == 200
        log.rename(tmp_path / "aside.jsonl")
        gone = client.post("/v1/evaluate", json=case)
        assert gone.status_code == 503
        assert gone.headers["content-type"].startswith("application/problem+json")
        assert "deleted or replaced" in gone.json()["detail"]
        crd = client.post("/cds-services/policykb-order-sign", json=Record(code="97124").hook())
        assert crd.status_code == 503
        assert crd.json()["resourceType"] == "OperationOutcome"
        (tmp_path / "aside.jsonl").rename(log)
        assert client.post("/v1/evaluate", json=case).status_code == 200

        def full(fd: int, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(os, "write", full)
        assert client.post("/v1/evaluate", json=case).status_code == 503
        monkeypatch.undo()
        assert client.post("/v1/evaluate", json=case).status_code == 200
    assert len(strict_jsonl(log)) == 3 and chain_holds(log)
