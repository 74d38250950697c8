"""policykb serve: the coverage decision service for a health plan's systems.

    settings      how the service runs (policies, audit log, trust, limits)
    fhir_facts    facts read from FHIR R4 resources (each policy's fhir.yaml)
    record        which of a request's resources count (its patient's, usable)
    fhir_time     when a resource was observed, as a span; which is latest
    units         FHIR Quantities to a fact's declared unit, through UCUM
    routing       which policy decides an ordered code (applicable_code/4)
    decisions     one decision: facts -> verdict, reasons, assertion id, audit
    crd           Da Vinci CRD over CDS Hooks 2.0 (discovery, order-sign/select)
    dtr           Da Vinci DTR: a policy's facts as a FHIR Questionnaire
    pas           Da Vinci PAS: Claim/$submit -> ClaimResponse
    api           the JSON API (/v1), the CLI's JSON contracts
    audit         the JSONL audit log and its replay
    auth          bearer JWTs as CDS Hooks specifies
    errors        OperationOutcome and problem+json for every error
    envelopes     pydantic models of every request and response envelope
    deps          what routes share: the Service state, threads, body reading
    guard         body limit, bearer tokens and the requester, before any route
    handlers      every exception to problem+json or an OperationOutcome
    openapi       the OpenAPI document's parts derived from the envelope models
    routes        one router per surface: cds_hooks, dtr, pas, json_api, page, health
    app           assembles the FastAPI application from them
    serve         running it under uvicorn

It imports policykb.explain and policykb.bridge, never the CLI; FastAPI,
fhirpathpy and PyJWT are imported only here, so other commands never pay for
them (ucumvert also reads a policy's units when it loads: bridge/loading/ucum.py).
"""
