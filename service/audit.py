"""The audit log: one JSON line per decision, chained (its replay is audit_replay.py).

An entry holds the time, the coverage-assertion-id, the policy's name and
content hash, the facts and their hash, the verdict and the cited criteria,
the date of service whose policy version decided (never null: an undated
decision records the day it was decided), who asked (the bearer token's
`iss` and `sub`, when there is one), and for CRD the hook instance and the
order. The facts are kept so that `policykb replay` can decide the entry
again; the log therefore holds clinical facts and is to be kept like the
records it came from.

Invariants:
- Each entry's `prev_hash` is the SHA-256 of the previous line's bytes (64
  zeros for the first): a hash chain, as in transparency logs, so an entry
  edited, removed or inserted breaks the chain at the next entry. (What the
  chain cannot show is a rewrite of every entry from one on: keep the head's
  hash, which `replay` prints, somewhere else to rule that out.)
- Entries are written with one write(2) on a file opened for appending,
  under an exclusive flock, and are on disk (fsync) before the decision is
  returned: entries of concurrent requests, threads and workers never
  interleave, the chain runs through the workers' entries in file order, and
  a returned decision is recorded. Concurrent decisions share their write
  and fsync (group commit): with sync, one thread per log (started on the
  first entry) takes the entries queued since its last fsync, chains them
  and writes them together (one check of the path, one flock, one write),
  then fsyncs; `durable` hands a caller a Future to wait on, so a waiting
  request holds no thread. A failed write or fsync fails every entry it was
  to cover (AuditUnavailable), whenever their wait is asked for: after a
  failed fsync the kernel may have dropped those pages, so none of them is
  called durable. Without sync, each entry is written by its caller.
- Every line is one JSON value holding no raw control or line-separator
  character (C0, DEL, C1, U+2028, U+2029): they are written as \\uXXXX.
- Before each write the open file is checked to be the file at the path: a
  log deleted or replaced while serving, or a full disk, raises
  AuditUnavailable (the service answers 503) and nothing is decided until
  the file is back.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import re
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from policykb.bridge.model.errors import OutputError

if TYPE_CHECKING:
    from policykb.service.decisions import Decision

GENESIS = "0" * 64
"""The prev_hash of a log's first entry."""

ENTRY_KEYS = (
    "time",
    "prev_hash",
    "coverage_assertion_id",
    "channel",
    "policy",
    "policy_hash",
    "facts_hash",
    "facts",
    "date_of_service",
    "verdict",
    "criteria",
)

REQUESTER: ContextVar[dict[str, str] | None] = ContextVar("policykb_requester", default=None)
"""Who asks for the decision being made (set by the service's auth guard)."""

MAX_CLAIM = 256
TAIL_BLOCK = 1 << 16


class AuditUnavailable(OutputError):
    """The audit log cannot take an entry now (deleted, replaced, disk full):
    no decision is returned until it can (the service answers 503)."""


def requester(claims: Mapping[str, Any]) -> dict[str, str] | None:
    """The requester of a verified token's claims: its `iss` and `sub` (strings)."""
    found = {
        key: value[:MAX_CLAIM]
        for key in ("iss", "sub")
        if isinstance(value := claims.get(key), str)
    }
    return found or None


_RAW = re.compile(rb"\x7f|\xc2[\x80-\x9f]|\xe2\x80[\xa8\xa9]")


def json_line(entry: Mapping[str, Any]) -> bytes:
    """An entry as one JSON line with every control and separator character
    escaped (orjson escapes C0; DEL, C1, U+2028 and U+2029 it writes raw, and
    in UTF-8 they can only stand inside a string, so a byte substitution is exact)."""
    raw = orjson.dumps(entry)
    return _RAW.sub(lambda m: b"\\u%04x" % ord(m.group().decode("utf-8")), raw) + b"\n"


def line_hash(line: bytes) -> str:
    """The hash the next entry's prev_hash names: of the line without its newline."""
    return hashlib.sha256(line.rstrip(b"\r\n")).hexdigest()


def facts_digest(facts: object) -> bytes:
    """The facts as hashed: sorted keys, compact JSON."""
    return orjson.dumps(facts, option=orjson.OPT_SORT_KEYS)


FEEDBACK = "feedback"
"""The channel of CDS Hooks feedback entries: chained, never decided again."""
TRACE_SEPARATOR = "-"
"""Between an assertion id's content part and its per-request trace (CRD)."""


