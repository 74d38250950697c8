"""PAS Subscriptions: R4 backport topic-based Subscriptions (Subscriptions
R5 Backport IG 1.1.0) on PAS's one topic, rest-hook channel, full-resource
payload (PAS 2.2.1 spec-51, spec-54 to spec-62).

A client POSTs a PAS Subscription to /fhir/Subscription: criteria the PAS
topic, `channel.type` rest-hook, a payload of `application/fhir+json` with
content `full-resource`, and filter criteria `orgIdentifier=ID[,ID...]`
(the topic's filter parameter; the narrative's `org-identifier` is taken
too) naming the sending systems it watches. The Subscription is kept (in the
SQLite file of the PAS store, so every worker sees it) and is `active`.

The event (the topic's `result-available`): a `$submit` update replaces an
authorization one of whose items was pended, so a new result of a pended
request is ready, final or still pended. Every active Subscription whose
filter names one of the Claim's sending systems (its Transmission
Identifiers' ISA06 interchangeSenderID or GS02 applicationSenderCode, or an
identifier value of `Claim.provider` or a careTeam provider: the requesting
provider organization) gets a notification Bundle: `history`, a
SubscriptionStatus Parameters first (event number, timestamp, focus), then
the full PAS response Bundle (spec-61).

The backport's lifecycle (spec-54): a Subscription created or replaced is
kept `requested` and a handshake notification (type `handshake`, no event)
is POSTed to its endpoint; delivered, the Subscription becomes `active`, not
delivered, `error`. Only `active` and `error` Subscriptions get events. A
Subscription whose channel carries the backport's heartbeat-period extension
then gets a `heartbeat` notification every period (at least
MIN_HEARTBEAT_PERIOD seconds) while it is `active` or `error`, from one task
per Subscription that the delete, a replacement or the service's shutdown
cancels. `GET/POST /fhir/Subscription/{id}/$status` answers a searchset
Bundle of its status Parameters (type `query-status`), and
`/fhir/Subscription/{id}/$events` the last KEPT_EVENTS events again (type
`query-event`, each event's notification-event and its full-resource focus;
`eventsSinceNumber`, `eventsUntilNumber` narrow them). Every status
Parameters carries `events-since-subscription-start`: the events numbered so
far.

Invariants:
- delivery never runs on the request path: the response is sent whatever
  the endpoint does; each notification is one task on the event loop, each
  attempt bounded by TIMEOUT seconds, at most ATTEMPTS attempts;
- a delivery that fails every attempt sets the Subscription's status to
  `error` and its `error` to why (R4 Subscription.error); a later success
  sets it back to `active`;
- an endpoint is https, or http on a loopback address only (as fetching
  from an EHR, ehr.py): the service does not POST PHI in clear elsewhere;
- a Subscription with no filter is refused, so no subscriber receives
  another organization's authorizations by omission;
- heartbeats run in the worker that accepted the Subscription: with several
  workers a Subscription is heartbeaten by one of them, and a restart ends
  heartbeats until the Subscription is replaced (PUT).
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson

from policykb.service.errors import ServiceError
from policykb.service.pas_keys import PAS, Entries, extension_value, provider_keys
from policykb.service.settings import is_loopback

TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER_CRITERIA = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/backport-heartbeat-period"
STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"
PAS_SUBSCRIPTION = f"{PAS}/profile-subscription"
TRANSMISSION = f"{PAS}/extension-TransmissionIdentifiers"
SENDER_PARTS = ("interchangeSenderID", "applicationSenderCode")
FILTER_NAMES = ("orgIdentifier", "org-identifier")
PAYLOAD = "application/fhir+json"

ATTEMPTS = 3
"""Delivery attempts per notification."""
TIMEOUT = 5.0
"""Seconds one attempt may take (connect, send, answer)."""
BACKOFF = 0.5
"""Seconds before the second attempt; doubled before each next one."""
MIN_HEARTBEAT_PERIOD = 10
"""The shortest heartbeat period accepted, in seconds (a bound on the
notifications one Subscription can make the service send)."""

log = logging.getLogger("policykb.subscriptions")

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


# -- the Subscription resource ------------------------------------------------


def _fail(text: str, where: str) -> ServiceError:
    return ServiceError(422, text, where=where)


def org_filter(subscription: Mapping[str, Any]) -> frozenset[str]:
    """The sending-system identifiers the Subscription's filter criteria name."""
    criteria = subscription.get("_criteria")
    extensions = criteria.get("extension") if isinstance(criteria, Mapping) else None
    found: set[str] = set()
    for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
        if not isinstance(extension, Mapping) or extension.get("url") != FILTER_CRITERIA:
            continue
        where = f"Subscription._criteria.extension[{index}].valueString"
        text = extension.get("valueString")
        if not isinstance(text, str):
            raise _fail("a filter criteria extension needs a valueString", where)
        name, equals, values = text.partition("=")
        if name.strip() not in FILTER_NAMES or not equals:
            raise _fail(
                f"the PAS topic filters by orgIdentifier=ID[,ID...], not {text[:80]!r}", where
            )
        ids = {value.strip() for value in values.split(",") if value.strip()}
        if not ids:
            raise _fail("orgIdentifier names no identifier", where)
        found |= ids
    return frozenset(found)


