"""The service's routes, one router per surface; app.create_app includes them.

cds_hooks   Da Vinci CRD over CDS Hooks: discovery, order-sign/select
dtr         FHIR: a policy's Questionnaire
pas         FHIR: Claim/$submit
json_api    the JSON API, /v1
page        the analyst's page and its static files
health      liveness
"""
