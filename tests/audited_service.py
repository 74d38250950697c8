"""The service as the bundled policies' routing tests meet it: CDS Hooks
order-sign requests, and the audit entry of the decision each led to (an
order no policy claims leads to none)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient

from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings

ORDER_SIGN = "/cds-services/policykb-order-sign"
PAYER_TYPES = "https://nahdo.org/sopt"


@dataclass(frozen=True)
class AuditedService:
    test: TestClient
    audit: Path

    def order_sign(self, request: dict[str, Any]) -> dict[str, Any]:
        """The service's answer to an order-sign request (it must be 200)."""
        response = self.test.post(ORDER_SIGN, json=request)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    def decision(self, request: dict[str, Any]) -> dict[str, Any] | None:
        """The audit entry of the decision an order-sign request led to, or
        None when no policy claimed the order."""
        before = self.entries()
        self.order_sign(request)
        lines = self.audit.read_bytes().splitlines() if self.audit.exists() else []
        if len(lines) == before:
            return None
        entry: dict[str, Any] = orjson.loads(lines[-1])
        return entry

    def last_entry(self) -> dict[str, Any]:
        """The audit's last entry."""
        entry: dict[str, Any] = orjson.loads(self.audit.read_bytes().splitlines()[-1])
        return entry

    def entries(self) -> int:
        return self.audit.read_bytes().count(b"\n") if self.audit.exists() else 0


@contextmanager
def audited_service(folder: Path, kb_dirs: tuple[str, ...] = ()) -> Iterator[AuditedService]:
    """The service on the bundled policies (and `kb_dirs`), auditing into
    `folder`."""
    audit = folder / "audit.jsonl"
    settings = ServiceSettings(kb_dirs=kb_dirs, audit=str(audit), audit_sync=False)
    with TestClient(create_app(settings)) as test:
        yield AuditedService(test, audit)


def set_payer_type(request: dict[str, Any], payer_type: str | None) -> None:
    """Give the request's Coverage a source-of-payment type (None: leave it
    without one)."""
    if payer_type is not None:
        coverage = request["prefetch"]["coverage"]["entry"][0]["resource"]
        coverage["type"] = {"coding": [{"system": PAYER_TYPES, "code": payer_type}]}
