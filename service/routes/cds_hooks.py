"""CRD over CDS Hooks 2.0: discovery, the hook services, and feedback.

A hook call is read and checked on a decision thread; what it did not
prefetch is then read from the client's fhirServer on the event loop (I/O
only, time-bounded: ehr.py); the decision runs on a decision thread again.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import crd, crd_discovery, crd_request, ehr
from policykb.service.audit import REQUESTER
from policykb.service.deps import Shared, strict_json
from policykb.service.envelopes.cds_hooks import (
    Discovery,
    Feedback,
    FeedbackRecorded,
    HookCall,
    HookResponse,
)
from policykb.service.envelopes.reading import validated
from policykb.service.errors import ServiceError
from policykb.service.hook_log import LogUnavailable
from policykb.service.openapi import OUTCOMES, PROBLEMS, request_body

router = APIRouter(tags=["CRD"])
HOOKS = {crd_discovery.service_id(hook): hook for hook in crd_discovery.HOOKS}
FETCH_MAX_BYTES = 8 << 20
"""One response of the client's FHIR server, at most."""


def _service(service: str) -> str:
    if service not in HOOKS:
        raise ServiceError(404, f"no CDS service {service[:80]!r} (see /cds-services)")
    return HOOKS[service]


@router.get("/cds-services", responses=PROBLEMS)
async def discovery(shared: Shared) -> Discovery:
    """CDS Hooks discovery: the hook services, their prefetch and CRD's
    version and configuration options."""
    return crd_discovery.discovery(shared.decisions.history_types)


@router.post(
    "/cds-services/{service}",
    response_model=HookResponse,
    responses=OUTCOMES,
    openapi_extra=request_body(HookCall),
)
async def hook(service: str, request: Request, shared: Shared) -> Response:
    """A CDS Hooks call: coverage information for each order a policy
    decides. The call and its answer (or its refusal) are kept in the hook
    log before the answer is sent (CRD found-37)."""
    _service(service)
    body = await request.body()
    requester = REQUESTER.get()
    try:
        answer, fetched = await _hook(service, body, request, shared)
    except ServiceError as error:
        refusal = orjson.dumps({"status": error.status, "detail": error.detail})
        await shared.run(_log, shared, service, body, error.status, refusal, requester, None)
        raise
    await shared.run(_log, shared, service, body, 200, answer, requester, fetched)
    return Response(answer, media_type="application/json")


def _log(
    shared: Shared,
    service: str,
    body: bytes,
    status: int,
    answer: bytes,
    requester: dict[str, str] | None,
    fetched: list[dict[str, Any]] | None,
) -> None:
    try:
        shared.hook_log.record(service, body, status, answer, requester, fetched)
    except LogUnavailable as error:
        raise ServiceError(503, str(error)) from None


async def _hook(
    service: str, body: bytes, request: Request, shared: Shared
) -> tuple[bytes, list[dict[str, Any]] | None]:
    name = _service(service)
    base = shared.base_url(request.scope)
    settings = shared.settings
    fetched_resources: list[dict[str, Any]] | None = None

    def read() -> crd_request.HookRequest:
        return crd_request.HookRequest(strict_json(body), name, shared.budget)

    call = await shared.run(read)
    call.histories_read(shared.decisions.history_types)
    if call.can_query() and settings.ehr_timeout > 0:
        assert call.fhir_server is not None and call.access_token is not None
        fetched = await ehr.fetch(
            call.fhir_server,
            call.access_token,
            call.queries(),
            timeout=settings.ehr_timeout,
            max_bytes=FETCH_MAX_BYTES,
            max_resources=settings.max_resources,
        )
        call.add(fetched.resources, fetched.failure)
        fetched_resources = fetched.resources
    elif call.can_query():
        call.unread.failure = "this service does not query fhirServer (ehr_timeout 0)"

    def decide() -> tuple[bytes, list[int]]:
        pending: list[int] = []
        answer = crd.decide(call, shared.decisions, base, pending, settings.payer_name)
        return orjson.dumps(answer), pending

    answer, pending = await shared.run(decide)
    await shared.settle(pending)
    return answer, fetched_resources


@router.post(
    "/cds-services/{service}/feedback",
    response_model=FeedbackRecorded,
    responses=OUTCOMES,
    openapi_extra=request_body(Feedback),
)
async def feedback(service: str, request: Request, shared: Shared) -> Response:
    """CDS Hooks feedback on a service's cards: recorded in the audit log's
    hash chain (the client's items as read), answered 200 with their count."""
    _service(service)
    body = await request.body()
    audit = shared.decisions.audit

    def record() -> tuple[int, int | None]:
        document = validated(Feedback, strict_json(body), 400)
        items = [item.model_dump(exclude_none=True) for item in document.feedback]
        if audit is None:
            return len(items), None
        return len(items), audit.record_feedback(service, items, durable=False)

    count, entry = await shared.run(record)
    if entry is not None:
        await shared.settle([entry])
    return Response(orjson.dumps({"recorded": count}), media_type="application/json")
