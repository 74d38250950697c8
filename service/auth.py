"""Bearer JWTs as CDS Hooks 2.0 specifies them.

The client signs a short-lived JWT (RS384 or ES384) with `iss`, `aud` (the
endpoint called, or the service's base URL), `exp`, `iat` and `jti`; the
service trusts the issuers and public keys of its trust file:

    {"issuers": [{"iss": "https://ehr.example.org", "jwks": {"keys": [...]}}]}

A token is refused when its signature, issuer, audience or lifetime is wrong,
or when its jti was already used (a replay) before it expires.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policykb.bridge.model.errors import PolicyKBError

ALGORITHMS = ("RS384", "ES384")
LEEWAY = 30  # seconds of clock skew allowed
MAX_LIFETIME = 3600  # a token valid for longer is refused


class TrustError(PolicyKBError):
    """The trust file cannot be read or is wrong."""


class Refused(Exception):
    """A request's token is missing or not acceptable (one line saying why)."""


class Verifier:
    """Checks bearer tokens against the trusted issuers and their keys."""

    def __init__(self, issuers: Mapping[str, list[Any]]) -> None:
        self.issuers = issuers
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_file(cls, path: Path) -> Verifier:
        import jwt

        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as error:
            raise TrustError(
                f"trust file {path}: {getattr(error, 'strerror', None) or error}"
            ) from None
        except json.JSONDecodeError as error:
            raise TrustError(
                f"trust file {path}:{error.lineno}:{error.colno}: {error.msg}"
            ) from None
        entries = document.get("issuers") if isinstance(document, dict) else None
        if not isinstance(entries, list) or not entries:
            raise TrustError(
                f'trust file {path}: expected {{"issuers": [{{"iss": ..., "jwks": ...}}]}}'
            )
        issuers: dict[str, list[Any]] = {}
        for index, entry in enumerate(entries):
            where = f"trust file {path}: issuers[{index}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("iss"), str):
                raise TrustError(f"{where}: needs 'iss'")
            try:
                keys = jwt.PyJWKSet.from_dict(entry["jwks"]).keys
            except Exception as error:
                raise TrustError(f"{where}: its 'jwks' is not a usable JWK set ({error})") from None
            issuers.setdefault(entry["iss"], []).extend(keys)
        return cls(issuers)

    def verify(self, authorization: str | None, audiences: list[str]) -> dict[str, Any]:
        """The token's claims, or Refused."""
        import jwt

        if not authorization or not authorization.startswith("Bearer "):
            raise Refused("a bearer token is required (Authorization: Bearer <JWT>)")
        token = authorization[len("Bearer ") :].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Refused("the bearer token is not a JWT") from None
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise Refused(f"the token's algorithm must be one of {', '.join(ALGORITHMS)}")
        issuer = unverified.get("iss")
        keys = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if not keys:
            raise Refused("the token's issuer is not trusted")
        kid = header.get("kid")
        candidates = [k for k in keys if kid is None or k.key_id in (None, kid)]
        claims = None
        for key in candidates:
            try:
                claims = jwt.decode(
                    token,
                    key.key,
                    algorithms=[algorithm],
                    audience=audiences,
                    issuer=issuer,
                    leeway=LEEWAY,
                    options={"require": ["iss", "aud", "exp", "iat", "jti"]},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as error:
                raise Refused(f"the bearer token is refused: {error}") from None
        if claims is None:
            raise Refused("the token's signature matches no key of its issuer")
        if claims["exp"] - claims["iat"] > MAX_LIFETIME:
            raise Refused(f"the token lives longer than {MAX_LIFETIME} s")
        self._first_use(str(claims["jti"]), float(claims["exp"]))
        return claims

    def _first_use(self, jti: str, expires: float) -> None:
        now = time.time()
        with self._lock:
            if len(self._seen) > 10_000:
                self._seen = {j: e for j, e in self._seen.items() if e + LEEWAY > now}
            if jti in self._seen:
                raise Refused("the token was already used (its jti repeats)")
            self._seen[jti] = expires