def endpoint_problem(endpoint: str) -> str | None:
    """Why the service would not POST notifications to `endpoint` (None: it would)."""
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return None
    return f"channel.endpoint {endpoint[:80]!r} is not an https URL (http only on loopback)"


def headers_of(channel: Mapping[str, Any]) -> dict[str, str]:
    """`channel.header` ("Name: value" strings) as HTTP headers."""
    raw = channel.get("header")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise _fail("'header' must be a list of strings", "Subscription.channel.header")
    headers = {}
    for index, line in enumerate(raw):
        name, colon, value = line.partition(":") if isinstance(line, str) else ("", "", "")
        if not colon or not name.strip() or any(c in line for c in "\r\n"):
            raise _fail(
                "a header must be 'Name: value' on one line",
                f"Subscription.channel.header[{index}]",
            )
        headers[name.strip()] = value.strip()
    return headers


def heartbeat_period(subscription: Mapping[str, Any]) -> int | None:
    """The seconds between heartbeats the Subscription asks for (None: no
    heartbeats), from the backport's heartbeat-period extension on its
    channel."""
    channel = subscription.get("channel")
    extensions = channel.get("extension") if isinstance(channel, Mapping) else None
    for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
        if not isinstance(extension, Mapping) or extension.get("url") != HEARTBEAT_PERIOD:
            continue
        period = extension.get("valueUnsignedInt")
        if not isinstance(period, int) or isinstance(period, bool):
            raise _fail(
                "the heartbeat period needs a valueUnsignedInt (seconds)",
                f"Subscription.channel.extension[{index}]",
            )
        if period < MIN_HEARTBEAT_PERIOD:
            raise _fail(
                f"the heartbeat period must be at least {MIN_HEARTBEAT_PERIOD} seconds",
                f"Subscription.channel.extension[{index}].valueUnsignedInt",
            )
        return period
    return None


def checked(document: object) -> dict[str, Any]:
    """The Subscription a client sent, checked against the PAS Subscription
    profile as this service supports it (a 422 naming the first element
    that is not)."""
    if not isinstance(document, Mapping) or document.get("resourceType") != "Subscription":
        raise _fail("the body must be a Subscription resource", "Subscription")
    if document.get("criteria") != TOPIC:
        raise _fail(f"criteria must be the PAS topic {TOPIC}", "Subscription.criteria")
    channel = document.get("channel")
    if not isinstance(channel, Mapping):
        raise _fail("a Subscription needs a 'channel'", "Subscription.channel")
    if channel.get("type") != "rest-hook":
        raise _fail("channel.type must be rest-hook (spec-56)", "Subscription.channel.type")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _fail("a rest-hook channel needs an 'endpoint'", "Subscription.channel.endpoint")
    problem = endpoint_problem(endpoint)
    if problem:
        raise _fail(problem, "Subscription.channel.endpoint")
    if channel.get("payload") not in (PAYLOAD, "application/json"):
        raise _fail(f"channel.payload must be {PAYLOAD}", "Subscription.channel.payload")
    payload = channel.get("_payload")
    content = extension_value(payload, PAYLOAD_CONTENT) if isinstance(payload, Mapping) else None
    if content != "full-resource":
        raise _fail(
            "the payload content must be full-resource (spec-62)",
            "Subscription.channel._payload.extension",
        )
    headers_of(channel)
    heartbeat_period(document)
    if not org_filter(document):
        raise _fail(
            "give the sending systems to watch: a filter criteria orgIdentifier=ID (spec-58)",
            "Subscription._criteria",
        )
    kept = dict(document)
    kept["status"] = "requested"  # active once the handshake is delivered
    kept.pop("error", None)
    kept["meta"] = {"profile": [PAS_SUBSCRIPTION]}
    return kept


