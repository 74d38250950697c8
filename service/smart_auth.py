"""SMART Backend Services (SMART App Launch 2.x, DTR spec-120): the token
endpoint and the access tokens the FHIR endpoints then require.

A registered client (the clients file, `--smart-clients`) is

    {"clients": [{"client_id": "...", "jwks": {"keys": [...]},
                  "scope": "system/Questionnaire.rs system/Claim.c ..."}]}

It POSTs to `{base}/auth/token` a form with grant_type=client_credentials,
client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer,
client_assertion (a JWT signed RS384 or ES384 by one of its keys, with
iss = sub = its client_id, aud = the token endpoint's URL, exp at most five
minutes ahead, a jti used once) and the scopes it asks for. The assertion is
verified by the same Verifier as CDS Hooks tokens (auth.py: keys only from
the file, no embedded keys, jti replay refused). The answer is an opaque
access token (bearer, ACCESS_LIFETIME seconds) with the granted scopes: the
asked ones the client is registered for (none: 400 invalid_scope).

Invariants: only a SHA-256 of each access token is kept (in memory, or in a
SQLite file every worker shares); an access token is accepted until it
expires and never after; an error answer is RFC 6749 §5.2 JSON
(`invalid_request`, `invalid_client`, `unsupported_grant_type`,
`invalid_scope`), never a traceback. Scopes are granted and recorded, not
enforced per resource: every registered client may call every FHIR
endpoint the service has.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from policykb.bridge.model.errors import OutputError
from policykb.service.auth import LEEWAY, Refused, TrustError, Verifier
from policykb.service.jti_store import JtiStore
from policykb.service.shared_sqlite import open_store

TOKEN_PATH = "/auth/token"
CONFIGURATION_PATH = "/fhir/.well-known/smart-configuration"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ACCESS_LIFETIME = 300
"""Seconds an access token lives (SMART: SHOULD NOT exceed five minutes)."""
MAX_ASSERTION_AHEAD = 300
"""A client assertion's exp may be at most this many seconds ahead (SMART)."""
ASSERTION_CLAIMS = ("iss", "sub", "aud", "exp", "jti")


class TokenError(Exception):
    """A token request refused, as RFC 6749 §5.2 names it."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


@dataclass(frozen=True)
class Client:
    client_id: str
    scopes: frozenset[str]


@dataclass(frozen=True)
class Grant:
    """What a valid access token stands for."""

    client_id: str
    scope: str
    expires: float


def load_clients(path: Path) -> tuple[dict[str, Client], Verifier]:
    """The registered clients, and a Verifier of their assertions (each
    client an issuer with its JWKS); TrustError naming what is wrong."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrustError(f"SMART clients file {path}: {error}") from None
    entries = document.get("clients") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise TrustError(
            f"SMART clients file {path}: expected "
            '{"clients": [{"client_id": ..., "jwks": ..., "scope": ...}]}'
        )
    issuers = []
    clients: dict[str, Client] = {}
    for index, entry in enumerate(entries):
        where = f"SMART clients file {path}: clients[{index}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("client_id"), str):
            raise TrustError(f"{where}: needs 'client_id'")
        scope = entry.get("scope", "")
        if not isinstance(scope, str):
            raise TrustError(f"{where}: 'scope' must be a string of space-separated scopes")
        clients[entry["client_id"]] = Client(entry["client_id"], frozenset(scope.split()))
        issuers.append({"iss": entry["client_id"], "jwks": entry.get("jwks")})
    return clients, _verifier(issuers, path)


def _verifier(issuers: list[dict[str, Any]], path: Path) -> Verifier:
    """A Verifier with each client as an issuer of its own keys."""
    import jwt

    keys: dict[str, list[Any]] = {}
    for index, issuer in enumerate(issuers):
        try:
            keys.setdefault(issuer["iss"], []).extend(jwt.PyJWKSet.from_dict(issuer["jwks"]).keys)
        except Exception as error:
            raise TrustError(
                f"SMART clients file {path}: clients[{index}]: its 'jwks' is not a usable "
                f"JWK set ({error})"
            ) from None
    return Verifier(keys, JtiStore(None, LEEWAY))


