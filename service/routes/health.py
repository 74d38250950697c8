"""Liveness: answered by the event loop alone, also while requests are decided."""

from __future__ import annotations

from fastapi import APIRouter

from policykb.service.envelopes.json_api import Health

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> Health:
    return Health(status="ok")
