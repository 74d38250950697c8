"""The orders CRD was called for, as keys the hook log indexes, and the keys
a QuestionnaireResponse's `qr-context` names them by (DTR spec-43: an
adaptive form returns coverage information only when "CRD has already been
called and a coverage-information extension is already present on the
relevant order").

An order CRD was called for is a request resource of a call answered 200
that carries CRD's coverage-information afterwards: one the answer updates
with it (a systemAction), or one the call sent already carrying it (resp-35:
then the answer repeats nothing). The patient is the call's
`context.patientId`.

How an order is known (its keys), each beside that patient:
- `ref`: `Type/id`, the order's id on the EHR that called;
- `url`: `{fhirServer}/Type/id`, when the call named its fhirServer;
- `identifier`: `system|value` of each of its identifiers (`|value` when
  it names no system).

How a `qr-context` Reference is matched (any of its keys found, for the
response's `subject` patient):
- a relative reference `Type/id` (a version `/_history/v` ignored): `ref`;
- an absolute one `https://host/base/Type/id`: `url`, so only on the
  fhirServer the CRD call named (a call without one is matched relatively);
- `#id`, an order contained in the response: the identifiers of that
  contained resource (its local id names nothing on the EHR);
- `identifier` on the Reference: `identifier`.
Every order the response names must match; a response naming none, or
whose `subject` is no `Patient/id` reference, matches nothing. Nothing is
refused: a response that does not match just gets no coverage information.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from policykb.service.coverage_information import COVERAGE_INFORMATION

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
QR_CONTEXT = f"{DTR}/qr-context"

Key = tuple[str, str]
"""(kind, key): ("ref", "ServiceRequest/1"), ("url", ...), ("identifier", ...)."""


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _carries_information(resource: Mapping[str, Any]) -> bool:
    return any(
        isinstance(e, Mapping) and e.get("url") == COVERAGE_INFORMATION
        for e in _list(resource.get("extension"))
    )


def _reference(resource: Mapping[str, Any]) -> str | None:
    kind, ident = resource.get("resourceType"), resource.get("id")
    if isinstance(kind, str) and kind and isinstance(ident, str) and ident:
        return f"{kind}/{ident}"
    return None


def _identifier_key(identifier: object) -> Key | None:
    if not isinstance(identifier, Mapping):
        return None
    value, system = identifier.get("value"), identifier.get("system")
    if not isinstance(value, str) or not value:
        return None
    return ("identifier", f"{system if isinstance(system, str) else ''}|{value}")


def _bundle_resources(bundle: object) -> Iterator[Mapping[str, Any]]:
    if not isinstance(bundle, Mapping):
        return
    if bundle.get("resourceType") != "Bundle":
        yield bundle
        return
    for entry in _list(bundle.get("entry")):
        resource = entry.get("resource") if isinstance(entry, Mapping) else None
        if isinstance(resource, Mapping):
            yield resource


def _base(server: object) -> str | None:
    return server.rstrip("/") if isinstance(server, str) and "://" in server else None


def keys_of(resource: Mapping[str, Any], server: str | None) -> list[Key]:
    """The keys an order is known by (see the module)."""
    keys: list[Key] = []
    reference = _reference(resource)
    if reference is not None:
        keys.append(("ref", reference))
        if server is not None:
            keys.append(("url", f"{server}/{reference}"))
    for identifier in _list(resource.get("identifier")):
        key = _identifier_key(identifier)
        if key is not None:
            keys.append(key)
    return keys


def called_orders(
    request: object, answer: object, fetched: list[dict[str, Any]] | None = None
) -> tuple[str, list[Key]] | None:
    """The patient and the keys of the orders a call answered 200 was for
    that carry CRD's coverage-information (None: it names no patient)."""
    if not isinstance(request, Mapping):
        return None
    context = request.get("context")
    context = context if isinstance(context, Mapping) else {}
    patient = context.get("patientId")
    if not isinstance(patient, str) or not patient:
        return None
    server = _base(request.get("fhirServer"))
    carrying: list[Mapping[str, Any]] = []
    if isinstance(answer, Mapping):
        for action in _list(answer.get("systemActions")):
            resource = action.get("resource") if isinstance(action, Mapping) else None
            if action.get("type") == "update" and isinstance(resource, Mapping):
                carrying.append(resource)
    selections = context.get("selections")
    chosen = {s for s in _list(selections) if isinstance(s, str)}
    for key in ("draftOrders", "appointments"):
        for resource in _bundle_resources(context.get(key)):
            if request.get("hook") == "order-select" and _reference(resource) not in chosen:
                continue
            carrying.append(resource)
    named = {
        "/".join(_split(r)[-2:])
        for r in _list(context.get("dispatchedOrders"))
        if isinstance(r, str)
    }
    if isinstance(context.get("encounterId"), str):
        named.add(f"Encounter/{context['encounterId']}")
    if named:
        prefetch = request.get("prefetch")
        bundles = list(prefetch.values()) if isinstance(prefetch, Mapping) else []
        read = [r for b in bundles for r in _bundle_resources(b)] + list(fetched or [])
        carrying += [r for r in read if isinstance(r, Mapping) and _reference(r) in named]
    keys: dict[Key, None] = {}
    for resource in carrying:
        if _carries_information(resource):
            keys.update(dict.fromkeys(keys_of(resource, server)))
    return patient, list(keys)


def _split(reference: str) -> list[str]:
    """A reference's segments without its `/_history/v` tail."""
    parts = reference.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return parts


def subject_patient(response: Mapping[str, Any]) -> str | None:
    """The id of the Patient the response's subject names (None: none)."""
    subject = response.get("subject")
    reference = subject.get("reference") if isinstance(subject, Mapping) else None
    if not isinstance(reference, str):
        return None
    parts = _split(reference)
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    return None


def reference_keys(value: Mapping[str, Any], response: Mapping[str, Any]) -> list[Key]:
    """The keys a `qr-context` Reference may name its order by (see the module)."""
    keys: list[Key] = []
    reference = value.get("reference")
    if isinstance(reference, str) and reference.startswith("#"):
        for resource in _list(response.get("contained")):
            if isinstance(resource, Mapping) and resource.get("id") == reference[1:]:
                keys += [k for k in map(_identifier_key, _list(resource.get("identifier"))) if k]
    elif isinstance(reference, str):
        parts = _split(reference)
        if "://" in reference and len(parts) >= 5 and all(parts[-2:]):
            keys.append(("url", "/".join(parts).rstrip("/")))
        elif "://" not in reference and len(parts) == 2 and all(parts):
            keys.append(("ref", "/".join(parts)))
    key = _identifier_key(value.get("identifier"))
    if key is not None:
        keys.append(key)
    return keys


def named_orders(response: Mapping[str, Any]) -> tuple[str, list[list[Key]]] | None:
    """The response's patient and, per order its `qr-context` names, the
    keys to look it up by (None: no patient, or no order named)."""
    patient = subject_patient(response)
    orders = [
        reference_keys(extension["valueReference"], response)
        if isinstance(extension.get("valueReference"), Mapping)
        else []
        for extension in _list(response.get("extension"))
        if isinstance(extension, Mapping) and extension.get("url") == QR_CONTEXT
    ]
    if patient is None or not orders:
        return None
    return patient, orders
