"""The catalogue as a whole: `policykb policies` by payer, `check --all`'s
cross-policy checks (codes two policies claim, facts two policies share),
the router's precedence, and reading/2 and precedence/2 declarations.

The fixture pair (tests/fixtures/catalogue) is clean as it is; each conflict
is made by copying it and editing one declaration."""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from policykb.bridge import KnowledgeBase
from policykb.bridge.analysis.catalogue import catalogue_conflicts, routing_order
from policykb.bridge.model.errors import PolicyError
from policykb.cli.main import app
from policykb.explain.listing import UNDECLARED_PAYER
from policykb.service.app import create_app
from policykb.service.routing import Router
from policykb.service.settings import ServiceSettings
from tests.audited_service import AuditedService, audited_service, set_payer_type
from tests.fhir_records import Record

FIXTURES = Path(__file__).parents[1] / "fixtures"
PAIR = FIXTURES / "catalogue"
OWN_KB = FIXTURES / "kb" / "physio-visits"  # declares no payer
AS_OF = "2024-06-01"
runner = CliRunner()


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_policies_lists_every_policy_by_payer_with_its_source() -> None:
    code, out, _ = invoke("policies", "--kb", str(PAIR), "--kb", str(OWN_KB), "-f", "json")
    assert code == 0
    rows = json.loads(out)
    payers = [row["payer"] for row in rows]
    # grouped: each payer's policies together, payers by name, undeclared last
    named = [p for p in payers if p is not None]
    assert named == sorted(named, key=str.casefold) and payers[-1] is None
    assert len({p for p in payers}) == len([k for k, _ in _runs(payers)])
    by_name = {row["name"]: row for row in rows}
    assert by_name["federal-sleeve"]["url"] == "https://example.org/federal-sleeve"
    assert by_name["state-sleeve"]["citation"] == "Fixture rule 1"
    assert by_name["physio-visits"]["payer"] is None
    medicare = [row["name"] for row in rows if row["payer"] == "Medicare"]
    assert {"bariatric-surgery-medicare", "home-oxygen", "implantable-defibrillators"} <= set(
        medicare
    )
    ncd = by_name["bariatric-surgery-medicare"]
    assert ncd["url"].startswith("https://www.cms.gov/medicare-coverage-database/")
    assert [v["effective"] for v in ncd["versions"]] == [
        "2006-02-21",
        "2009-02-12",
        "2012-06-27",
        "2013-09-24",
    ]
    assert ncd["versions"][0]["in_force"] == {"from": "2006-02-21", "until": "2009-02-11"}
    # every bundled policy declares its payer and an address or a citation
    for row in rows:
        if row["folder"].startswith(str(FIXTURES)):
            continue
        assert row["payer"] and (row["url"] or row["citation"]), row["name"]
    code, text, _ = invoke("policies", "--kb", str(PAIR), "--kb", str(OWN_KB))
    assert code == 0
    headings = [line for line in text.splitlines() if line and not line.startswith(" ")]
    assert headings == [p or UNDECLARED_PAYER for p, _ in _runs(payers)]
    assert "  policy-2006.lp\tin force 2006-02-21 to 2009-02-11\tsha256 " in text


def _runs(values: list[Any]) -> list[tuple[Any, int]]:
    from itertools import groupby

    return [(key, len(list(group))) for key, group in groupby(values)]


def test_policies_with_a_missing_kb_is_one_line(tmp_path: Path) -> None:
    code, _, err = invoke("policies", "--kb", str(tmp_path / "missing"))
    assert code == 1 and len(err.strip().splitlines()) == 1 and "missing" in err


