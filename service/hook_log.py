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

Writing: one thread per log takes the calls submitted (`submit`, a Future
per call) and commits every call waiting in one transaction (group commit);
a Future is done once its row is committed, or fails with LogUnavailable
with the rest of its transaction (rolled back: no row of it is kept). A call
may name what must be done before its row is committed (`after`: its
answer's audit entries on disk); the writer waits for it, so the caller
waits for one Future, and when it fails the call fails with its error and
no row of it is kept. The
queue holds at most QUEUED calls; `submit` blocks past it (back-pressure),
though each call waits for its own row, so the calls in flight bound it.
A committed row is in the file (SQLite's WAL, synchronous=NORMAL): it
survives the service's crash or kill; like every WAL commit without a sync,
the last rows may not survive the machine's power loss.

The orders CRD was called for (crd_orders_called: those a call answered 200
left carrying coverage-information) are indexed in `crd_order` by patient and
key, in the same transaction as their call's row, so DTR's adaptive forms
find in one indexed lookup per key whether an order is one (spec-43:
`called_for`). A file written before the index existed (user_version 0) is
indexed from its rows once, when the first worker opens it.
"""

from __future__ import annotations

import contextlib
import hashlib
import queue
import sqlite3
import threading
import time
import zlib
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from policykb.service.crd_orders_called import Key, called_orders
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
ORDER_SCHEMA = """CREATE TABLE IF NOT EXISTS crd_order (
    patient TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    call INTEGER NOT NULL,
    PRIMARY KEY (patient, kind, key)
) WITHOUT ROWID"""
ORDERS_INDEXED = 1
"""The file's user_version once its earlier rows' orders are in crd_order."""


QUEUED = 4096
"""Calls waiting for the writer, at most (submit blocks past it)."""
BATCH = 512
"""Calls committed in one transaction, at most."""
LEVEL = 1
"""zlib's compression level for the bodies: its fastest (compressing was most
of the CPU of making a row; level 1 costs a few percent more space). Any
level reads back with zlib.decompress, so rows written at another level
(earlier files: zlib's default, 6) read as before."""
INSERT_ORDER = "INSERT OR IGNORE INTO crd_order (patient, kind, key, call) VALUES (?, ?, ?, ?)"
INSERT = (
    "INSERT INTO hook_call (at, service, hook_instance, requester, status,"
    " request_sha256, request, response_sha256, response, fetched)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


_Submitted = tuple[tuple[Any, ...], Future[None] | None, Future[int]]
"""A call's fields, what its row waits for, and the Future of its row's id."""


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


class HookLog:
    """Hook calls and their answers, in memory or in a SQLite file shared by workers."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()  # the connection
        self._state = threading.Lock()  # _writer and _closed
        self._queue: queue.Queue[_Submitted | None] = queue.Queue(QUEUED)
        self._writer: threading.Thread | None = None
        self._closed = False
        try:
            self._db = open_store(path, [SCHEMA, ORDER_SCHEMA], relaxed_sync=True)
            self._index_earlier_rows()
        except sqlite3.Error as error:
            raise LogUnavailable(f"hook log {path}: {error}") from None

    def _index_earlier_rows(self) -> None:
        """Index the orders of the rows a file kept before crd_order existed
        (once: the file's user_version says it is done)."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] >= ORDERS_INDEXED:
            return
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if self._db.execute("PRAGMA user_version").fetchone()[0] < ORDERS_INDEXED:
                rows = self._db.execute(
                    "SELECT id, request, response, fetched FROM hook_call WHERE status = 200"
                )
                for ident, request, response, fetched in rows:
                    found = _orders(
                        _loads(zlib.decompress(request)),
                        zlib.decompress(response),
                        orjson.loads(zlib.decompress(fetched)) if fetched else None,
                    )
                    self._index(ident, found)
                self._db.execute(f"PRAGMA user_version = {ORDERS_INDEXED}")
            self._db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")
            raise

    def _index(self, ident: int, found: tuple[str, list[Key]] | None) -> None:
        if found is not None:
            patient, keys = found
            self._db.executemany(INSERT_ORDER, [(patient, kind, key, ident) for kind, key in keys])

    def called_for(self, patient: str, orders: list[list[Key]]) -> bool:
        """Every order (given by the keys it may be known by) is one a CRD
        call for `patient` left carrying coverage-information: one indexed
        lookup per key (LogUnavailable if the log cannot be read)."""
        if not orders:
            return False
        query = "SELECT 1 FROM crd_order WHERE patient = ? AND kind = ? AND key = ? LIMIT 1"
        try:
            with self._lock:
                return all(
                    any(self._db.execute(query, (patient, *key)).fetchone() for key in keys)
                    for keys in orders
                )
        except sqlite3.Error as error:
            raise LogUnavailable(f"the hook log cannot be read ({error})") from None

    def record(
        self,
        service: str,
        request: bytes,
        status: int,
        response: bytes,
        requester: dict[str, str] | None = None,
        fetched: list[dict[str, Any]] | None = None,
    ) -> int:
        """Keep one call and its answer; the row's id once it is committed."""
        return self.submit(service, request, status, response, requester, fetched).result()

    def submit(
        self,
        service: str,
        request: bytes,
        status: int,
        response: bytes,
        requester: dict[str, str] | None = None,
        fetched: list[dict[str, Any]] | None = None,
        *,
        after: Future[None] | None = None,
    ) -> Future[int]:
        """Hand one call and its answer to the writer: a Future of the row's
        id, done once the row is committed (LogUnavailable if it cannot be).
        With `after`, the row is committed only once `after` is done; if it
        fails, the call's Future fails with its exception and no row is kept."""
        future: Future[int] = Future()
        call = (time.time(), service, request, status, response, requester, fetched)
        with self._state:
            if self._closed:
                future.set_exception(LogUnavailable("the hook log is closed"))
                return future
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write_forever, name="policykb-hook-log", daemon=True
                )
                self._writer.start()
        self._queue.put((call, after, future))
        return future

    def _write_forever(self) -> None:
        """Commit the calls waiting, each batch in one transaction, until closed."""
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)  # stop after this batch
                    break
                batch.append(item)
            self._commit(batch)

    def _commit(self, batch: list[_Submitted]) -> None:
        try:
            # The rows are made while the fsyncs they wait for run (off the GIL).
            rows = [_row_and_orders(*call) for call, _, _ in batch]
        except Exception as error:  # every call of the batch learns why: none waits forever
            for _, _, future in batch:
                future.set_exception(error)
            return
        kept = []
        for row, (_, after, future) in zip(rows, batch, strict=True):
            failure = _failure(after)
            if failure is None:
                kept.append((row, future))
            else:
                future.set_exception(failure)
        if not kept:
            return
        try:
            ids = self._insert([row for row, _ in kept])
        except Exception as error:
            for _, future in kept:
                future.set_exception(error)
            return
        for (_, future), ident in zip(kept, ids, strict=True):
            future.set_result(ident)

    def _insert(
        self, rows: list[tuple[tuple[Any, ...], tuple[str, list[Key]] | None]]
    ) -> list[int]:
        """The rows' ids, all committed in one transaction with their orders'
        index entries, or none (LogUnavailable)."""
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                ids = []
                for row, found in rows:
                    ids.append(int(self._db.execute(INSERT, row).lastrowid or 0))
                    self._index(ids[-1], found)
                self._db.execute("COMMIT")
            except sqlite3.Error as error:
                if self._db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self._db.execute("ROLLBACK")
                raise LogUnavailable(f"the hook log cannot be written ({error})") from None
        return ids

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
        """Commit the calls submitted, then close the file."""
        with self._state:
            self._closed = True
            writer = self._writer
        if writer is not None:
            self._queue.put(None)
            writer.join()
        self._db.close()


def _failure(after: Future[None] | None) -> BaseException | None:
    """What `after` failed with, once it is done (None: done, or nothing to wait for)."""
    if after is None:
        return None
    try:
        after.result()
    except Exception as error:
        return error
    return None


def _loads(body: bytes) -> object:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _orders(
    request: object, response: bytes, fetched: list[dict[str, Any]] | None
) -> tuple[str, list[Key]] | None:
    """The patient and keys of the orders an answered call was for."""
    return called_orders(request, _loads(response), fetched)


def _row_and_orders(
    at: float,
    service: str,
    request: bytes,
    status: int,
    response: bytes,
    requester: dict[str, str] | None,
    fetched: list[dict[str, Any]] | None,
) -> tuple[tuple[Any, ...], tuple[str, list[Key]] | None]:
    """A call's table row and, answered 200, the orders it was for (the
    request parsed once for both)."""
    document = _loads(request)
    found = _orders(document, response, fetched) if status == 200 else None
    found_instance = document.get("hookInstance") if isinstance(document, dict) else None
    instance = found_instance[:256] if isinstance(found_instance, str) else None
    return _row(at, service, request, status, response, requester, fetched, instance), found


def _row(
    at: float,
    service: str,
    request: bytes,
    status: int,
    response: bytes,
    requester: dict[str, str] | None,
    fetched: list[dict[str, Any]] | None,
    instance: str | None,
) -> tuple[Any, ...]:
    """A call as its table row: the bodies compressed beside their SHA-256."""
    return (
        at,
        service,
        instance,
        orjson.dumps(requester).decode() if requester else None,
        status,
        _digest(request),
        zlib.compress(request, LEVEL),
        _digest(response),
        zlib.compress(response, LEVEL),
        zlib.compress(orjson.dumps(fetched), LEVEL) if fetched else None,
    )
