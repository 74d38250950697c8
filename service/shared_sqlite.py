"""The SQLite connection every service store opens the same way.

The hook log, the PAS store, the jti store, the access tokens and the
Subscriptions each keep their rows in memory (no path) or in one SQLite file
that several workers share. They differ in their tables and in how they wrap
errors, not in how the connection is made, which is this module's one job.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from pathlib import Path


def open_store(
    path: Path | None, schema: Iterable[str], *, relaxed_sync: bool
) -> sqlite3.Connection:
    """A connection to the store at `path` (in memory when None), its `schema`
    statements run.

    Invariants: autocommit (isolation_level None: each statement commits, so
    one worker's write is seen by the next reader); a 5 s busy timeout so
    workers wait for each other's writes instead of failing; usable from any
    thread (each store serialises its own use with a lock). A file is put in
    WAL mode, so readers do not block the writer. `relaxed_sync` sets
    synchronous=NORMAL on a file: in WAL mode a commit may be lost on power
    failure but the file is never corrupted. sqlite3.Error propagates: each
    store words it for its own caller.
    """
    db = sqlite3.connect(
        path if path is not None else ":memory:",
        timeout=5.0,
        isolation_level=None,
        check_same_thread=False,
    )
    if path is not None:
        db.execute("PRAGMA journal_mode=WAL")
        if relaxed_sync:
            db.execute("PRAGMA synchronous=NORMAL")
    for statement in schema:
        db.execute(statement)
    return db
