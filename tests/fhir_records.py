"""FHIR R4 records and requests for the service's tests: a patient's record
as an EHR would hold it, and the CDS Hooks, PAS and DTR documents built on it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

CPT = "http://www.ama-assn.org/go/cpt"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
BARIATRIC_CODES = {
    "lagb": "43770",
    "sleeve_gastrectomy": "43775",
    "gastric_bypass": "43644",
}


@dataclass
class Record:
    """What an EHR knows of one patient and one order."""

    code: str = "43775"
    authored: str = "2026-06-01"
    birth_date: str | None = "1980-02-03"
    bmis: list[tuple[str, float]] = field(default_factory=list)  # (date, value)
    pregnant: bool | None = None
    diagnoses: list[str] = field(default_factory=list)
    inactive_diagnoses: list[str] = field(default_factory=list)
    coverage: bool = True
    category: str | None = None
    order_id: str = "order-1"
    extra_observations: list[dict[str, Any]] = field(default_factory=list)
    extra_conditions: list[dict[str, Any]] = field(default_factory=list)
    coverage_changes: dict[str, Any] = field(default_factory=dict)

    def patient(self) -> dict[str, Any]:
        patient: dict[str, Any] = {"resourceType": "Patient", "id": "pat-1", "gender": "female"}
        if self.birth_date:
            patient["birthDate"] = self.birth_date
        return patient

    def coverage_resource(self) -> dict[str, Any]:
        return {
            "resourceType": "Coverage",
            "id": "cov-1",
            "status": "active",
            "beneficiary": {"reference": "Patient/pat-1"},
            "payor": [{"display": "Health Care Authority"}],
        } | self.coverage_changes

    def observations(self) -> list[dict[str, Any]]:
        found = []
        for index, (day, value) in enumerate(self.bmis):
            found.append(
                {
                    "resourceType": "Observation",
                    "id": f"bmi-{index}",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "39156-5"}]},
                    "subject": {"reference": "Patient/pat-1"},
                    "effectiveDateTime": day,
                    "valueQuantity": {
                        "value": value,
                        "unit": "kg/m2",
                        "system": UCUM,
                        "code": "kg/m2",
                    },
                }
            )
        if self.pregnant is not None:
            found.append(
                {
                    "resourceType": "Observation",
                    "id": "pregnancy",
                    "status": "final",
                    "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
                    "subject": {"reference": "Patient/pat-1"},
                    "effectiveDateTime": self.authored,
                    "valueCodeableConcept": {
                        "coding": [
                            {"system": SNOMED, "code": "77386006" if self.pregnant else "60001007"}
                        ]
                    },
                }
            )
        return found + self.extra_observations

    def conditions(self) -> list[dict[str, Any]]:
        def condition(index: int, code: str, status: str) -> dict[str, Any]:
            return {
                "resourceType": "Condition",
                "id": f"cond-{status}-{index}",
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                            "code": status,
                        }
                    ]
                },
                "code": {"coding": [{"system": ICD10, "code": code}]},
                "subject": {"reference": "Patient/pat-1"},
            }

        return [
            *(condition(i, c, "active") for i, c in enumerate(self.diagnoses)),
            *(condition(i, c, "resolved") for i, c in enumerate(self.inactive_diagnoses)),
            *self.extra_conditions,
        ]

    def order(self) -> dict[str, Any]:
        order: dict[str, Any] = {
            "resourceType": "ServiceRequest",
            "id": self.order_id,
            "status": "draft",
            "intent": "order",
            "subject": {"reference": "Patient/pat-1"},
            "authoredOn": self.authored,
            # CRD's ServiceRequest profile wants a requester (1..); the
            # hook's user, as a CRD client sends its order.
            "requester": {"reference": "Practitioner/prac-1"},
            "code": {"coding": [{"system": CPT, "code": self.code}]},
        }
        if self.category:
            order["category"] = [{"text": self.category}]
        return order

    def hook(
        self, hook: str = "order-sign", orders: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        orders = orders if orders is not None else [self.order()]
        context: dict[str, Any] = {
            "userId": "Practitioner/prac-1",
            "patientId": "pat-1",
            "draftOrders": {
                "resourceType": "Bundle",
                "type": "collection",
                "entry": [{"resource": order} for order in orders],
            },
        }
        if hook == "order-select":
            context["selections"] = [f"ServiceRequest/{orders[0]['id']}"]
        prefetch: dict[str, Any] = {"patient": self.patient()}
        prefetch["coverage"] = _searchset([self.coverage_resource()] if self.coverage else [])
        prefetch["conditions"] = _searchset(self.conditions())
        prefetch["observations"] = _searchset(self.observations())
        return {
            "hook": hook,
            "hookInstance": "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            "context": context,
            "prefetch": prefetch,
        }

    def claim_bundle(self, answers: dict[str, Any] | None = None) -> dict[str, Any]:
        claim = {
            "resourceType": "Claim",
            "id": "claim-1",
            "status": "active",
            "type": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/claim-type",
                        "code": "professional",
                    }
                ]
            },
            "use": "preauthorization",
            "patient": {"reference": "Patient/pat-1"},
            "created": f"{self.authored}T09:00:00Z",
            "insurer": {"display": "Health Care Authority"},
            "provider": {"display": "Clinic"},
            "priority": {"coding": [{"code": "normal"}]},
            "insurance": [
                {"sequence": 1, "focal": True, "coverage": {"reference": "Coverage/cov-1"}}
            ],
            "item": [
                {
                    "sequence": 1,
                    "productOrService": {"coding": [{"system": CPT, "code": self.code}]},
                    "servicedDate": self.authored,
                }
            ],
        }
        resources = [claim, self.patient(), self.coverage_resource(), *self.conditions()]
        resources += self.observations()
        if answers is not None:
            resources.append(questionnaire_response(answers))
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "timestamp": f"{self.authored}T09:00:00Z",
            "entry": [{"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(resources)],
        }

    def facts(self, today: date | None = None) -> dict[str, Any]:
        """The bariatric facts this record states, computed here independently
        of the service (the reference the service is compared with)."""
        facts: dict[str, Any] = {}
        procedure = {v: k for k, v in BARIATRIC_CODES.items()}
        procedure |= {
            "43645": "gastric_bypass",
            "43846": "gastric_bypass",
            "43847": "gastric_bypass",
        }
        facts["procedure"] = procedure[self.code]
        if self.birth_date:
            born, on = date.fromisoformat(self.birth_date), date.fromisoformat(self.authored)
            facts["age"] = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
        if self.bmis:
            facts["bmi"] = max(self.bmis)[1]
        if self.pregnant is not None:
            facts["pregnant"] = self.pregnant
        if self.diagnoses:
            facts["diagnoses"] = sorted(set(self.diagnoses))
        return facts


def bmi(
    value: object,
    when: str = "2026-05-01",
    code: str | None = "kg/m2",
    subject: str = "Patient/pat-1",
    comparator: str | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """A BMI Observation (LOINC 39156-5) of `value` in UCUM unit `code` (None:
    no unit code), effective `when`; `changes` replace or add elements."""
    quantity: dict[str, Any] = {"value": value}
    if code is not None:
        quantity |= {"unit": code, "system": UCUM, "code": code}
    if comparator is not None:
        quantity["comparator"] = comparator
    observation = {
        "resourceType": "Observation",
        "id": f"bmi-{when}-{value}-{code}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "39156-5"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": when,
        "valueQuantity": quantity,
    }
    return observation | changes


def pregnancy(pregnant: bool, subject: str = "Patient/pat-1", **changes: Any) -> dict[str, Any]:
    """A pregnancy status Observation (LOINC 82810-3, SNOMED CT values)."""
    observation = {
        "resourceType": "Observation",
        "id": f"pregnancy-{subject.rsplit('/', 1)[-1]}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": "82810-3"}]},
        "subject": {"reference": subject},
        "effectiveDateTime": "2026-05-01",
        "valueCodeableConcept": {
            "coding": [{"system": SNOMED, "code": "77386006" if pregnant else "60001007"}]
        },
    }
    return observation | changes


def condition(
    code: str,
    clinical: str | None = "active",
    verification: str | None = None,
    subject: str = "Patient/pat-1",
) -> dict[str, Any]:
    """An ICD-10-CM Condition with the given clinical and verification status."""
    found: dict[str, Any] = {
        "resourceType": "Condition",
        "id": f"cond-{code}-{clinical}-{verification}",
        "code": {"coding": [{"system": ICD10, "code": code}]},
        "subject": {"reference": subject},
    }
    if clinical is not None:
        found["clinicalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": clinical,
                }
            ]
        }
    if verification is not None:
        found["verificationStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": verification,
                }
            ]
        }
    return found


def _searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [{"resource": r} for r in resources],
    }


def questionnaire_response(
    answers: dict[str, Any], questionnaire: str | None = None
) -> dict[str, Any]:
    """A completed QuestionnaireResponse answering facts by linkId."""
    items = []
    for fact, value in answers.items():
        values = value if isinstance(value, list) else [value]
        items.append({"linkId": fact, "answer": [_answer(v) for v in values]})
    response: dict[str, Any] = {
        "resourceType": "QuestionnaireResponse",
        "id": "qr-1",
        "status": "completed",
        "item": items,
    }
    if questionnaire:
        response["questionnaire"] = questionnaire
    return response


def _answer(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"valueBoolean": value}
    if isinstance(value, int):
        return {"valueInteger": value}
    if isinstance(value, float):
        return {"valueDecimal": value}
    return {"valueString": value}


HCPCS = "https://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def procedure(
    ident: str,
    code: str,
    when: object = "2016-01-10",
    system: str = CPT,
    status: str | None = "completed",
    subject: str = "Patient/pat-1",
) -> dict[str, Any]:
    """A Procedure coded `code` in `system`, performed `when` (a dateTime, or
    a Period as a dict)."""
    found: dict[str, Any] = {
        "resourceType": "Procedure",
        "id": ident,
        "code": {"coding": [{"system": system, "code": code}]},
        "subject": {"reference": subject},
    }
    if status is not None:
        found["status"] = status
    found["performedPeriod" if isinstance(when, dict) else "performedDateTime"] = when
    return found


def coded_result(
    ident: str,
    loinc: str,
    answer: str,
    when: str = "2024-01-10",
    answer_system: str = SNOMED,
    status: str = "final",
) -> dict[str, Any]:
    """An Observation (LOINC `loinc`) with a coded answer, effective `when`."""
    return {
        "resourceType": "Observation",
        "id": ident,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": when,
        "valueCodeableConcept": {"coding": [{"system": answer_system, "code": answer}]},
    }


def a1c(
    ident: str,
    value: object,
    unit: str | None = "%",
    when: str = "2024-01-10",
    status: str = "final",
    **changes: Any,
) -> dict[str, Any]:
    """A hemoglobin A1c Observation (LOINC 4548-4) of `value` in UCUM `unit`."""
    quantity: dict[str, Any] = {"value": value}
    if unit is not None:
        quantity |= {"unit": unit, "system": UCUM, "code": unit}
    found = {
        "resourceType": "Observation",
        "id": ident,
        "status": status,
        "code": {"coding": [{"system": LOINC, "code": "4548-4"}]},
        "subject": {"reference": "Patient/pat-1"},
        "effectiveDateTime": when,
        "valueQuantity": quantity,
    }
    return found | changes


def medication_request(
    ident: str,
    rxcui: str,
    authored: str = "2023-01-05",
    days: object = 90,
    unit: str = "d",
    status: str = "completed",
    intent: str = "order",
    **changes: Any,
) -> dict[str, Any]:
    """A MedicationRequest of RxNorm `rxcui`, written `authored`, with an
    expected supply of `days` `unit` (None: none stated)."""
    found: dict[str, Any] = {
        "resourceType": "MedicationRequest",
        "id": ident,
        "status": status,
        "intent": intent,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        "subject": {"reference": "Patient/pat-1"},
        "authoredOn": authored,
    }
    if days is not None:
        duration = {"value": days, "unit": unit, "system": UCUM, "code": unit}
        found["dispenseRequest"] = {"expectedSupplyDuration": duration}
    return found | changes


def medication_dispense(
    ident: str,
    rxcui: str,
    handed: str = "2023-01-06",
    days: object = 30,
    unit: str = "d",
    status: str = "completed",
) -> dict[str, Any]:
    """A MedicationDispense of RxNorm `rxcui`, handed over `handed`, for `days` `unit`."""
    return {
        "resourceType": "MedicationDispense",
        "id": ident,
        "status": status,
        "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxcui}]},
        "subject": {"reference": "Patient/pat-1"},
        "whenHandedOver": handed,
        "daysSupply": {"value": days, "unit": unit, "system": UCUM, "code": unit},
    }
