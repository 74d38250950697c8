"""`GET /fhir/metadata`: the service's FHIR CapabilityStatement, naming the
Da Vinci IG versions it follows and the profiles it claims.

DTR 2.2.0 (payer side: the DTR Payer Service CapabilityStatement's
`$questionnaire-package` and `$log-questionnaire-errors`; Questionnaires in
DTR's Standard Questionnaire profile, draft QuestionnaireResponses in DTR's)
and PAS 2.2.1 (`Claim/$submit` taking a PAS Request Bundle, its Claim a PAS
Claim or a PAS Claim Update, answering a PAS Response Bundle with a PAS Claim
Response; `Claim/$inquire` taking a PAS Inquiry Request Bundle, answering a
Parameters of PAS Inquiry Response Bundles). Where these versions and the
older ones disagree (a ClaimResponse's `request` 1..1 since PAS 2.1, its
outcome code from PAS 2.2's binding), the newer is followed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from policykb.bridge.model import release

DTR_VERSION = "2.2.0"
PAS_VERSION = "2.2.1"
DTR = "http://hl7.org/fhir/us/davinci-dtr"
PAS = "http://hl7.org/fhir/us/davinci-pas"
IMPLEMENTATION_GUIDES = (
    f"{DTR}/ImplementationGuide/hl7.fhir.us.davinci-dtr|{DTR_VERSION}",
    f"{PAS}/ImplementationGuide/hl7.fhir.us.davinci-pas|{PAS_VERSION}",
)
INSTANTIATES = (f"{DTR}/CapabilityStatement/dtr-payer-service|{DTR_VERSION}",)
STARTED = datetime.now(UTC).isoformat(timespec="seconds")
"""When this process started: the statement's date (it cannot change while it runs)."""


OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SUBSCRIPTION_TOPIC_CANONICAL = (
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/"
    "capabilitystatement-subscriptiontopic-canonical"
)


def _operation(name: str, definition: str) -> dict[str, str]:
    return {"name": name, "definition": definition}


def capability_statement(base: str, smart: bool = False) -> dict[str, Any]:
    """The statement for a service reached at `base` ("" when it has no URL);
    with `smart`, its security names SMART Backend Services and the token
    endpoint (the oauth-uris extension)."""
    statement: dict[str, Any] = {
        "resourceType": "CapabilityStatement",
        "id": "policykb",
        "name": "PolicykbPayerService",
        "title": "policykb: coverage decisions from a health plan's written policies",
        "status": "active",
        "date": STARTED,
        "publisher": "policykb",
        "kind": "instance",
        "instantiates": list(INSTANTIATES),
        "software": {"name": "policykb", "version": release.version()},
        "implementation": {
            "description": "Da Vinci DTR (payer) and PAS (payer) over the health plan's policies"
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "implementationGuide": list(IMPLEMENTATION_GUIDES),
        "rest": [
            {
                "mode": "server",
                "documentation": "DTR questionnaires and packages; PAS prior authorization, "
                "its updates and inquiries, and Subscriptions to the results of pended ones.",
                "security": {
                    "description": "With --trust, a bearer JWT (SMART Backend Services style) "
                    "verified against the configured keys; without it, none."
                },
                "resource": [
                    {
                        "type": "Questionnaire",
                        "supportedProfile": [
                            f"{DTR}/StructureDefinition/dtr-std-questionnaire",
                            f"{DTR}/StructureDefinition/dtr-questionnaire-adapt-search",
                            f"{DTR}/StructureDefinition/dtr-questionnaire-adapt",
                        ],
                        "interaction": [{"code": "read"}],
                        "operation": [
                            _operation(
                                "questionnaire-package",
                                f"{DTR}/OperationDefinition/questionnaire-package",
                            ),
                            _operation(
                                "next-question",
                                f"{DTR}/OperationDefinition/DTR-Questionnaire-next-question",
                            ),
                            _operation(
                                "log-questionnaire-errors",
                                f"{DTR}/OperationDefinition/log-questionnaire-errors",
                            ),
                        ],
                    },
                    {
                        # DTR conf-1: the payer CapabilityStatement's SHALL
                        # ValueSet/$expand, over the choice facts' ValueSets.
                        "type": "ValueSet",
                        "interaction": [{"code": "read"}],
                        "operation": [
                            _operation(
                                "expand", "http://hl7.org/fhir/OperationDefinition/ValueSet-expand"
                            )
                        ],
                    },
                    {
                        "type": "QuestionnaireResponse",
                        "supportedProfile": [
                            f"{DTR}/StructureDefinition/dtr-questionnaireresponse"
                        ],
                    },
                    {
                        "type": "Claim",
                        "supportedProfile": [
                            f"{PAS}/StructureDefinition/profile-claim",
                            f"{PAS}/StructureDefinition/profile-claim-update",
                            f"{PAS}/StructureDefinition/profile-claim-inquiry",
                        ],
                        "operation": [
                            _operation("submit", f"{PAS}/OperationDefinition/Claim-submit"),
                            _operation("inquire", f"{PAS}/OperationDefinition/Claim-inquiry"),
                        ],
                    },
                    {
                        # PAS spec-55: create, update and delete; the one topic
                        # is named as the backport IG's CapabilityStatement does.
                        "extension": [
                            {
                                "url": SUBSCRIPTION_TOPIC_CANONICAL,
                                "valueCanonical": f"{PAS}/SubscriptionTopic/PASSubscriptionTopic",
                            }
                        ],
                        "type": "Subscription",
                        "supportedProfile": [f"{PAS}/StructureDefinition/profile-subscription"],
                        "interaction": [
                            {"code": "create"},
                            {"code": "read"},
                            {"code": "update"},
                            {"code": "delete"},
                        ],
                        # spec-54: the backport's $status and $events operations.
                        "operation": [
                            _operation(
                                "status",
                                "http://hl7.org/fhir/uv/subscriptions-backport"
                                "/OperationDefinition/backport-subscription-status",
                            ),
                            _operation(
                                "events",
                                "http://hl7.org/fhir/uv/subscriptions-backport"
                                "/OperationDefinition/backport-subscription-events",
                            ),
                        ],
                    },
                    {
                        "type": "ClaimResponse",
                        "supportedProfile": [
                            f"{PAS}/StructureDefinition/profile-claimresponse",
                            f"{PAS}/StructureDefinition/profile-claiminquiryresponse",
                        ],
                    },
                    {
                        "type": "Bundle",
                        "supportedProfile": [
                            f"{PAS}/StructureDefinition/profile-pas-request-bundle",
                            f"{PAS}/StructureDefinition/profile-pas-response-bundle",
                            f"{PAS}/StructureDefinition/profile-pas-inquiry-request-bundle",
                            f"{PAS}/StructureDefinition/profile-pas-inquiry-response-bundle",
                            f"{DTR}/StructureDefinition/DTR-QPackageBundle",
                        ],
                    },
                ],
            }
        ],
    }
    if smart:
        statement["rest"][0]["security"] = {
            "extension": [
                {
                    "url": OAUTH_URIS,
                    "extension": [{"url": "token", "valueUri": f"{base}/auth/token"}],
                }
            ],
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://hl7.org/fhir/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "description": "SMART Backend Services: a client_credentials access token "
            "(private_key_jwt, RS384 or ES384) from /auth/token on every /fhir/ route but "
            "metadata; see /fhir/.well-known/smart-configuration.",
        }
    if base.startswith("http"):
        statement["url"] = f"{base}/fhir/metadata"
        statement["implementation"]["url"] = f"{base}/fhir"
    return statement


__all__ = ["DTR_VERSION", "PAS_VERSION", "capability_statement"]
