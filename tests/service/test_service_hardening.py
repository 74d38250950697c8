"""Issue 26's probes of the service, each a regression test: auth that fails
closed, no reflected Host, strict JSON bodies, PAS answers and audit, the
request budget; then a real `policykb serve` on 127.0.0.1 probed with raw
sockets (bounded heads, read timeouts, the connection cap), a replay across
two workers, and workers that die with their parent."""

from __future__ import annotations

import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.service.app import create_app
from policykb.service.auth import LEEWAY, Refused, Verifier
from policykb.service.jti_store import JtiStore, Replayed
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record, questionnaire_response
from tests.sampling import examples

ISSUER = "https://ehr.example.org"
ENDPOINT = "http://testserver/cds-services/policykb-order-sign"
HOOK = "/cds-services/policykb-order-sign"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())


def jwk(key: Any, kid: str, algorithm: str) -> dict[str, Any]:
    convert = jwt.algorithms.RSAAlgorithm if algorithm == "RS384" else jwt.algorithms.ECAlgorithm
    public = json.loads(convert.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": algorithm, "use": "sig"}


def write_trust(path: Path) -> Path:
    keys = [jwk(RSA_KEY, "rsa-1", "RS384"), jwk(EC_KEY, "ec-1", "ES384")]
    path.write_text(json.dumps({"issuers": [{"iss": ISSUER, "jwks": {"keys": keys}}]}))
    return path


@pytest.fixture(scope="module")
def trust_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_trust(tmp_path_factory.mktemp("trust") / "trust.json")


@pytest.fixture(scope="module")
def guarded(trust_file: Path) -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(trust=str(trust_file)))) as client:
        yield client


@pytest.fixture(scope="module")
def open_client() -> Iterator[TestClient]:
    with TestClient(create_app(ServiceSettings(max_orders=3, max_resources=40))) as client:
        yield client


