"""The PAS Subscription resource (Subscriptions R5 Backport IG 1.1.0, R4
backport, PAS 2.2.1 spec-54 to spec-62): `checked` holds a client's
Subscription to the profile this service supports (PAS topic, rest-hook
channel, `application/fhir+json` full-resource payload, filter criteria
`orgIdentifier=ID[,ID...]`), and `claim_senders` names the sending systems a
Claim came from, which that filter is matched against.

Invariants:
- an endpoint is https, or http on a loopback address only (as fetching
  from an EHR, ehr.py): the service does not POST PHI in clear elsewhere;
- a Subscription with no filter is refused, so no subscriber receives
  another organization's authorizations by omission;
- a checked Subscription is kept `requested`, with no `error`, under the PAS
  Subscription profile (subscription_notifier.py makes it `active` once its
  handshake is delivered);
- every refusal is a 422 naming the first element that does not conform.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from policykb.service.errors import ServiceError
from policykb.service.pas_keys import PAS, Entries, extension_value, provider_keys
from policykb.service.settings import is_loopback

TOPIC = "http://hl7.org/fhir/us/davinci-pas/SubscriptionTopic/PASSubscriptionTopic"
BACKPORT = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition"
FILTER_CRITERIA = f"{BACKPORT}/backport-filter-criteria"
PAYLOAD_CONTENT = f"{BACKPORT}/backport-payload-content"
HEARTBEAT_PERIOD = f"{BACKPORT}/backport-heartbeat-period"
PAS_SUBSCRIPTION = f"{PAS}/profile-subscription"
TRANSMISSION = f"{PAS}/extension-TransmissionIdentifiers"
SENDER_PARTS = ("interchangeSenderID", "applicationSenderCode")
FILTER_NAMES = ("orgIdentifier", "org-identifier")
PAYLOAD = "application/fhir+json"

MIN_HEARTBEAT_PERIOD = 10
"""The shortest heartbeat period accepted, in seconds (a bound on the
notifications one Subscription can make the service send)."""


def _fail(text: str, where: str) -> ServiceError:
    return ServiceError(422, text, where=where)


def org_filter(subscription: Mapping[str, Any]) -> frozenset[str]:
    """The sending-system identifiers the Subscription's filter criteria name."""
    criteria = subscription.get("_criteria")
    extensions = criteria.get("extension") if isinstance(criteria, Mapping) else None
    found: set[str] = set()
    for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
        if not isinstance(extension, Mapping) or extension.get("url") != FILTER_CRITERIA:
            continue
        where = f"Subscription._criteria.extension[{index}].valueString"
        text = extension.get("valueString")
        if not isinstance(text, str):
            raise _fail("a filter criteria extension needs a valueString", where)
        name, equals, values = text.partition("=")
        if name.strip() not in FILTER_NAMES or not equals:
            raise _fail(
                f"the PAS topic filters by orgIdentifier=ID[,ID...], not {text[:80]!r}", where
            )
        ids = {value.strip() for value in values.split(",") if value.strip()}
        if not ids:
            raise _fail("orgIdentifier names no identifier", where)
        found |= ids
    return frozenset(found)


def endpoint_problem(endpoint: str) -> str | None:
    """Why the service would not POST notifications to `endpoint` (None: it would)."""
    parts = urlsplit(endpoint)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and parts.hostname and is_loopback(parts.hostname):
        return None
    return f"channel.endpoint {endpoint[:80]!r} is not an https URL (http only on loopback)"


def headers_of(channel: Mapping[str, Any]) -> dict[str, str]:
    """`channel.header` ("Name: value" strings) as HTTP headers."""
    raw = channel.get("header")
    if raw is None:
        return {}
    if not isinstance(raw, list):
        raise _fail("'header' must be a list of strings", "Subscription.channel.header")
    headers = {}
    for index, line in enumerate(raw):
        name, colon, value = line.partition(":") if isinstance(line, str) else ("", "", "")
        if not colon or not name.strip() or any(c in line for c in "\r\n"):
            raise _fail(
                "a header must be 'Name: value' on one line",
                f"Subscription.channel.header[{index}]",
            )
        headers[name.strip()] = value.strip()
    return headers


