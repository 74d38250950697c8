"""The service's compiled FHIRPath subset equals fhirpathpy on generated records."""

from __future__ import annotations

import functools
from decimal import Decimal
from typing import Any

import fhirpathpy
import pytest
from fhirpathpy.models import models
from hypothesis import given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.service.fhir_facts import load_mapping
from policykb.service.fhirpath import Unsupported, compile_path
from tests.sampling import examples

LOINC = "http://loinc.org"
EXTRA = [
    "%observations.where(status = 'final' or status = 'amended').count()",
    "%observations.where(status != 'final').first().id",
    "%observations.last().value",
    "%observations.effective",
    "%observations.where(code.coding.exists(system = 'http://loinc.org' and code = '39156-5'))"
    ".value.value",
    "%observations.where(status in ('final' | 'corrected')).id",
    "%observations.code.coding.code contains '39156-5'",
    "%observations.where(value.exists().not()).id",
    "%observations.where(interpretation.empty()).id",
    "%observations.code.coding.system | %conditions.code.coding.system",
    "%conditions.code.coding.where(code.startsWith('E1')).code",
    "%conditions.where(clinicalStatus.coding.code = 'active'"
    " and verificationStatus.exists().not()).id",
    "%patient.birthDate",
    "%patient.deceased",
    "%patient.where($this.gender = 'female').id",
    "%coverage.type.coding.where(system = 'https://nahdo.org/sopt').code.startsWith('1')",
    "%order.code.coding.where(system = 'http://www.ama-assn.org/go/cpt').code",
    "%order.category.text | %order.category.coding.display",
    "%observations.where(value = true).id",
    "%observations.where(status = 'final').exists()",
    "%observations.value.value.where($this = 41)",
    # A literal on the right is compared without building its collection;
    # these keep it tied to the general case (literal on the left, a list).
    "%observations.where('final' = status).id",
    "%observations.where(code.coding.code != '39156-5').id",
    "%observations.where(value.value = 41 or value = false).id",
]


@functools.cache
def _mapping_rules() -> tuple[Any, ...]:
    """Every bundled policy's fhir.yaml rules, loaded once (at collection)."""
    knowledge = KnowledgeBase()
    return tuple(
        rule
        for name in knowledge.policy_names()
        for rule in load_mapping(knowledge.policy(name)).rules
    )


def mapping_expressions(part: str = "path") -> list[str]:
    """The bundled policies' fhir.yaml expressions: `path` or `value`."""
    found = []
    for rule in _mapping_rules():
        expression = getattr(rule, part)
        if expression is not None:
            found.append(expression.text)
    return found


def normal(values: list[Any]) -> list[Any]:
    return [float(v) if isinstance(v, Decimal) else v for v in values]


codings = st.lists(
    st.fixed_dictionaries(
        {
            "system": st.sampled_from(
                [
                    LOINC,
                    "http://snomed.info/sct",
                    "https://nahdo.org/sopt",
                    "http://hl7.org/fhir/sid/icd-10-cm",
                ]
            ),
            "code": st.sampled_from(
                ["39156-5", "82810-3", "121", "21", "E11.9", "I10", "77386006"]
            ),
        },
        optional={"display": st.sampled_from(["massage", "BMI"])},
    ),
    max_size=3,
)
values = st.one_of(
    st.fixed_dictionaries(
        {"valueQuantity": st.fixed_dictionaries({"value": st.sampled_from([41, 30.5, 35])})}
    ),
    st.fixed_dictionaries({"valueBoolean": st.booleans()}),
    st.fixed_dictionaries({"valueString": st.sampled_from(["yes", "E11"])}),
    st.fixed_dictionaries({"valueCodeableConcept": st.fixed_dictionaries({"coding": codings})}),
    st.just({}),
)
observation = st.builds(
    lambda i, status, code, value, when, interpretation: {
        "resourceType": "Observation",
        "id": f"o{i}",
        **({"status": status} if status else {}),
        "code": {"coding": code},
        **value,
        **when,
        **interpretation,
    },
    st.integers(0, 9),
    st.sampled_from([None, "final", "amended", "corrected", "preliminary"]),
    codings,
    values,
    st.one_of(
        st.just({}),
        st.fixed_dictionaries({"effectiveDateTime": st.sampled_from(["2026-01-01", "2025-06-30"])}),
    ),
    st.one_of(st.just({}), st.just({"interpretation": [{"text": "high"}]})),
)
condition = st.builds(
    lambda i, status, code, verified: {
        "resourceType": "Condition",
        "id": f"c{i}",
        "clinicalStatus": {"coding": [{"code": status}]},
        "code": {"coding": code},
        **verified,
    },
    st.integers(0, 9),
    st.sampled_from(["active", "resolved"]),
    codings,
    st.one_of(
        st.just({}), st.just({"verificationStatus": {"coding": [{"code": "entered-in-error"}]}})
    ),
)
variables = st.fixed_dictionaries(
    {
        "observations": st.lists(observation, max_size=4),
        "conditions": st.lists(condition, max_size=3),
        "patient": st.fixed_dictionaries(
            {"resourceType": st.just("Patient"), "id": st.just("p")},
            optional={
                "birthDate": st.sampled_from(["1980-02-03", "2001-12-31"]),
                "gender": st.sampled_from(["female", "male"]),
                "deceasedBoolean": st.booleans(),
            },
        ),
        "coverage": st.fixed_dictionaries(
            {
                "resourceType": st.just("Coverage"),
                "type": st.fixed_dictionaries({"coding": codings}),
            }
        ),
        "order": st.fixed_dictionaries(
            {
                "resourceType": st.just("ServiceRequest"),
                "code": st.fixed_dictionaries({"coding": codings}),
            },
            optional={
                "category": st.just([{"text": "massage"}, {"coding": [{"display": "manual"}]}])
            },
        ),
    }
)


@pytest.mark.parametrize("expression", [*mapping_expressions(), *EXTRA])
@settings(max_examples=examples(60), deadline=None)
@given(given_variables=variables)
def test_compiled_subset_equals_fhirpathpy(
    expression: str, given_variables: dict[str, Any]
) -> None:
    compiled = compile_path(expression)
    try:
        expected = normal(fhirpathpy.evaluate({}, expression, given_variables, model=models["r4"]))
    except Exception:
        # fhirpathpy refuses (a function of one item given several): the
        # subset must not answer either, so fhirpathpy's refusal stands.
        with pytest.raises(Unsupported):
            compiled([], given_variables)
        return
    try:
        found = compiled([], given_variables)
    except Unsupported:
        return  # handed to fhirpathpy at run time
    assert normal(found) == expected


@pytest.mark.parametrize("expression", mapping_expressions("value"))
@settings(max_examples=examples(60), deadline=None)
@given(resource=observation)
def test_value_expressions_equal_fhirpathpy(expression: str, resource: dict[str, Any]) -> None:
    expected = normal(fhirpathpy.evaluate(resource, expression, {}, model=models["r4"]))
    assert normal(compile_path(expression)([resource], {})) == expected


def test_the_policies_mappings_are_all_in_the_subset() -> None:
    for expression in mapping_expressions():
        compile_path(expression)  # raises Unsupported otherwise


def test_outside_the_subset_is_refused() -> None:
    for expression in (
        "%patient.birthDate + 1 year",
        "%observations.select(id)",
        "%observations.value.value > 40",
    ):
        with pytest.raises(Unsupported):
            compile_path(expression)
