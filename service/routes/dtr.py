"""FHIR DTR: a policy's facts as a Questionnaire."""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import dtr
from policykb.service.deps import Shared
from policykb.service.envelopes.fhir import Questionnaire
from policykb.service.errors import FHIR_JSON, ServiceError
from policykb.service.openapi import OUTCOMES, fhir_answer

router = APIRouter(tags=["DTR"])


@router.get(
    "/fhir/Questionnaire/{policy}",
    response_class=Response,
    responses={**fhir_answer("a Questionnaire", Questionnaire), **OUTCOMES},
)
async def questionnaire(policy: str, request: Request, shared: Shared) -> Response:
    """The policy's facts as a FHIR R4 Questionnaire."""
    decisions = shared.decisions
    if policy not in decisions.policies:
        raise ServiceError(404, f"no Questionnaire {policy[:80]!r}")
    document = dtr.questionnaire(
        decisions.policies[policy],
        decisions.versions[policy],
        decisions.mappings[policy],
        shared.base_url(request.scope),
    )
    return Response(orjson.dumps(document), media_type=FHIR_JSON)
