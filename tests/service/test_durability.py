"""What a CRD answer promises once the client holds it: its audit entries
and its hook-log row are in their files, and a crash of the service (every
process killed with SIGKILL while calls are under way) loses neither.

The audit entries are also on disk (fsync'd) before the answer is sent,
so they survive the machine's power loss too: that ordering is tested in
test_audit.py (an entry is durable only after an fsync that began after
it); a power cut cannot be staged here. The hook log's rows are committed
to SQLite's WAL without a sync (hook_log.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from policykb.service.hook_log import HookLog
from tests.fhir_records import Record
from tests.service.test_service_hardening import answers_healthz, children, free_port, wait_until

ANSWERS = 40
"""Answers received before the service is killed."""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_every_answer_received_survives_a_kill_of_the_service(tmp_path: Path) -> None:
    audit = tmp_path / "audit.jsonl"
    port = free_port()
    command = [sys.executable, "-m", "policykb.cli.main", "serve", "--port", str(port)]
    command += ["--audit", str(audit), "--workers", "2", "--policy", "bariatric-surgery"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: answers_healthz(port), 120, "the server to start")
        workers = children(process.pid)
        answered: dict[str, bytes] = {}
        enough = threading.Event()
        lock = threading.Lock()

        def client(index: int) -> None:
            url = f"http://127.0.0.1:{port}/cds-services/policykb-order-sign"
            with httpx.Client(timeout=30) as http:
                for sent in range(10_000):
                    body = Record(bmis=[("2026-05-01", 30.0 + index)]).hook()
                    body["hookInstance"] = f"client-{index}-call-{sent}"
                    try:
                        response = http.post(url, json=body)
                    except httpx.HTTPError:
                        return  # the service was killed
                    assert response.status_code == 200, response.text
                    with lock:
                        answered[body["hookInstance"]] = response.content
                        if len(answered) >= ANSWERS:
                            enough.set()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        assert enough.wait(120), "the service did not answer"
        for pid in [*workers, process.pid]:  # a crash: no process finishes anything
            os.kill(pid, signal.SIGKILL)
        for thread in threads:
            thread.join(60)
        with lock:
            received = dict(answered)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(30)
    entries = [orjson.loads(line) for line in audit.read_bytes().splitlines() if line.strip()]
    audited = {entry["hook_instance"] for entry in entries}
    assert set(received) <= audited
    log = HookLog(Path(f"{audit}.hooks.sqlite"))
    for instance, answer in received.items():
        rows = [log.get(ident) for ident in log.ids(instance)]
        assert [(row.status, row.response) for row in rows if row is not None] == [(200, answer)]
