"""DTR's adaptive form: `Questionnaire/$next-question` asks exactly the
questions the answers so far still need (DTR spec-17, SDC next-question).

Why adaptive and not `enableWhenExpression`: an exact condition "F is still
needed given these answers" is the bridge's missing-fact reasoning over every
combination of answers (dtr_needed); written into the Questionnaire it is
flow logic in an Expression, which DTR spec-18 requires in CQL, and CQL in an
Expression must carry its compiled ELM (spec-96). The adaptive form keeps the
logic with the payer (the IG's "Adaptive Questionnaire" column) and answers it
on every call, exactly.

The Questionnaire the package or a read gives is DTR's AdaptiveQuestionnaire-
Search (no items; `questionnaireAdaptive` naming the service's FHIR base,
spec-23). The client calls `$next-question` with a QuestionnaireResponse
holding a contained DTR Adaptive Questionnaire `derivedFrom` that canonical
(spec-25) and its answers so far (the payer's pre-filled ones, the EHR's
populated ones, the clinician's: all count). The answer is the same
QuestionnaireResponse with its contained Questionnaire rebuilt: every item
the response answers, then every item still needed (dtr_needed) with its
population expressions (dtr_population), in the policy's order. An item
asked before and no longer needed is left out: the form narrows as it is
answered. A list item asked offers only the options whose membership can
still change the verdict (dtr_needed.needed_options: answer choices,
spec-17). When nothing is needed any more, a display item says the clinical
questions are complete (spec-39), and the form concludes (dtr_determination):
the coverage information on the response (spec-33) and, where prior
authorization is required and met, a last question offering its identifier
(spec-41); the response is `completed` once that is answered or not offered.

Invariants:
- the unanswered items of the answer are exactly dtr_needed's facts for the
  case the answers make (with the version that decides it);
- answers to facts are never changed or dropped (the answer to spec-41's
  question is dropped when the question no longer applies); an answer that is not a fact of the
  policy, two answers that disagree, or a value the fact refuses is a 400
  naming the item (spec-147); a request that is no such Parameters, or
  whose contained Questionnaire is not derived from one of the service's
  adaptive Questionnaires, is a 422.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.policy import Policy
from policykb.service import dtr
from policykb.service import dtr_determination as determination
from policykb.service.decisions import Decisions
from policykb.service.dtr import adaptive_url
from policykb.service.dtr_determination import CalledFor
from policykb.service.dtr_histories import level_facts
from policykb.service.dtr_needed import needed, needed_options
from policykb.service.dtr_valuesets import OPTION_LIMIT
from policykb.service.errors import ServiceError

DTR = "http://hl7.org/fhir/us/davinci-dtr/StructureDefinition"
ADAPTIVE_SEARCH = f"{DTR}/dtr-questionnaire-adapt-search"
ADAPTIVE = f"{DTR}/dtr-questionnaire-adapt"
RESPONSE_ADAPTIVE = f"{DTR}/dtr-questionnaireresponse-adapt"
OUTPUT_PARAMETERS = f"{DTR}/dtr-next-question-output-parameters"
QUESTIONNAIRE_ADAPTIVE = (
    "http://hl7.org/fhir/uv/sdc/StructureDefinition/sdc-questionnaire-questionnaireAdaptive"
)
SUFFIX = dtr.ADAPTIVE_SUFFIX
COMPLETE = "clinical-questions-complete"
"""The linkId of the display item saying no clinical question is left (spec-39)."""


def policy_of_id(ident: str, policies: Mapping[str, object]) -> str | None:
    """The policy an adaptive Questionnaire's id names (None: it names none)."""
    if ident.endswith(SUFFIX) and ident[: -len(SUFFIX)] in policies:
        return ident[: -len(SUFFIX)]
    return None


def adaptive_policy(
    response: Mapping[str, Any], ident: str, policies: Mapping[str, object]
) -> str | None:
    """The policy of the contained Questionnaire `ident` of a response, when
    it derives from one of the service's adaptive canonicals (None: it does
    not, or there is no such contained Questionnaire)."""
    contained = response.get("contained")
    for resource in contained if isinstance(contained, list) else []:
        if not isinstance(resource, Mapping) or resource.get("id") != ident:
            continue
        derived = resource.get("derivedFrom")
        for canonical in derived if isinstance(derived, list) else []:
            url = canonical.partition("|")[0].rstrip("/") if isinstance(canonical, str) else ""
            last = url.rsplit("/", 1)[-1]
            found = policy_of_id(last, policies)
            if found is not None and url.endswith(f"/Questionnaire/{last}"):
                return found
    return None


