"""PAS Subscriptions: R4 backport topic-based Subscriptions (Subscriptions
R5 Backport IG 1.1.0) on PAS's one topic, rest-hook channel, full-resource
payload (PAS 2.2.1 spec-51, spec-54 to spec-62).

A client POSTs a PAS Subscription to /fhir/Subscription: criteria the PAS
topic, `channel.type` rest-hook, a payload of `application/fhir+json` with
content `full-resource`, and filter criteria `orgIdentifier=ID[,ID...]`
(the topic's filter parameter; the narrative's `org-identifier` is taken
too) naming the sending systems it watches. The Subscription is kept (in the
SQLite file of the PAS store, so every worker sees it) and is `active`.

The Subscription is checked in subscription_resource.py, kept in
subscription_store.py, and its Bundles are built in subscription_bundles.py;
this module sends them.

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
- heartbeats run in the worker that accepted the Subscription: with several
  workers a Subscription is heartbeaten by one of them, and a restart ends
  heartbeats until the Subscription is replaced (PUT).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import orjson

from policykb.service.pas_keys import Entries
from policykb.service.subscription_bundles import handshake, heartbeat, notification
from policykb.service.subscription_resource import (
    PAYLOAD,
    claim_senders,
    headers_of,
    heartbeat_period,
)
from policykb.service.subscription_store import SubscriptionStore

ATTEMPTS = 3
"""Delivery attempts per notification."""
TIMEOUT = 5.0
"""Seconds one attempt may take (connect, send, answer)."""
BACKOFF = 0.5
"""Seconds before the second attempt; doubled before each next one."""

log = logging.getLogger("policykb.subscriptions")


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