def token(
    key: Any = RSA_KEY,
    algorithm: str = "RS384",
    headers: dict[str, Any] | None = None,
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": ENDPOINT, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=algorithm, headers=headers or {"kid": "rsa-1"})


def hand_signed(header: dict[str, Any]) -> str:
    """An RS384 token with a header PyJWT would not write (its signature valid)."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": ENDPOINT, "iat": now, "exp": now + 300, "jti": "hand"}
    parts = [jwt.utils.base64url_encode(json.dumps(part).encode()) for part in (header, claims)]
    signing = jwt.algorithms.RSAAlgorithm(jwt.algorithms.RSAAlgorithm.SHA384)
    signature = signing.sign(b".".join(parts), RSA_KEY)
    return b".".join([*parts, jwt.utils.base64url_encode(signature)]).decode()


def call(client: TestClient, bearer: str, **headers: str) -> Any:
    return client.post(
        HOOK, json=Record().hook(), headers={"Authorization": f"Bearer {bearer}", **headers}
    )


# -- auth -------------------------------------------------------------------------------


def test_an_es384_token_without_kid_is_accepted(guarded: TestClient) -> None:
    """Probe: a valid ES384 token without `kid` answered 500; the key is chosen by alg."""
    unnamed = jwt.encode(
        {
            "iss": ISSUER,
            "aud": ENDPOINT,
            "iat": int(time.time()),
            "exp": int(time.time()) + 300,
            "jti": str(uuid.uuid4()),
        },
        EC_KEY,
        algorithm="ES384",
    )
    assert "kid" not in jwt.get_unverified_header(unnamed)
    assert call(guarded, unnamed).status_code == 200


@pytest.mark.parametrize(
    ("make", "words"),
    [
        # RS384 signed with the RSA key, but naming the EC key: 500 before.
        (lambda: token(headers={"kid": "ec-1"}), "not an RS384 key"),
        (lambda: token(headers={"kid": "nobody"}), "names no key"),
        (lambda: hand_signed({"alg": "RS384", "kid": 7}), "not a JWT"),
        (lambda: token(headers={"kid": "rsa-1", "jwk": jwk(RSA_KEY, "x", "RS384")}), "'jwk'"),
        (lambda: token(headers={"jku": "https://evil.example/jwks"}), "'jku'"),
        (lambda: token(headers={"x5u": "https://evil.example/cert"}), "'x5u'"),
        (lambda: token(headers={"x5c": ["MIIB"]}), "'x5c'"),
        # exp as a numeric string: 500 before (it was subtracted from iat).
        (lambda: token(exp=str(int(time.time()) + 300)), "'exp' must be a number"),
        (lambda: token(iat=str(int(time.time()))), "'iat' must be a number"),
        (lambda: token(exp=True), "'exp' must be a number"),
        (lambda: token(jti=12345), "'jti' must be a string"),
        (lambda: token(jti=""), "'jti' must be a string"),
        (lambda: token(aud=[ENDPOINT, 3]), "'aud' must be a string"),
        (lambda: token(sub={"id": 1}), "'sub' must be a string"),
    ],
)
def test_a_token_that_is_not_exactly_right_is_a_401(
    guarded: TestClient, make: Callable[[], str], words: str
) -> None:
    response = call(guarded, make())
    assert response.status_code == 401, response.text
    assert words in response.json()["issue"][0]["diagnostics"]


def test_an_audience_taken_from_the_host_header_is_refused(guarded: TestClient) -> None:
    """Probe: `aud http://evil.example/...` with `Host: evil.example` was accepted."""
    evil = token(aud="http://evil.example/cds-services/policykb-order-sign")
    response = call(guarded, evil, Host="evil.example")
    assert response.status_code == 401
    assert "Audience" in response.json()["issue"][0]["diagnostics"]
    assert call(guarded, token(), Host="evil.example").status_code == 200


def test_with_a_public_url_it_alone_is_the_audience(trust_file: Path) -> None:
    public = "https://crd.plan.example/api"
    app = create_app(ServiceSettings(trust=str(trust_file), public_url=public))
    with TestClient(app) as client:
        assert call(client, token(aud=f"{public}/cds-services/policykb-order-sign")).is_success
        assert call(client, token(aud=public)).is_success
        assert call(client, token()).status_code == 401  # the socket's address no longer counts


@pytest.mark.parametrize("host", ["0.0.0.0", "10.1.2.3"])
def test_off_loopback_a_trust_file_needs_the_public_url(trust_file: Path, host: str) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app as cli

    result = CliRunner().invoke(cli, ["serve", "--host", host, "--trust", str(trust_file)])
    assert result.exit_code == 2
    assert "--public-url" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    odd = CliRunner().invoke(cli, ["serve", "--public-url", "ftp://x", "--trust", str(trust_file)])
    assert odd.exit_code == 2 and "--public-url" in odd.stderr


def test_serve_refuses_a_jti_store_it_cannot_open(trust_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app as cli

    store = tmp_path / "missing" / "jti.sqlite"
    audit = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        cli,
        ["serve", "--trust", str(trust_file), "--jti-store", str(store), "--audit", str(audit)],
    )
    assert result.exit_code == 5
    assert "jti store" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_a_pas_store_it_cannot_open(trust_file: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app as cli

    store = tmp_path / "missing" / "pas.sqlite"
    audit = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        cli,
        ["serve", "--trust", str(trust_file), "--pas-store", str(store), "--audit", str(audit)],
    )
    assert result.exit_code == 5
    assert "PAS store" in result.stderr and len(result.stderr.strip().splitlines()) == 1


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=6,
)


@given(
    claims=st.dictionaries(
        st.sampled_from(["iss", "aud", "exp", "iat", "nbf", "jti", "sub"]), json_values
    ),
    header=st.dictionaries(st.sampled_from(["kid", "jwk", "typ", "crit", "x5t"]), json_values),
    signer=st.sampled_from([(RSA_KEY, "RS384"), (EC_KEY, "ES384")]),
)
@settings(max_examples=examples(60), deadline=None, suppress_health_check=list(HealthCheck))
def test_any_signed_token_gives_claims_or_refused(
    trust_file: Path,
    claims: dict[str, Any],
    header: dict[str, Any],
    signer: tuple[Any, str],
) -> None:
    """Claims and header fields of every JSON type, signed with a trusted key:
    the verifier returns the claims or raises Refused, never anything else,
    and returns claims only when every registered claim has its type."""
    verifier = Verifier.from_file(trust_file)
    body = {"iss": ISSUER, "aud": ENDPOINT, "jti": str(uuid.uuid4())}
    now = int(time.time())
    body |= {"iat": now, "exp": now + 60} | claims
    try:
        signed = jwt.encode(body, signer[0], algorithm=signer[1], headers=header)
    except (TypeError, ValueError, jwt.PyJWTError):
        return  # not encodable as a JWT at all
    try:
        accepted = verifier.verify(f"Bearer {signed}", [ENDPOINT])
    except Refused:
        return
    assert isinstance(accepted["iss"], str) and isinstance(accepted["jti"], str)
    for name in ("exp", "iat"):
        assert isinstance(accepted[name], int | float) and not isinstance(accepted[name], bool)


def test_a_jti_is_accepted_once_across_processes_sharing_the_store(
    trust_file: Path, tmp_path: Path
) -> None:
    store = tmp_path / "jti.sqlite"
    first, second = Verifier.from_file(trust_file, store), Verifier.from_file(trust_file, store)
    once = token()
    first.verify(f"Bearer {once}", [ENDPOINT])
    with pytest.raises(Refused, match="already used"):
        second.verify(f"Bearer {once}", [ENDPOINT])
    second.verify(f"Bearer {token()}", [ENDPOINT])


@pytest.mark.parametrize("on_disk", [False, True])
def test_the_jti_store_forgets_only_expired_ids(tmp_path: Path, on_disk: bool) -> None:
    store = JtiStore(tmp_path / "jti.sqlite" if on_disk else None, LEEWAY)
    now = time.time()
    store.first_use("live", now + 60)
    with pytest.raises(Replayed):
        store.first_use("live", now + 60)
    store.first_use("stale", now - LEEWAY - 5)
    store.first_use("stale", now + 60)  # its first token expired: it cannot pass anyway
    with pytest.raises(Replayed):
        store.first_use("stale", now + 60)


# -- no reflected Host, no CDN ------------------------------------------------------------


def test_the_questionnaire_url_never_comes_from_the_host_header(open_client: TestClient) -> None:
    hook = Record(bmis=[]).hook()  # no BMI: needs information, so a questionnaire is named
    answer = open_client.post(HOOK, json=hook, headers={"Host": "evil.example"})
    assert answer.status_code == 200
    assert "evil.example" not in answer.text
    assert "http://testserver/fhir/Questionnaire/" in answer.text
    form = open_client.get(
        "/fhir/Questionnaire/bariatric-surgery", headers={"Host": "evil.example"}
    )
    assert form.status_code == 200 and "evil.example" not in form.text


def test_swagger_ui_is_not_served_from_a_cdn(open_client: TestClient) -> None:
    assert open_client.get("/docs").status_code == 404
    assert open_client.get("/openapi.json").status_code == 200


# -- strict JSON ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "key"),
    [
        ("/v1/evaluate", '{"policy": "bariatric-surgery", "facts": {"age": 40, "age": 50}}', "age"),
        ("/v1/why", '{"facts": {}, "facts": {"x": 1}}', "facts"),
        ("/v1/check", '{"policy": "a", "policy": "b"}', "policy"),
        (HOOK, '{"hook": "order-sign", "hook": "order-select"}', "hook"),
        ("/fhir/Claim/$submit", '{"resourceType": "Bundle", "entry": [], "entry": []}', "entry"),
    ],
)
def test_a_repeated_json_key_is_a_400_naming_it(
    open_client: TestClient, path: str, body: str, key: str
) -> None:
    response = open_client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert f"duplicate key '{key}'" in response.text


def test_a_body_that_is_not_utf8_is_a_400(open_client: TestClient) -> None:
    response = open_client.post(HOOK, content=b'{"hook": "\xff"}')
    assert response.status_code == 400 and "not UTF-8" in response.text


# -- PAS ---------------------------------------------------------------------------------


@pytest.fixture
def audited(tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    log = tmp_path / "audit.jsonl"
    with TestClient(create_app(ServiceSettings(audit=str(log)))) as client:
        yield client, log


def _items(response: Any) -> list[tuple[str, str]]:
    """Each item's X12 306 action code and its processNote, from a response Bundle."""
    answer = response.json()["entry"][0]["resource"]
    notes = {note["number"]: note["text"] for note in answer["processNote"]}
    found = []
    for item in answer["item"]:
        (review,) = item["adjudication"][0]["extension"]
        code = review["extension"][0]["valueCodeableConcept"]["coding"][0]["code"]
        found.append((code, notes[item["noteNumber"][0]]))
    return found


@pytest.mark.parametrize("split", [False, True])
def test_contradictory_answers_pend_the_item_naming_the_fact(
    audited: tuple[TestClient, Path], split: bool
) -> None:
    """Probe: `pregnant` answered both true and false was decided on the first
    answer. It is not decided at all: the item is pended (A4), its note names
    the fact and both values, the outcome is partial, nothing is audited."""
    client, log = audited
    record = Record(bmis=[("2026-05-01", 41.0)], diagnoses=["E11.9"])
    if split:  # two QuestionnaireResponses that disagree
        bundle = record.claim_bundle({"pregnant": True})
        bundle["entry"].append({"resource": questionnaire_response({"pregnant": False})})
    else:  # one item with both answers
        bundle = record.claim_bundle({"pregnant": [True, False]})
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200
    ((code, note),) = _items(response)
    assert code == "A4"
    assert "'pregnant'" in note and "true" in note and "false" in note
    assert response.json()["entry"][0]["resource"]["outcome"] == "partial"
    assert log.read_bytes() == b""


def test_pas_answers_each_item_and_audits_the_decided_ones(
    audited: tuple[TestClient, Path],
) -> None:
    """An item no policy decides no longer rejects the request: it is pended
    with its code named, the other item is decided, and only the decided one
    is audited."""
    client, log = audited
    bundle = Record(bmis=[("2026-05-01", 41.0)], pregnant=False).claim_bundle()
    claim = bundle["entry"][0]["resource"]
    good = claim["item"][0]
    unknown = {**good, "sequence": 2, "productOrService": {"coding": [{"code": "00000"}]}}
    claim["item"] = [good, unknown]
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200
    (first, second) = _items(response)
    assert second[0] == "A4" and "00000" in second[1]
    assert first[0] in ("A1", "A3", "A4") and "Not decided" not in first[1]
    assert response.json()["entry"][0]["resource"]["outcome"] == "partial"
    assert len(log.read_bytes().splitlines()) == 1
    claim["item"] = [good, {**good, "sequence": 2}]
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.json()["entry"][0]["resource"]["outcome"] == "complete"
    assert len(log.read_bytes().splitlines()) == 3


# -- the event loop never decides ------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (HOOK, Record().hook()),
        ("/fhir/Claim/$submit", Record(pregnant=False).claim_bundle()),
        ("/v1/evaluate", {"policy": "bariatric-surgery", "facts": {}}),
    ],
)
def test_healthz_answers_while_a_decision_is_held(
    monkeypatch: pytest.MonkeyPatch, path: str, body: dict[str, Any]
) -> None:
    """A decision held inside `decide` (on its thread) does not hold the
    event loop: /healthz answers meanwhile. On the loop, it would wait."""
    import threading

    app = create_app(ServiceSettings())
    decisions = app.state.decisions
    decide = decisions.decide
    deciding, release = threading.Event(), threading.Event()

    def held(*args: Any, **kwargs: Any) -> Any:
        deciding.set()
        assert release.wait(60)
        return decide(*args, **kwargs)

    monkeypatch.setattr(decisions, "decide", held)
    answers: dict[str, int] = {}
    with TestClient(app) as client:

        def ask(name: str, method: str, url: str, **options: Any) -> None:
            answers[name] = client.request(method, url, **options).status_code

        slow = threading.Thread(target=ask, args=("decision", "POST", path), kwargs={"json": body})
        slow.start()
        try:
            assert deciding.wait(60), "the decision never started"
            probe = threading.Thread(target=ask, args=("healthz", "GET", "/healthz"))
            probe.start()
            probe.join(60)
            assert answers.get("healthz") == 200  # answered while the decision is held
            assert "decision" not in answers
        finally:
            release.set()
            slow.join(60)
    assert answers["decision"] == 200


