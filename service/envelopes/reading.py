"""A decoded JSON document as an envelope model, or a ServiceError that
names the first field that is wrong, with the surface's status."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from policykb.service.errors import ServiceError

Model = TypeVar("Model", bound=BaseModel)


def validated(model: type[Model], document: object, status: int, prefix: str = "") -> Model:
    """`document` as `model`; else ServiceError(status) whose detail and
    `where` name the field (`prefix`: where the document sits, e.g. "Bundle")."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        first = error.errors()[0]
        parts = [prefix] if prefix else []
        parts += [str(part) for part in first["loc"]]
        where = ".".join(parts)
        shown = f"{where}: " if where else ""
        raise ServiceError(status, f"{shown}{first['msg']}", where=where or None) from None