def _header(policy_name: str, title: str, version: str, base: str) -> dict[str, Any]:
    return {
        "name": "".join(p.capitalize() for p in policy_name.replace("_", "-").split("-"))
        + "Adaptive",
        "title": f"{title} (adaptive)",
        "status": "active",
        "subjectType": ["Patient"],
        "extension": [{"url": QUESTIONNAIRE_ADAPTIVE, "valueUrl": f"{base}/fhir"}],
        "version": dtr.questionnaire_version(version),
    }


def search_questionnaire(decisions: Decisions, policy_name: str, base: str) -> dict[str, Any]:
    """The adaptive Questionnaire as read or packaged: no items (spec-23)."""
    policy = decisions.policies[policy_name]
    document: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": policy_name + SUFFIX,
        "meta": {"profile": [ADAPTIVE_SEARCH]},
        "url": adaptive_url(base, policy_name),
        **_header(policy_name, policy.title, decisions.versions[policy_name], base),
        "description": f"The facts policykb needs to decide {policy.title}, asked as "
        "the answers so far need them ($next-question).",
    }
    period = dtr.effective_period(policy)
    if period:
        document["effectivePeriod"] = period
    return document


def _response_of(document: object) -> Mapping[str, Any]:
    if not isinstance(document, Mapping) or document.get("resourceType") != "Parameters":
        raise ServiceError(422, "$next-question takes a FHIR Parameters resource")
    given = document.get("parameter")
    if not isinstance(given, list):
        raise ServiceError(422, "the Parameters have no 'parameter' list", where="Parameters")
    found = [
        (index, parameter)
        for index, parameter in enumerate(given)
        if isinstance(parameter, Mapping) and parameter.get("name") == "questionnaire-response"
    ]
    if len(found) != 1:
        raise ServiceError(
            422, "give one 'questionnaire-response' parameter", where="Parameters.parameter"
        )
    index, parameter = found[0]
    response = parameter.get("resource")
    if not isinstance(response, Mapping) or response.get("resourceType") != "QuestionnaireResponse":
        raise ServiceError(
            422,
            "'questionnaire-response' must hold a QuestionnaireResponse",
            where=f"Parameters.parameter[{index}]",
        )
    return response


def _contained(response: Mapping[str, Any]) -> tuple[int, Mapping[str, Any]]:
    """The contained Questionnaire the response answers (`questionnaire` is
    `#id`), else its only contained Questionnaire."""
    contained = response.get("contained")
    if not isinstance(contained, list):
        contained = []
    questionnaires = [
        (index, resource)
        for index, resource in enumerate(contained)
        if isinstance(resource, Mapping) and resource.get("resourceType") == "Questionnaire"
    ]
    reference = response.get("questionnaire")
    if isinstance(reference, str) and reference.startswith("#"):
        named = [(i, q) for i, q in questionnaires if q.get("id") == reference[1:]]
        if named:
            return named[0]
    if len(questionnaires) == 1:
        return questionnaires[0]
    raise ServiceError(
        422,
        "the QuestionnaireResponse must contain the adaptive Questionnaire it answers "
        "(DTR spec-25: `questionnaire` '#id' naming a contained Questionnaire)",
        where="QuestionnaireResponse.contained",
    )


def _policy_of(
    questionnaire: Mapping[str, Any], where: str, decisions: Decisions, base: str
) -> str:
    derived = questionnaire.get("derivedFrom")
    canonicals = [c for c in derived if isinstance(c, str)] if isinstance(derived, list) else []
    prefix = dtr.questionnaire_url(base, "")
    for canonical in canonicals:
        url = canonical.partition("|")[0]
        if url.startswith(prefix):
            found = policy_of_id(url[len(prefix) :], decisions.policies)
            if found is not None:
                return found
    shown = canonicals[0][:120] if canonicals else "nothing"
    raise ServiceError(
        422,
        f"the contained Questionnaire derives from {shown!r}, not one of this service's "
        f"adaptive Questionnaires ({prefix}<policy>{SUFFIX})",
        where=f"{where}.derivedFrom",
    )


def next_question(
    document: object, decisions: Decisions, base: str, called_for: CalledFor
) -> dict[str, Any]:
    """The operation's output Parameters for an input Parameters resource
    (`called_for`: the orders CRD was called for, dtr_determination)."""
    response = _response_of(document)
    index, contained = _contained(response)
    name = _policy_of(contained, f"QuestionnaireResponse.contained[{index}]", decisions, base)
    try:
        answer = advance(response, index, name, decisions, base, called_for)
    except ServiceError as error:
        # spec-147: answers the contained Questionnaire's rules refuse are a 400
        raise ServiceError(400, error.detail, where=error.where) from None
    return {
        "resourceType": "Parameters",
        "meta": {"profile": [OUTPUT_PARAMETERS]},
        "parameter": [{"name": "return", "resource": answer}],
    }


