"""The kept PAS Subscriptions and their kept events, in memory or in the
SQLite file of the PAS store (so every worker sees the same Subscriptions).

Invariants:
- a Subscription's event numbers start at 1 and increase by one per event,
  under one lock (`next_event`), so no two events share a number;
- at most KEPT_EVENTS events are kept per Subscription for `$events`: keeping
  event n drops events n - KEPT_EVENTS and before;
- deleting a Subscription deletes its kept events;
- only `active` and `error` Subscriptions are `watching` a sender.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson

from policykb.service.shared_sqlite import open_store
from policykb.service.subscription_resource import org_filter

SCHEMA = """CREATE TABLE IF NOT EXISTS subscription_ (
    id TEXT PRIMARY KEY,
    resource TEXT NOT NULL,
    events INTEGER NOT NULL DEFAULT 0
)"""
EVENT_SCHEMA = """CREATE TABLE IF NOT EXISTS subscription_event_ (
    subscription TEXT NOT NULL,
    number INTEGER NOT NULL,
    notification TEXT NOT NULL,
    PRIMARY KEY (subscription, number)
)"""
KEPT_EVENTS = 100
"""Events kept per Subscription for `$events` (older ones are dropped)."""


class SubscriptionStore:
    """The Subscriptions, in memory or in a SQLite file shared by workers."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._db = open_store(path, [SCHEMA, EVENT_SCHEMA], relaxed_sync=False)

    def _run(self, query: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(query, parameters).fetchall()

    def create(self, subscription: dict[str, Any]) -> dict[str, Any]:
        subscription = {**subscription, "id": uuid.uuid4().hex}
        self._run(
            "INSERT INTO subscription_ (id, resource) VALUES (?, ?)",
            (subscription["id"], orjson.dumps(subscription).decode()),
        )
        return subscription

    def get(self, ident: str) -> dict[str, Any] | None:
        rows = self._run("SELECT resource FROM subscription_ WHERE id = ?", (ident,))
        return orjson.loads(rows[0][0]) if rows else None

    def replace(self, ident: str, subscription: dict[str, Any]) -> bool:
        """Update a kept Subscription (False: there is none with that id)."""
        subscription = {**subscription, "id": ident}
        with self._lock:
            cursor = self._db.execute(
                "UPDATE subscription_ SET resource = ? WHERE id = ?",
                (orjson.dumps(subscription).decode(), ident),
            )
        return cursor.rowcount > 0

    def delete(self, ident: str) -> bool:
        with self._lock:
            cursor = self._db.execute("DELETE FROM subscription_ WHERE id = ?", (ident,))
            self._db.execute("DELETE FROM subscription_event_ WHERE subscription = ?", (ident,))
        return cursor.rowcount > 0

    def keep_event(self, ident: str, number: int, bundle: Mapping[str, Any]) -> None:
        """Keep event `number`'s notification Bundle, dropping the events
        KEPT_EVENTS or more before it."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO subscription_event_ VALUES (?, ?, ?)",
                (ident, number, orjson.dumps(bundle).decode()),
            )
            self._db.execute(
                "DELETE FROM subscription_event_ WHERE subscription = ? AND number <= ?",
                (ident, number - KEPT_EVENTS),
            )

    def kept_events(self, ident: str, low: int, high: int) -> list[dict[str, Any]]:
        """The kept notification Bundles of events `low` to `high`, in order."""
        rows = self._run(
            "SELECT notification FROM subscription_event_"
            " WHERE subscription = ? AND number BETWEEN ? AND ? ORDER BY number",
            (ident, low, high),
        )
        return [orjson.loads(text) for (text,) in rows]

    def watching(self, senders: Iterable[str]) -> list[dict[str, Any]]:
        """The Subscriptions (active or in error) whose filter names a sender."""
        wanted = set(senders)
        found = []
        for (text,) in self._run("SELECT resource FROM subscription_ ORDER BY rowid"):
            subscription = orjson.loads(text)
            if (
                subscription.get("status") in ("active", "error")
                and org_filter(subscription) & wanted
            ):
                found.append(subscription)
        return found

    def events(self, ident: str) -> int:
        """The events numbered so far for the Subscription (0: none)."""
        rows = self._run("SELECT events FROM subscription_ WHERE id = ?", (ident,))
        return int(rows[0][0]) if rows else 0

    def next_event(self, ident: str) -> int:
        """The subscription's next event number (1 for the first event)."""
        with self._lock:
            self._db.execute("UPDATE subscription_ SET events = events + 1 WHERE id = ?", (ident,))
            rows = self._db.execute(
                "SELECT events FROM subscription_ WHERE id = ?", (ident,)
            ).fetchall()
        return int(rows[0][0]) if rows else 0

    def record(self, ident: str, error: str | None) -> None:
        """A delivery's outcome: `error` (all attempts failed) or None (delivered)."""
        subscription = self.get(ident)
        if subscription is None:
            return
        if error is None:
            subscription["status"] = "active"
            subscription.pop("error", None)
        else:
            subscription["status"] = "error"
            subscription["error"] = error
        self.replace(ident, subscription)

    def close(self) -> None:
        self._db.close()
