"""DTR spec-43's lookup: whether the orders a QuestionnaireResponse's
qr-context names are orders a CRD call for its patient left carrying
coverage-information (service/crd_orders_called.py, HookLog.called_for).

Random hook calls (order-sign drafts, order-select selections, updates in
the answer, order-dispatch prefetch; refused calls; one or two fhirServers
or none) are logged; random responses name orders relatively, versioned,
absolutely, by identifier, contained, or by nothing. The oracle is a brute
force over the calls as sent, written from the module's matching rules, not
its code. The same holds after the log's order index is rebuilt from its
rows (a file from before the index: user_version 0).
"""

from __future__ import annotations

import random
import sqlite3
from pathlib import Path
from typing import Any

import orjson

from policykb.service.coverage_information import COVERAGE_INFORMATION
from policykb.service.crd_orders_called import named_orders
from policykb.service.hook_log import HookLog
from tests.sampling import examples

QR_CONTEXT = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition/qr-context"
PATIENTS = ["p1", "p2"]
TYPES = ["ServiceRequest", "DeviceRequest"]
IDS = ["a", "b", "c"]
SERVERS = [None, "https://ehr1.example/fhir", "https://ehr2.example/r4/"]
IDENTIFIERS = [
    {"system": "urn:x", "value": "1"},
    {"system": "urn:y", "value": "1"},
    {"value": "1"},
]
INFORMATION = {"url": COVERAGE_INFORMATION, "extension": []}


def drawn_order(draw: random.Random) -> dict[str, Any]:
    order: dict[str, Any] = {"resourceType": draw.choice(TYPES), "id": draw.choice(IDS)}
    if draw.random() < 0.4:
        order["identifier"] = [draw.choice(IDENTIFIERS)]
    if draw.random() < 0.3:
        order["extension"] = [INFORMATION]
    return order


def drawn_call(draw: random.Random) -> tuple[dict[str, Any], dict[str, Any], int]:
    """A request, its answer and the status."""
    hook = draw.choice(["order-sign", "order-select", "order-dispatch"])
    orders = [drawn_order(draw) for _ in range(draw.randint(1, 2))]
    context: dict[str, Any] = {"patientId": draw.choice(PATIENTS)}
    request: dict[str, Any] = {"hook": hook, "hookInstance": "h", "context": context}
    server = draw.choice(SERVERS)
    if server is not None:
        request["fhirServer"] = server
    entries = {"resourceType": "Bundle", "entry": [{"resource": o} for o in orders]}
    if hook == "order-dispatch":
        context["dispatchedOrders"] = [f"{o['resourceType']}/{o['id']}" for o in orders[:1]]
        request["prefetch"] = {"orders": entries}
    else:
        context["draftOrders"] = entries
        if hook == "order-select":
            context["selections"] = [f"{o['resourceType']}/{o['id']}" for o in orders[:1]]
    updated = [o | {"extension": [INFORMATION]} for o in orders if draw.random() < 0.4]
    answer: dict[str, Any] = {"cards": []}
    if updated:
        answer["systemActions"] = [{"type": "update", "resource": o} for o in updated]
    return request, answer, draw.choice([200, 200, 200, 400])


def carrying(request: dict[str, Any], answer: dict[str, Any], status: int) -> list[Any]:
    """Oracle: (patient, server base, order) for each order the call was for
    that carries coverage-information afterwards."""
    if status != 200:
        return []
    context = request["context"]
    server = request.get("fhirServer")
    base = server.rstrip("/") if server else None
    found = [a["resource"] for a in answer.get("systemActions", [])]
    if request["hook"] == "order-dispatch":
        named = context["dispatchedOrders"]
        for entry in request["prefetch"]["orders"]["entry"]:
            order = entry["resource"]
            if f"{order['resourceType']}/{order['id']}" in named:
                found.append(order)
    else:
        for entry in context["draftOrders"]["entry"]:
            order = entry["resource"]
            chosen = context.get("selections")
            if chosen is None or f"{order['resourceType']}/{order['id']}" in chosen:
                found.append(order)
    return [
        (context["patientId"], base, order)
        for order in found
        if INFORMATION in order.get("extension", [])
    ]


