"""SMART Backend Services envelopes, for the OpenAPI document: the token
request form, its answer and refusal (RFC 6749), the discovery document."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class TokenRequest(BaseModel):
    """The form a client POSTs to /auth/token (application/x-www-form-urlencoded)."""

    grant_type: str
    client_assertion_type: str
    client_assertion: str
    scope: str


class TokenAnswer(BaseModel):
    access_token: str
    token_type: str
    expires_in: int
    scope: str


class TokenRefusal(BaseModel):
    """RFC 6749 §5.2."""

    error: str
    error_description: str


class SmartConfiguration(BaseModel):
    model_config = ConfigDict(extra="allow")
    token_endpoint: str
    grant_types_supported: list[str]
