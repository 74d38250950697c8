"""policykb serve's guard: bearer JWTs, the body limit, errors without
tracebacks, the start-up refusals; and schemathesis against /openapi.json."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
import schemathesis
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from typer.testing import CliRunner

from policykb.cli.main import app as cli
from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests.fhir_records import Record
from tests.sampling import examples

ISSUER = "https://ehr.example.org"
ENDPOINT = "http://testserver/cds-services/policykb-order-sign"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
EC_KEY = ec.generate_private_key(ec.SECP384R1())
OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def jwk(key: Any, kid: str, algorithm: str) -> dict[str, Any]:
    convert = jwt.algorithms.RSAAlgorithm if algorithm == "RS384" else jwt.algorithms.ECAlgorithm
    public = json.loads(convert.to_jwk(key.public_key()))
    return {**public, "kid": kid, "alg": algorithm, "use": "sig"}


@pytest.fixture(scope="module")
def trust_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("trust") / "trust.json"
    keys = [jwk(RSA_KEY, "rsa-1", "RS384"), jwk(EC_KEY, "ec-1", "ES384")]
    path.write_text(json.dumps({"issuers": [{"iss": ISSUER, "jwks": {"keys": keys}}]}))
    return path


@pytest.fixture(scope="module")
def guarded(trust_file: Path) -> Iterator[TestClient]:
    app = create_app(ServiceSettings(trust=str(trust_file), max_body=64 * 1024))
    with TestClient(app) as client:
        yield client


def token(
    key: Any = RSA_KEY,
    algorithm: str = "RS384",
    kid: str = "rsa-1",
    **claims: Any,
) -> str:
    now = int(time.time())
    body = {"iss": ISSUER, "aud": ENDPOINT, "iat": now, "exp": now + 300, "jti": str(uuid.uuid4())}
    body.update(claims)
    body = {k: v for k, v in body.items() if v is not None}
    return jwt.encode(body, key, algorithm=algorithm, headers={"kid": kid})


def call(client: TestClient, bearer: str | None) -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return client.post("/cds-services/policykb-order-sign", json=Record().hook(), headers=headers)


def test_valid_rs384_and_es384_tokens_are_accepted(guarded: TestClient) -> None:
    assert call(guarded, token()).status_code == 200
    assert call(guarded, token(EC_KEY, "ES384", "ec-1")).status_code == 200


def test_discovery_needs_no_token(guarded: TestClient) -> None:
    assert guarded.get("/cds-services").status_code == 200


def test_every_route_but_the_open_ones_needs_a_token(guarded: TestClient) -> None:
    """Walk every router the application is assembled from (a route added
    later is covered): each route that is not open answers 401 without a
    token, before its handler; the static files are open."""
    from starlette.routing import Mount, Route

    from policykb.service.app import ROUTERS
    from policykb.service.guard import is_open

    mounts = [r for r in guarded.app.routes if isinstance(r, Mount)]  # type: ignore[attr-defined]
    assert [m.path for m in mounts] == ["/static"] and is_open("/static/")
    called = 0
    protected = set()
    for route in [route for router in ROUTERS for route in router.routes]:
        assert isinstance(route, Route)
        protected |= set() if is_open(route.path) else {route.path}
        path = route.path.replace("{", "").replace("}", "")  # each parameter: its name
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            answer = guarded.request(method, path, json={})
            if is_open(route.path):
                assert answer.status_code != 401, (method, path)
                continue
            called += 1
            assert answer.status_code == 401, (method, path, answer.text)
            assert answer.headers["www-authenticate"].startswith("Bearer")
    assert called >= 12  # CRD, DTR, PAS and every /v1 route
    documented = set(guarded.get("/openapi.json").json()["paths"])
    opened = {
        "/cds-services",
        "/fhir/metadata",
        "/auth/token",
        "/fhir/.well-known/smart-configuration",
    }
    assert protected == documented - opened  # the real routes


@pytest.mark.parametrize(
    ("bearer", "words"),
    [
        (None, "bearer token is required"),
        ("not-a-jwt", "not a JWT"),
        (lambda: token(aud="https://elsewhere.example/cds-services/x"), "Audience"),
        (lambda: token(iss="https://rogue.example"), "not trusted"),
        (lambda: token(iat=int(time.time()) - 900, exp=int(time.time()) - 600), "expired"),
        (lambda: token(exp=int(time.time()) + 7200), "longer than"),
        (lambda: token(jti=None), "jti"),
        (lambda: token(OTHER_KEY), "signature"),
        (
            lambda: jwt.encode(
                {"iss": ISSUER, "aud": ENDPOINT},
                "secret-key-of-32-bytes-at-least!!",
                algorithm="HS256",
            ),
            "algorithm",
        ),
    ],
)
def test_bad_tokens_are_refused_with_an_outcome(
    guarded: TestClient, bearer: Any, words: str
) -> None:
    response = call(guarded, bearer() if callable(bearer) else bearer)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert words in outcome["issue"][0]["diagnostics"]


def test_a_replayed_token_is_refused(guarded: TestClient) -> None:
    once = token()
    assert call(guarded, once).status_code == 200
    again = call(guarded, once)
    assert again.status_code == 401 and "already used" in again.text


def test_json_api_refusals_are_problem_json(guarded: TestClient) -> None:
    response = guarded.post("/v1/evaluate", json={"facts": {}})
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    good = token(aud="http://testserver/v1/evaluate")
    ok = guarded.post(
        "/v1/evaluate", json={"facts": {}}, headers={"Authorization": f"Bearer {good}"}
    )
    assert ok.status_code == 200


def test_the_body_limit_answers_413(guarded: TestClient) -> None:
    big = Record().hook()
    big["padding"] = "x" * (70 * 1024)
    response = guarded.post(
        "/cds-services/policykb-order-sign",
        json=big,
        headers={"Authorization": f"Bearer {token()}"},
    )
    assert response.status_code == 413
    assert response.json()["resourceType"] == "OperationOutcome"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"facts": {"x": "'
        for _ in range(100):
            yield b"y" * 1024
        yield b'"}}'

    streamed = guarded.post(
        "/v1/evaluate",
        content=chunks(),
        headers={
            "Authorization": f"Bearer {token(aud='http://testserver/v1/evaluate')}",
            "content-type": "application/json",
        },
    )
    assert streamed.status_code == 413
    assert streamed.headers["content-type"] == "application/problem+json"


def test_an_internal_error_is_a_500_without_a_traceback(
    trust_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(ServiceSettings())
    decisions = app.state.decisions

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("a defect")

    monkeypatch.setattr(decisions, "decide", broken)
    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.post("/cds-services/policykb-order-sign", json=Record().hook())
        assert response.status_code == 500
        assert response.json()["resourceType"] == "OperationOutcome"
        assert "Traceback" not in response.text and "a defect" not in response.text
        problem = client.post("/v1/evaluate", json={"facts": {}})
        assert problem.status_code == 500
        assert problem.headers["content-type"] == "application/problem+json"
    assert "Traceback" not in caplog.text


# -- start-up -------------------------------------------------------------------------


def test_serve_refuses_an_open_address_without_auth() -> None:
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--trust" in result.stderr and "--no-auth" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "content",
    ["{", '{"issuers": []}', '{"issuers": [{"iss": "x", "jwks": {"keys": [{"kty": "nope"}]}}]}'],
)
def test_serve_refuses_a_bad_trust_file(tmp_path: Path, content: str) -> None:
    trust = tmp_path / "trust.json"
    trust.write_text(content)
    result = CliRunner().invoke(
        cli, ["serve", "--trust", str(trust), "--audit", str(tmp_path / "a.jsonl")]
    )
    assert result.exit_code == 1
    assert result.stderr.startswith("error: trust file")
    assert len(result.stderr.strip().splitlines()) == 1


def test_serve_refuses_an_unwritable_audit_log(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["serve", "--audit", str(tmp_path / "missing" / "a.jsonl")])
    assert result.exit_code == 5
    assert "audit log" in result.stderr


# -- schemathesis ----------------------------------------------------------------------

schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(ServiceSettings()))


@schema.parametrize()
@settings(max_examples=examples(40), deadline=None, suppress_health_check=list(HealthCheck))
def test_openapi_contract(case: schemathesis.Case) -> None:
    """Generated requests: never a 5xx, every answer as the document declares.
    A FHIR or CDS Hooks body is valid by its profile, a case by the
    vocabulary of the policy it names, two policies for diff when they are
    versions of one another, check's `as_of` by the policy's versions and
    bounds: not by a JSON schema. A well-formed body refused there with a 422
    is not a defect."""
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    semantic = case.path not in ("/v1/policies", "/v1/policies/{name}")
    case.call_and_validate(excluded_checks=[positive_data_acceptance] if semantic else [])


@pytest.mark.parametrize("workers", [1, 2])
def test_serve_runs_and_stops_cleanly(tmp_path: Path, workers: int) -> None:
    """The real command on a real socket (one process, or worker processes
    sharing the audit log): answers, then stops on SIGTERM with exit 0 and no
    traceback."""
    import signal
    import socket
    import subprocess
    import sys
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    audit = tmp_path / "audit.jsonl"
    command = [sys.executable, "-m", "policykb.cli.main", "serve", "--port", str(port)]
    command += ["--workers", str(workers)]
    if workers > 1:  # the whole catalogue is served by the one-process run
        command += ["--policy", "bariatric-surgery"]
    process = subprocess.Popen(
        [*command, "--audit", str(audit)], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/cds-services") as answer:
                    assert json.load(answer)["services"]
                break
            except OSError:
                assert process.poll() is None and time.time() < deadline
                time.sleep(0.3)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/cds-services/policykb-order-sign",
            data=json.dumps(Record().hook()).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request) as answer:
            assert "systemActions" in json.load(answer)
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0
    assert b"Traceback" not in stderr
    assert len(audit.read_bytes().splitlines()) == 1
