"""How many thread hops a request takes: each is a wake-up of a pool thread
and a wait for the GIL, a measured share of a CRD call's CPU under load
(bench/serve.py). A route's dependencies resolve on the event loop, and a
CRD call with a complete prefetch is read, checked and decided in one hop
to a decision thread."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from policykb.service.app import ROUTERS, create_app
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> FastAPI:
    folder = tmp_path_factory.mktemp("threads")
    return create_app(
        ServiceSettings(
            policies=("bariatric-surgery",),
            audit=str(folder / "audit.jsonl"),
            hook_log=str(folder / "hooks.sqlite"),
        )
    )


def _dependencies(dependant: Any) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency
        yield from _dependencies(dependency)


def test_every_route_dependency_is_resolved_on_the_event_loop() -> None:
    # FastAPI runs a plain-function dependency on its thread pool: a hop per request.
    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    assert len(routes) > 20
    for route in routes:
        for dependency in _dependencies(route.dependant):
            if dependency.call is None:
                continue
            assert inspect.iscoroutinefunction(dependency.call), (
                f"{route.path}: dependency {dependency.call.__name__} is not a coroutine"
            )


def test_a_crd_call_with_a_complete_prefetch_takes_one_thread_hop(
    app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[str] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(function: Any, *args: Any, **options: Any) -> Any:
        hops.append(getattr(function, "__name__", repr(function)))
        return await run_sync(function, *args, **options)

    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    with TestClient(app) as client:
        warm = client.post("/cds-services/policykb-order-sign", json=record.hook())
        assert warm.status_code == 200
        monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
        for order in range(3):
            answer = client.post(
                "/cds-services/policykb-order-sign",
                json=Record(bmis=[("2026-05-01", 36.0 + order)], order_id=f"order-{order}").hook(),
            )
            assert answer.status_code == 200
            assert answer.json()["systemActions"], answer.json()
    assert len(hops) == 3, hops


def test_a_direct_route_is_documented_from_its_endpoint_and_checked_when_made() -> None:
    from policykb.service.deps import DirectRoute, Shared
    from policykb.service.routes.cds_hooks import router

    (hook,) = [r for r in router.routes if isinstance(r, DirectRoute)]
    assert hook.path == "/cds-services/{service}" and hook.methods == {"POST"}
    assert [p.name for p in hook.dependant.path_params] == ["service"]

    async def extra(service: str, request: Any, shared: Shared, depth: int) -> Any: ...

    with pytest.raises(TypeError, match="depth"):
        DirectRoute("/cds-services/{service}", extra, methods=["POST"])
