"""FHIR capabilities: the CapabilityStatement naming the DTR and PAS versions followed."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service.capability import capability_statement
from policykb.service.deps import Shared
from policykb.service.envelopes.fhir import CapabilityStatement
from policykb.service.errors import FHIR_JSON
from policykb.service.openapi import OUTCOMES, fhir_answer

router = APIRouter(tags=["FHIR"])


@router.get(
    "/fhir/metadata",
    response_class=Response,
    responses={**fhir_answer("the CapabilityStatement", CapabilityStatement), **OUTCOMES},
)
async def metadata(request: Request, shared: Shared) -> Response:
    """The service's CapabilityStatement: DTR 2.2.0 and PAS 2.2.1, with the profiles claimed."""
    statement = capability_statement(shared.base_url(request.scope), shared.smart is not None)
    return Response(orjson.dumps(statement), media_type=FHIR_JSON)
