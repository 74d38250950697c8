"""The audit log: one JSON line per decision, chained, and its replay.

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
- Each entry is written with one write(2) on a file opened for appending,
  under an exclusive flock, and is on disk (fsync) before the decision is
  returned: entries of concurrent requests, threads and workers never
  interleave, the chain runs through the workers' entries in file order, and
  a returned decision is recorded. Concurrent decisions share their fsync
  (group commit): one thread per log (started on the first wait) syncs
  while entries wait for it, and `durable` hands a caller a Future to wait
  on, so a waiting request holds no thread. A failed fsync fails every
  entry it was to cover (AuditUnavailable): after a failed fsync the kernel
  may have dropped those pages, so none of them is called durable.
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
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from policykb.bridge.model.errors import CaseError, OutputError, PolicyKBError

if TYPE_CHECKING:
    from policykb.service.decisions import Decision, Decisions

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
        self._syncs = threading.Condition()  # guards _synced, _waiting, _syncer, _closed
        self._waiting: list[tuple[int, Future[None]]] = []
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
        with self._lock:
            self._check_in_place()
            fcntl.flock(self._fd, fcntl.LOCK_EX)
            try:
                size = os.fstat(self._fd).st_size
                entry["prev_hash"], separator = self._previous(size)
                line = json_line(entry)
                self._write(separator + line, size)
                self._tail = (size + len(separator) + len(line), line_hash(line))
            finally:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            self._appended += 1
            mine = self._appended
        if durable:
            self.wait(mine)
        return mine

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

    def durable(self, entry: int) -> Future[None]:
        """A Future done once entry `entry` is on disk (at once without sync),
        or failed with AuditUnavailable. Group commit: one fsync covers every
        entry appended before it began, so concurrent decisions share it."""
        future: Future[None] = Future()
        if not self.sync:
            future.set_result(None)
            return future
        with self._syncs:
            if self._synced >= entry:
                future.set_result(None)
                return future
            if self._closed:
                future.set_exception(AuditUnavailable(f"audit log {self.path} is closed"))
                return future
            self._waiting.append((entry, future))
            if self._syncer is None:
                self._syncer = threading.Thread(
                    target=self._sync_forever, name="policykb-audit-sync", daemon=True
                )
                self._syncer.start()
            self._syncs.notify()
        return future

    def _sync_forever(self) -> None:
        """fsync while entries wait; each fsync covers what was appended when
        it began, and settles the waits it covers."""
        while True:
            with self._syncs:
                while not self._waiting and not self._closed:
                    self._syncs.wait()
                if not self._waiting:
                    return
            with self._lock:
                covered = self._appended
            failure: AuditUnavailable | None = None
            try:
                os.fsync(self._fd)
            except OSError as error:
                failure = AuditUnavailable(f"audit log {self.path}: {_reason(error)}")
            with self._syncs:
                if failure is None:
                    self._synced = max(self._synced, covered)
                settled = [(e, f) for e, f in self._waiting if e <= covered]
                self._waiting = [(e, f) for e, f in self._waiting if e > covered]
            for _, future in settled:
                if failure is None:
                    future.set_result(None)
                else:
                    future.set_exception(failure)

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


# -- replay -------------------------------------------------------------------------


@dataclass(frozen=True)
class Replayed:
    """An entry checked and decided again: what is wrong with it (`problems`:
    a broken chain, a hash that does not match, an entry that cannot be read
    or decided) and what differs now, if anything."""

    line: int
    assertion_id: str
    policy: str
    before: str
    after: str
    criteria_before: list[str]
    criteria_after: list[str]
    policy_changed: bool
    problems: list[str] = field(default_factory=list)

    @property
    def bad(self) -> bool:
        return bool(self.problems)

    @property
    def problem(self) -> str:
        return "; ".join(self.problems)

    @property
    def decided(self) -> bool:
        return bool(self.after)

    @property
    def changed(self) -> bool:
        """Decided again, to another verdict or other criteria."""
        return self.decided and (
            self.before != self.after or self.criteria_before != self.criteria_after
        )

    @property
    def differs(self) -> bool:
        return self.bad or self.changed

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"line": self.line, "coverage_assertion_id": self.assertion_id}
        if self.problems:
            entry["problems"] = list(self.problems)
            entry["problem"] = self.problem
        if not self.decided:
            return entry
        return {
            **entry,
            "policy": self.policy,
            "verdict": {"then": self.before, "now": self.after},
            "criteria": {"then": self.criteria_before, "now": self.criteria_after},
            "policy_changed": self.policy_changed,
        }


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as stream:
            yield from enumerate(stream, 1)
    except OSError as error:
        raise CaseError(f"{path}: {error.strerror}") from None


def _day(text: object) -> date | None:
    from policykb.bridge.model.dates import require_date

    if text is None:
        return None
    return require_date(
        text, CaseError(f"date_of_service {str(text)[:40]!r} is not a date YYYY-MM-DD")
    )


def _hash_problems(entry: dict[str, Any]) -> list[str]:
    """What the entry's own hashes say against its content."""
    problems = []
    stated = facts_digest(entry["facts"])
    if entry["facts_hash"] != hashlib.sha256(stated).hexdigest():
        problems.append("facts_hash does not match the facts")
    expected = assertion_id(str(entry["policy"]), str(entry["policy_hash"]), stated)
    content = str(entry["coverage_assertion_id"]).split(TRACE_SEPARATOR, 1)[0]
    if content != expected:
        problems.append("coverage_assertion_id does not match the policy, policy_hash and facts")
    return problems


