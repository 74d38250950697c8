"""policykb serve: CRD, DTR, PAS and the JSON API against the library's own answers.

Each FHIR resource the service returns is validated with fhir.resources (R4B)
and, independently, with FHIR.js (tests/js); CRD's invariants are checked with
fhirpathpy. Decisions are compared with KnowledgeBase.evaluate on facts the
test derives from the record itself.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from fhirpathpy.models import models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase
from policykb.service import pas
from policykb.service.app import create_app
from policykb.service.coverage_information import COVERAGE_INFORMATION
from policykb.service.pas import REVIEW_ACTION, REVIEW_ACTION_CODE
from policykb.service.settings import ServiceSettings
from tests.crd_ig import crd_invariants, invariant_results
from tests.fhir_records import BARIATRIC_CODES, Record
from tests.sampling import examples

JS = Path(__file__).parents[1] / "js"
R4 = models["r4"]

CRD_INVARIANTS = crd_invariants()
"""Every invariant of ext-coverage-information, as the CRD IG publishes it."""


@pytest.fixture(scope="module")
def audit_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("audit") / "audit.jsonl"


@pytest.fixture(scope="module")
def client(audit_path: Path) -> Iterator[TestClient]:
    app = create_app(ServiceSettings(audit=str(audit_path), audit_sync=False))
    with TestClient(app) as test_client:
        yield test_client


def fhir_js(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """FHIR.js's verdict on each resource (an independent validator)."""
    done = subprocess.run(
        ["node", str(JS / "validate.js")],
        input=json.dumps(resources),
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def r4b(resource: dict[str, Any]) -> None:
    """Validate with fhir.resources' R4B model of the resource's type."""
    from fhir.resources.R4B import get_fhir_model_class

    get_fhir_model_class(resource["resourceType"]).model_validate(resource)


def coverage_info(response: dict[str, Any], index: int = 0) -> dict[str, Any]:
    order = response["systemActions"][index]["resource"]
    found = [e for e in order["extension"] if e["url"] == COVERAGE_INFORMATION]
    assert len(found) == 1
    return found[0]


def parts(extension: dict[str, Any]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for part in extension["extension"]:
        value = next(v for k, v in part.items() if k.startswith("value"))
        found.setdefault(part["url"], []).append(value)
    return found


def hook(client: TestClient, record: Record, name: str = "order-sign") -> dict[str, Any]:
    response = client.post(f"/cds-services/policykb-{name}", json=record.hook(name))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


COMPLETE = Record(bmis=[("2026-05-01", 41.0)], pregnant=False, diagnoses=["E11.9"])
LOW_BMI = Record(bmis=[("2026-05-01", 34.0)], pregnant=False, diagnoses=["E11.9"])
INCOMPLETE = Record(bmis=[("2026-05-01", 41.0)])


# -- CRD -------------------------------------------------------------------------


def test_discovery_lists_the_hooks_with_prefetch_version_and_options(client: TestClient) -> None:
    services = client.get("/cds-services").json()["services"]
    assert {s["hook"] for s in services} == {
        "order-sign",
        "order-select",
        "order-dispatch",
        "appointment-book",
        "encounter-start",
        "encounter-discharge",
    }
    for service in services:
        assert {"patient", "coverage", "conditions", "vitalSigns"} <= set(service["prefetch"])
        assert "{{context.patientId}}" in service["prefetch"]["patient"]
        assert service["extension"]["davinci-crd.version"] == ["2.2"]
        options = service["extension"]["davinci-crd.configuration-options"]
        assert {o["code"] for o in options} == {"coverage-info", "instructions"}
        for option in options:  # dev-4: four mandatory elements, and a default
            assert set(option) == {"code", "type", "name", "description", "default"}
        for key in ("code", "name", "description"):  # dev-8: each unique in the service
            assert len({o[key] for o in options}) == len(options)


@pytest.mark.parametrize(
    ("record", "covered", "pa_needed"),
    [
        (COMPLETE, "covered", ["auth-needed"]),
        (LOW_BMI, "not-covered", None),
        (INCOMPLETE, "conditional", ["auth-needed"]),
    ],
)
def test_crd_answers_each_verdict(
    client: TestClient, kb: KnowledgeBase, record: Record, covered: str, pa_needed: list[str] | None
) -> None:
    answer = hook(client, record)
    info = parts(coverage_info(answer))
    assert info["covered"] == [covered]
    assert info.get("pa-needed") == pa_needed
    assert info["coverage"] == [{"reference": "Coverage/cov-1"}]
    assert info["date"] == [datetime.now(UTC).date().isoformat()]
    expected = kb.evaluate({"policy": "bariatric-surgery", "facts": record.facts()})
    cited = list(dict.fromkeys(item.criterion for item in expected.explanation))
    reasons = [r["text"] for r in info.get("reason", [])]
    needed = [r for r in reasons if r.startswith("Information needed: ")]
    assert [r.split(":")[0] for r in reasons if r not in needed] == cited
    # crd-ci-q3 (CRD 2.1+): conditional comes with info-needed, and its reason.
    assert (info.get("info-needed") == ["OTH"]) is (covered == "conditional") is bool(needed)
    if needed:
        assert all(missing.fact in needed[0] for missing in expected.missing)
    if covered == "conditional":
        assert info["doc-needed"] == ["clinical"]
        (canonical,) = info["questionnaire"]
        url, _, version = canonical.partition("|")
        questionnaire = client.get(url.removeprefix("http://testserver")).json()
        assert questionnaire["url"] == url and questionnaire["version"] == version
    else:
        assert "doc-needed" not in info and "questionnaire" not in info
    # resp-25: no card repeats the coverage information; a decision that needs
    # answers gets the Instructions card listing them.
    if covered == "conditional":
        (card,) = answer["cards"]
        assert card["source"]["topic"]["code"] == "instructions"
        assert card["summary"].startswith("WAC 182-531-1600")
        for missing in expected.missing:
            assert missing.question in card["detail"]
    else:
        assert answer["cards"] == []


def test_the_not_covered_reason_quotes_the_criterion(client: TestClient, kb: KnowledgeBase) -> None:
    info = parts(coverage_info(hook(client, LOW_BMI)))
    text = kb.policy("bariatric-surgery").criteria["(6)(b)"].text
    assert {"text": f"(6)(b): {text}"} in info["reason"]


def test_assertion_ids_are_unique_per_request_and_name_their_content(client: TestClient) -> None:
    first = parts(coverage_info(hook(client, COMPLETE)))["coverage-assertion-id"][0]
    again = parts(coverage_info(hook(client, COMPLETE)))["coverage-assertion-id"][0]
    # The same facts from a record written differently (an older BMI added).
    other_record = Record(
        bmis=[("2026-05-01", 41.0), ("2020-01-01", 30.0)], pregnant=False, diagnoses=["E11.9"]
    )
    same_facts = parts(coverage_info(hook(client, other_record)))["coverage-assertion-id"][0]
    different = parts(coverage_info(hook(client, LOW_BMI)))["coverage-assertion-id"][0]
    # resp-31/32: every request's assertion is its own; the part before the
    # trace still names the policy version and the facts (replay checks it).
    assert len({first, again, same_facts, different}) == 4
    content = {ident.split("-")[0] for ident in (first, again, same_facts)}
    assert len(content) == 1 and different.split("-")[0] not in content


def test_order_select_decides_only_the_selection_without_cards(client: TestClient) -> None:
    second = Record(code="43770", order_id="order-2").order()
    request = COMPLETE.hook("order-select", [COMPLETE.order(), second])
    answer = client.post("/cds-services/policykb-order-select", json=request).json()
    assert answer["cards"] == []
    assert [a["resource"]["id"] for a in answer["systemActions"]] == ["order-1"]


@pytest.mark.parametrize(
    ("code", "category", "routed"),
    [
        ("97124", None, True),
        ("97140", "massage", True),
        ("97140", None, True),
        ("97140", "mobilization", False),
        ("99213", None, False),
    ],
)
def test_massage_codes_route_as_the_policy_lists_them(
    client: TestClient, code: str, category: str | None, routed: bool
) -> None:
    record = Record(code=code, category=category)
    answer = hook(client, record)
    assert ("systemActions" in answer) is routed
    if routed:
        assert "Massage" in answer["systemActions"][0]["description"]


def test_no_coverage_no_assertion(client: TestClient) -> None:
    answer = hook(client, Record(bmis=[("2026-05-01", 41.0)], coverage=False))
    assert "systemActions" not in answer


def test_an_implausible_record_value_stays_unknown(client: TestClient) -> None:
    record = Record(bmis=[("2026-05-01", 900.0)], pregnant=False, diagnoses=["E11.9"])
    info = parts(coverage_info(hook(client, record)))
    assert info["covered"] == ["conditional"]  # the BMI is asked, not trusted


@settings(
    max_examples=examples(25),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    procedure=st.sampled_from(sorted(BARIATRIC_CODES)),
    age=st.one_of(st.none(), st.integers(10, 80)),
    bmis=st.lists(
        st.tuples(
            st.dates().map(lambda d: d.isoformat()), st.floats(20, 60).map(lambda b: round(b, 1))
        ),
        max_size=3,
        unique_by=lambda t: t[0],
    ),
    pregnant=st.one_of(st.none(), st.booleans()),
    diagnoses=st.lists(
        st.sampled_from(["E11.9", "E08.0", "M17.11", "M16.0", "I10", "G93.2"]), max_size=3
    ),
)
def test_crd_equals_evaluate_on_generated_records(
    client: TestClient,
    kb: KnowledgeBase,
    procedure: str,
    age: int | None,
    bmis: list[tuple[str, float]],
    pregnant: bool | None,
    diagnoses: list[str],
) -> None:
    birth = None if age is None else f"{2026 - age}-01-15"
    record = Record(
        code=BARIATRIC_CODES[procedure],
        birth_date=birth,
        bmis=bmis,
        pregnant=pregnant,
        diagnoses=diagnoses,
    )
    expected = kb.evaluate({"policy": "bariatric-surgery", "facts": record.facts()}).verdict
    info = parts(coverage_info(hook(client, record)))
    covered = {
        "covered": "covered",
        "not_covered": "not-covered",
        "needs_information": "conditional",
    }
    assert info["covered"] == [covered[expected.value]]
    results = invariant_results(coverage_info(hook(client, record)))
    assert set(results) == set(CRD_INVARIANTS)
    assert all(result == [True] for result in results.values()), results


# -- DTR ---------------------------------------------------------------------------


def test_questionnaire_has_one_typed_item_per_fact(client: TestClient, kb: KnowledgeBase) -> None:
    questionnaire = client.get("/fhir/Questionnaire/bariatric-surgery").json()
    policy = kb.policy("bariatric-surgery")
    items = {item["linkId"]: item for item in questionnaire["item"]}
    assert list(items) == sorted(policy.facts, key=lambda f: policy.facts[f].rank)
    assert items["epsdt"]["type"] == "boolean"
    assert items["age"]["type"] == "integer"
    assert items["bmi"]["type"] == "decimal"
    assert items["diagnoses"]["repeats"] is True
    assert [o["valueCoding"]["code"] for o in items["procedure"]["answerOption"]] == list(
        policy.facts["procedure"].options
    )
    for fact, item in items.items():
        assert item["text"] == policy.facts[fact].question
    read = {
        i
        for i, item in items.items()
        if any("initialExpression" in e["url"] for e in item.get("extension", []))
    }
    assert read == {"age", "bmi", "pregnant", "diagnoses"}  # marked: the record answers them


def test_unknown_questionnaire_is_a_404_outcome(client: TestClient) -> None:
    response = client.get("/fhir/Questionnaire/..%2F..%2Fetc")
    assert response.status_code == 404
    assert response.json()["resourceType"] == "OperationOutcome"


# -- PAS ---------------------------------------------------------------------------


def review_code(claim_response: dict[str, Any]) -> str:
    adjudication = claim_response["item"][0]["adjudication"][0]
    (action,) = [e for e in adjudication["extension"] if e["url"] == REVIEW_ACTION]
    (code,) = [e for e in action["extension"] if e["url"] == REVIEW_ACTION_CODE]
    return code["valueCodeableConcept"]["coding"][0]["code"]  # type: ignore[no-any-return]


def submit(client: TestClient, bundle: dict[str, Any]) -> dict[str, Any]:
    """The ClaimResponse of the response Bundle (PAS: the Bundle's first entry)."""
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    answer = response.json()
    assert answer["resourceType"] == "Bundle"
    assert answer["type"] == "collection"
    return pas.claim_response(answer)


@pytest.mark.parametrize(
    ("answers", "code"),
    [
        ({"pregnant": False, "diagnoses": ["E11.9"]}, "A1"),
        ({"pregnant": True, "diagnoses": ["E11.9"]}, "A3"),
        (
            {
                "pregnant": False,
                "diagnoses": ["I10"],
                "joint_replacement_candidate": False,
                "rare_comorbidity_with_evidence": False,
            },
            "A3",
        ),
    ],
)
def test_crd_then_dtr_then_pas_end_to_end(
    client: TestClient, kb: KnowledgeBase, answers: dict[str, Any], code: str
) -> None:
    # 1. CRD on an incomplete record: conditional, with a questionnaire.
    info = parts(coverage_info(hook(client, INCOMPLETE)))
    assert info["covered"] == ["conditional"]
    url = info["questionnaire"][0].partition("|")[0]
    assert url.endswith("/Questionnaire/bariatric-surgery-adaptive")  # exact narrowing
    standard = url.removeprefix("http://testserver").removesuffix("-adaptive")
    questionnaire = client.get(standard).json()
    asked = {item["linkId"] for item in questionnaire["item"]}
    assert set(answers) <= asked
    # 2. The questionnaire answered: PAS decides as evaluate does on the same facts.
    claim_response = submit(client, INCOMPLETE.claim_bundle(answers))
    expected = kb.evaluate(
        {"policy": "bariatric-surgery", "facts": {**INCOMPLETE.facts(), **answers}}
    )
    assert review_code(claim_response) == code
    assert {"A1": "covered", "A3": "not_covered"}[code] == expected.verdict.value
    reason = claim_response["item"][0]["adjudication"][0]["reason"]["text"]
    for item in expected.explanation:
        assert item.criterion in reason
    assert claim_response["outcome"] == "complete"


def test_a_missing_answer_pends_with_the_questions(client: TestClient, kb: KnowledgeBase) -> None:
    answer = submit(client, INCOMPLETE.claim_bundle({"pregnant": False}))
    assert review_code(answer) == "A4"
    assert answer["outcome"] == "complete"  # decided: pended for information (PAS 2.2 binding)
    reason = answer["item"][0]["adjudication"][0]["reason"]["text"]
    question = kb.policy("bariatric-surgery").facts["diagnoses"].question
    assert question in reason


def test_an_answer_wins_over_the_record(client: TestClient) -> None:
    record = Record(bmis=[("2026-05-01", 41.0)], pregnant=True, diagnoses=["E11.9"])
    assert review_code(submit(client, record.claim_bundle())) == "A3"
    assert review_code(submit(client, record.claim_bundle({"pregnant": False}))) == "A1"


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda b: b.update(resourceType="Parameters"), "Bundle"),
        (lambda b: b["entry"].reverse(), "first entry must be the Claim"),
        (lambda b: b["entry"][0]["resource"].update(use="claim"), "preauthorization"),
        (lambda b: b["entry"][0]["resource"].update(item=[]), "no items"),
    ],
)
def test_pas_errors_are_operation_outcomes(client: TestClient, change: Any, problem: str) -> None:
    bundle = COMPLETE.claim_bundle()
    change(bundle)
    response = client.post("/fhir/Claim/$submit", json=bundle)
    assert response.status_code == 422
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert problem in outcome["issue"][0]["diagnostics"]


