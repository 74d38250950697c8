"""The service's routes, one router per surface; app.create_app includes them.

cds_hooks   Da Vinci CRD over CDS Hooks: discovery, order-sign/select
dtr         FHIR: a policy's Questionnaire
pas         FHIR: Claim/$submit
json_api    the JSON API, /v1
page        the analyst's page and its static files
health      liveness
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter


def get_and_post(router: APIRouter, path: str, **options: Any) -> Callable[[Any], Any]:
    """Route GET and POST of `path` to the decorated endpoint as two
    operations, each with its own operationId (`<endpoint>_get`,
    `<endpoint>_post`): one route of two methods gives both operations one id,
    which OpenAPI forbids."""

    def register(endpoint: Any) -> Any:
        for method in ("GET", "POST"):
            router.add_api_route(
                path,
                endpoint,
                methods=[method],
                operation_id=f"{endpoint.__name__}_{method.lower()}",
                **options,
            )
        return endpoint

    return register
