"""Pydantic models of every request and response envelope the service reads
or writes; the OpenAPI document is generated from them.

    errors      problem+json and FHIR OperationOutcome
    fhir        the one Bundle reader (entries -> resources)
    cds_hooks   CDS Hooks 2.0: discovery, a hook call, its cards and actions
    json_api    the JSON API's (/v1) requests and answers

The boundary: an envelope is a model; a FHIR resource inside one (an order,
a prefetched Patient, the Claim) stays a dict, read by fhir_facts and the
surfaces, and the resources the service returns are validated against the
FHIR R4B models (fhir.resources) and FHIR.js in the tests, not at run time.
"""