def claim_senders(claim: Mapping[str, Any], entries: Entries) -> frozenset[str]:
    """The sending systems a Claim came from: its Transmission Identifiers'
    sender parts and its providers' identifier values."""
    found: set[str] = set()
    for extension in claim.get("extension") or []:
        if not isinstance(extension, Mapping) or extension.get("url") != TRANSMISSION:
            continue
        for part in extension.get("extension") or []:
            if isinstance(part, Mapping) and part.get("url") in SENDER_PARTS:
                value = part.get("valueString")
                if isinstance(value, str) and value.strip():
                    found.add(value.strip())
    found |= {key.partition("|")[2] for key in provider_keys(claim, entries)}
    return frozenset(found)


# -- the store ----------------------------------------------------------------


class SubscriptionStore:
    """The Subscriptions, in memory or in a SQLite file shared by workers."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            path if path is not None else ":memory:",
            timeout=5.0,
            isolation_level=None,
            check_same_thread=False,
        )
        if path is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self._db.execute(EVENT_SCHEMA)

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


# -- notifications ------------------------------------------------------------


def status_parameters(
    subscription: Mapping[str, Any],
    kind: str,
    events: int,
    base: str,
    events_parts: Iterable[list[dict[str, Any]]] = (),
) -> dict[str, Any]:
    """The backport's SubscriptionStatus (R4 Parameters) of `kind`
    (handshake, heartbeat, event-notification or query-status): `events` is
    events-since-subscription-start, `events_parts` the parts of each
    notification-event."""
    parameters: list[dict[str, Any]] = [
        {"name": "subscription", "valueReference": {"reference": _reference(subscription, base)}},
        {"name": "topic", "valueCanonical": TOPIC},
        {"name": "status", "valueCode": subscription.get("status", "requested")},
        {"name": "type", "valueCode": kind},
        {"name": "events-since-subscription-start", "valueString": str(events)},
    ]
    parameters += [{"name": "notification-event", "part": parts} for parts in events_parts]
    if kind == "query-status" and isinstance(subscription.get("error"), str):
        error = {"text": subscription["error"]}
        parameters.append({"name": "error", "valueCodeableConcept": error})
    return {
        "resourceType": "Parameters",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": parameters,
    }


def _reference(subscription: Mapping[str, Any], base: str) -> str:
    return f"{base}/fhir/Subscription/{subscription['id']}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _bundle(subscription: Mapping[str, Any], status: dict[str, Any], base: str) -> dict[str, Any]:
    """A notification Bundle (history) whose first entry is `status`."""
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": _now(),
        "entry": [
            {
                "fullUrl": f"urn:uuid:{status['id']}",
                "resource": status,
                "request": {"method": "GET", "url": f"{_reference(subscription, base)}/$status"},
                "response": {"status": "200"},
            }
        ],
    }


def notification(
    subscription: Mapping[str, Any], event: int, response: Mapping[str, Any], base: str
) -> dict[str, Any]:
    """The backport's R4 notification Bundle for one event: the status
    Parameters, then the full PAS response Bundle as its focus."""
    focus = f"urn:uuid:{response.get('id') or uuid.uuid4()}"
    parts: list[dict[str, Any]] = [
        {"name": "event-number", "valueString": str(event)},
        {"name": "timestamp", "valueInstant": _now()},
        {"name": "focus", "valueReference": {"reference": focus}},
    ]
    status = status_parameters(
        {**subscription, "status": "active"}, "event-notification", event, base, [parts]
    )
    bundle = _bundle(subscription, status, base)
    bundle["entry"].append(
        {
            "fullUrl": focus,
            "resource": dict(response),
            "request": {"method": "POST", "url": "Claim/$submit"},
            "response": {"status": "200"},
        }
    )
    return bundle


def handshake(subscription: Mapping[str, Any], base: str) -> dict[str, Any]:
    """The handshake notification: a status of type handshake, no event."""
    return _bundle(subscription, status_parameters(subscription, "handshake", 0, base), base)


def heartbeat(subscription: Mapping[str, Any], events: int, base: str) -> dict[str, Any]:
    """A heartbeat notification: a status of type heartbeat, no event."""
    return _bundle(subscription, status_parameters(subscription, "heartbeat", events, base), base)


def events_bundle(
    subscription: Mapping[str, Any], events: int, kept: list[dict[str, Any]], base: str
) -> dict[str, Any]:
    """The `$events` answer: a history Bundle whose status (query-event)
    lists the kept notifications' events, followed by their focus entries."""
    parts = [
        parameter["part"]
        for bundle in kept
        for parameter in bundle["entry"][0]["resource"]["parameter"]
        if parameter["name"] == "notification-event"
    ]
    status = status_parameters(subscription, "query-event", events, base, parts)
    bundle = _bundle(subscription, status, base)
    bundle["entry"][0]["request"]["url"] = f"{_reference(subscription, base)}/$events"
    bundle["entry"] += [entry for notified in kept for entry in notified["entry"][1:]]
    return bundle