# -- every FHIR resource returned, validated twice -----------------------------------


def test_returned_resources_validate_with_fhir_resources_and_fhir_js(client: TestClient) -> None:
    returned: list[dict[str, Any]] = []
    for record in (COMPLETE, LOW_BMI, INCOMPLETE, Record(code="97124")):
        returned += [a["resource"] for a in hook(client, record).get("systemActions", [])]
    returned.append(client.get("/fhir/Questionnaire/bariatric-surgery").json())
    returned.append(client.get("/fhir/Questionnaire/massage-therapy").json())
    for answers in ({"pregnant": False, "diagnoses": ["E11.9"]}, {"pregnant": True}, {}):
        returned.append(submit(client, INCOMPLETE.claim_bundle(answers)))
    returned.append(client.post("/fhir/Claim/$submit", json={"resourceType": "Bundle"}).json())
    returned.append(client.get("/fhir/Questionnaire/none").json())
    for resource in returned:
        r4b(resource)
    results = fhir_js(returned)
    for resource, result in zip(returned, results, strict=True):
        assert result["valid"], (resource["resourceType"], result["messages"])


def test_fhir_js_catches_a_broken_resource() -> None:
    """The validator is not a rubber stamp."""
    broken = {"resourceType": "ClaimResponse", "status": "nonsense", "use": "preauthorization"}
    (result,) = fhir_js([broken])
    assert not result["valid"]


