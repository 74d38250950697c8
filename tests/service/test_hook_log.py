"""CRD found-37: every CDS Hooks call and its answer are kept in the hook
log, in full, before the answer is sent: the IG's own example request, a
call whose prefetch was fetched from the EHR, and a refused call."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from policykb.bridge import KnowledgeBase
from policykb.service import hook_log
from policykb.service.app import create_app
from policykb.service.hook_log import HookLog, LogCorrupt, LogUnavailable
from policykb.service.settings import ServiceSettings
from tests.crd_ig import example
from tests.fhir_server import fhir_server
from tests.service.test_crd import COMPLETE, ehr_record, without_prefetch


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    return tmp_path / "hooks.sqlite"


@pytest.fixture
def client(kb: KnowledgeBase, log_path: Path) -> Iterator[TestClient]:
    settings = ServiceSettings(hook_log=str(log_path))
    with TestClient(create_app(settings, knowledge=kb)) as test_client:
        yield test_client


def test_the_igs_example_call_and_its_answer_are_kept_in_full(
    client: TestClient, log_path: Path
) -> None:
    request = example("CRDServiceRequest2")
    body = json.dumps(request).encode()
    response = client.post(
        "/cds-services/policykb-order-dispatch",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 200, response.text
    log = HookLog(log_path)  # another connection: what any worker or auditor reads
    (ident,) = log.ids(request["hookInstance"])
    kept = log.get(ident)
    assert kept is not None
    assert kept.request == body and kept.response == response.content
    assert kept.service == "policykb-order-dispatch" and kept.status == 200
    assert kept.fetched is None


def test_what_was_read_from_the_ehr_is_kept_with_the_call(
    client: TestClient, log_path: Path
) -> None:
    resources = ehr_record(COMPLETE)
    with fhir_server(resources) as server:
        request = without_prefetch(COMPLETE, server.base)
        response = client.post("/cds-services/policykb-order-sign", json=request)
    assert response.status_code == 200, response.text
    log = HookLog(log_path)
    (ident,) = log.ids(request["hookInstance"])
    kept = log.get(ident)
    assert kept is not None and kept.fetched
    read = {(r["resourceType"], r["id"]) for r in kept.fetched}
    assert read and read <= {(r["resourceType"], r["id"]) for r in resources}


def test_a_refused_call_is_kept_with_its_reason(client: TestClient, log_path: Path) -> None:
    response = client.post(
        "/cds-services/policykb-order-sign", json={"hook": "order-sign", "hookInstance": "h-1"}
    )
    assert response.status_code == 400
    log = HookLog(log_path)
    (ident,) = log.ids("h-1")
    kept = log.get(ident)
    assert kept is not None and kept.status == 400
    assert json.loads(kept.response)["status"] == 400


def test_a_body_changed_in_the_file_is_detected(client: TestClient, log_path: Path) -> None:
    request = example("CRDServiceRequest2")
    client.post("/cds-services/policykb-order-dispatch", json=request)
    log = HookLog(log_path)
    (ident,) = log.ids(request["hookInstance"])
    with sqlite3.connect(log_path) as db:
        db.execute("UPDATE hook_call SET response = ? WHERE id = ?", (zlib.compress(b"{}"), ident))
    with pytest.raises(LogCorrupt):
        log.get(ident)


def test_a_call_whose_audit_entry_cannot_be_synced_is_not_logged_as_answered(
    kb: KnowledgeBase, tmp_path: Path, log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The hook log is written once the answer's audit entries are on disk:
    an fsync that fails answers 503, and no row says the call was answered."""
    settings = ServiceSettings(audit=str(tmp_path / "audit.jsonl"), hook_log=str(log_path))
    request = COMPLETE.hook()
    app = create_app(settings, knowledge=kb)
    audit_fd = app.state.decisions.audit._fd
    real_fsync = os.fsync

    def failing(fd: int) -> None:
        if fd == audit_fd:
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(fd)

    with TestClient(app, raise_server_exceptions=False) as client:
        monkeypatch.setattr(os, "fsync", failing)
        refused = client.post("/cds-services/policykb-order-sign", json=request)
        monkeypatch.undo()
        answered = client.post("/cds-services/policykb-order-sign", json=request)
    assert refused.status_code == 503 and answered.status_code == 200
    log = HookLog(log_path)
    kept = [log.get(ident) for ident in log.ids(request["hookInstance"])]
    assert [(k.status, k.response) for k in kept if k is not None] == [(200, answered.content)]


# -- the writer: group commit, failure, back-pressure -------------------------------------