# -- the budget ---------------------------------------------------------------------------


def test_orders_and_resources_past_the_budget_are_a_413(open_client: TestClient) -> None:
    record = Record()
    orders = [{**record.order(), "id": f"order-{i}"} for i in range(4)]
    too_many = open_client.post(HOOK, json=record.hook(orders=orders))
    assert too_many.status_code == 413 and "max_orders" in too_many.text
    assert open_client.post(HOOK, json=record.hook(orders=orders[:3])).status_code == 200
    long_history = Record(bmis=[(f"2025-01-{d:02d}", 40.0) for d in range(1, 29)] * 2)
    resources = open_client.post(HOOK, json=long_history.hook())
    assert resources.status_code == 413 and "max_resources" in resources.text
    claim = Record(bmis=[(f"2025-01-{d:02d}", 40.0) for d in range(1, 29)] * 2).claim_bundle()
    assert open_client.post("/fhir/Claim/$submit", json=claim).status_code == 413


# -- a real server, raw sockets -----------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def answers_healthz(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as client:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return read_all(client).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def read_all(client: socket.socket, limit: float = 10) -> bytes:
    """What the server sends until it closes (or `limit` seconds pass)."""
    client.settimeout(limit)
    received = b""
    try:
        while chunk := client.recv(65536):
            received += chunk
    except (TimeoutError, ConnectionResetError):
        pass
    return received