# -- the JSON API --------------------------------------------------------------------

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.mark.parametrize(
    "name", ["denied-no-order.json", "covered-initial.json", "bariatric-bmi-below-35.json"]
)
def test_v1_evaluate_and_why_give_the_cli_contracts(
    client: TestClient, kb: KnowledgeBase, name: str
) -> None:
    document = json.loads((EXAMPLES / name).read_text())
    case = kb.case(document)
    assert client.post("/v1/evaluate", json=document).json() == kb.evaluate(case).to_dict()
    why = client.post("/v1/why", json=document, params={"max_changes": 3}).json()
    assert why == kb.why(case, max_changes=3).to_dict()


def test_v1_why_keeps_facts(client: TestClient, kb: KnowledgeBase) -> None:
    document = json.loads((EXAMPLES / "bariatric-bmi-below-35.json").read_text())
    answer = client.post("/v1/why", json=document, params={"keep": ["bmi"]}).json()
    assert answer == kb.why(kb.case(document), keep=["bmi"]).to_dict()
    assert all(change["fact"] != "bmi" for changes in answer["changes"] for change in changes)
    refused = client.post("/v1/why", json=document, params={"keep": ["colour"]})
    assert refused.status_code == 422 and "colour" in refused.json()["detail"]


def test_v1_check_gives_the_check_report(client: TestClient, kb: KnowledgeBase) -> None:
    report = client.post("/v1/check", json={"policy": "bariatric-surgery"}).json()
    assert report == kb.check(kb.evaluator("bariatric-surgery")).to_dict()