@dataclass
class Chain:
    """The hash of the last line read: the next entry's prev_hash must name it."""

    head: str = GENESIS
    entries: int = 0


def replay(path: Path, decisions: Decisions, chain: Chain | None = None) -> Iterator[Replayed]:
    """Check every entry of an audit log (chain, hashes) and decide it again
    (without auditing it again). A bad entry is reported, never the end of the
    replay. `chain`, when given, ends holding the log's head hash."""
    chain = chain if chain is not None else Chain()
    for number, raw in _lines(path):
        previous, chain.head = chain.head, line_hash(raw)
        if not raw.strip():
            yield Replayed(number, "", "", "", "", [], [], False, ["an empty line"])
            continue
        chain.entries += 1
        problems: list[str] = []
        if not raw.endswith(b"\n"):
            problems.append("the last line is cut short (no newline)")
        try:
            entry = orjson.loads(raw)
        except orjson.JSONDecodeError as error:
            yield Replayed(number, "", "", "", "", [], [], False, [*problems, f"not JSON: {error}"])
            continue
        if isinstance(entry, dict) and entry.get("channel") == FEEDBACK and "feedback" in entry:
            if entry.get("prev_hash") != previous:
                problems.append(f"the chain is broken: prev_hash does not name line {number - 1}")
            if problems:  # feedback is chained, not decided: reported only when bad
                yield Replayed(number, "", "", "", "", [], [], False, problems)
            continue
        missing = [key for key in ENTRY_KEYS if key not in entry] if isinstance(entry, dict) else []
        if not isinstance(entry, dict) or missing:
            what = f"not an audit entry (no {', '.join(missing)})" if missing else "not an object"
            yield Replayed(number, "", "", "", "", [], [], False, [*problems, what])
            continue
        ident = str(entry["coverage_assertion_id"])
        if entry["prev_hash"] != previous:
            problems.append(f"the chain is broken: prev_hash does not name line {number - 1}")
        problems += _hash_problems(entry)
        try:
            policy = entry["policy"]
            if policy not in decisions.policies:
                raise CaseError(f"policy {str(policy)[:80]!r} is not loaded")
            decision = decisions.decide(
                policy,
                entry["facts"],
                channel="replay",
                audit=False,
                as_of=_day(entry["date_of_service"]),
            )
        except PolicyKBError as error:
            yield Replayed(number, ident, "", "", "", [], [], False, [*problems, str(error)])
            continue
        except (TypeError, ValueError, AttributeError) as error:
            what = f"cannot be decided: {type(error).__name__}"
            yield Replayed(number, ident, "", "", "", [], [], False, [*problems, what])
            continue
        yield Replayed(
            number,
            ident,
            str(policy),
            str(entry["verdict"]),
            decision.verdict.value,
            [str(c) for c in entry["criteria"]] if isinstance(entry["criteria"], list) else [],
            decision.cited,
            entry["policy_hash"] != decision.version,
            problems,
        )
