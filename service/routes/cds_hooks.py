"""CRD over CDS Hooks 2.0: discovery, the hook services, and feedback.

A hook call is read, checked and decided on one decision thread when its
prefetch leaves nothing to query. Otherwise it is read and checked there,
what it did not prefetch is read from the client's fhirServer on the event
loop (I/O only, time-bounded: ehr.py), and the decision runs on a decision
thread again. Then the call waits, holding no thread, until its audit
entries are on disk and then until its row is in the hook log (each written
by its log's own thread, in group commits); only then is the answer sent.
"""

from __future__ import annotations

import asyncio
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
        answer, pending, fetched = await _hook(service, body, request, shared)
    except ServiceError as error:
        refusal = orjson.dumps({"status": error.status, "detail": error.detail})
        await _log(shared, service, body, error.status, refusal, requester, None)
        raise
    # The answer's audit entries on disk first, then its row in the hook log:
    # a call whose entries cannot be synced answers 503 and is not logged as
    # answered. Both are waited for without a thread (group commits).
    await shared.settle(pending)
    await _log(shared, service, body, 200, answer, requester, fetched)
    return Response(answer, media_type="application/json")


async def _log(
    shared: Shared,
    service: str,
    body: bytes,
    status: int,
    answer: bytes,
    requester: dict[str, str] | None,
    fetched: list[dict[str, Any]] | None,
) -> None:
    """Keep the call in the hook log: once its row is committed (503 if it cannot be)."""
    row = shared.hook_log.submit(service, body, status, answer, requester, fetched)
    try:
        await asyncio.wrap_future(row)
    except LogUnavailable as error:
        raise ServiceError(503, str(error)) from None


async def _hook(
    service: str, body: bytes, request: Request, shared: Shared
) -> tuple[bytes, list[int], list[dict[str, Any]] | None]:
    """The answer, its audit entries not yet on disk (`pending`), and what
    was read from the EHR for it."""
    name = _service(service)
    base = shared.base_url(request.scope)
    settings = shared.settings
    history_types = shared.decisions.history_types

    def read() -> crd_request.HookRequest:
        call = crd_request.HookRequest(strict_json(body), name, shared.budget)
        call.histories_read(history_types)
        return call

    def decide(call: crd_request.HookRequest) -> tuple[bytes, list[int]]:
        pending: list[int] = []
        answer = crd.decide(call, shared.decisions, base, pending, settings.payer_name)
        return orjson.dumps(answer), pending

    def read_and_decide() -> tuple[crd_request.HookRequest, tuple[bytes, list[int]] | None]:
        # The common case, a complete prefetch, takes one decision thread once:
        # a hop to a thread and back costs about as much as reading the call.
        call = read()
        return call, None if call.can_query() else decide(call)

    call, decided = await shared.run(read_and_decide)
    if decided is not None:
        return *decided, None
    fetched_resources: list[dict[str, Any]] | None = None
    if settings.ehr_timeout > 0:
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
    else:
        call.unread.failure = "this service does not query fhirServer (ehr_timeout 0)"
    answer, pending = await shared.run(decide, call)
    return answer, pending, fetched_resources


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