def test_v1_check_takes_the_day_to_check_as_of(client: TestClient, kb: KnowledgeBase) -> None:
    """as_of chooses the version in force and grounds the reference dates, as
    the CLI's --as-of does; a day the policy cannot be checked on is a 422."""
    policy = "colorectal-cancer-screening"
    for day in ("2022-06-15", "2024-06-15"):
        report = client.post("/v1/check", json={"policy": policy, "as_of": day}).json()
        on = date.fromisoformat(day)
        expected = kb.check(kb.evaluator(policy, on), on).to_dict()
        assert report["findings"] == expected["findings"], day
    early = client.post("/v1/check", json={"policy": policy, "as_of": "2001-01-01"})
    assert early.status_code == 422 and "2001-01-01" in early.text
    wrong = client.post("/v1/check", json={"policy": policy, "as_of": "2024-13-01"})
    assert wrong.status_code == 422 and "as_of" in wrong.text


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"policy": "/etc/passwd", "facts": {}}, 404, "unknown policy"),
        ({"policy": "massage-therapy.lp", "facts": {}}, 404, "unknown policy"),
        ({"facts": {"colour": True}}, 422, "colour"),
        ({"facts": {"medicare_member": "yes"}}, 422, "medicare_member"),
        ({"facts": {}, "extra": 1}, 422, "extra"),
        ([1, 2], 422, "body"),
    ],
)
def test_v1_errors_are_problem_json(client: TestClient, body: Any, status: int, words: str) -> None:
    response = client.post("/v1/evaluate", json=body)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status and words in problem["detail"]


