"""FHIR PAS: Claim/$submit, a prior-authorization Bundle (new, or an update of
a kept one) answered with a response Bundle whose first entry is the
ClaimResponse; Claim/$inquire, a query by example over the kept answers."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import pas_inquiry, pas_updates
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.fhir import Bundle
from policykb.service.errors import FHIR_JSON, ServiceError
from policykb.service.openapi import OUTCOMES, fhir_answer, request_body
from policykb.service.pas_store import Authorization, StoreUnavailable
from policykb.service.subscription_notifier import Delivery

router = APIRouter(tags=["PAS"])


@router.post(
    "/fhir/Claim/$submit",
    response_class=Response,
    responses={
        **fhir_answer("a PAS response Bundle (the ClaimResponse first)", Bundle),
        **OUTCOMES,
    },
    openapi_extra=request_body(Bundle, FHIR_JSON, "application/json"),
)
async def submit(request: Request, shared: Shared) -> Response:
    """A prior-authorization request Bundle, answered with a response Bundle
    whose first entry is the ClaimResponse, each item decided on its own
    (read, validated and decided on a decision thread); the answer is kept
    for $inquire and for updates of the Claim. An update of an authorization
    that pended an item notifies the Subscriptions watching its sender."""
    body = await request.body()

    base = shared.base_url(request.scope)

    def decide() -> tuple[dict[str, Any], list[int], list[Delivery]]:
        pending: list[int] = []
        replaced: list[Authorization] = []
        document = strict_json(body)
        try:
            answer = pas_updates.submit(
                document, shared.decisions, shared.authorizations, shared.budget, pending, replaced
            )
            earlier = replaced[0].response if replaced else None
            deliveries = shared.notifier.deliveries(document, earlier, answer, base)
        except StoreUnavailable as error:
            raise ServiceError(503, str(error)) from None
        return answer, pending, deliveries

    answer, pending, deliveries = await shared.run(decide)
    await shared.settle(pending)
    shared.notifier.start(deliveries)  # sent off the request path (spec-60)
    return Response(orjson.dumps(answer), media_type=FHIR_JSON)


@router.post(
    "/fhir/Claim/$inquire",
    response_class=Response,
    responses={
        **fhir_answer("a Parameters with one PAS Inquiry Response Bundle per match", Bundle),
        **OUTCOMES,
    },
    openapi_extra=request_body(Bundle, FHIR_JSON, "application/json"),
)
async def inquire(request: Request, shared: Shared) -> Response:
    """A PAS Inquiry Request Bundle, answered with the current answers of
    the kept prior authorizations it matches."""
    body = await request.body()

    def search() -> dict[str, Any]:
        try:
            return pas_inquiry.inquire(strict_json(body), shared.authorizations)
        except StoreUnavailable as error:
            raise ServiceError(503, str(error)) from None

    answer = await shared.run(search)
    return Response(orjson.dumps(answer), media_type=FHIR_JSON)
