"""FHIR PAS: Claim/$submit, a prior-authorization Bundle answered with a response
Bundle whose first entry is the ClaimResponse."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import pas
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.fhir import Bundle
from policykb.service.errors import FHIR_JSON
from policykb.service.openapi import OUTCOMES, fhir_answer, request_body

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
    (read, validated and decided on a decision thread)."""
    body = await request.body()

    def decide() -> tuple[dict[str, Any], list[int]]:
        pending: list[int] = []
        answer = pas.submit(strict_json(body), shared.decisions, shared.budget, pending)
        return answer, pending

    answer, pending = await shared.run(decide)
    await shared.settle(pending)
    return Response(orjson.dumps(answer), media_type=FHIR_JSON)
