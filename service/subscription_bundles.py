"""The Subscriptions backport's R4 Bundles for PAS: the SubscriptionStatus
Parameters, the notification Bundles (event, handshake, heartbeat) and the
`$status` and `$events` answers.

Invariants:
- every status Parameters names the Subscription, the PAS topic, its status,
  its type and `events-since-subscription-start` (the events numbered so far);
- a notification Bundle is a `history` Bundle whose first entry is its
  status Parameters; an event's notification then carries the full PAS
  response Bundle as its focus (full-resource payload, spec-61);
- `$events` repeats kept notifications' events and focus entries unchanged.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from policykb.service.subscription_resource import BACKPORT, TOPIC

STATUS_PROFILE = f"{BACKPORT}/backport-subscription-status-r4"
NOTIFICATION_PROFILE = f"{BACKPORT}/backport-subscription-notification-r4"


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
