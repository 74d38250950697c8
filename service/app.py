"""The FastAPI application, assembled: the state every route shares, one
router per surface, the error handlers, the OpenAPI document and the guard.

    GET  /cds-services                     CDS Hooks discovery        routes/cds_hooks
    POST /cds-services/{id}                CRD order-sign / select    routes/cds_hooks
    GET  /fhir/Questionnaire/{policy}      DTR questionnaire          routes/dtr
    POST /fhir/Questionnaire/$questionnaire-package, $log-questionnaire-errors
                                           DTR operations             routes/dtr
    GET/POST /fhir/ValueSet/$expand, /fhir/ValueSet/{id}/$expand, GET /fhir/ValueSet/{id}
                                           DTR choice ValueSets       routes/dtr
    POST /fhir/Claim/$submit               PAS prior authorization    routes/pas
    POST /fhir/Claim/$inquire              PAS inquiry                routes/pas
    POST /fhir/Subscription, GET/PUT/DELETE /fhir/Subscription/{id}, {id}/$status, $events
                                           PAS Subscriptions          routes/subscriptions
    GET  /fhir/metadata                    CapabilityStatement        routes/metadata
    GET  /fhir/.well-known/smart-configuration, POST /auth/token
                                           SMART Backend Services     routes/smart
    /v1/...                                the JSON API               routes/json_api
    GET  /, /static/...                    the analyst's page         routes/page
    GET  /healthz                          liveness                   routes/health
    GET  /openapi.json                     the OpenAPI document       openapi

The event loop never decides: parsing a body, validating a CDS Hooks or
FHIR envelope, verifying a token, deciding and writing the audit log run on
a bounded pool of threads
(`decision_threads`), and requests beyond it wait their turn; the loop only
moves bytes, so /healthz answers while a large request is decided.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from fastapi import FastAPI

from policykb.bridge import KnowledgeBase
from policykb.bridge.model import release
from policykb.bridge.model.errors import OutputError
from policykb.service import handlers, openapi, request_budget
from policykb.service.audit import AuditLog
from policykb.service.auth import Verifier
from policykb.service.decisions import Decisions
from policykb.service.deps import Service
from policykb.service.guard import STATIC_PREFIX, Guard
from policykb.service.hook_log import HookLog, LogUnavailable
from policykb.service.pas_store import AuthorizationStore, StoreUnavailable
from policykb.service.routes import (
    cds_hooks,
    dtr,
    health,
    json_api,
    metadata,
    page,
    pas,
    smart,
    subscriptions,
)
from policykb.service.settings import ServiceSettings
from policykb.service.smart_auth import SmartBackend
from policykb.service.subscription_notifier import Notifier
from policykb.service.subscription_store import SubscriptionStore

PARENT_VARIABLE = "POLICYKB_SERVE_PARENT"  # the pid each worker dies with
ROUTERS = (
    cds_hooks.router,
    dtr.router,
    pas.router,
    subscriptions.router,
    smart.router,
    metadata.router,
    json_api.router,
    page.router,
    health.router,
)
"""Every surface's router: all the routes there are, besides the page's static files."""
DESCRIPTION = (
    "Coverage decisions from a health plan's written policies, citing their criteria: "
    "Da Vinci CRD (CDS Hooks 2.0), DTR questionnaires, PAS prior authorization, and a JSON API."
)


def _authorizations(settings: ServiceSettings) -> AuthorizationStore:
    """The PAS store; one it cannot open stops the service like an audit log
    it cannot write (OutputError)."""
    try:
        return AuthorizationStore(Path(settings.pas_store) if settings.pas_store else None)
    except StoreUnavailable as error:
        raise OutputError(str(error)) from None


def _subscriptions(settings: ServiceSettings) -> Notifier:
    """The PAS Subscriptions, kept in the PAS store's file (every worker sees them)."""
    try:
        return Notifier(SubscriptionStore(Path(settings.pas_store) if settings.pas_store else None))
    except sqlite3.Error as error:
        raise OutputError(f"PAS store {settings.pas_store}: {error}") from None


def _hook_log(settings: ServiceSettings) -> HookLog:
    """The CRD hook log; one it cannot open stops the service (OutputError)."""
    try:
        return HookLog(Path(settings.hook_log) if settings.hook_log else None)
    except LogUnavailable as error:
        raise OutputError(str(error)) from None


def create_app(settings: ServiceSettings, knowledge: KnowledgeBase | None = None) -> FastAPI:
    """The service over the policies of `settings` (PolicyError if one is wrong)."""
    knowledge = knowledge or KnowledgeBase(settings.kb_paths)
    audit = AuditLog(Path(settings.audit), sync=settings.audit_sync) if settings.audit else None
    store = Path(settings.jti_store) if settings.jti_store else None
    verifier = Verifier.from_file(Path(settings.trust), store) if settings.trust else None
    shared = Service(
        settings=settings,
        decisions=Decisions(knowledge, audit, served=settings.policies),
        limiter=anyio.CapacityLimiter(settings.decision_threads),
        budget=request_budget.Budget(settings.max_orders, settings.max_resources),
        authorizations=_authorizations(settings),
        notifier=_subscriptions(settings),
        hook_log=_hook_log(settings),
        smart=SmartBackend.from_file(
            Path(settings.smart_clients),
            Path(settings.smart_tokens) if settings.smart_tokens else None,
        )
        if settings.smart_clients
        else None,
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await shared.notifier.close()  # heartbeats end with the service

    app = FastAPI(
        lifespan=lifespan,
        title="policykb",
        version=release.version(),
        description=DESCRIPTION,
        # Swagger UI would load its script from a CDN: the OpenAPI document
        # is served, its UI is not.
        docs_url=None,
        redoc_url=None,
    )
    app.state.service = shared
    app.state.decisions = shared.decisions  # for tools and tests that drive it directly
    for router in ROUTERS:
        app.include_router(router)
    app.mount(STATIC_PREFIX.rstrip("/"), page.static_files(), name="static")
    handlers.install(app)
    openapi.install(app)
    app.add_middleware(
        Guard, settings=settings, verifier=verifier, limiter=shared.limiter, smart=shared.smart
    )
    # The policies, circuits and caches loaded so far live as long as the
    # service: out of the collector's sight, full collections stay short.
    gc.collect()
    gc.freeze()
    return app


def app_from_environment() -> FastAPI:
    """The application of each uvicorn worker (settings passed by `policykb serve`).
    The worker dies with the process that started it."""
    from policykb.service.serve import die_with_parent

    parent = os.environ.get(PARENT_VARIABLE)
    if parent is not None:
        die_with_parent(int(parent))
    return create_app(ServiceSettings.from_environment())