def drawn_reference(draw: random.Random, contained: list[Any]) -> dict[str, Any]:
    kind, ident = draw.choice(TYPES), draw.choice(IDS)
    form = draw.choice(["relative", "versioned", "absolute", "identifier", "contained", "none"])
    if form == "relative":
        return {"reference": f"{kind}/{ident}"}
    if form == "versioned":
        return {"reference": f"{kind}/{ident}/_history/2"}
    if form == "absolute":
        server = draw.choice([s for s in SERVERS if s] + ["https://elsewhere.example/fhir"])
        return {"reference": f"{server.rstrip('/')}/{kind}/{ident}"}
    if form == "identifier":
        return {"type": kind, "identifier": draw.choice(IDENTIFIERS)}
    if form == "contained":
        local = f"local{len(contained)}"
        contained.append(
            {"resourceType": kind, "id": local, "identifier": [draw.choice(IDENTIFIERS)]}
        )
        return {"reference": f"#{local}"}
    return {"display": "no reference"}


def oracle_names(
    reference: dict[str, Any], kept: tuple[str, str | None, Any], contained: list[Any]
) -> bool:
    """Oracle: a qr-context Reference names a kept order."""
    _, base, order = kept
    own = f"{order['resourceType']}/{order['id']}"
    identifiers = order.get("identifier", [])
    text = reference.get("reference", "")
    if "identifier" in reference and reference["identifier"] in identifiers:
        return True
    if text.startswith("#"):
        (local,) = [c for c in contained if c["id"] == text[1:]]
        return any(i in identifiers for i in local["identifier"])
    text = text.split("/_history/")[0]
    if text.startswith("https://"):
        return base is not None and text == f"{base}/{own}"
    return text == own


def test_called_for_is_the_brute_force_over_the_calls(tmp_path: Path) -> None:
    draw = random.Random()
    path = tmp_path / "hooks.sqlite"
    for _ in range(examples(20)):
        path.unlink(missing_ok=True)
        log = HookLog(path)
        kept: list[Any] = []
        for _ in range(draw.randint(0, 6)):
            request, answer, status = drawn_call(draw)
            log.record("order", orjson.dumps(request), status, orjson.dumps(answer))
            kept += carrying(request, answer, status)
        responses = []
        for _ in range(30):
            contained: list[Any] = []
            patient = draw.choice(PATIENTS)
            named = [drawn_reference(draw, contained) for _ in range(draw.randint(0, 2))]
            response = {
                "resourceType": "QuestionnaireResponse",
                "subject": {"reference": f"Patient/{patient}"},
                "contained": contained,
                "extension": [{"url": QR_CONTEXT, "valueReference": r} for r in named],
            }
            expected = bool(named) and all(
                any(k[0] == patient and oracle_names(r, k, contained) for k in kept) for r in named
            )
            responses.append((response, expected))
        for response, expected in responses:
            found = named_orders(response)
            assert (found is not None and log.called_for(*found)) is expected, (response, kept)
        log.close()
        # A file from before the index: its rows are indexed when it is opened.
        with sqlite3.connect(path) as db:
            db.execute("DELETE FROM crd_order")
            db.execute("PRAGMA user_version = 0")
        reopened = HookLog(path)
        for response, expected in responses:
            found = named_orders(response)
            assert (found is not None and reopened.called_for(*found)) is expected
        reopened.close()


def test_a_response_without_a_patient_subject_names_nothing() -> None:
    context = [{"url": QR_CONTEXT, "valueReference": {"reference": "ServiceRequest/a"}}]
    for subject in (None, {"reference": "Group/g"}, {"display": "someone"}):
        response: dict[str, Any] = {"resourceType": "QuestionnaireResponse", "extension": context}
        if subject is not None:
            response["subject"] = subject
        assert named_orders(response) is None
    assert named_orders({"subject": {"reference": "Patient/p1"}}) is None  # no order named
