"""Used token ids (JWT `jti`), so that a token is accepted once.

Every worker of `policykb serve --workers N` opens the same SQLite file (WAL
mode, so readers never wait on the writer): the primary key on `jti` makes
the first use an atomic insert, and the second one, in whichever worker it
arrives, a constraint failure. Without a file the ids are kept in memory
(one process: tests and the single-worker service without `--jti-store`).

Invariant: `first_use(jti, expires)` returns for exactly one call per jti
until that jti's token has expired (plus the clock leeway), in every process
that shares the file; a store it cannot use raises StoreUnavailable (the
caller refuses the token: fail closed).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from policykb.service.shared_sqlite import open_store

PURGE_EVERY = 1000  # inserts between removals of expired ids


class Replayed(Exception):
    """The jti was used before."""


class StoreUnavailable(Exception):
    """The store cannot be read or written (one line saying why)."""


class JtiStore:
    """First uses of token ids, in memory or in a SQLite file shared by processes."""

    def __init__(self, path: Path | None, leeway: float) -> None:
        self.path = path
        self.leeway = leeway
        self._lock = threading.Lock()
        self._inserts = 0
        self._memory: dict[str, float] = {}
        self._db: sqlite3.Connection | None = None
        if path is not None:
            try:
                schema = (
                    "CREATE TABLE IF NOT EXISTS used (jti TEXT PRIMARY KEY, expires REAL NOT NULL)"
                )
                self._db = open_store(path, [schema], relaxed_sync=True)
            except sqlite3.Error as error:
                raise StoreUnavailable(f"jti store {path}: {error}") from None

    def first_use(self, jti: str, expires: float) -> None:
        """Record the jti's first use; Replayed when it was used before and
        has not expired since."""
        now = time.time()
        with self._lock:
            self._inserts += 1
            purge = self._inserts % PURGE_EVERY == 0
            if self._db is None:
                self._remember(jti, expires, now, purge)
                return
            try:
                if purge:
                    self._db.execute("DELETE FROM used WHERE expires < ?", (now - self.leeway,))
                # An expired row for the same jti is replaced: its token cannot pass anyway.
                self._db.execute(
                    "DELETE FROM used WHERE jti = ? AND expires < ?", (jti, now - self.leeway)
                )
                self._db.execute("INSERT INTO used (jti, expires) VALUES (?, ?)", (jti, expires))
            except sqlite3.IntegrityError:
                raise Replayed from None
            except sqlite3.Error as error:
                raise StoreUnavailable(f"the jti store cannot be written ({error})") from None

    def _remember(self, jti: str, expires: float, now: float, purge: bool) -> None:
        if purge:
            self._memory = {j: e for j, e in self._memory.items() if e + self.leeway >= now}
        seen = self._memory.get(jti)
        if seen is not None and seen + self.leeway >= now:
            raise Replayed
        self._memory[jti] = expires

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
