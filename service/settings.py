"""How the service runs: its policies, audit log, trust and limits."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

SETTINGS_VARIABLE = "POLICYKB_SERVE_SETTINGS"  # passes the settings to each worker
MAX_BODY = 1 << 20  # bytes
MAX_ORDERS = 100
MAX_RESOURCES = 10_000
MAX_CONNECTIONS = 256
MAX_HEADER_BYTES = 16 << 10
MAX_HEADERS = 100
HEADER_TIMEOUT = 10.0  # seconds
BODY_TIMEOUT = 30.0  # seconds
DECISION_THREADS = 4
EHR_TIMEOUT = 2.0  # seconds


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class ServiceSettings:
    kb_dirs: tuple[str, ...] = ()
    policies: tuple[str, ...] = ()
    """The policies served, by name; empty: every policy of the KB."""
    audit: str | None = None
    """The audit log (JSONL, appended); None: no audit log (tests only)."""
    audit_sync: bool = True
    """fsync each entry before answering."""
    trust: str | None = None
    """The trust file of JWT issuers; with it, every protected route needs a token."""
    public_url: str | None = None
    """The service's base URL as clients call it: the JWT audience and the
    questionnaires' canonical base. Without it (loopback only), the base is
    the address the request reached (the socket's, never the Host header)."""
    max_body: int = MAX_BODY
    max_orders: int = MAX_ORDERS
    """Draft orders of a CRD request, items of a PAS Claim: 413 past it."""
    max_resources: int = MAX_RESOURCES
    """FHIR resources of one request (orders, prefetch, Bundle entries): 413 past it."""
    max_connections: int = MAX_CONNECTIONS
    """Open connections per worker; one more is answered 503 and closed."""
    max_header_bytes: int = MAX_HEADER_BYTES
    """The request line and headers of one request: 431 past it."""
    max_headers: int = MAX_HEADERS
    """Header fields of one request: 431 past it."""
    header_timeout: float = HEADER_TIMEOUT
    """Seconds from a connection's (or a request's) first byte to its last header: 408."""
    body_timeout: float = BODY_TIMEOUT
    """Seconds from the last header to the body's last byte: 408."""
    decision_threads: int = DECISION_THREADS
    """Threads that decide (and parse bodies, verify tokens, write the audit
    log), off the event loop; requests beyond them wait their turn."""
    jti_store: str | None = None
    """The SQLite file of used token ids, shared by the workers; None: kept
    in memory (one process)."""
    pas_store: str | None = None
    """The SQLite file of submitted prior authorizations ($inquire, Claim
    updates), shared by the workers; None: kept in memory (one process)."""
    ehr_timeout: float = EHR_TIMEOUT
    """Seconds a CRD request may spend reading what was not prefetched from
    the client's fhirServer (0: never query it; the answer is indeterminate)."""
    payer_name: str | None = None
    """The payer's name on CRD cards (Card.source.label); None: the
    Coverage's payor, else a generic name."""
    hook_log: str | None = None
    """The SQLite file of CDS Hooks calls and answers (hook_log.py), shared by
    the workers; None: kept in memory (one process). DTR's adaptive forms
    look up in it the orders CRD was called for (spec-43): in memory, only
    those this process answered since it started."""
    smart_clients: str | None = None
    """The SMART Backend Services clients file; with it, /fhir/ routes need an
    access token from /auth/token (smart_auth.py)."""
    smart_tokens: str | None = None
    """The SQLite file of issued access tokens, shared by the workers; None: in memory."""
    cors_origins: tuple[str, ...] = ()
    """Browser origins allowed to call the service (CORS); "*" allows any."""
    extra: dict[str, str] = field(default_factory=dict)

    def to_environment(self) -> None:
        os.environ[SETTINGS_VARIABLE] = json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        document = json.loads(os.environ[SETTINGS_VARIABLE])
        document["kb_dirs"] = tuple(document["kb_dirs"])
        document["cors_origins"] = tuple(document.get("cors_origins", ()))
        document["policies"] = tuple(document["policies"])
        return cls(**document)

    @property
    def kb_paths(self) -> tuple[Path, ...]:
        return tuple(Path(d) for d in self.kb_dirs)