def test_check_all_passes_a_pair_told_apart_by_precedence() -> None:
    # The text report is read in test_check_all_reports_a_conflict_and_exits_1
    # (each check --all checks every bundled policy: one run per format).
    code, out, _ = invoke("check", "--all", "--kb", str(PAIR), "--as-of", AS_OF, "-f", "json")
    assert code == 0, out
    report = json.loads(out)
    assert report["catalogue"] == []
    checked = {r["policy"] for r in report["policies"]}
    assert {"federal-sleeve", "state-sleeve", "home-oxygen"} <= checked


@pytest.mark.parametrize("option", [["--policy", "state-sleeve"], ["--export", "out"]])
def test_check_all_refuses_one_policy_options(option: list[str]) -> None:
    code, _, err = invoke("check", "--all", *option, "--kb", str(PAIR))
    assert code == 2 and err.count("\n") == 1 and "--all" in err


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def _line(path: Path, pattern: str) -> str:
    """FILE:LINE of the first line matching `pattern`."""
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if re.search(pattern, line):
            return f"{path}:{number}"
    raise AssertionError(pattern)


FEDERAL = Path("federal-sleeve/policy.lp")
STATE = Path("state-sleeve/policy.lp")

Edit = Callable[[Path], None]


def _no_precedence(kb: Path) -> None:
    _edit(kb / FEDERAL, 'precedence("state-sleeve"', '% precedence("state-sleeve"')


def _unconditional(kb: Path) -> None:
    _edit(kb / FEDERAL, 'applicable_code_when(cpt, "43659"', '% applicable_code_when(cpt, "43659"')


def _both_ways(kb: Path) -> None:
    (kb / STATE).write_text(
        (kb / STATE).read_text() + 'precedence("federal-sleeve", "The state pays first.").\n'
    )


def _other_unit(kb: Path) -> None:
    _edit(kb / STATE, 'unit(bmi, "kg/m2")', 'unit(bmi, "kg/m^2")')


def _other_type(kb: Path) -> None:
    _edit(kb / STATE, "fact(bmi, decimal)", "fact(bmi, int)")


# (edit, kind, the pair, the declaration of each policy the message names)
CONFLICTS: dict[str, tuple[Edit, str, tuple[str, str], tuple[tuple[Path, str], ...]]] = {
    "no precedence": (
        _no_precedence,
        "code",
        ("federal-sleeve", "state-sleeve"),
        ((FEDERAL, r"^applicable_code\(cpt"), (STATE, r"^applicable_code\(cpt")),
    ),
    "unconditional": (
        _unconditional,
        "precedence",
        ("federal-sleeve", "state-sleeve"),
        ((FEDERAL, r"^applicable_code\(cpt"), (FEDERAL, r"^precedence\(")),
    ),
    "both ways": (
        _both_ways,
        "precedence",
        ("federal-sleeve", "state-sleeve"),
        ((FEDERAL, r"^precedence\("), (STATE, r"^precedence\(")),
    ),
    "other unit": (
        _other_unit,
        "fact",
        ("federal-sleeve", "state-sleeve"),
        ((FEDERAL, r"^fact\(bmi"), (STATE, r"^fact\(bmi")),
    ),
    "other type": (
        _other_type,
        "fact",
        ("federal-sleeve", "state-sleeve"),
        ((FEDERAL, r"^fact\(bmi"), (STATE, r"^fact\(bmi")),
    ),
}


@pytest.fixture
def pair(tmp_path: Path) -> Path:
    kb = tmp_path / "kb"
    shutil.copytree(PAIR, kb)
    return kb


PAIR_NAMES = {"federal-sleeve", "state-sleeve"}


def _pair_conflicts(kb: Path) -> list[Any]:
    """The conflicts among the pair. A conflict is between two policies, so
    the pair's are found on a catalogue of the pair alone (the bundled
    policies, which share bmi too, are left out: loading them is most of
    the time). check --all over every policy is tested above and below."""
    knowledge = KnowledgeBase([kb])
    catalogue = {n: [e.policy for e in knowledge.versions(n)] for n in sorted(PAIR_NAMES)}
    return catalogue_conflicts(catalogue)


