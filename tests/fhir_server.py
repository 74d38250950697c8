"""A FHIR R4 server on loopback for the service's EHR-fetch tests: the
project's own test double, serving one patient's record (tests/fhir_records)
over real HTTP (uvicorn on 127.0.0.1, an ephemeral port).

It answers only what a CRD service may ask: a read by `Type/id`, and the
searches the service's discovery declares, each a US Core search
combination (Coverage by patient and status, CRD's own); any other query is a
400 OperationOutcome, so a test sees a service that strays. It checks the
bearer token, records every request, and can be told to fail (`status`) or
to hold its answers until released (`hold`), so a timeout is forced without
sleeping.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import anyio
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

TOKEN = "ehr-access-token"
SEARCHES = {
    # type: the accepted parameter sets (US Core search combinations, and CRD's Coverage search)
    "Coverage": [{"patient", "status"}],
    "Condition": [{"patient", "clinical-status"}, {"patient"}],
    "Observation": [{"patient", "category"}, {"patient", "code"}],
    "ServiceRequest": [{"_id"}],
    "DeviceRequest": [{"_id"}],
    "MedicationRequest": [{"_id"}, {"patient", "intent"}],
    "Procedure": [{"patient"}],
    "MedicationDispense": [{"patient"}],
}


def _outcome(status: int, text: str) -> JSONResponse:
    body = {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid", "diagnostics": text}],
    }
    return JSONResponse(body, status_code=status, media_type="application/fhir+json")


@dataclass
class FhirDouble:
    """The server's state: its resources, what it was asked, how it fails."""

    resources: list[dict[str, Any]]
    requests: list[str] = field(default_factory=list)
    status: int = 200
    hold: threading.Event | None = None
    base: str = ""

    def _matches(self, resource: dict[str, Any], params: dict[str, str]) -> bool:
        for name, value in params.items():
            if name == "_id" and resource.get("id") not in value.split(","):
                return False
            if name == "patient":
                key = "beneficiary" if resource["resourceType"] == "Coverage" else "subject"
                if (resource.get(key) or {}).get("reference") != f"Patient/{value}":
                    return False
            if name == "intent" and resource.get("intent") not in value.split(","):
                return False
            if name == "category":
                texts = {
                    c.get("code")
                    for concept in resource.get("category", [])
                    for c in concept.get("coding", [])
                }
                if not texts & set(value.split(",")):
                    return False
        return True

    async def handle(self, request: Request) -> JSONResponse:
        self.requests.append(str(request.url).removeprefix(self.base))
        if self.hold is not None:
            await anyio.to_thread.run_sync(self.hold.wait)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return _outcome(401, "no or wrong bearer token")
        if self.status != 200:
            return _outcome(self.status, "the test double was told to fail")
        kind, ident = request.path_params["kind"], request.path_params.get("ident")
        if ident is not None:
            for resource in self.resources:
                if resource["resourceType"] == kind and resource.get("id") == ident:
                    return JSONResponse(resource, media_type="application/fhir+json")
            return _outcome(404, f"no {kind}/{ident}")
        params = dict(request.query_params)
        if set(params) not in SEARCHES.get(kind, []):
            return _outcome(400, f"{kind}?{'&'.join(sorted(params))} is not a US Core search")
        found = [
            r for r in self.resources if r["resourceType"] == kind and self._matches(r, params)
        ]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [{"resource": r} for r in found],
        }
        return JSONResponse(bundle, media_type="application/fhir+json")


def categorized(observation: dict[str, Any], category: str) -> dict[str, Any]:
    """An Observation with a US Core category (the double searches by it)."""
    coding = {
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": category,
    }
    return observation | {"category": [{"coding": [coding]}]}


@contextmanager
def fhir_server(resources: list[dict[str, Any]]) -> Iterator[FhirDouble]:
    """The double serving `resources` at its `base` until the block ends."""
    double = FhirDouble(resources)
    app = Starlette(
        routes=[
            Route("/fhir/{kind}", double.handle),
            Route("/fhir/{kind}/{ident}", double.handle),
        ]
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="error", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not server.started:  # uvicorn sets it once its socket listens
        started.wait(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    double.base = f"http://127.0.0.1:{port}/fhir"
    try:
        yield double
    finally:
        if double.hold is not None:
            double.hold.set()
        server.should_exit = True
        thread.join(10)