def assertion_id(policy: str, version: str, stated: bytes) -> str:
    return hashlib.sha256(f"{policy}\0{version}\0".encode() + stated).hexdigest()[:32]


class AuditLog:
    """Appends chained decision entries to a JSONL file (created when missing).
    Safe to share between threads; several processes may append to one file."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        self._lock = threading.Lock()  # appending
        self._appended = self._synced = 0
        # guards _synced, _queued, _failed, _waiting, _syncer, _closed (and, with
        # sync, _appended)
        self._syncs = threading.Condition()
        self._queued: list[dict[str, Any]] = []  # with sync: entries the syncer is to write
        self._failed: list[tuple[int, int, AuditUnavailable]] = []  # entries never on disk
        self._waiting: list[tuple[int, Sequence[int], Future[None]]] = []
        self._syncer: threading.Thread | None = None
        self._closed = False
        self._tail: tuple[int, str] | None = None  # (size after my last write, its hash)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise OutputError(f"audit log {path}: {error.strerror}") from None
        opened = os.fstat(self._fd)
        self._identity = (opened.st_dev, opened.st_ino)

    def _check_in_place(self) -> None:
        """AuditUnavailable unless the path still names the file open here."""
        try:
            info = os.stat(self.path)
        except OSError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != self._identity:
            raise AuditUnavailable(
                f"audit log {self.path} was deleted or replaced: decisions are refused "
                "until it is back"
            )

    def _previous(self, size: int) -> tuple[str, bytes]:
        """The hash of the last line of the first `size` bytes, and what to write
        before the next entry (a newline after a torn last line, so it stays a
        line of its own that replay reports)."""
        if size == 0:
            return GENESIS, b""
        if self._tail is not None and self._tail[0] == size:
            return self._tail[1], b""
        last = os.pread(self._fd, 1, size - 1)
        separator = b"" if last == b"\n" else b"\n"
        position = size - 1 if last == b"\n" else size
        collected = b""  # always the bytes from `position` to the last line's end
        while position > 0:
            step = min(TAIL_BLOCK, position)
            position -= step
            collected = os.pread(self._fd, step, position) + collected
            cut = collected.rfind(b"\n")
            if cut >= 0:
                return line_hash(collected[cut + 1 :]), separator
        return line_hash(collected), separator

    def record(
        self,
        decision: Decision,
        channel: str,
        *,
        durable: bool = True,
        about: Mapping[str, str] | None = None,
    ) -> int:
        """Append the decision's entry and (durable) wait until it is on disk;
        its number, for `wait`, when not durable. `about`: the CRD hook
        instance and order id."""
        from policykb.service.decisions import facts_json

        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "prev_hash": GENESIS,
            "coverage_assertion_id": decision.assertion_id,
            "channel": channel,
            "policy": decision.policy.name,
            "policy_hash": decision.version,
            "facts_hash": decision.facts_hash,
            "facts": facts_json(decision.case),
            "date_of_service": decision.service_date.isoformat(),
            "verdict": decision.verdict.value,
            "criteria": decision.cited,
            "requester": REQUESTER.get(),
            "hook_instance": (about or {}).get("hook_instance"),
            "order_id": (about or {}).get("order_id"),
        }
        return self._append(entry, durable)

    def record_feedback(
        self, service: str, feedback: list[dict[str, Any]], *, durable: bool = True
    ) -> int:
        """Append a CDS Hooks feedback entry (what the user did with cards or
        suggestions, as the client sent it) to the chain; its number, as `record`."""
        entry: dict[str, Any] = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "prev_hash": GENESIS,
            "channel": FEEDBACK,
            "service": service,
            "feedback": feedback,
            "requester": REQUESTER.get(),
        }
        return self._append(entry, durable)

    def _append(self, entry: dict[str, Any], durable: bool) -> int:
        """The entry's number: with sync, queued for the syncer, which writes
        the entries waiting together before its fsync; without, written here."""
        if not self.sync:
            with self._lock:
                self._write_lines([entry])
                self._appended += 1
                return self._appended
        with self._syncs:
            if self._closed:
                raise AuditUnavailable(f"audit log {self.path} is closed")
            self._queued.append(entry)
            self._appended += 1
            mine = self._appended
            self._start_syncer()
            self._syncs.notify()
        if durable:
            self.wait(mine)
        return mine

    def _write_lines(self, entries: list[dict[str, Any]]) -> None:
        """Chain the entries after the file's last line and append them with
        one write(2), under the file's lock (AuditUnavailable, and none of
        them written, if the file was replaced or the write fails)."""
        self._check_in_place()
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            size = os.fstat(self._fd).st_size
            previous, separator = self._previous(size)
            lines = []
            for entry in entries:
                entry["prev_hash"] = previous
                lines.append(json_line(entry))
                previous = line_hash(lines[-1])
            data = separator + b"".join(lines)
            self._write(data, size)
            self._tail = (size + len(data), previous)
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def _write(self, data: bytes, size: int) -> None:
        """Append `data` whole, or leave the file as it was and raise AuditUnavailable."""
        try:
            written = os.write(self._fd, data)
            failure = None if written == len(data) else "short write"
        except OSError as error:
            failure = _reason(error)
        if failure is not None:
            with contextlib.suppress(OSError):  # no torn entry for the next one to follow
                os.ftruncate(self._fd, size)
            self._tail = None
            raise AuditUnavailable(f"audit log {self.path}: {failure}")

    def wait(self, entry: int) -> None:
        """Return once entry `entry` is on disk (at once without sync);
        AuditUnavailable if the fsync that was to cover it failed."""
        self.durable(entry).result()

    def durable(self, entry: int, earlier: Sequence[int] = ()) -> Future[None]:
        """A Future done once entry `entry` (and the `earlier` entries) are on
        disk (at once without sync), or failed with AuditUnavailable. Group
        commit: one fsync covers every entry written before it began, so
        concurrent decisions share it."""
        future: Future[None] = Future()
        if not self.sync:
            future.set_result(None)
            return future
        with self._syncs:
            failure = self._failure([*earlier, entry])
            if failure is not None:
                future.set_exception(failure)
            elif self._synced >= entry:
                future.set_result(None)
            elif self._closed:
                future.set_exception(AuditUnavailable(f"audit log {self.path} is closed"))
            else:
                self._waiting.append((entry, earlier, future))
                self._start_syncer()
                self._syncs.notify()
        return future

    def _failure(self, entries: Sequence[int]) -> AuditUnavailable | None:
        """Why one of the entries is not on disk, if its write or fsync failed (under _syncs)."""
        for low, high, failure in self._failed:
            if any(low <= entry <= high for entry in entries):
                return failure
        return None

    def _start_syncer(self) -> None:
        if self._syncer is None:  # under _syncs
            self._syncer = threading.Thread(
                target=self._sync_forever, name="policykb-audit-sync", daemon=True
            )
            self._syncer.start()

    def _sync_forever(self) -> None:
        """Write the entries queued, all with one write(2), then fsync; each
        fsync covers what was written when it began, and settles the waits
        it covers. Entries whose write or fsync failed fail their waits, now
        and later."""
        while True:
            with self._syncs:
                while not self._waiting and not self._queued and not self._closed:
                    self._syncs.wait()
                if not self._waiting and not self._queued:
                    return
                entries, self._queued = self._queued, []
                covered = self._appended
            failure: AuditUnavailable | None = None
            try:
                if entries:
                    with self._lock:
                        self._write_lines(entries)
                os.fsync(self._fd)
            except AuditUnavailable as error:
                failure = error
            except OSError as error:
                failure = AuditUnavailable(f"audit log {self.path}: {_reason(error)}")
            except Exception as error:  # e.g. an entry orjson cannot write: the syncer lives on
                failure = AuditUnavailable(f"audit log {self.path}: an entry failed ({error})")
            with self._syncs:
                if failure is None:
                    self._synced = max(self._synced, covered)
                elif (
                    self._failed
                    and self._failed[-1][0] == self._synced + 1
                    and str(self._failed[-1][2]) == str(failure)
                ):  # the same failure, no success since: one range
                    self._failed[-1] = (self._synced + 1, covered, self._failed[-1][2])
                else:
                    self._failed.append((self._synced + 1, covered, failure))
                settled = [
                    (future, failure or self._failure(earlier))
                    for entry, earlier, future in self._waiting
                    if entry <= covered
                ]
                self._waiting = [w for w in self._waiting if w[0] > covered]
            for future, failed in settled:
                if failed is None:
                    future.set_result(None)
                else:
                    future.set_exception(failed)

    def close(self) -> None:
        """Settle the entries waiting for their fsync, then close the file."""
        with self._syncs:
            self._closed = True
            self._syncs.notify()
            syncer = self._syncer
        if syncer is not None:
            syncer.join()
        os.close(self._fd)


def _reason(error: OSError) -> str:
    return "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))