@pytest.mark.parametrize("name", list(CONFLICTS))
def test_each_conflict_is_one_line_naming_both_policies_files_and_lines(
    pair: Path, name: str
) -> None:
    edit, kind, policies, declarations = CONFLICTS[name]
    assert _pair_conflicts(pair) == []
    edit(pair)
    conflicts = _pair_conflicts(pair)
    assert [(c.kind.value, tuple(sorted(c.policies))) for c in conflicts] == [(kind, policies)]
    message = conflicts[0].message
    assert "\n" not in message
    for policy in policies:
        assert policy in message
    resolved = pair.resolve()
    for path, pattern in declarations:
        assert _line(resolved / path, pattern) in message, (message, path, pattern)
    # The service refuses to start on it, with the same line.
    knowledge = KnowledgeBase([pair])
    with pytest.raises(PolicyError) as refused:
        Router(knowledge.policy(p) for p in sorted(PAIR_NAMES))
    assert str(refused.value) == message


def test_check_all_reports_a_conflict_and_exits_1(pair: Path) -> None:
    _no_precedence(pair)
    code, out, _ = invoke("check", "--all", "--kb", str(pair), "--as-of", AS_OF)
    assert code == 1, out
    assert "check the catalogue: 1 conflict(s)" in out, out
    assert "check federal-sleeve: 0 warning(s), 1 acknowledged" in out
    [line] = [line for line in out.splitlines() if "is claimed by both" in line]
    assert "federal-sleeve" in line and "state-sleeve" in line


def test_versions_of_one_policy_may_claim_one_code() -> None:
    knowledge = KnowledgeBase()
    catalogue = {n: [e.policy for e in knowledge.versions(n)] for n in knowledge.policy_names()}
    assert len(catalogue["bariatric-surgery-medicare"]) == 4  # each version claims its codes
    assert catalogue_conflicts(catalogue) == []


def test_routing_order_puts_a_policy_before_those_it_takes_precedence_over() -> None:
    knowledge = KnowledgeBase([PAIR])
    policies = {n: knowledge.policy(n) for n in ("federal-sleeve", "state-sleeve")}
    assert routing_order(["state-sleeve", "federal-sleeve"], policies) == [
        "federal-sleeve",
        "state-sleeve",
    ]


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AuditedService]:
    with audited_service(tmp_path_factory.mktemp("audit"), (str(PAIR),)) as service:
        yield service


@pytest.mark.parametrize(
    ("payer_type", "policy"),
    [
        ("1", "federal-sleeve"),  # the record shows a federal member: the preceding policy
        ("21", "state-sleeve"),  # the record shows another payer
        (None, "state-sleeve"),  # the record does not say: not the conditional claim
    ],
)
def test_a_shared_code_routes_by_precedence_and_the_record(
    client: AuditedService, payer_type: str | None, policy: str
) -> None:
    request = Record(code="43659", bmis=[("2026-05-01", 41.0)]).hook()
    set_payer_type(request, payer_type)
    assert "systemActions" in client.order_sign(request)
    assert client.last_entry()["policy"] == policy


@pytest.mark.parametrize(
    ("declaration", "problem"),
    [
        ('reading("Z9", "Reading: none.").', 'reading("Z9", ...) names no declared criterion'),
        ('reading(no_such_fact, "Reading: none.").', "names no declared fact no_such_fact"),
        ('reading("S1", "").', "the reading is a quoted text"),
        ('precedence("state-sleeve", "itself").', "names this policy itself"),
        ('precedence(state_sleeve, "why").', 'write precedence("policy-name", "why")'),
    ],
)
def test_a_wrong_declaration_is_named_by_file_and_line(
    pair: Path, declaration: str, problem: str
) -> None:
    path = pair / STATE
    path.write_text(path.read_text() + declaration + "\n")
    code, _, err = invoke("show", "state-sleeve", "--kb", str(pair))
    assert code == 1 and err.count("\n") == 1, err
    assert problem in err
    assert f"{path.name}:{len(path.read_text().splitlines())}" in err


