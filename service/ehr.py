"""Reading what a CDS Hooks client did not prefetch from its FHIR server.

CRD's found-5: a server SHOULD query the data it needs that the prefetch did
not return, with the `fhirAuthorization` token, at the `fhirServer`. The
queries are the discovery's own prefetch templates (US Core searches) with
the patient filled in, and reads of dispatched orders by `Type/id`; nothing
else is ever asked.

Invariants:
- Time-bounded: every query of a request runs concurrently, and all of them
  (with the pages a searchset links as `next`) within `timeout` seconds;
  past it, the fetch fails with a reason and the service answers
  indeterminate (resp-43).
- Bounded: a response over `max_bytes`, more than `max_resources`
  resources, or a `next` link off the server's base, fails the fetch.
- Only the client's own server: `fhirServer` must be https, or http on a
  loopback address (tests, and a client on the same host); redirects are
  not followed; the token is sent to that base and nowhere else.
- Never raises on what the EHR answers: any failure is a one-line reason.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import anyio
import httpx
import orjson

from policykb.service.settings import is_loopback

PAGES = 10
"""Searchset pages followed per query at most."""
FHIR_JSON = "application/fhir+json"


_TLS: list[ssl.SSLContext] = []


def _tls() -> ssl.SSLContext:
    """One TLS context for every fetch: making one loads the CA store, which
    costs more than a loopback query (bench/serve.py)."""
    if not _TLS:
        _TLS.append(ssl.create_default_context())
    return _TLS[0]


class FetchFailed(Exception):
    """Why the record could not be read from the EHR (one line)."""


def usable_server(base: str) -> str | None:
    """Why a fhirServer is not queried (None: it is)."""
    parts = urlsplit(base)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return None
    return f"fhirServer {base[:80]!r} is not an https URL (http only on loopback)"


@dataclass
class Fetched:
    """The resources read, and why the rest could not be (None: all read)."""

    resources: list[dict[str, Any]] = field(default_factory=list)
    failure: str | None = None


@dataclass
class _Reader:
    client: httpx.AsyncClient
    base: str
    max_bytes: int
    max_resources: int
    found: list[dict[str, Any]] = field(default_factory=list)

    async def get(self, url: str) -> dict[str, Any] | None:
        async with self.client.stream("GET", url) as response:
            if response.status_code == 404 and "?" not in url:
                return None  # a read of an order the EHR does not have
            if response.status_code != 200:
                raise FetchFailed(f"GET {url[:120]} answered {response.status_code}")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > self.max_bytes:
                    raise FetchFailed(f"GET {url[:120]} answered more than {self.max_bytes} bytes")
        try:
            document = orjson.loads(bytes(body))
        except orjson.JSONDecodeError:
            raise FetchFailed(f"GET {url[:120]} did not answer JSON") from None
        if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
            raise FetchFailed(f"GET {url[:120]} did not answer a FHIR resource")
        return document

    def keep(self, resources: Sequence[object]) -> None:
        for resource in resources:
            if isinstance(resource, Mapping) and isinstance(resource.get("resourceType"), str):
                self.found.append(dict(resource))
        if len(self.found) > self.max_resources:
            raise FetchFailed(f"the EHR returned more than {self.max_resources} resources")

    async def query(self, query: str) -> None:
        url: str | None = f"{self.base}/{query}"
        for _ in range(PAGES):
            if url is None:
                return
            document = await self.get(url)
            if document is None:
                return
            if document["resourceType"] == "OperationOutcome":
                raise FetchFailed(f"GET {query[:120]} answered an OperationOutcome")
            if document["resourceType"] != "Bundle":
                self.keep([document])
                return
            entries = document.get("entry")
            self.keep(
                [e.get("resource") for e in entries if isinstance(e, Mapping)]
                if isinstance(entries, list)
                else []
            )
            url = self._next(document)
        raise FetchFailed(f"GET {query[:120]} has more than {PAGES} pages")

    def _next(self, bundle: Mapping[str, Any]) -> str | None:
        links = bundle.get("link")
        for link in links if isinstance(links, list) else []:
            if isinstance(link, Mapping) and link.get("relation") == "next":
                target = link.get("url")
                if not isinstance(target, str) or not target.startswith(f"{self.base}/"):
                    raise FetchFailed("a searchset's next link leaves the fhirServer")
                return target
        return None


async def fetch(
    base: str,
    token: str,
    queries: Sequence[str],
    *,
    timeout: float,
    max_bytes: int,
    max_resources: int,
) -> Fetched:
    """Run `queries` (relative to `base`) against the client's FHIR server
    within `timeout` seconds altogether."""
    refused = usable_server(base)
    if refused is not None:
        return Fetched(failure=refused)
    base = base.rstrip("/")
    headers = {"Authorization": f"Bearer {token}", "Accept": FHIR_JSON}
    try:
        with anyio.fail_after(timeout):
            async with httpx.AsyncClient(
                headers=headers, timeout=timeout, follow_redirects=False, verify=_tls()
            ) as client:
                reader = _Reader(client, base, max_bytes, max_resources)
                async with anyio.create_task_group() as group:
                    for query in queries:
                        group.start_soon(reader.query, query)
                return Fetched(reader.found)
    except TimeoutError:
        return Fetched(failure=f"the fhirServer did not answer within {timeout:g} s")
    except FetchFailed as failure:
        return Fetched(failure=str(failure))
    except ExceptionGroup as group:
        failed = group.subgroup(FetchFailed)
        first = failed.exceptions[0] if failed else group.exceptions[0]
        return Fetched(failure=_reason(first))
    except httpx.HTTPError as error:
        return Fetched(failure=_reason(error))


def _reason(error: BaseException) -> str:
    if isinstance(error, FetchFailed):
        return str(error)
    if isinstance(error, ExceptionGroup):
        return _reason(error.exceptions[0])
    if isinstance(error, httpx.TimeoutException):
        return "the fhirServer did not answer in time"
    if isinstance(error, httpx.HTTPError):
        return f"the fhirServer could not be reached ({type(error).__name__})"
    return f"the fhirServer query failed ({type(error).__name__})"
