"""CRD over CDS Hooks 2.0: discovery, the hook services, and feedback.

A hook call is read, checked and decided on one decision thread when its
prefetch leaves nothing to query. Otherwise it is read and checked there,
what it did not prefetch is read from the client's fhirServer on the event
loop (I/O only, time-bounded: ehr.py), and the decision runs on a decision
thread again. That thread hands the answer to the hook log, whose own
thread commits its row once the answer's audit entries are on disk (each
log writes in group commits: one audit fsync and one hook-log transaction
cover the calls waiting together). The call waits for that one Future,
holding no thread; only then is the answer sent. A call whose audit entries
cannot be synced answers 503 and has no row saying it was answered.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from policykb.service import crd, crd_discovery, crd_request, ehr
from policykb.service.audit import REQUESTER
from policykb.service.deps import DirectRoute, Shared, strict_json
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


async def hook(service: str, request: Request, shared: Shared) -> Response:
    """A CDS Hooks call: coverage information for each order a policy
    decides. The call and its answer (or its refusal) are kept in the hook
    log before the answer is sent (CRD found-37)."""
    _service(service)
    body = await request.body()
    try:
        answer, row = await _hook(service, body, request, shared)
    except ServiceError as error:
        refusal = orjson.dumps({"status": error.status, "detail": error.detail})
        row = shared.hook_log.submit(service, body, error.status, refusal, REQUESTER.get())
        await _kept(row)
        raise
    # Committed once the answer's audit entries are on disk (AuditUnavailable,
    # a 503, otherwise), then kept in the hook log: waited for without a thread.
    await _kept(row)
    return Response(answer, media_type="application/json")


# Called directly (DirectRoute), without FastAPI's dependency resolution:
# the body is read and checked on a decision thread.
router.add_api_route(
    "/cds-services/{service}",
    hook,
    methods=["POST"],
    response_model=HookResponse,
    responses=OUTCOMES,
    openapi_extra=request_body(HookCall),
    route_class_override=DirectRoute,
)


async def _kept(row: Future[int]) -> None:
    """Once the call's row is in the hook log (503 if it cannot be)."""
    try:
        await asyncio.wrap_future(row)
    except LogUnavailable as error:
        raise ServiceError(503, str(error)) from None


async def _hook(
    service: str, body: bytes, request: Request, shared: Shared
) -> tuple[bytes, Future[int]]:
    """The answer, and its row in the hook log (not yet committed: it waits
    for the answer's audit entries to be on disk)."""
    name = _service(service)
    base = shared.base_url(request.scope)
    settings = shared.settings
    history_types = shared.decisions.history_types

    def read() -> crd_request.HookRequest:
        call = crd_request.HookRequest(strict_json(body), name, shared.budget)
        call.histories_read(history_types)
        return call

    def decide(
        call: crd_request.HookRequest, fetched: list[dict[str, Any]] | None
    ) -> tuple[bytes, Future[int]]:
        # The row is handed to the hook log from here, not the event loop: the
        # loop then wakes once for the call, when the row is committed.
        pending: list[int] = []
        answer = orjson.dumps(
            crd.decide(call, shared.decisions, base, pending, settings.payer_name)
        )
        after = shared.decisions.durable(pending)
        row = shared.hook_log.submit(
            service, body, 200, answer, REQUESTER.get(), fetched, after=after
        )
        return answer, row

    def read_and_decide() -> tuple[crd_request.HookRequest, tuple[bytes, Future[int]] | None]:
        # The common case, a complete prefetch, takes one decision thread once:
        # a hop to a thread and back costs about as much as reading the call.
        call = read()
        return call, None if call.can_query() else decide(call, None)

    call, decided = await shared.run(read_and_decide)
    if decided is not None:
        return decided
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
    return await shared.run(decide, call, fetched_resources)


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
