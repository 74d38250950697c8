"""CRD over CDS Hooks 2.0: discovery and the order-sign / order-select services."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import crd
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.cds_hooks import Discovery, HookCall, HookResponse
from policykb.service.errors import ServiceError
from policykb.service.openapi import OUTCOMES, PROBLEMS, request_body

router = APIRouter(tags=["CRD"])
HOOKS = {crd.service_id(hook): hook for hook in crd.HOOKS}


@router.get("/cds-services", responses=PROBLEMS)
async def discovery() -> Discovery:
    """CDS Hooks discovery: the order-sign and order-select services."""
    return crd.discovery()


@router.post(
    "/cds-services/{service}",
    response_model=HookResponse,
    responses=OUTCOMES,
    openapi_extra=request_body(HookCall),
)
async def hook(service: str, request: Request, shared: Shared) -> Response:
    """A CDS Hooks call: coverage information for each draft order (read,
    validated and decided on a decision thread)."""
    if service not in HOOKS:
        raise ServiceError(404, f"no CDS service {service[:80]!r} (see /cds-services)")
    body = await request.body()
    base = shared.base_url(request.scope)

    def decide() -> tuple[bytes, list[int]]:
        pending: list[int] = []
        document = strict_json(body)
        answer = crd.answer(
            HOOKS[service], document, shared.decisions, base, pending, shared.budget
        )
        return orjson.dumps(answer), pending

    answer, pending = await shared.run(decide)
    await shared.settle(pending)
    return Response(answer, media_type="application/json")
