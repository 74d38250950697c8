"""The audit log: one JSON line per decision, and its replay.

An entry holds the time, the coverage-assertion-id, the policy's name and
content hash, the facts and their hash, the verdict and the cited criteria.
The facts are kept so that `policykb replay` can decide the entry again; the
log therefore holds clinical facts and is to be kept like the records it
came from.

Each entry is written with one write(2) on a file opened for appending and
is on disk (fsync) before the decision is returned: entries of concurrent
requests and of several workers never interleave, and a returned decision is
recorded. Concurrent decisions share their fsync (group commit).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from policykb.bridge.model.errors import CaseError, OutputError, PolicyKBError

if TYPE_CHECKING:
    from policykb.service.decisions import Decision, Decisions

ENTRY_KEYS = (
    "time",
    "coverage_assertion_id",
    "channel",
    "policy",
    "policy_hash",
    "facts_hash",
    "facts",
    "verdict",
    "criteria",
)


class AuditLog:
    """Appends decision entries to a JSONL file (created when missing)."""

    def __init__(self, path: Path, *, sync: bool = True) -> None:
        self.path = path
        self.sync = sync
        self._lock = threading.Lock()  # appending
        self._syncing = threading.Lock()  # one fsync at a time
        self._appended = self._synced = 0
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as error:
            raise OutputError(f"audit log {path}: {error.strerror}") from None

    def record(self, decision: Decision, channel: str, *, durable: bool = True) -> int:
        """Append the decision's entry and (durable) wait until it is on disk;
        its number, for `sync`, when not durable."""
        from policykb.service.decisions import facts_json

        entry = {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "coverage_assertion_id": decision.assertion_id,
            "channel": channel,
            "policy": decision.policy.name,
            "policy_hash": decision.version,
            "facts_hash": decision.facts_hash,
            "facts": facts_json(decision.case),
            "date_of_service": decision.case.as_of.isoformat() if decision.case.as_of else None,
            "verdict": decision.verdict.value,
            "criteria": decision.cited,
        }
        line = orjson.dumps(entry) + b"\n"
        with self._lock:
            written = os.write(self._fd, line)
            if written != len(line):  # a full disk: the decision must not be returned
                raise OutputError(f"audit log {self.path}: short write")
            self._appended += 1
            mine = self._appended
        if durable:
            self.wait(mine)
        return mine

    def wait(self, entry: int) -> None:
        """Return once entry `entry` is on disk (at once without sync)."""
        if self.sync:
            self._sync(entry)

    def _sync(self, entry: int) -> None:
        """fsync until entry `entry` is on disk. Group commit: one fsync covers
        every entry appended before it began, so concurrent decisions share it."""
        with self._syncing:
            if self._synced >= entry:
                return
            with self._lock:
                covered = self._appended
            os.fsync(self._fd)
            self._synced = covered

    def close(self) -> None:
        os.close(self._fd)


@dataclass(frozen=True)
class Replayed:
    """An entry decided again: what differs now, if anything."""

    line: int
    assertion_id: str
    policy: str
    before: str
    after: str
    criteria_before: list[str]
    criteria_after: list[str]
    policy_changed: bool
    problem: str = ""

    @property
    def differs(self) -> bool:
        return bool(self.problem) or (
            self.before != self.after or self.criteria_before != self.criteria_after
        )

    def to_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"line": self.line, "coverage_assertion_id": self.assertion_id}
        if self.problem:
            return {**entry, "problem": self.problem}
        return {
            **entry,
            "policy": self.policy,
            "verdict": {"then": self.before, "now": self.after},
            "criteria": {"then": self.criteria_before, "now": self.criteria_after},
            "policy_changed": self.policy_changed,
        }


def _entries(path: Path) -> Iterator[tuple[int, bytes]]:
    try:
        with path.open("rb") as stream:
            for number, line in enumerate(stream, 1):
                if line.strip():
                    yield number, line
    except OSError as error:
        raise CaseError(f"{path}: {error.strerror}") from None


def _day(text: object) -> date | None:
    from policykb.bridge.model.dates import require_date

    if text is None:
        return None
    return require_date(
        text, CaseError(f"date_of_service {str(text)[:40]!r} is not a date YYYY-MM-DD")
    )


def replay(path: Path, decisions: Decisions) -> Iterator[Replayed]:
    """Decide every entry of an audit log again (without auditing it again)."""
    for number, line in _entries(path):
        try:
            entry = orjson.loads(line)
            if not isinstance(entry, dict) or any(key not in entry for key in ENTRY_KEYS):
                raise CaseError("not an audit entry")
            policy = entry["policy"]
            if policy not in decisions.policies:
                raise CaseError(f"policy {str(policy)[:80]!r} is not loaded")
            day = _day(entry.get("date_of_service"))  # absent from older entries
            decision = decisions.decide(
                policy, entry["facts"], channel="replay", audit=False, service_date=day
            )
        except orjson.JSONDecodeError as error:
            yield Replayed(number, "", "", "", "", [], [], False, problem=f"not JSON: {error}")
            continue
        except PolicyKBError as error:
            yield Replayed(number, "", "", "", "", [], [], False, problem=str(error))
            continue
        yield Replayed(
            number,
            str(entry["coverage_assertion_id"]),
            policy,
            str(entry["verdict"]),
            decision.verdict.value,
            list(entry["criteria"]),
            decision.cited,
            entry["policy_hash"] != decision.version,
        )
