"""How the service runs: its policies, audit log, trust and limits."""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

SETTINGS_VARIABLE = "POLICYKB_SERVE_SETTINGS"  # passes the settings to each worker
MAX_BODY = 1 << 20  # bytes


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
    audit: str | None = None
    """The audit log (JSONL, appended); None: no audit log (tests only)."""
    audit_sync: bool = True
    """fsync each entry before answering."""
    trust: str | None = None
    """The trust file of JWT issuers; with it, every protected route needs a token."""
    public_url: str | None = None
    """The service's base URL as clients call it (else taken from each request)."""
    max_body: int = MAX_BODY
    extra: dict[str, str] = field(default_factory=dict)

    def to_environment(self) -> None:
        os.environ[SETTINGS_VARIABLE] = json.dumps(asdict(self))

    @classmethod
    def from_environment(cls) -> ServiceSettings:
        document = json.loads(os.environ[SETTINGS_VARIABLE])
        document["kb_dirs"] = tuple(document["kb_dirs"])
        return cls(**document)

    @property
    def kb_paths(self) -> tuple[Path, ...]:
        return tuple(Path(d) for d in self.kb_dirs)