class Server:
    def __init__(self, process: subprocess.Popen[bytes], port: int) -> None:
        self.process, self.port = process, port

    def connect(self) -> socket.socket:
        return socket.create_connection(("127.0.0.1", self.port), timeout=10)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    started: list[subprocess.Popen[bytes]] = []

    def start(
        *options: str, files: int | None = None, policy: str | None = "bariatric-surgery"
    ) -> Server:
        """`policy` alone is served (the orders these probes send route to
        it; each worker then starts in a fraction of the catalogue's time);
        None serves every policy."""
        port = free_port()
        command = [sys.executable, "-m", "policykb.cli.main", "serve", "--port", str(port)]
        command += ["--audit", str(tmp_path / f"audit-{port}.jsonl"), *options]
        if policy is not None:
            command += ["--policy", policy]

        def limit_files() -> None:
            if files is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (files, files))

        process = subprocess.Popen(
            command,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=limit_files,
        )
        started.append(process)
        wait_until(
            lambda: process.poll() is None and answers_healthz(port), 120, "the server to start"
        )
        return Server(process, port)

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()


def test_an_oversized_or_crowded_head_is_a_431_before_it_is_buffered(
    serve: Callable[..., Server],
) -> None:
    """Probe: one 200 MiB header took the server from 70 to 447 MiB. Now the
    head is counted as it arrives and refused past 16 KiB (and 100 fields)."""
    server = serve()
    with server.connect() as client:
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent = 0
        try:
            while sent < 200 << 20:  # stops when the server has answered and closed
                client.sendall(b"a" * 65536)
                sent += 65536
        except OSError:
            pass
        assert read_all(client).startswith(b"HTTP/1.1 431")
    assert sent < 8 << 20  # refused long before 200 MiB
    with server.connect() as client:
        fields = b"".join(b"X-F%d: 1\r\n" % i for i in range(101))
        client.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + fields + b"\r\n")
        answer = read_all(client)
        assert answer.startswith(b"HTTP/1.1 431") and b"100 headers" in answer
    assert answers_healthz(server.port)