def status_bundle(subscription: Mapping[str, Any], events: int, base: str) -> dict[str, Any]:
    """The `$status` answer: a searchset Bundle of the status (query-status)."""
    status = status_parameters(subscription, "query-status", events, base)
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "type": "searchset",
        "total": 1,
        "entry": [
            {
                "fullUrl": f"urn:uuid:{status['id']}",
                "resource": status,
                "search": {"mode": "match"},
            }
        ],
    }


def pended(response: Mapping[str, Any]) -> bool:
    """Whether a PAS response Bundle pends one of its items (X12 306 A4)."""
    from policykb.service.pas import PENDED, claim_response
    from policykb.service.pas_keys import action_code

    items = claim_response(response).get("item") or []
    return any(action_code(item) == PENDED[0] for item in items)


Delivery = tuple[dict[str, Any], dict[str, Any]]
"""A Subscription and the notification Bundle it is sent."""


Sleep = Callable[[float], Awaitable[None]]
"""The heartbeat clock: waits the given seconds (asyncio.sleep; tests hold it)."""


class Notifier:
    """Sends notifications off the request path, one task each, and runs
    one heartbeat task per Subscription that asks for heartbeats."""

    def __init__(self, store: SubscriptionStore, sleep: Sleep = asyncio.sleep) -> None:
        self.store = store
        self.sleep = sleep
        self._tasks: set[asyncio.Task[None]] = set()
        self.heartbeats: dict[str, asyncio.Task[None]] = {}
        """The running heartbeat task of each Subscription id."""

    def deliveries(
        self,
        request: Mapping[str, Any],
        earlier: Mapping[str, Any] | None,
        response: Mapping[str, Any],
        base: str,
    ) -> list[Delivery]:
        """The notifications a `$submit` answer makes: when it updates an
        authorization (`earlier`, its response Bundle) that pended an item,
        one per Subscription watching the Claim's senders, each with the
        Subscription's next event number. Runs on a decision thread."""
        if earlier is None or not pended(earlier):
            return []
        entries: Entries = [
            (entry.get("fullUrl"), entry["resource"])
            for entry in request.get("entry") or []
            if isinstance(entry, Mapping) and isinstance(entry.get("resource"), dict)
        ]
        if not entries:
            return []
        senders = claim_senders(entries[0][1], entries)
        found = []
        for subscription in self.store.watching(senders):
            number = self.store.next_event(subscription["id"])
            bundle = notification(subscription, number, response, base)
            self.store.keep_event(subscription["id"], number, bundle)
            found.append((subscription, bundle))
        return found

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def start(self, deliveries: list[Delivery]) -> None:
        """Start each delivery as its own task. Runs on the event loop."""
        for subscription, bundle in deliveries:
            self._spawn(self._deliver(subscription, bundle))

    def handshake(self, subscription: Mapping[str, Any], base: str) -> None:
        """Start the handshake of a Subscription kept `requested` (its
        heartbeats, if it asks for them, start once the handshake is
        delivered). Runs on the event loop."""
        self.stop(subscription["id"])
        self._spawn(self._handshake(subscription, base))

    async def _handshake(self, subscription: Mapping[str, Any], base: str) -> None:
        if not await self._deliver(subscription, handshake(subscription, base), "handshake"):
            return
        period = heartbeat_period(subscription)
        if period is not None and subscription["id"] not in self.heartbeats:
            task = asyncio.get_running_loop().create_task(
                self._heartbeats(subscription["id"], period, base)
            )
            self.heartbeats[subscription["id"]] = task
            task.add_done_callback(lambda _: self._forget(subscription["id"], task))

    def _forget(self, ident: str, task: asyncio.Task[None]) -> None:
        if self.heartbeats.get(ident) is task:
            del self.heartbeats[ident]

    async def _heartbeats(self, ident: str, period: int, base: str) -> None:
        """Every `period` seconds, a heartbeat, while the Subscription is
        kept active or in error (it ends when it is not, or when cancelled)."""
        while True:
            await self.sleep(period)
            subscription = await asyncio.to_thread(self.store.get, ident)
            if subscription is None or subscription.get("status") not in ("active", "error"):
                return
            events = await asyncio.to_thread(self.store.events, ident)
            await self._deliver(subscription, heartbeat(subscription, events, base), "heartbeat")

    def stop(self, ident: str) -> None:
        """End the Subscription's heartbeats (deleted or replaced)."""
        task = self.heartbeats.pop(ident, None)
        if task is not None:
            task.cancel()

    async def _deliver(
        self, subscription: Mapping[str, Any], bundle: dict[str, Any], kind: str = "notification"
    ) -> bool:
        """POST one notification, at most ATTEMPTS times; record the outcome
        on the Subscription (active, or error with why). True: delivered."""
        import httpx

        channel = subscription["channel"]
        headers = {"Content-Type": PAYLOAD, **headers_of(channel)}
        body = orjson.dumps(bundle)
        error = "not attempted"
        wait = BACKOFF
        async with httpx.AsyncClient(timeout=TIMEOUT, follow_redirects=False) as client:
            for attempt in range(1, ATTEMPTS + 1):
                try:
                    answer = await client.post(channel["endpoint"], content=body, headers=headers)
                except httpx.HTTPError as failure:
                    error = f"attempt {attempt}: {type(failure).__name__}"
                else:
                    if 200 <= answer.status_code < 300:
                        await asyncio.to_thread(self.store.record, subscription["id"], None)
                        return True
                    error = f"attempt {attempt}: the endpoint answered {answer.status_code}"
                if attempt < ATTEMPTS:
                    await asyncio.sleep(wait)  # backoff between attempts, off the request path
                    wait *= 2
        log.warning("Subscription %s: %s not delivered (%s)", subscription["id"], kind, error)
        await asyncio.to_thread(
            self.store.record,
            subscription["id"],
            f"{kind} not delivered after {ATTEMPTS} attempts ({error})",
        )
        return False

    async def drain(self) -> None:
        """Wait for the deliveries and handshakes under way (heartbeats,
        which never end by themselves, are not waited for)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        """Shutdown: end every heartbeat, then wait for the deliveries under way."""
        for ident in list(self.heartbeats):
            self.stop(ident)
        await self.drain()