class AccessTokens:
    """Issued access tokens by their SHA-256, in memory or a shared SQLite file."""

    def __init__(self, path: Path | None) -> None:
        self._lock = threading.Lock()
        schema = (
            "CREATE TABLE IF NOT EXISTS access_token ("
            "digest TEXT PRIMARY KEY, client_id TEXT NOT NULL, scope TEXT NOT NULL,"
            " expires REAL NOT NULL)"
        )
        self._db = open_store(path, [schema], relaxed_sync=False)

    @staticmethod
    def _digest(token: str) -> str:
        return hashlib.sha256(token.encode()).hexdigest()

    def issue(self, client_id: str, scope: str) -> tuple[str, Grant]:
        token = secrets.token_urlsafe(32)
        grant = Grant(client_id, scope, time.time() + ACCESS_LIFETIME)
        with self._lock:
            self._db.execute("DELETE FROM access_token WHERE expires < ?", (time.time(),))
            self._db.execute(
                "INSERT INTO access_token VALUES (?, ?, ?, ?)",
                (self._digest(token), client_id, scope, grant.expires),
            )
        return token, grant

    def grant(self, token: str) -> Grant | None:
        """What the token grants, or None (unknown or expired)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT client_id, scope, expires FROM access_token WHERE digest = ?",
                (self._digest(token),),
            ).fetchall()
        if not rows or rows[0][2] <= time.time():
            return None
        return Grant(*rows[0])


class SmartBackend:
    """The token endpoint's logic and the access-token check."""

    def __init__(self, clients: Mapping[str, Client], verifier: Verifier, tokens: AccessTokens):
        self.clients, self.verifier, self.tokens = clients, verifier, tokens

    @classmethod
    def from_file(cls, path: Path, tokens: Path | None) -> SmartBackend:
        clients, verifier = load_clients(path)
        try:
            return cls(clients, verifier, AccessTokens(tokens))
        except sqlite3.Error as error:  # like an audit log it cannot write
            raise OutputError(f"SMART token store {tokens}: {error}") from None

    def token(self, form: Mapping[str, str], token_url: str) -> dict[str, Any]:
        """The access token answer for a token request's form fields."""
        if form.get("grant_type") != "client_credentials":
            raise TokenError("unsupported_grant_type", "grant_type must be client_credentials")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError("invalid_request", f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion")
        if not assertion:
            raise TokenError("invalid_request", "client_assertion is required")
        scope = form.get("scope")
        if not scope:
            raise TokenError("invalid_request", "scope is required")
        try:
            claims = self.verifier.verify(f"Bearer {assertion}", [token_url], ASSERTION_CLAIMS)
        except Refused as reason:
            text = (
                str(reason)
                .replace("bearer token", "client assertion")
                .replace("token's", "client assertion's")
            )
            raise TokenError("invalid_client", text, 401) from None
        if claims.get("sub") != claims["iss"]:
            raise TokenError("invalid_client", "the client assertion's sub must be its iss", 401)
        if claims["exp"] > time.time() + MAX_ASSERTION_AHEAD + LEEWAY:
            raise TokenError(
                "invalid_client",
                f"the client assertion's exp is more than {MAX_ASSERTION_AHEAD} s ahead",
                401,
            )
        client = self.clients[claims["iss"]]
        granted = [s for s in dict.fromkeys(scope.split()) if s in client.scopes]
        if not granted:
            raise TokenError("invalid_scope", "none of the scopes asked for is registered")
        token, grant = self.tokens.issue(client.client_id, " ".join(granted))
        return {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": ACCESS_LIFETIME,
            "scope": grant.scope,
        }

    def check(self, authorization: str | None) -> Grant:
        """The grant of a request's access token; Refused otherwise."""
        if not authorization or not authorization.startswith("Bearer "):
            raise Refused(
                "an access token is required (Authorization: Bearer <token> from /auth/token)"
            )
        grant = self.tokens.grant(authorization[len("Bearer ") :].strip())
        if grant is None:
            raise Refused("the access token is unknown or has expired")
        return grant


def configuration(base: str) -> dict[str, Any]:
    """`.well-known/smart-configuration` for Backend Services."""
    return {
        "token_endpoint": f"{base}{TOKEN_PATH}",
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS384", "ES384"],
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": ["system/*.rs", "system/Questionnaire.rs", "system/Claim.c"],
        "capabilities": ["client-confidential-asymmetric", "permission-v2"],
    }
