"""PAS Subscriptions (spec-51, spec-54 to spec-62): the IG's Subscription
example is accepted, handshaken (requested, then active or error), heartbeaten
when it asks, its `$status` answered, and an update that settles a pended
authorization is notified to a loopback receiver with the full response Bundle.

The receiver holds every notification until the test answers it, so the
order of events is forced: the `$submit` answer arrives while its
notification is still held (delivery is off the request path), and the
test waits for the service's deliveries to finish (Notifier.drain, on the
app's event loop) before reading what the service recorded. The heartbeat
clock is the Notifier's `sleep`, replaced by one that waits for the test's
ticks. No sleeps.
"""

from __future__ import annotations

import asyncio
import copy
import json
import queue
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from policykb.bridge import KnowledgeBase
from policykb.service import subscription_notifier, subscription_resource
from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests.service.test_pas import items
from tests.service.test_pas_updates import (
    MASSAGE,
    MASSAGE_ANSWERS,
    homecare,
    homecare_update,
    with_answers,
)
from tests.service.test_service import fhir_js, r4b

DAVINCI = Path(__file__).parents[1] / "fixtures" / "davinci"
REQUESTING_PROVIDER = "8189991234"  # the Homecare example's Claim.provider NPI
WAIT = 30.0  # seconds a test waits for an event before failing (never slept)


class Receiver:
    """A loopback rest-hook endpoint: records each POST, then answers it
    with the status the test puts in `answers` (holding it until then)."""

    def __init__(self) -> None:
        self.received: queue.Queue[tuple[dict[str, str], dict[str, Any]]] = queue.Queue()
        self.answers: queue.Queue[int] = queue.Queue()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.put((dict(self.headers), json.loads(body)))
                status = receiver.answers.get(timeout=WAIT)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notify"

    def next(self) -> tuple[dict[str, str], dict[str, Any]]:
        return self.received.get(timeout=WAIT)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.close()


@pytest.fixture
def client(kb: KnowledgeBase) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(), knowledge=kb)) as test_client:
        yield test_client


def drain(client: TestClient) -> None:
    """Wait until every notification under way is delivered or given up."""
    client.portal.call(client.app.state.service.notifier.drain)  # type: ignore[union-attr,attr-defined]


def the_igs_subscription(endpoint: str, org: str = REQUESTING_PROVIDER) -> dict[str, Any]:
    subscription = json.loads((DAVINCI / "pas-PASSubscriptionExample.json").read_text())
    subscription["channel"]["endpoint"] = endpoint
    subscription["_criteria"]["extension"][0]["valueString"] = f"orgIdentifier={org}"
    return subscription  # type: ignore[no-any-return]


def subscribe(
    client: TestClient, receiver: Receiver, subscription: dict[str, Any]
) -> dict[str, Any]:
    """Create the Subscription and answer its handshake: it is then active."""
    response = client.post("/fhir/Subscription", json=subscription)
    assert response.status_code == 201, response.text
    kept: dict[str, Any] = response.json()
    assert kept["status"] == "requested"
    assert response.headers["location"].endswith(f"/fhir/Subscription/{kept['id']}")
    _, bundle = receiver.next()
    assert status_of(bundle)["type"]["valueCode"] == "handshake"
    receiver.answers.put(200)
    drain(client)
    active: dict[str, Any] = client.get(f"/fhir/Subscription/{kept['id']}").json()
    assert active == {**kept, "status": "active"}
    return active


def status_of(bundle: dict[str, Any]) -> dict[str, Any]:
    """A notification's (or `$status` answer's) status Parameters, by name."""
    return {p["name"]: p for p in bundle["entry"][0]["resource"]["parameter"]}