def heartbeat_period(subscription: Mapping[str, Any]) -> int | None:
    """The seconds between heartbeats the Subscription asks for (None: no
    heartbeats), from the backport's heartbeat-period extension on its
    channel."""
    channel = subscription.get("channel")
    extensions = channel.get("extension") if isinstance(channel, Mapping) else None
    for index, extension in enumerate(extensions if isinstance(extensions, list) else []):
        if not isinstance(extension, Mapping) or extension.get("url") != HEARTBEAT_PERIOD:
            continue
        period = extension.get("valueUnsignedInt")
        if not isinstance(period, int) or isinstance(period, bool):
            raise _fail(
                "the heartbeat period needs a valueUnsignedInt (seconds)",
                f"Subscription.channel.extension[{index}]",
            )
        if period < MIN_HEARTBEAT_PERIOD:
            raise _fail(
                f"the heartbeat period must be at least {MIN_HEARTBEAT_PERIOD} seconds",
                f"Subscription.channel.extension[{index}].valueUnsignedInt",
            )
        return period
    return None


def checked(document: object) -> dict[str, Any]:
    """The Subscription a client sent, checked against the PAS Subscription
    profile as this service supports it (a 422 naming the first element
    that is not)."""
    if not isinstance(document, Mapping) or document.get("resourceType") != "Subscription":
        raise _fail("the body must be a Subscription resource", "Subscription")
    if document.get("criteria") != TOPIC:
        raise _fail(f"criteria must be the PAS topic {TOPIC}", "Subscription.criteria")
    channel = document.get("channel")
    if not isinstance(channel, Mapping):
        raise _fail("a Subscription needs a 'channel'", "Subscription.channel")
    if channel.get("type") != "rest-hook":
        raise _fail("channel.type must be rest-hook (spec-56)", "Subscription.channel.type")
    endpoint = channel.get("endpoint")
    if not isinstance(endpoint, str) or not endpoint:
        raise _fail("a rest-hook channel needs an 'endpoint'", "Subscription.channel.endpoint")
    problem = endpoint_problem(endpoint)
    if problem:
        raise _fail(problem, "Subscription.channel.endpoint")
    if channel.get("payload") not in (PAYLOAD, "application/json"):
        raise _fail(f"channel.payload must be {PAYLOAD}", "Subscription.channel.payload")
    payload = channel.get("_payload")
    content = extension_value(payload, PAYLOAD_CONTENT) if isinstance(payload, Mapping) else None
    if content != "full-resource":
        raise _fail(
            "the payload content must be full-resource (spec-62)",
            "Subscription.channel._payload.extension",
        )
    headers_of(channel)
    heartbeat_period(document)
    if not org_filter(document):
        raise _fail(
            "give the sending systems to watch: a filter criteria orgIdentifier=ID (spec-58)",
            "Subscription._criteria",
        )
    kept = dict(document)
    kept["status"] = "requested"  # active once the handshake is delivered
    kept.pop("error", None)
    kept["meta"] = {"profile": [PAS_SUBSCRIPTION]}
    return kept


def claim_senders(claim: Mapping[str, Any], entries: Entries) -> frozenset[str]:
    """The sending systems a Claim came from: its Transmission Identifiers'
    sender parts and its providers' identifier values."""
    found: set[str] = set()
    for extension in claim.get("extension") or []:
        if not isinstance(extension, Mapping) or extension.get("url") != TRANSMISSION:
            continue
        for part in extension.get("extension") or []:
            if isinstance(part, Mapping) and part.get("url") in SENDER_PARTS:
                value = part.get("valueString")
                if isinstance(value, str) and value.strip():
                    found.add(value.strip())
    found |= {key.partition("|")[2] for key in provider_keys(claim, entries)}
    return frozenset(found)