def calls(count: int) -> list[bytes]:
    return [json.dumps({"hookInstance": f"h-{index}"}).encode() for index in range(count)]


def held_writer(log: HookLog, first: bytes) -> Future[int]:
    """`first` submitted and taken by the writer, which then waits for the
    log's lock (held by the caller)."""
    future = log.submit("policykb-order-sign", first, 200, b"{}")
    deadline = time.monotonic() + 60
    while log._queue.qsize():  # the writer has taken it
        assert time.monotonic() < deadline
        time.sleep(0.005)
    return future


def test_calls_waiting_together_are_committed_in_one_transaction(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = HookLog(log_path)
    transactions: list[int] = []
    insert = log._insert

    def counted(rows: list[tuple[object, ...]]) -> list[int]:
        transactions.append(len(rows))
        return insert(rows)

    monkeypatch.setattr(log, "_insert", counted)
    first, *rest = calls(51)
    with log._lock:
        held = held_writer(log, first)
        futures = [log.submit("policykb-order-sign", body, 200, b"{}") for body in rest]
    ids = [held.result(60), *(future.result(60) for future in futures)]
    assert transactions == [1, 50]
    assert len(set(ids)) == 51
    again = HookLog(log_path)  # another connection sees every row, in order
    assert again.ids() == sorted(ids)
    assert [again.get(i).request for i in sorted(ids)] == [first, *rest]  # type: ignore[union-attr]
    log.close()


def test_a_row_is_committed_only_once_what_it_waits_for_is_done(log_path: Path) -> None:
    """`after` (the answer's audit entries on disk): the row waits for it;
    when it fails, its call fails with that error and no row of it is kept,
    while the calls committed with it are kept."""
    log = HookLog(log_path)
    first, failing, waiting, plain = calls(4)
    synced: Future[None] = Future()
    lost: Future[None] = Future()
    lost.set_exception(OSError(errno.EIO, "the fsync failed"))
    with log._lock:
        held = held_writer(log, first)
        refused = log.submit("policykb-order-sign", failing, 200, b"{}", after=lost)
        answered = log.submit("policykb-order-sign", waiting, 200, b"{}", after=synced)
        other = log.submit("policykb-order-sign", plain, 200, b"{}")
    held.result(60)
    time.sleep(0.2)  # the writer has the batch and waits for `synced`
    assert not answered.done() and not other.done()
    assert HookLog(log_path).ids() == [held.result()]
    synced.set_result(None)
    with pytest.raises(OSError, match="the fsync failed"):
        refused.result(60)
    ids = [held.result(), answered.result(60), other.result(60)]
    kept = HookLog(log_path)
    assert kept.ids() == sorted(ids)
    assert [kept.get(i).request for i in kept.ids()] == [first, waiting, plain]  # type: ignore[union-attr]
    log.close()


def test_a_transaction_that_fails_fails_each_of_its_calls_and_keeps_none(log_path: Path) -> None:
    log = HookLog(log_path)
    first, good, later = calls(3)
    with log._lock:
        held = held_writer(log, first)
        before = log.submit("policykb-order-sign", good, 200, b"{}")
        broken = log.submit("policykb-order-sign", b"{}", None, b"{}")  # type: ignore[arg-type]
    held.result(60)
    for future in (before, broken):
        with pytest.raises(LogUnavailable, match="cannot be written"):
            future.result(60)
    assert log.submit("policykb-order-sign", later, 200, b"{}").result(60)  # the writer goes on
    kept = HookLog(log_path)
    assert [kept.get(i).request for i in kept.ids()] == [first, later]  # type: ignore[union-attr]
    log.close()


def test_a_full_queue_holds_the_caller_until_the_writer_catches_up(
    log_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hook_log, "QUEUED", 2)
    log = HookLog(log_path)
    first, *more = calls(4)
    submitted: list[Future[int]] = []
    with log._lock:
        held_writer(log, first)
        submitted += [log.submit("policykb-order-sign", body, 200, b"{}") for body in more[:2]]
        blocked = threading.Thread(
            target=lambda: submitted.append(log.submit("policykb-order-sign", more[2], 200, b"{}"))
        )
        blocked.start()
        deadline = time.monotonic() + 60
        while not log._queue.not_full._waiters:  # type: ignore[attr-defined]
            assert time.monotonic() < deadline, "submit never waited"
            time.sleep(0.005)
        assert blocked.is_alive() and len(submitted) == 2  # the queue is full: submit waits
    blocked.join(60)
    assert not blocked.is_alive()
    assert all(future.result(60) for future in submitted)
    assert len(HookLog(log_path).ids()) == 4
    log.close()