def submit(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def pended_then_settled(client: TestClient) -> tuple[dict[str, Any], dict[str, Any]]:
    """A massage item pended, then the update that brings its answers."""
    first = submit(client, homecare({"productOrService": MASSAGE}))
    update = with_answers(homecare_update({"productOrService": MASSAGE}), MASSAGE_ANSWERS)
    return first, update


def test_the_igs_subscription_is_accepted_and_kept_active(
    client: TestClient, receiver: Receiver
) -> None:
    kept = subscribe(client, receiver, the_igs_subscription(receiver.url))
    assert kept["criteria"] == subscription_resource.TOPIC
    assert client.get(f"/fhir/Subscription/{kept['id']}").json() == kept
    r4b(kept)
    (result,) = fhir_js([kept])
    assert result["valid"], result["messages"]


def test_a_settled_pended_request_is_notified_off_the_request_path(
    client: TestClient, receiver: Receiver
) -> None:
    """The update's answer comes back while the receiver still holds its
    notification; the notification is the backport's history Bundle with
    the status Parameters (event 1: the first request, new, made no event)
    and the full PAS response Bundle, equal to the `$submit` answer."""
    kept = subscribe(client, receiver, the_igs_subscription(receiver.url))
    first, update = pended_then_settled(client)
    assert items(first)[0][1] == "A4"  # the premise: the first answer pended it
    answer = submit(client, update)  # returns although the receiver has answered nothing
    headers, bundle = receiver.next()
    receiver.answers.put(200)
    drain(client)
    assert headers["Content-Type"] == "application/fhir+json"
    assert bundle["type"] == "history"
    status, focus = bundle["entry"]
    parameters = {p["name"]: p for p in status["resource"]["parameter"]}
    assert parameters["topic"]["valueCanonical"] == subscription_resource.TOPIC
    assert parameters["type"]["valueCode"] == "event-notification"
    assert parameters["subscription"]["valueReference"]["reference"].endswith(kept["id"])
    event = {p["name"]: p for p in parameters["notification-event"]["part"]}
    assert event["event-number"]["valueString"] == "1"
    assert event["focus"]["valueReference"]["reference"] == focus["fullUrl"]
    assert focus["resource"] == answer  # spec-61: the full PAS response Bundle
    r4b(bundle)
    (result,) = fhir_js([bundle])
    assert result["valid"], result["messages"]
    assert client.get(f"/fhir/Subscription/{kept['id']}").json()["status"] == "active"
    assert receiver.received.empty()


def test_only_subscriptions_watching_the_sender_are_notified(
    client: TestClient, receiver: Receiver
) -> None:
    """A Subscription for another organization gets nothing; one deleted
    before the update gets nothing; a new request (no pended answer
    replaced) notifies nobody."""
    subscribe(client, receiver, the_igs_subscription(receiver.url, org="1234567893"))
    deleted = subscribe(client, receiver, the_igs_subscription(receiver.url))
    assert client.delete(f"/fhir/Subscription/{deleted['id']}").status_code == 204
    assert client.get(f"/fhir/Subscription/{deleted['id']}").status_code == 404
    _, update = pended_then_settled(client)
    submit(client, update)
    drain(client)
    assert receiver.received.empty()


def test_a_failing_endpoint_is_retried_then_the_subscription_is_in_error(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each attempt answered 503: ATTEMPTS attempts, then status error with
    the reason; a later delivery that succeeds makes it active again."""
    monkeypatch.setattr(subscription_notifier, "BACKOFF", 0.0)
    kept = subscribe(client, receiver, the_igs_subscription(receiver.url))
    _, update = pended_then_settled(client)
    submit(client, update)
    for _ in range(subscription_notifier.ATTEMPTS):
        receiver.next()
        receiver.answers.put(503)
    drain(client)
    assert receiver.received.empty()
    failed = client.get(f"/fhir/Subscription/{kept['id']}").json()
    assert failed["status"] == "error"
    assert "503" in failed["error"]
    assert f"after {subscription_notifier.ATTEMPTS} attempts" in failed["error"]

    again = copy.deepcopy(update)
    assert items(submit(client, homecare({"productOrService": MASSAGE})))[0][1] == "A4"
    again["entry"][0]["resource"]["identifier"][0]["value"] = "111099-UPDATE-2"
    submit(client, again)
    _, bundle = receiver.next()
    receiver.answers.put(204)
    drain(client)
    event = bundle["entry"][0]["resource"]["parameter"][-1]["part"][0]
    assert event == {"name": "event-number", "valueString": "2"}
    assert client.get(f"/fhir/Subscription/{kept['id']}").json()["status"] == "active"


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda s: s.pop("_criteria"), "Subscription._criteria"),
        (lambda s: s["channel"].update(type="websocket"), "Subscription.channel.type"),
        (
            lambda s: s["channel"].update(endpoint="http://example.org/hook"),
            "Subscription.channel.endpoint",
        ),
        (
            lambda s: s["channel"]["_payload"]["extension"][0].update(valueCode="id-only"),
            "Subscription.channel._payload.extension",
        ),
        (lambda s: s.update(criteria="Claim?status=active"), "Subscription.criteria"),
    ],
)
def test_a_subscription_the_pas_profile_does_not_allow_is_a_422_naming_it(
    client: TestClient, change: Any, where: str
) -> None:
    subscription = the_igs_subscription("https://ehr.example/notify")
    change(subscription)
    response = client.post("/fhir/Subscription", json=subscription)
    assert response.status_code == 422, response.text
    assert where in response.text


def test_the_capability_statement_offers_subscriptions(client: TestClient) -> None:
    statement = client.get("/fhir/metadata").json()
    (resource,) = [r for r in statement["rest"][0]["resource"] if r["type"] == "Subscription"]
    codes = {i["code"] for i in resource["interaction"]}
    assert {"create", "update", "delete"} <= codes
    assert [o["name"] for o in resource["operation"]] == ["status", "events"]
    assert resource["extension"][0]["valueCanonical"] == subscription_resource.TOPIC


def test_the_handshake_is_the_backports_and_an_undelivered_one_is_an_error(
    client: TestClient, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handshake is a history Bundle whose only entry is the status
    (requested, handshake, no event yet); no event reaches a Subscription
    before its handshake is delivered; after ATTEMPTS failed handshakes the
    Subscription is in error, saying so."""
    monkeypatch.setattr(subscription_notifier, "BACKOFF", 0.0)
    response = client.post("/fhir/Subscription", json=the_igs_subscription(receiver.url))
    kept = response.json()
    _, bundle = receiver.next()
    assert client.get(f"/fhir/Subscription/{kept['id']}").json()["status"] == "requested"
    parameters = status_of(bundle)
    assert bundle["type"] == "history" and len(bundle["entry"]) == 1
    assert parameters["status"]["valueCode"] == "requested"
    assert parameters["events-since-subscription-start"]["valueString"] == "0"
    assert parameters["subscription"]["valueReference"]["reference"].endswith(kept["id"])
    assert "notification-event" not in parameters
    r4b(bundle)
    (result,) = fhir_js([bundle])
    assert result["valid"], result["messages"]
    _, update = pended_then_settled(client)  # the Subscription is still requested
    submit(client, update)
    receiver.answers.put(503)
    for _ in range(subscription_notifier.ATTEMPTS - 1):
        _, again = receiver.next()
        assert status_of(again)["type"]["valueCode"] == "handshake"
        receiver.answers.put(503)
    drain(client)
    assert receiver.received.empty()  # no event notification was sent
    failed = client.get(f"/fhir/Subscription/{kept['id']}").json()
    assert failed["status"] == "error"
    attempts = subscription_notifier.ATTEMPTS
    assert failed["error"].startswith(f"handshake not delivered after {attempts}")


class Clock:
    """The heartbeat clock, held: each wait ends when the test ticks."""

    def __init__(self) -> None:
        self.waited: list[float] = []
        self.ticks: asyncio.Queue[None] = asyncio.Queue()

    async def sleep(self, seconds: float) -> None:
        self.waited.append(seconds)
        await self.ticks.get()

    async def tick(self) -> None:
        self.ticks.put_nowait(None)


def with_heartbeat(subscription: dict[str, Any], seconds: Any) -> dict[str, Any]:
    subscription["channel"].setdefault("extension", []).append(
        {"url": subscription_resource.HEARTBEAT_PERIOD, "valueUnsignedInt": seconds}
    )
    return subscription


def test_heartbeats_come_every_period_and_stop_on_delete(
    client: TestClient, receiver: Receiver
) -> None:
    clock = Clock()
    notifier = client.app.state.service.notifier  # type: ignore[attr-defined]
    notifier.sleep = clock.sleep
    kept = subscribe(client, receiver, with_heartbeat(the_igs_subscription(receiver.url), 60))
    task = notifier.heartbeats[kept["id"]]
    for _ in range(2):
        client.portal.call(clock.tick)
        _, bundle = receiver.next()
        receiver.answers.put(200)
        parameters = status_of(bundle)
        assert parameters["type"]["valueCode"] == "heartbeat"
        assert parameters["status"]["valueCode"] == "active"
        assert parameters["events-since-subscription-start"]["valueString"] == "0"
        assert len(bundle["entry"]) == 1
    r4b(bundle)
    assert client.delete(f"/fhir/Subscription/{kept['id']}").status_code == 204
    assert kept["id"] not in notifier.heartbeats

    async def ended() -> bool:
        await asyncio.gather(task, return_exceptions=True)
        return task.done()

    assert client.portal.call(ended)
    assert clock.waited[:2] == [60, 60]
    client.portal.call(clock.tick)  # a tick after the delete sends nothing
    drain(client)
    assert receiver.received.empty()


@pytest.mark.parametrize("seconds", [0, subscription_resource.MIN_HEARTBEAT_PERIOD - 1, "60"])
def test_a_heartbeat_period_too_short_or_not_a_number_is_a_422(
    client: TestClient, seconds: Any
) -> None:
    subscription = with_heartbeat(the_igs_subscription("https://ehr.example/notify"), seconds)
    response = client.post("/fhir/Subscription", json=subscription)
    assert response.status_code == 422, response.text
    assert "Subscription.channel.extension[0]" in response.text


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_status_and_events_give_the_status_and_the_events_so_far(
    client: TestClient, receiver: Receiver, method: str
) -> None:
    kept = subscribe(client, receiver, the_igs_subscription(receiver.url))
    url = f"/fhir/Subscription/{kept['id']}/$status"
    before = client.request(method, url)
    assert before.status_code == 200, before.text
    assert before.json()["type"] == "searchset"
    parameters = status_of(before.json())
    assert parameters["type"]["valueCode"] == "query-status"
    assert parameters["status"]["valueCode"] == "active"
    assert parameters["events-since-subscription-start"]["valueString"] == "0"
    _, update = pended_then_settled(client)
    answer = submit(client, update)
    _, notified = receiver.next()
    receiver.answers.put(200)
    drain(client)
    after = status_of(client.request(method, url).json())
    assert after["events-since-subscription-start"]["valueString"] == "1"

    events = client.request(method, f"/fhir/Subscription/{kept['id']}/$events")
    assert events.status_code == 200, events.text
    replayed = events.json()
    parameters = status_of(replayed)
    assert parameters["type"]["valueCode"] == "query-event"
    assert parameters["notification-event"] == status_of(notified)["notification-event"]
    assert [entry["resource"] for entry in replayed["entry"][1:]] == [answer]
    r4b(replayed)
    later = client.request(
        method, f"/fhir/Subscription/{kept['id']}/$events", params={"eventsSinceNumber": "2"}
    )
    assert len(later.json()["entry"]) == 1  # the status alone: no event after the first
    bad = client.request(
        method, f"/fhir/Subscription/{kept['id']}/$events", params={"eventsUntilNumber": "x"}
    )
    assert bad.status_code == 400 and "eventsUntilNumber" in bad.text
    r4b(before.json())
    (result, replayed_result) = fhir_js([before.json(), replayed])
    assert result["valid"], result["messages"]
    assert replayed_result["valid"], replayed_result["messages"]
    for operation in ("$status", "$events"):
        missing = client.request(method, f"/fhir/Subscription/nope/{operation}")
        assert missing.status_code == 404
        assert missing.json()["resourceType"] == "OperationOutcome"
