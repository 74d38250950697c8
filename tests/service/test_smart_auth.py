"""SMART Backend Services (DTR spec-120): a registered client trades a
signed JWT assertion for an access token at /auth/token, and the FHIR
endpoints then require it. Keys are made here (cryptography); assertions
are signed with PyJWT as a client would."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi.testclient import TestClient

from policykb.bridge import KnowledgeBase
from policykb.service import smart_auth
from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings

TOKEN_URL = "http://testserver/auth/token"
SCOPES = "system/Questionnaire.rs system/Claim.c"
EC_CLIENT, RSA_CLIENT = "dtr-app", "ehr"


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        EC_CLIENT: ec.generate_private_key(ec.SECP384R1()),
        RSA_CLIENT: rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def public_jwk(key: Any, kid: str) -> dict[str, Any]:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        found = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    else:
        found = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**found, "kid": kid}


@pytest.fixture(scope="module")
def clients_file(keys: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("smart") / "clients.json"
    clients = [
        {"client_id": name, "jwks": {"keys": [public_jwk(key, f"{name}-1")]}, "scope": SCOPES}
        for name, key in keys.items()
    ]
    path.write_text(json.dumps({"clients": clients}))
    return path


@pytest.fixture
def client(clients_file: Path, kb: KnowledgeBase) -> Iterator[TestClient]:
    settings = ServiceSettings(smart_clients=str(clients_file), policies=("massage-therapy",))
    with TestClient(create_app(settings, knowledge=kb)) as test_client:
        yield test_client


def assertion(key: Any, client_id: str, **changes: Any) -> str:
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": client_id,
        "sub": client_id,
        "aud": TOKEN_URL,
        "exp": now + 240,
        "jti": str(uuid.uuid4()),
    }
    claims.update(changes)
    algorithm = "ES384" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS384"
    return jwt.encode(claims, key, algorithm=algorithm, headers={"kid": f"{client_id}-1"})


def token_request(client: TestClient, signed: str, **changes: str) -> Any:
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": smart_auth.ASSERTION_TYPE,
        "client_assertion": signed,
        "scope": SCOPES,
        **changes,
    }
    return client.post("/auth/token", data=form)


def access_token(client: TestClient, keys: dict[str, Any], name: str = EC_CLIENT) -> str:
    answer = token_request(client, assertion(keys[name], name))
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_discovery_names_the_token_endpoint_without_a_token(client: TestClient) -> None:
    document = client.get("/fhir/.well-known/smart-configuration").json()
    assert document["token_endpoint"] == TOKEN_URL
    assert document["grant_types_supported"] == ["client_credentials"]
    assert set(document["token_endpoint_auth_signing_alg_values_supported"]) == {
        "RS384",
        "ES384",
    }
    statement = client.get("/fhir/metadata").json()
    security = statement["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    assert security["extension"][0]["extension"][0]["valueUri"] == TOKEN_URL


@pytest.mark.parametrize("name", [EC_CLIENT, RSA_CLIENT])
def test_a_signed_assertion_gets_an_access_token_the_fhir_routes_accept(
    client: TestClient, keys: dict[str, Any], name: str
) -> None:
    refused = client.get("/fhir/Questionnaire/massage-therapy")
    assert refused.status_code == 401 and "access token" in refused.text
    answer = token_request(client, assertion(keys[name], name), scope=f"{SCOPES} system/Patient.rs")
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    granted = answer.json()
    assert granted["token_type"] == "bearer" and granted["expires_in"] == 300
    assert granted["scope"] == SCOPES  # the unregistered Patient scope is not granted
    headers = {"Authorization": f"Bearer {granted['access_token']}"}
    assert client.get("/fhir/Questionnaire/massage-therapy", headers=headers).status_code == 200
    wrong = {"Authorization": "Bearer " + granted["access_token"][:-2] + "xx"}
    assert client.get("/fhir/Questionnaire/massage-therapy", headers=wrong).status_code == 401


def test_a_replayed_assertion_is_refused(client: TestClient, keys: dict[str, Any]) -> None:
    signed = assertion(keys[EC_CLIENT], EC_CLIENT)
    assert token_request(client, signed).status_code == 200
    again = token_request(client, signed)
    assert again.status_code == 401 and again.json()["error"] == "invalid_client"
    assert "jti" in again.json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "said"),
    [
        ({"aud": "http://elsewhere.example/auth/token"}, "aud"),
        ({"sub": "someone-else"}, "sub"),
        ({"exp": 3000}, "ahead"),
        ({"iss": "unknown", "sub": "unknown"}, "issuer"),
        ({"exp": -600}, "expired"),
    ],
)
def test_a_wrong_assertion_is_invalid_client(
    client: TestClient, keys: dict[str, Any], changes: dict[str, Any], said: str
) -> None:
    # An "exp" is given in seconds from now, read when the test runs (a time
    # read at collection goes stale in a long run).
    if "exp" in changes:
        changes = {**changes, "exp": int(time.time()) + changes["exp"]}
    answer = token_request(client, assertion(keys[EC_CLIENT], EC_CLIENT, **changes))
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"] == "invalid_client"
    assert said in answer.json()["error_description"].lower()


def test_an_assertion_signed_by_another_key_or_algorithm_is_refused(
    client: TestClient, keys: dict[str, Any]
) -> None:
    stranger = ec.generate_private_key(ec.SECP384R1())
    answer = token_request(client, assertion(stranger, EC_CLIENT))
    assert answer.status_code == 401 and answer.json()["error"] == "invalid_client"
    weak = jwt.encode(
        {
            "iss": RSA_CLIENT,
            "sub": RSA_CLIENT,
            "aud": TOKEN_URL,
            "exp": int(time.time()) + 60,
            "jti": "x",
        },
        keys[RSA_CLIENT],
        algorithm="RS256",
        headers={"kid": f"{RSA_CLIENT}-1"},
    )
    answer = token_request(client, weak)
    assert answer.status_code == 401 and "RS384" in answer.json()["error_description"]


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        ({"grant_type": "authorization_code"}, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:other"}, "invalid_request"),
        ({"scope": ""}, "invalid_request"),
        ({"scope": "system/Patient.rs"}, "invalid_scope"),
    ],
)
def test_a_wrong_token_request_is_a_400_naming_the_error(
    client: TestClient, keys: dict[str, Any], changes: dict[str, str], error: str
) -> None:
    answer = token_request(client, assertion(keys[EC_CLIENT], EC_CLIENT), **changes)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"] == error
    not_a_form = client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert not_a_form.status_code == 400 and not_a_form.json()["error"] == "invalid_request"


def test_an_expired_access_token_is_refused(
    client: TestClient, keys: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(smart_auth, "ACCESS_LIFETIME", -1)
    token = access_token(client, keys)
    answer = client.get(
        "/fhir/Questionnaire/massage-therapy", headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 401 and "expired" in answer.text


def test_without_smart_clients_there_is_no_token_endpoint(kb: KnowledgeBase) -> None:
    settings = ServiceSettings(policies=("massage-therapy",))
    with TestClient(create_app(settings, knowledge=kb)) as plain:
        assert (
            plain.post("/auth/token", data={"grant_type": "client_credentials"}).status_code == 404
        )
        assert plain.get("/fhir/.well-known/smart-configuration").status_code == 404
        assert plain.get("/fhir/Questionnaire/massage-therapy").status_code == 200


def test_the_capability_statement_with_smart_validates(client: TestClient) -> None:
    from tests.service.test_service import fhir_js, r4b

    statement = client.get("/fhir/metadata").json()
    r4b(statement)
    (result,) = fhir_js([statement])
    assert result["valid"], result["messages"]


def test_serve_refuses_a_clients_file_it_cannot_use(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app as cli

    wrong = tmp_path / "clients.json"
    wrong.write_text(json.dumps({"clients": [{"client_id": "x", "jwks": {"keys": [{}]}}]}))
    audit = tmp_path / "audit.jsonl"
    result = CliRunner().invoke(
        cli, ["serve", "--smart-clients", str(wrong), "--audit", str(audit)]
    )
    assert result.exit_code == 1, result.output
    assert "SMART clients file" in result.stderr and "jwks" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
