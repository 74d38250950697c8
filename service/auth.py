"""Bearer JWTs as CDS Hooks 2.0 specifies them.

The client signs a short-lived JWT (RS384 or ES384) with `iss`, `aud` (the
endpoint called, or the service's base URL), `exp`, `iat` and `jti`; the
service trusts the issuers and public keys of its trust file:

    {"issuers": [{"iss": "https://ehr.example.org", "jwks": {"keys": [...]}}]}

A token is refused when its signature, issuer, audience or lifetime is wrong,
or when its jti was already used (a replay) before it expires.

Fail closed: the key is the issuer's key named by the header's `kid`, else
its keys of the header's `alg` (RS384: RSA, ES384: EC P-384); a header that
carries a key or a key's URL (`jwk`, `jku`, `x5u`, `x5c`) is refused, as is
a claim of the wrong JSON type. Nothing about a token answers anything but
its claims or Refused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policykb.bridge.model.errors import OutputError, PolicyKBError
from policykb.service.jti_store import JtiStore, Replayed, StoreUnavailable

log = logging.getLogger("policykb.service")

ALGORITHMS = ("RS384", "ES384")
LEEWAY = 30  # seconds of clock skew allowed
MAX_LIFETIME = 3600  # a token valid for longer is refused
EMBEDDED = ("jwk", "jku", "x5u", "x5c")
"""Header parameters that carry a key or say where to fetch one: the service
trusts only its trust file's keys."""
KEY_TYPES = {"RS384": ("RSA", None), "ES384": ("EC", "P-384")}
"""The JWK type (and curve) each accepted algorithm verifies with."""
MAX_JTI = 256
REQUIRED = ("iss", "aud", "exp", "iat", "jti")
"""The claims a CDS Hooks token must carry."""


class TrustError(PolicyKBError):
    """The trust file cannot be read or is wrong."""


class Refused(Exception):
    """A request's token is missing or not acceptable (one line saying why)."""


def _numeric(claims: Mapping[str, Any], name: str) -> None:
    value = claims.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise Refused(f"the token's '{name}' must be a number (seconds since the epoch)")


def check_types(claims: Mapping[str, Any]) -> None:
    """Refused unless each registered claim has its JSON type (RFC 7519 §4.1)."""
    for name in ("iss", "sub"):
        if name in claims and not isinstance(claims[name], str):
            raise Refused(f"the token's '{name}' must be a string")
    audience = claims.get("aud")
    if audience is not None and not (
        isinstance(audience, str)
        or (isinstance(audience, list) and all(isinstance(a, str) for a in audience))
    ):
        raise Refused("the token's 'aud' must be a string or a list of strings")
    for name in ("exp", "iat", "nbf"):
        _numeric(claims, name)
    jti = claims.get("jti")
    if jti is not None and not (isinstance(jti, str) and 0 < len(jti) <= MAX_JTI):
        raise Refused(f"the token's 'jti' must be a string of 1 to {MAX_JTI} characters")


def _fits(key: Any, algorithm: str) -> bool:
    """Whether a trusted JWK verifies tokens of `algorithm`."""
    data = getattr(key, "_jwk_data", {})
    declared = data.get("alg")
    if declared is not None and declared != algorithm:
        return False
    kty, curve = KEY_TYPES[algorithm]
    return bool(data.get("kty") == kty and (curve is None or data.get("crv") == curve))


class Verifier:
    """Checks bearer tokens against the trusted issuers and their keys."""

    def __init__(self, issuers: Mapping[str, list[Any]], store: JtiStore | None = None) -> None:
        self.issuers = issuers
        self.store = store or JtiStore(None, LEEWAY)

    @classmethod
    def from_file(cls, path: Path, store: Path | None = None) -> Verifier:
        """The trust file's issuers; the used jti kept in `store` (shared by
        the workers) or, without it, in memory."""
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
        try:
            replays = JtiStore(store, LEEWAY)
        except StoreUnavailable as error:
            raise OutputError(str(error)) from None  # like an audit log it cannot write
        return cls(issuers, replays)

    def verify(
        self, authorization: str | None, audiences: list[str], required: tuple[str, ...] = REQUIRED
    ) -> dict[str, Any]:
        """The token's claims, or Refused: never another exception. `required`:
        the claims it must carry (CDS Hooks' by default; SMART's client
        assertion needs no `iat`)."""
        try:
            return self._verify(authorization, audiences, required)
        except Refused:
            raise
        except Exception as error:  # a defect must not let a token through, nor answer 500
            log.error("token verification failed: %r", error)
            raise Refused("the bearer token cannot be verified") from None

    def _verify(
        self, authorization: str | None, audiences: list[str], required: tuple[str, ...]
    ) -> dict[str, Any]:
        import jwt

        if not authorization or not authorization.startswith("Bearer "):
            raise Refused("a bearer token is required (Authorization: Bearer <JWT>)")
        token = authorization[len("Bearer ") :].strip()
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise Refused("the bearer token is not a JWT") from None
        if not isinstance(header, dict) or not isinstance(unverified, dict):
            raise Refused("the bearer token is not a JWT")
        embedded = [name for name in EMBEDDED if name in header]
        if embedded:
            raise Refused(f"the token's header may not carry a key or its URL ({embedded[0]!r})")
        algorithm = header.get("alg")
        if algorithm not in ALGORITHMS:
            raise Refused(f"the token's algorithm must be one of {', '.join(ALGORITHMS)}")
        check_types(unverified)
        issuer = unverified.get("iss")
        keys = self.issuers.get(issuer) if isinstance(issuer, str) else None
        if not keys:
            raise Refused("the token's issuer is not trusted")
        kid = header.get("kid")
        if kid is not None:
            if not isinstance(kid, str):
                raise Refused("the token's 'kid' must be a string")
            candidates = [k for k in keys if k.key_id == kid]
            if not candidates:
                raise Refused("the token's kid names no key of its issuer")
            if not all(_fits(k, algorithm) for k in candidates):
                raise Refused(f"the key the token's kid names is not an {algorithm} key")
        else:
            candidates = [k for k in keys if _fits(k, algorithm)]
            if not candidates:
                raise Refused(f"the token's issuer has no {algorithm} key")
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
                    options={"require": list(required)},
                )
                break
            except jwt.InvalidSignatureError:
                continue
            except jwt.PyJWTError as error:
                raise Refused(f"the bearer token is refused: {error}") from None
        if claims is None:
            raise Refused("the token's signature matches no key of its issuer")
        check_types(claims)
        if "iat" in claims and claims["exp"] - claims["iat"] > MAX_LIFETIME:
            raise Refused(f"the token lives longer than {MAX_LIFETIME} s")
        try:
            self.store.first_use(claims["jti"], float(claims["exp"]))
        except Replayed:
            raise Refused("the token was already used (its jti repeats)") from None
        except StoreUnavailable as error:
            log.error("%s", error)
            raise Refused("the token's id cannot be recorded now; try again") from None
        return claims
