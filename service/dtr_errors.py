"""DTR's `Questionnaire/$log-questionnaire-errors`: a DTR client reports the
issues it met with a Questionnaire (DTR 2.2 oper-1: payers SHALL support it).

Input (dtr-log-errors-input-parameters): one or more `questionnaire`
canonicals and one or more `operationOutcome` resources. Each issue is
written to the service's log (logger `policykb.service.dtr`), one line per
issue naming the Questionnaires; the answer is an informational
OperationOutcome. The OperationOutcomes are the client's and SHALL NOT hold
PHI (oper-2); the service keeps no more of them than that line.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from policykb.service.errors import ServiceError

LOG = logging.getLogger("policykb.service.dtr")


def log_errors(document: object) -> dict[str, Any]:
    """Record the reported issues; the OperationOutcome answering the report."""
    if not isinstance(document, Mapping) or document.get("resourceType") != "Parameters":
        raise ServiceError(422, "$log-questionnaire-errors takes a FHIR Parameters resource")
    parameters = document.get("parameter")
    if not isinstance(parameters, list):
        raise ServiceError(422, "the Parameters have no 'parameter' list", where="Parameters")
    questionnaires: list[str] = []
    outcomes: list[tuple[str, Mapping[str, Any]]] = []
    for index, parameter in enumerate(parameters):
        where = f"Parameters.parameter[{index}]"
        if not isinstance(parameter, Mapping):
            raise ServiceError(422, "a parameter must be an object", where=where)
        name = parameter.get("name")
        if name == "questionnaire":
            value = parameter.get("valueCanonical")
            if not isinstance(value, str) or not value:
                raise ServiceError(422, "'questionnaire' must be a valueCanonical", where=where)
            questionnaires.append(value[:200])
        elif name == "operationOutcome":
            resource = parameter.get("resource")
            if (
                not isinstance(resource, Mapping)
                or resource.get("resourceType") != "OperationOutcome"
            ):
                raise ServiceError(
                    422, "'operationOutcome' must hold an OperationOutcome", where=where
                )
            outcomes.append((where, resource))
    if not questionnaires or not outcomes:
        raise ServiceError(
            422,
            "give at least one 'questionnaire' and one 'operationOutcome'",
            where="Parameters",
        )
    count = 0
    for where, outcome in outcomes:
        issues = outcome.get("issue")
        for issue in issues if isinstance(issues, list) else []:
            if not isinstance(issue, Mapping):
                continue
            count += 1
            LOG.warning(
                "DTR client reports on %s: %s %s: %s",
                ", ".join(questionnaires),
                str(issue.get("severity", "?"))[:20],
                str(issue.get("code", "?"))[:40],
                str(issue.get("diagnostics", ""))[:500].replace("\n", " "),
            )
        del where
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "information",
                "code": "informational",
                "diagnostics": f"recorded {count} issue(s) about {len(questionnaires)} "
                "Questionnaire(s)",
            }
        ],
    }


__all__ = ["log_errors"]