def test_readings_are_read_by_subject() -> None:
    knowledge = KnowledgeBase([PAIR])
    federal = knowledge.policy("federal-sleeve")
    assert federal.readings_of("*") == ["The program decides only for its members."]
    assert federal.readings_of("bmi") == ["The latest measured BMI."]
    assert knowledge.policy("state-sleeve").readings_of("S1") == ["40 itself meets it."]


ROOT = Path(__file__).resolve().parents[2]


def test_docs_policies_is_generated_and_current() -> None:
    from policykb.explain.policies_page import bundled_page

    page = bundled_page()
    assert (ROOT / "docs" / "policies.md").read_text() == page, (
        "docs/policies.md is stale: run `make docs-policies`"
    )
    assert str(ROOT) not in page and "/work/" not in page  # no path of this machine


def test_docs_policies_shows_every_criterion_fact_and_reading() -> None:
    from policykb.explain.escape import markdown_safe
    from policykb.explain.policies_page import policies_page

    knowledge = KnowledgeBase([PAIR])
    page = policies_page(knowledge, ROOT / "kb")
    for name in knowledge.policy_names():
        versions = [e.policy for e in knowledge.versions(name)]
        assert f"\n## {name}\n" in page
        latest = versions[-1]
        for criterion in latest.criteria.values():
            assert f"**{markdown_safe(criterion.id)}**" in page, (name, criterion.id)
        for fact in latest.facts:
            history = latest.history_of(fact)
            if history is None:
                assert f"| `{fact}` |" in page, (name, fact)
            else:  # a record class's boolean fact: the history is listed once instead
                assert f"| `{fact}` |" not in page, (name, fact)
                assert f"History `{history.name}`: " in page, (name, history.name)
        for history in latest.histories.values():
            for field in history.fields:
                assert f"| `{field}` |" in page, (name, history.name, field)
            for condition in history.conditions.values():
                line = f"- `{condition.name}`: {markdown_safe(condition.text)}"
                assert line in page, (name, condition.name)
        for version in versions:
            for reading in version.readings:
                assert f"*Reading:* {markdown_safe(reading.text)}" in page, (name, reading)
    # a fixture's reading of its fact stands under that fact, its reading of
    # the whole policy under the policy's own heading
    federal = page[page.index("\n## federal-sleeve\n") :]
    federal = federal[: federal.index("\n## ", 1)]
    facts = federal[federal.index("Readings of the facts:") :]
    assert facts.index("- `bmi`") < facts.index("*Reading:* The latest measured BMI.")
    whole = federal[federal.index("### Readings made for the whole policy") :]
    assert "*Reading:* The program decides only for its members." in whole


def test_serve_policy_serves_only_the_named_policies() -> None:
    settings = ServiceSettings(policies=("home-oxygen", "bariatric-surgery"))
    with TestClient(create_app(settings)) as test:
        listed = [p["name"] for p in test.get("/v1/policies").json()["policies"]]
        assert listed == ["bariatric-surgery", "home-oxygen"]
        answer = test.post("/v1/evaluate", json={"policy": "massage-therapy", "facts": {}})
        assert answer.status_code == 404 and "massage-therapy" in answer.text
    with pytest.raises(PolicyError, match=r"--policy 'nope': no such policy \(known policies: "):
        create_app(ServiceSettings(policies=("nope",)))


def test_the_listed_payer_reaches_the_page_api() -> None:
    with TestClient(create_app(ServiceSettings(kb_dirs=(str(PAIR),)))) as test:
        listed = {p["name"]: p["payer"] for p in test.get("/v1/policies").json()["policies"]}
    assert listed["federal-sleeve"] == "Example Federal Program"
    assert listed["home-oxygen"] == "Medicare"
