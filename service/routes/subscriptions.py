"""FHIR Subscription for PAS (R4 backport, rest-hook, full-resource):
create, read, update and delete (PAS spec-55), `$status` and `$events`
(PAS spec-54, the backport's operations); a created or replaced Subscription is kept
`requested` until subscription_notifier.Notifier has delivered its handshake, and
the Notifier sends the notifications when a pended authorization is
updated, and the heartbeats."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import subscription_bundles, subscription_resource
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.fhir import Bundle, Subscription
from policykb.service.errors import FHIR_JSON, ServiceError
from policykb.service.openapi import OUTCOMES, fhir_answer, request_body
from policykb.service.routes import get_and_post

router = APIRouter(tags=["PAS"])


def _missing(ident: str) -> ServiceError:
    return ServiceError(404, f"no Subscription {ident[:80]!r}")


@router.post(
    "/fhir/Subscription",
    response_class=Response,
    status_code=201,
    responses={
        **fhir_answer("the Subscription as kept (requested, until its handshake)", Subscription),
        **OUTCOMES,
    },
    openapi_extra=request_body(Subscription, FHIR_JSON, "application/json"),
)
async def create(request: Request, shared: Shared) -> Response:
    """A PAS Subscription (PAS topic, rest-hook, full-resource, orgIdentifier filter), kept."""
    body = await request.body()
    store = shared.notifier.store

    def keep() -> dict[str, Any]:
        return store.create(subscription_resource.checked(strict_json(body)))

    kept = await shared.run(keep)
    base = shared.base_url(request.scope)
    shared.notifier.handshake(kept, base)  # sent off the request path
    location = f"{base}/fhir/Subscription/{kept['id']}"
    return Response(
        orjson.dumps(kept), status_code=201, media_type=FHIR_JSON, headers={"Location": location}
    )


@router.get(
    "/fhir/Subscription/{ident}",
    response_class=Response,
    responses={
        **fhir_answer("the Subscription, with its status and error", Subscription),
        **OUTCOMES,
    },
)
async def read(ident: str, shared: Shared) -> Response:
    """A kept Subscription: `status` is `error` (and `error` says why) after
    a notification failed every attempt."""
    kept = await shared.run(shared.notifier.store.get, ident)
    if kept is None:
        raise _missing(ident)
    return Response(orjson.dumps(kept), media_type=FHIR_JSON)


@router.put(
    "/fhir/Subscription/{ident}",
    response_class=Response,
    responses={**fhir_answer("the Subscription as kept", Subscription), **OUTCOMES},
    openapi_extra=request_body(Subscription, FHIR_JSON, "application/json"),
)
async def update(ident: str, request: Request, shared: Shared) -> Response:
    """Replace a kept Subscription (checked as on create; the id must match):
    `requested` again, with a new handshake."""
    body = await request.body()
    store = shared.notifier.store

    def replace() -> dict[str, Any]:
        document = strict_json(body)
        given = document.get("id") if isinstance(document, dict) else None
        if given is not None and given != ident:
            raise ServiceError(
                400,
                f"the body's id {str(given)[:80]!r} is not {ident[:80]!r}",
                where="Subscription.id",
            )
        kept = {**subscription_resource.checked(document), "id": ident}
        if not store.replace(ident, kept):
            raise _missing(ident)
        return kept

    kept = await shared.run(replace)
    shared.notifier.handshake(kept, shared.base_url(request.scope))
    return Response(orjson.dumps(kept), media_type=FHIR_JSON)


@router.delete(
    "/fhir/Subscription/{ident}",
    status_code=204,
    response_class=Response,
    responses={**OUTCOMES},
)
async def delete(ident: str, shared: Shared) -> Response:
    """Delete a kept Subscription: no notification or heartbeat is sent to it afterwards."""
    shared.notifier.stop(ident)
    if not await shared.run(shared.notifier.store.delete, ident):
        raise _missing(ident)
    return Response(status_code=204)


@get_and_post(
    router,
    "/fhir/Subscription/{ident}/$status",
    response_class=Response,
    responses={**fhir_answer("a searchset Bundle of the status Parameters", Bundle), **OUTCOMES},
)
async def status(ident: str, request: Request, shared: Shared) -> Response:
    """The Subscription's status (the backport's `$status`): its status, the
    events numbered so far, and its error if in error."""
    store = shared.notifier.store

    def read_status() -> tuple[dict[str, Any] | None, int]:
        return store.get(ident), store.events(ident)

    kept, events = await shared.run(read_status)
    if kept is None:
        raise _missing(ident)
    bundle = subscription_bundles.status_bundle(kept, events, shared.base_url(request.scope))
    return Response(orjson.dumps(bundle), media_type=FHIR_JSON)


def _event_number(request: Request, name: str, default: int) -> int:
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 12:
        raise ServiceError(400, f"'{name}' must be a whole number", where=name)
    return int(text)


@get_and_post(
    router,
    "/fhir/Subscription/{ident}/$events",
    response_class=Response,
    responses={**fhir_answer("a history Bundle of the kept events", Bundle), **OUTCOMES},
)
async def events(ident: str, request: Request, shared: Shared) -> Response:
    """The Subscription's kept events again (the backport's `$events`):
    `eventsSinceNumber` and `eventsUntilNumber` (query) bound them."""
    low = _event_number(request, "eventsSinceNumber", 1)
    high = _event_number(request, "eventsUntilNumber", 10**12)
    store = shared.notifier.store

    def read_events() -> tuple[dict[str, Any] | None, int, list[dict[str, Any]]]:
        return store.get(ident), store.events(ident), store.kept_events(ident, low, high)

    kept, count, notified = await shared.run(read_events)
    if kept is None:
        raise _missing(ident)
    base = shared.base_url(request.scope)
    bundle = subscription_bundles.events_bundle(kept, count, notified, base)
    return Response(orjson.dumps(bundle), media_type=FHIR_JSON)