def test_malformed_json_is_a_400(client: TestClient) -> None:
    for path in ("/v1/evaluate", "/fhir/Claim/$submit", "/cds-services/policykb-order-sign"):
        response = client.post(
            path, content=b'{"facts": ', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400, path
        assert "JSON" in response.text


def test_policies_lists_versions_and_codes(client: TestClient) -> None:
    listed = {p["name"]: p for p in client.get("/v1/policies").json()["policies"]}
    codes = {c["code"] for c in listed["bariatric-surgery"]["codes"]}
    assert codes == {"43770", "43775", "43644", "43645", "43846", "43847"}
    assert {c["code"] for c in listed["massage-therapy"]["codes"]} == {"97124", "97140"}
    assert len(listed["massage-therapy"]["version"]) == 64


# -- the audit log ---------------------------------------------------------------------


def test_every_decision_is_audited_and_replays(client: TestClient, audit_path: Path) -> None:
    before = audit_path.read_bytes().count(b"\n") if audit_path.exists() else 0
    hook(client, COMPLETE)
    submit(client, INCOMPLETE.claim_bundle({"pregnant": True}))
    client.post("/v1/evaluate", json={"facts": {"medicare_member": True}})
    lines = audit_path.read_bytes().splitlines()
    assert len(lines) == before + 3
    entries = [orjson.loads(line) for line in lines[-3:]]
    assert [e["channel"] for e in entries] == ["order-sign", "pas", "api"]
    crd_entry = entries[0]
    assert crd_entry["verdict"] == "covered" and crd_entry["policy"] == "bariatric-surgery"
    assert len(crd_entry["policy_hash"]) == 64 and len(crd_entry["facts_hash"]) == 64
    assert entries[1]["verdict"] == "not_covered" and entries[1]["criteria"][-1] == "(6)(c)"


def test_replay_reports_entries_that_differ(
    tmp_path: Path, client: TestClient, audit_path: Path
) -> None:
    from typer.testing import CliRunner

    from policykb.cli.main import app

    hook(client, LOW_BMI)
    log = tmp_path / "audit.jsonl"
    lines = audit_path.read_bytes().splitlines()
    tampered = orjson.loads(lines[-1])
    tampered["verdict"] = "covered"
    log.write_bytes(b"\n".join([*lines, orjson.dumps(tampered), b'{"half a line']) + b"\n")
    runner = CliRunner()
    result = runner.invoke(app, ["replay", str(log), "--format", "json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    assert report["entries"] == len(lines) + 2
    differ = {entry["line"]: entry for entry in report["differ"]}
    assert set(differ) == {len(lines) + 1, len(lines) + 2}
    assert differ[len(lines) + 1]["verdict"] == {"then": "covered", "now": "not_covered"}
    assert "not JSON" in differ[len(lines) + 2]["problem"]
    clean = tmp_path / "clean.jsonl"
    clean.write_bytes(b"\n".join(lines) + b"\n")
    assert runner.invoke(app, ["replay", str(clean)]).exit_code == 0


# -- the page's endpoints ---------------------------------------------------------------


def test_vocabulary_gives_types_bounds_defaults_and_criteria(
    client: TestClient, kb: KnowledgeBase
) -> None:
    vocabulary = client.get("/v1/policies/bariatric-surgery").json()
    facts = {fact["name"]: fact for fact in vocabulary["facts"]}
    assert facts["age"]["type"] == "int" and (facts["age"]["min"], facts["age"]["max"]) == (0, 130)
    assert facts["bmi"]["unit"] == "kg/m2"
    assert facts["epsdt"]["default"] is False
    assert facts["diagnoses"]["system"] == "icd10cm"
    assert [o["value"] for o in facts["procedure"]["options"]] == list(
        kb.policy("bariatric-surgery").facts["procedure"].options
    )
    ids = {c["id"] for c in vocabulary["criteria"]}
    assert ids == set(kb.policy("bariatric-surgery").criteria)
    assert client.get("/v1/policies/nope").status_code == 404


def test_case_text_parses_yaml_and_json(client: TestClient) -> None:
    text = (EXAMPLES / "bariatric-needs-bmi.yaml").read_text()
    parsed = client.post("/v1/cases/parse", json={"text": text}).json()
    assert parsed["policy"] == "bariatric-surgery" and "bmi" not in parsed["facts"]
    bad = client.post("/v1/cases/parse", json={"text": "facts: {age: [1, 2"})
    assert bad.status_code == 422 and bad.json()["detail"].startswith("case:1:19: malformed YAML")


def test_v1_why_and_notice_give_the_earliest_covered_date_of_service(
    client: TestClient, kb: KnowledgeBase
) -> None:
    """What the page words its covered-from line and button from."""
    document = json.loads((EXAMPLES / "defibrillator-mi-waiting-period.json").read_text())
    why = client.post("/v1/why", json=document, params={"max_changes": 2}).json()
    assert why == kb.why(kb.case(document), max_changes=2).to_dict()
    assert why["covered_from"] == "2024-06-01"
    assert why["covered_from_words"].startswith("2024-06-01: the earliest date of service")
    notice = client.post("/v1/notice", json=document).json()["markdown"]
    assert "## Earliest date of service covered\n\n- 2024-06-01: the earliest" in notice


def test_notice_and_prove(client: TestClient) -> None:
    document = json.loads((EXAMPLES / "denied-no-order.json").read_text())
    notice = client.post("/v1/notice", json=document).json()
    assert notice["markdown"].startswith("# Notice of adverse benefit determination")
    proof = client.post("/v1/prove", json=document).json()
    assert proof["verdict"] == "not_covered" and proof["proof"]["root"]["goal"] == "covered"


def test_reports_name_policies_not_server_paths(tmp_path: Path) -> None:
    versions = Path(__file__).parents[1] / "fixtures" / "check" / "diff"
    app = create_app(ServiceSettings(kb_dirs=(str(versions),)))
    with TestClient(app) as local:
        report = local.post("/v1/diff", json={"old": "v1", "new": "v2"}).json()
        assert (report["old"], report["new"]) == ("v1", "v2") and report["changes"]
        checked = local.post("/v1/check", json={"policy": "v1"}).json()
        text = json.dumps([report, checked])
        assert str(versions.parent) not in text and str(Path.home()) not in text


def test_massage_reads_medicare_membership_from_the_coverage(
    client: TestClient, audit_path: Path
) -> None:
    """The payer type in the Source of Payment Typology: 1xx is Medicare."""
    for code, member in (("121", True), ("511", False)):
        request = Record(code="97124").hook()
        coverage = request["prefetch"]["coverage"]["entry"][0]["resource"]
        coverage["type"] = {"coding": [{"system": "https://nahdo.org/sopt", "code": code}]}
        answer = client.post("/cds-services/policykb-order-sign", json=request).json()
        assert "systemActions" in answer
        entry = orjson.loads(audit_path.read_bytes().splitlines()[-1])
        assert entry["policy"] == "massage-therapy"
        assert entry["facts"]["medicare_member"] is member
        assert entry["facts"]["cpt_code"] == "97124"


def test_each_request_is_decided_by_the_version_in_force_on_its_date(tmp_path: Path) -> None:
    """CRD takes the order's date of service (occurrence, else authoredOn), the
    JSON API the case's date_of_service; the audit entry keeps the date, so
    replay decides under the same version."""
    from typer.testing import CliRunner

    from policykb.cli.main import app as cli
    from policykb.service.audit_replay import replay
    from policykb.service.decisions import Decisions
    from tests.kb.test_versions import versioned_kb

    kb = versioned_kb(tmp_path / "kb")
    log = tmp_path / "audit.jsonl"
    knowledge = KnowledgeBase([kb])
    hashes = {
        v.policy.version.effective.isoformat(): v.policy.version.hash
        for v in knowledge.versions("massage-therapy")
    }  # type: ignore[union-attr]
    service = create_app(ServiceSettings(kb_dirs=(str(kb),), audit=str(log), audit_sync=False))
    with TestClient(service) as local:
        for day, effective in (("2026-12-31", "2007-06-21"), ("2027-01-01", "2027-01-01")):
            order = Record(code="97124", authored="2026-01-05").order()
            order["occurrenceDateTime"] = f"{day}T09:30:00Z"
            request = Record(code="97124").hook(orders=[order])
            assert (
                "systemActions"
                in local.post("/cds-services/policykb-order-sign", json=request).json()
            )
            entry = orjson.loads(log.read_bytes().splitlines()[-1])
            assert (entry["date_of_service"], entry["policy_hash"]) == (day, hashes[effective])
        answer = local.post(
            "/v1/evaluate",
            json={"policy": "massage-therapy", "facts": {"date_of_service": "2030-01-01"}},
        ).json()
        assert answer["version"]["effective"] == "2027-01-01"
        early = local.post(
            "/v1/evaluate",
            json={"policy": "massage-therapy", "facts": {"date_of_service": "2001-01-01"}},
        )
        assert early.status_code == 422
        assert (
            "no version of policy 'massage-therapy' is in force on 2001-01-01"
            in early.json()["detail"]
        )
    replayed = list(replay(log, Decisions(KnowledgeBase([kb]), compile_now=False)))
    assert len(replayed) == 3 and not any(r.differs or r.policy_changed for r in replayed)
    assert CliRunner().invoke(cli, ["replay", str(log), "--kb", str(kb)]).exit_code == 0