def test_slow_heads_and_bodies_time_out_with_408(serve: Callable[..., Server]) -> None:
    server = serve("--header-timeout", "0.5", "--body-timeout", "0.5")
    with server.connect() as silent:  # connects and says nothing
        assert read_all(silent).startswith(b"HTTP/1.1 408")
    with server.connect() as partial:
        partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        answer = read_all(partial)
        assert answer.startswith(b"HTTP/1.1 408") and b"headers" in answer
    with server.connect() as short_body:
        short_body.sendall(
            b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 100\r\n\r\n{"facts":'
        )
        answer = read_all(short_body)
        assert answer.startswith(b"HTTP/1.1 408") and b"body" in answer
    with server.connect() as fhir_body:  # a FHIR route's refusal is an OperationOutcome
        fhir_body.sendall(
            f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{".encode()
        )
        answer = read_all(fhir_body)
        assert answer.startswith(b"HTTP/1.1 408") and b'"OperationOutcome"' in answer
    with server.connect() as refused_body:  # answered 413 at once: no 408 after it
        refused_body.sendall(
            b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n{"
        )
        answer = read_all(refused_body)
        assert answer.startswith(b"HTTP/1.1 413") and b"408" not in answer
    assert answers_healthz(server.port)


class FakeTransport:
    """Just enough of an asyncio transport for the protocol (no socket)."""

    def __init__(self) -> None:
        self.written = b""
        self.closed = self.paused = False

    def get_extra_info(self, name: str) -> Any:
        return {"peername": ("127.0.0.1", 50000), "sockname": ("127.0.0.1", 8080)}.get(name)

    def write(self, data: bytes) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False


def test_the_body_clock_stops_while_the_server_is_not_reading() -> None:
    """A handler that has not read a large body yet (waiting for a thread,
    say) makes the server stop reading: that time is not the client's, so the
    body timeout is off until reading resumes, and then starts afresh."""
    import asyncio

    from uvicorn.config import Config
    from uvicorn.server import ServerState

    from policykb.service.connection import BoundedHttpToolsProtocol

    async def probe() -> None:
        started = asyncio.Event()

        async def not_reading(scope: Any, receive: Any, send: Any) -> None:
            started.set()
            await asyncio.Event().wait()  # never reads its body

        config = Config(not_reading, lifespan="off", log_level="warning")
        protocol = BoundedHttpToolsProtocol(config, ServerState(), {}, asyncio.get_running_loop())
        transport = FakeTransport()
        protocol.connection_made(transport)  # type: ignore[arg-type]
        assert protocol._deadline is not None  # the head's clock runs
        head = b"POST /v1/evaluate HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n"
        protocol.data_received(head + b"x" * 100_000)  # past uvicorn's 64 KiB high water
        await started.wait()
        assert transport.paused and protocol._deadline is None  # the body's clock is off
        protocol.flow.resume_reading()
        assert protocol._deadline is not None  # and on again, from the start
        protocol.connection_lost(None)
        assert protocol._deadline is None

    asyncio.run(probe())


def test_connections_past_the_cap_get_503_and_descriptors_stay_bounded(
    serve: Callable[..., Server],
) -> None:
    """Probe: with ulimit -n 256, 300 incomplete connections made the server
    refuse new clients. The cap answers 503 at once, and the held ones end at
    the header timeout, so the server serves again without their help."""
    server = serve("--max-connections", "32", "--header-timeout", "3", files=256)
    held = []
    try:
        for _ in range(32):  # connect() returns once accepted into the FIFO listen queue
            connection = server.connect()
            connection.sendall(b"GET /healthz HTTP/1.1\r\n")  # an incomplete head
            held.append(connection)
        refused = []
        for _ in range(300):
            with server.connect() as extra:
                refused.append(read_all(extra, 10))
        assert all(answer.startswith(b"HTTP/1.1 503") for answer in refused)
        descriptors = len(os.listdir(f"/proc/{server.process.pid}/fd"))
        assert descriptors < 32 + 64  # the held ones and the server's own, not 300 more
        for connection in held:  # each is closed by the server at its header timeout
            assert read_all(connection, 30).startswith(b"HTTP/1.1 408")
        wait_until(lambda: answers_healthz(server.port), 30, "the server to serve again")
    finally:
        for connection in held:
            connection.close()


def test_the_connection_cap_stays_below_the_open_file_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from policykb.service.serve import SPARE_DESCRIPTORS, within_descriptors

    monkeypatch.setattr(resource, "getrlimit", lambda _kind: (256, 4096))
    lowered = within_descriptors(ServiceSettings(max_connections=1000))
    assert lowered.max_connections == 256 - SPARE_DESCRIPTORS
    assert within_descriptors(ServiceSettings(max_connections=100)).max_connections == 100


def test_a_replayed_token_is_refused_across_two_workers(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """Probe: a jti was replayable across workers (1 in 20 with --workers 2)."""
    trust = write_trust(tmp_path / "trust.json")
    server = serve("--workers", "2", "--trust", str(trust))
    body = json.dumps(Record().hook()).encode()
    statuses = []
    for _ in range(12):
        bearer = token(aud=f"http://127.0.0.1:{server.port}{HOOK}")
        for _ in range(2):  # the same token on two fresh connections
            with server.connect() as client:
                client.sendall(
                    f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                    f"Authorization: Bearer {bearer}\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                statuses.append(read_all(client, 30)[9:12])
    assert statuses == [b"200", b"401"] * 12


def children(pid: int) -> set[int]:
    found = set()
    for task in Path(f"/proc/{pid}/task").iterdir():
        found |= {int(c) for c in (task / "children").read_text().split()}
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent(serve: Callable[..., Server]) -> None:
    """Probe: kill -9 of the `serve --workers 2` parent left 3 processes answering."""
    server = serve("--workers", "2")
    workers = children(server.process.pid)
    assert len(workers) >= 2
    server.process.kill()
    server.process.wait()
    wait_until(lambda: not any(alive(pid) for pid in workers), 30, "the workers to exit")
    assert not answers_healthz(server.port)


def test_a_signed_tokens_requester_reaches_every_channels_audit_entries(
    serve: Callable[..., Server], tmp_path: Path
) -> None:
    """The Guard names the requester in a ContextVar; the decisions are made
    on other threads. Over real HTTP, each channel's entry names the iss and
    sub of the token that asked, and no other."""
    trust = write_trust(tmp_path / "trust.json")
    server = serve("--trust", str(trust), policy=None)  # massage and bariatric
    base = f"http://127.0.0.1:{server.port}"
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
    calls = {
        "dr-crd": (HOOK, Record(code="97124").hook()),
        "dr-pas": ("/fhir/Claim/$submit", record.claim_bundle()),
        "dr-api": ("/v1/evaluate", {"policy": "massage-therapy", "facts": {}}),
    }
    for subject, (path, document) in calls.items():
        body = json.dumps(document).encode()
        bearer = token(aud=base + path, sub=subject)
        with server.connect() as client:
            client.sendall(
                f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                f"Authorization: Bearer {bearer}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            answer = read_all(client, 30)
        assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
    log = tmp_path / f"audit-{server.port}.jsonl"
    entries = [json.loads(line) for line in log.read_bytes().splitlines()]
    by_channel = {entry["channel"]: entry["requester"] for entry in entries}
    assert by_channel == {
        "order-sign": {"iss": ISSUER, "sub": "dr-crd"},
        "pas": {"iss": ISSUER, "sub": "dr-pas"},
        "api": {"iss": ISSUER, "sub": "dr-api"},
    }


@pytest.mark.parametrize(
    ("claims", "status"),
    [
        # a token may live an hour, not a second more
        (lambda now: {"iat": now, "exp": now + 3600}, 200),
        (lambda now: {"iat": now, "exp": now + 3601}, 401),
        # a jti of 1 to 256 characters (unique per run: the store remembers ids)
        (lambda now: {"jti": uuid.uuid4().hex[:1]}, 200),
        (lambda now: {"jti": (uuid.uuid4().hex * 8)[:256]}, 200),
        (lambda now: {"jti": (uuid.uuid4().hex * 9)[:257]}, 401),
        # an audience may be a list of strings
        (lambda now: {"aud": [ENDPOINT, "https://other.example/"]}, 200),
    ],
)
def test_a_token_at_the_edge_of_each_claim_rule(
    guarded: TestClient, claims: Callable[[int], dict[str, Any]], status: int
) -> None:
    """Each claim rule's boundary on both sides (mutants of auth.py that lived:
    MAX_LIFETIME and MAX_JTI moved by one, `>` widened to `>=`, the jti's
    lower bound raised, a list audience refused)."""
    assert call(guarded, token(**claims(int(time.time())))).status_code == status
