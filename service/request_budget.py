"""What one request may ask of the service, refused before anything is
decided: shared by CRD's hooks and PAS's submissions."""

from __future__ import annotations

from dataclasses import dataclass

from policykb.service.errors import ServiceError


@dataclass(frozen=True)
class Budget:
    """What one request may ask of the service: 413 past it, before anything
    is decided (the settings max_orders and max_resources)."""

    max_orders: int
    max_resources: int

    def check(self, orders: int, resources: int, where: str) -> None:
        if orders > self.max_orders:
            raise ServiceError(
                413,
                f"the request has {orders} orders; at most {self.max_orders} are decided "
                "in one request (max_orders)",
                where=where,
            )
        if resources > self.max_resources:
            raise ServiceError(
                413,
                f"the request carries {resources} FHIR resources; at most "
                f"{self.max_resources} are read in one request (max_resources)",
            )


UNBOUNDED = Budget(1 << 62, 1 << 62)
