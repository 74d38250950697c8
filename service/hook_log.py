"""The CRD hook log: every CDS Hooks call and the answer it got, kept in
full for a dispute (CRD found-37: "retain logs of all CRD-related hook
invocations and their responses").

One row per call to /cds-services/{id}: when, the service, the hook
instance, the requester the token named, the HTTP status, the request body
as received, the answer as sent (or, for a refused call, its one-line
reason), and the resources read from the client's fhirServer for it; each
body zlib-compressed, with the SHA-256 of its uncompressed bytes.

Volume and PHI: a call carries the patient's prefetch (a few kB to a few
hundred kB; compressed about 5 to 10 times smaller), so the log holds PHI
and grows with every call. It is a SQLite file next to the audit log
(`--hook-log`, default the audit log's path + `.hooks.sqlite`), shared by
the workers, never pruned by the service: retention and access control are
the deployment's, as for the audit log. The audit log's hash chain keeps
each decision; this log keeps what was asked and answered.

Invariants: a row is written before the answer is sent (a client never
holds an answer the log lacks); a row is never changed; `get` returns the
bodies only when they still match their SHA-256 (LogCorrupt otherwise).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from policykb.service.shared_sqlite import open_store

SCHEMA = """CREATE TABLE IF NOT EXISTS hook_call (
    id INTEGER PRIMARY KEY,
    at REAL NOT NULL,
    service TEXT NOT NULL,
    hook_instance TEXT,
    requester TEXT,
    status INTEGER NOT NULL,
    request_sha256 TEXT NOT NULL,
    request BLOB NOT NULL,
    response_sha256 TEXT NOT NULL,
    response BLOB NOT NULL,
    fetched BLOB
)"""


class LogUnavailable(Exception):
    """The hook log cannot be written or read (one line saying why)."""


class LogCorrupt(Exception):
    """A kept body no longer matches its SHA-256."""


@dataclass(frozen=True)
class HookCall:
    at: float
    service: str
    hook_instance: str | None
    requester: dict[str, str] | None
    status: int
    request: bytes
    response: bytes
    fetched: list[dict[str, Any]] | None


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def hook_instance(body: bytes) -> str | None:
    """The call's hookInstance, when its body is a JSON object that has one."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    found = document.get("hookInstance") if isinstance(document, dict) else None
    return found[:256] if isinstance(found, str) else None


class HookLog:
    """Hook calls and their answers, in memory or in a SQLite file shared by workers."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        try:
            self._db = open_store(path, [SCHEMA], relaxed_sync=True)
        except sqlite3.Error as error:
            raise LogUnavailable(f"hook log {path}: {error}") from None

    def record(
        self,
        service: str,
        request: bytes,
        status: int,
        response: bytes,
        requester: dict[str, str] | None = None,
        fetched: list[dict[str, Any]] | None = None,
    ) -> int:
        """Keep one call and its answer; the row's id."""
        row = (
            time.time(),
            service,
            hook_instance(request),
            orjson.dumps(requester).decode() if requester else None,
            status,
            _digest(request),
            zlib.compress(request),
            _digest(response),
            zlib.compress(response),
            zlib.compress(orjson.dumps(fetched)) if fetched else None,
        )
        with self._lock:
            try:
                cursor = self._db.execute(
                    "INSERT INTO hook_call (at, service, hook_instance, requester, status,"
                    " request_sha256, request, response_sha256, response, fetched)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    row,
                )
            except sqlite3.Error as error:
                raise LogUnavailable(f"the hook log cannot be written ({error})") from None
        return int(cursor.lastrowid or 0)

    def ids(self, hook: str | None = None) -> list[int]:
        """The rows kept (of one hook instance), oldest first."""
        query = "SELECT id FROM hook_call"
        parameters: tuple[str, ...] = ()
        if hook is not None:
            query, parameters = query + " WHERE hook_instance = ?", (hook,)
        with self._lock:
            return [row[0] for row in self._db.execute(query + " ORDER BY id", parameters)]

    def get(self, ident: int) -> HookCall | None:
        with self._lock:
            rows = self._db.execute(
                "SELECT at, service, hook_instance, requester, status, request_sha256,"
                " request, response_sha256, response, fetched FROM hook_call WHERE id = ?",
                (ident,),
            ).fetchall()
        if not rows:
            return None
        (
            at,
            service,
            hook,
            requester,
            status,
            request_sha,
            request,
            response_sha,
            response,
            fetched,
        ) = rows[0]
        request, response = zlib.decompress(request), zlib.decompress(response)
        if _digest(request) != request_sha or _digest(response) != response_sha:
            raise LogCorrupt(f"hook log row {ident}: a body does not match its SHA-256")
        return HookCall(
            at,
            service,
            hook,
            orjson.loads(requester) if requester else None,
            status,
            request,
            response,
            orjson.loads(zlib.decompress(fetched)) if fetched else None,
        )

    def close(self) -> None:
        self._db.close()
