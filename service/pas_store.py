"""The prior authorizations answered by `Claim/$submit`, kept so that an
inquiry (`Claim/$inquire`) finds them and an update (a Claim whose
`related.claim` names an earlier one) is decided against them (PAS 2.2.1
"Prior Authorization Inquiries", "Updating authorization requests").

Every worker of `policykb serve --workers N` opens the same SQLite file
(WAL mode, so readers never wait on the writer); without a file the store is
an in-memory SQLite database of one process (tests, and `create_app` without
`pas_store`). An authorization is one row: its number (the ClaimResponse's
`preAuthRef`), the Claim and the response Bundle as sent, and the keys an
inquiry matches on: the patient's identifiers (`system|value` of the Patient
the Claim names, spec-53's member id) and the providers' (of
`Claim.provider` and `Claim.careTeam.provider`, spec-53's NPI), the Claim's
business identifiers (for updates) and the numbers given in its answer
(`preAuthRef` and each item's reviewAction number, REF-BB / REF-NT).

Invariants: rows are never deleted (so rowids grow with each insert, and
"oldest first" is rowid order) (spec-73 asks for six months after the
services; the store keeps them for as long as its file lives). An update
inserts a new row and sets the replaced row's `replaced_by`, in one
transaction, so that `current` of any row in a chain is the chain's last row.
A store that cannot be read or written raises StoreUnavailable.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from policykb.service.shared_sqlite import open_store

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS authorization_ (
        number TEXT PRIMARY KEY,
        stored REAL NOT NULL,
        replaced_by TEXT,
        claim TEXT NOT NULL,
        claim_url TEXT,
        response TEXT NOT NULL
    )""",
    # kind: 'patient', 'provider', 'claim' (a Claim.identifier) or 'number'
    """CREATE TABLE IF NOT EXISTS key_ (
        kind TEXT NOT NULL,
        value TEXT NOT NULL,
        number TEXT NOT NULL,
        PRIMARY KEY (kind, value, number)
    )""",
)


class StoreUnavailable(Exception):
    """The store cannot be read or written (one line saying why)."""


@dataclass(frozen=True)
class Keys:
    """What an authorization is found by (each a set of `system|value`)."""

    patients: frozenset[str]
    providers: frozenset[str]
    claims: frozenset[str]
    numbers: frozenset[str]


@dataclass(frozen=True)
class Authorization:
    """One stored answer: the Claim it answered and the response Bundle."""

    number: str
    claim: dict[str, Any]
    claim_url: str | None
    response: dict[str, Any]
    replaced_by: str | None


def new_number() -> str:
    """A fresh authorization number (unique across workers: a UUID)."""
    return uuid.uuid4().hex


class AuthorizationStore:
    """Submitted prior authorizations, in memory or in a SQLite file shared by processes."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._db = open_store(path, SCHEMA, relaxed_sync=True)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"PAS store {path}: {error}") from None

    def save(
        self,
        number: str,
        claim: dict[str, Any],
        claim_url: str | None,
        response: dict[str, Any],
        keys: Keys,
        replaces: str | None = None,
    ) -> None:
        """Keep an answered Claim under `number`; with `replaces`, that row
        is marked replaced by this one (in the same transaction)."""
        rows = [
            (kind, value, number)
            for kind, values in (
                ("patient", keys.patients),
                ("provider", keys.providers),
                ("claim", keys.claims),
                ("number", keys.numbers | {number}),
            )
            for value in values
        ]
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    self._db.execute(
                        "INSERT INTO authorization_ (number, stored, claim, claim_url, response)"
                        " VALUES (?, ?, ?, ?, ?)",
                        (
                            number,
                            time.time(),
                            orjson.dumps(claim).decode(),
                            claim_url,
                            orjson.dumps(response).decode(),
                        ),
                    )
                    self._db.executemany(
                        "INSERT OR IGNORE INTO key_ (kind, value, number) VALUES (?, ?, ?)", rows
                    )
                    if replaces is not None:
                        self._db.execute(
                            "UPDATE authorization_ SET replaced_by = ? WHERE number = ?",
                            (number, replaces),
                        )
                    self._db.execute("COMMIT")
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
            except sqlite3.Error as error:
                raise StoreUnavailable(f"the PAS store cannot be written ({error})") from None

    def matching(self, patients: Iterable[str], providers: Iterable[str]) -> list[str]:
        """The numbers of the authorizations (replaced ones included) of one
        of these patients AND one of these providers, oldest first."""
        patients, providers = sorted(set(patients)), sorted(set(providers))
        if not patients or not providers:
            return []
        query = (
            "SELECT a.number FROM authorization_ a WHERE"
            " EXISTS (SELECT 1 FROM key_ k WHERE k.number = a.number AND k.kind = 'patient'"
            f" AND k.value IN ({','.join('?' * len(patients))}))"
            " AND EXISTS (SELECT 1 FROM key_ k WHERE k.number = a.number AND k.kind = 'provider'"
            f" AND k.value IN ({','.join('?' * len(providers))}))"
            " ORDER BY a.rowid"
        )
        return [row[0] for row in self._read(query, (*patients, *providers))]

    def with_key(self, kind: str, value: str) -> list[str]:
        """The numbers of the authorizations that have this key, oldest first."""
        rows = self._read(
            "SELECT k.number FROM key_ k JOIN authorization_ a ON a.number = k.number"
            " WHERE k.kind = ? AND k.value = ? ORDER BY a.rowid",
            (kind, value),
        )
        return [row[0] for row in rows]

    def keys(self, number: str, kind: str) -> frozenset[str]:
        """One authorization's keys of one kind."""
        rows = self._read("SELECT value FROM key_ WHERE number = ? AND kind = ?", (number, kind))
        return frozenset(row[0] for row in rows)

    def get(self, number: str) -> Authorization | None:
        rows = self._read(
            "SELECT number, claim, claim_url, response, replaced_by FROM authorization_"
            " WHERE number = ?",
            (number,),
        )
        if not rows:
            return None
        number, claim, claim_url, response, replaced_by = rows[0]
        return Authorization(
            number, orjson.loads(claim), claim_url, orjson.loads(response), replaced_by
        )

    def current(self, number: str) -> Authorization | None:
        """The last authorization of the chain of updates `number` is in."""
        seen: set[str] = set()
        found = self.get(number)
        while found is not None and found.replaced_by is not None and found.number not in seen:
            seen.add(found.number)
            found = self.get(found.replaced_by)
        return found

    def _read(self, query: str, parameters: tuple[str, ...]) -> list[tuple[Any, ...]]:
        with self._lock:
            try:
                return self._db.execute(query, parameters).fetchall()
            except sqlite3.Error as error:
                raise StoreUnavailable(f"the PAS store cannot be read ({error})") from None

    def close(self) -> None:
        self._db.close()