def draft(
    response: Mapping[str, Any], name: str, decisions: Decisions, base: str, called_for: CalledFor
) -> dict[str, Any]:
    """A package's draft QuestionnaireResponse (its answers the payer's
    pre-filled ones) with its contained Questionnaire derived from the
    adaptive canonical (spec-25) and already asking what those answers
    leave needed (spec-36: as many questions as possible at once)."""
    policy = decisions.policies[name]
    stub = {
        "resourceType": "Questionnaire",
        "id": "adaptive",
        "status": "active",
        "derivedFrom": [
            f"{adaptive_url(base, name)}|{dtr.questionnaire_version(decisions.versions[name])}"
        ],
        "subjectType": ["Patient"],
        "title": policy.title,
    }
    started = dict(response) | {"contained": [stub], "questionnaire": "#adaptive"}
    return advance(started, 0, name, decisions, base, called_for)


def narrowed(
    item: dict[str, Any], choices: Mapping[str, list[str]], policy: Policy
) -> dict[str, Any]:
    """The item offering only the options its answer can still turn the
    verdict on (dtr_needed.needed_options), as answerOption; one whose
    options all still matter, or more than OPTION_LIMIT of them (a
    ValueSet's, spec-83), is unchanged."""
    kept = choices.get(item["linkId"])
    fact = policy.facts.get(item["linkId"])
    if not kept or fact is None or len(kept) > OPTION_LIMIT or len(kept) == len(fact.options):
        return item
    item = {key: value for key, value in item.items() if key != "answerValueSet"}
    item["answerOption"] = [
        {"valueCoding": {"code": option, "display": fact.option_texts.get(option, option)}}
        for option in kept
    ]
    return item


def advance(
    response: Mapping[str, Any],
    index: int,
    name: str,
    decisions: Decisions,
    base: str,
    called_for: CalledFor,
) -> dict[str, Any]:
    """The response with its contained Questionnaire (at `index`) rebuilt:
    its answered items and the items still needed, in the policy's order."""
    contained: Mapping[str, Any] = response["contained"][index]
    knowledge = decisions.knowledge
    complete = dtr.complete_histories(decisions.mappings[name])
    wants_id = determination.pa_answer(response)
    clinical = determination.without_pa_answer(response)
    facts = dtr.answers(clinical, decisions.policies[name], "QuestionnaireResponse", complete)
    conclusion: determination.Conclusion | None = None
    try:
        case = knowledge.case({"id": "dtr", "policy": name, "facts": facts})
        evaluator = knowledge.case_evaluator(case)
        asked = needed(evaluator, case)
        choices = needed_options(evaluator, case, asked)
        if not asked:
            conclusion = determination.conclude(
                clinical, name, facts, decisions, base, wants_id, called_for
            )
    except CaseError as error:
        raise ServiceError(422, str(error), where="QuestionnaireResponse.item") from None
    policy = evaluator.policy
    full = dtr.questionnaire(policy, policy.version.hash, decisions.mappings[name], base)
    levels = level_facts(policy)
    shown = {levels.get(fact, fact) for fact in asked} | set(facts)
    items = [narrowed(item, choices, policy) for item in full["item"] if item["linkId"] in shown]
    offers_pa = conclusion is not None and conclusion.offers_pa
    if not asked:
        items.append(
            {
                "linkId": COMPLETE,
                "type": "display",
                "text": "Every clinical question this policy needs is answered.",
            }
        )
        if offers_pa:
            items.append(determination.pa_question())  # spec-41: the final question
    ident = str(contained.get("id") or "adaptive")
    rebuilt: dict[str, Any] = {
        "resourceType": "Questionnaire",
        "id": ident,
        "meta": {"profile": [ADAPTIVE]},
        **_header(name, policy.title, policy.version.hash, base),
        "derivedFrom": [
            f"{adaptive_url(base, name)}|{dtr.questionnaire_version(policy.version.hash)}"
        ],
        "item": items,
    }
    rebuilt["extension"] = rebuilt["extension"] + list(full.get("extension", []))
    period = dtr.effective_period(policy)
    if period:
        rebuilt["effectivePeriod"] = period
    answer = dict(response if offers_pa else clinical)
    carried = response.get("extension")
    extensions = determination.with_conclusion(
        carried if isinstance(carried, list) else [], conclusion
    )
    if extensions:
        answer["extension"] = extensions
    answer["contained"] = [rebuilt] + [
        resource
        for position, resource in enumerate(response.get("contained") or [])
        if position != index
    ]
    answer["questionnaire"] = f"#{ident}"
    finished = not asked and (not offers_pa or wants_id is not None)
    answer["status"] = "completed" if finished else "in-progress"
    meta = dict(answer.get("meta") or {})
    profiles = [p for p in meta.get("profile", []) if isinstance(p, str)]
    meta["profile"] = profiles if RESPONSE_ADAPTIVE in profiles else [*profiles, RESPONSE_ADAPTIVE]
    answer["meta"] = meta
    return answer
