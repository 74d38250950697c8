"""The analyst's page in a real headless Chromium (Debian's, driven by Playwright).

The service runs on a loopback port with the bundled policies and two
versions of a small policy (for the diff view). Screenshots of the main
views are taken every run; with POLICYKB_UPDATE_SCREENSHOTS=1 they replace
the ones under docs/images/ that the documentation shows.
"""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, Page, Route, expect, sync_playwright

from policykb.bridge import KnowledgeBase
from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("POLICYKB_CHROMIUM", "/usr/bin/chromium")
AXE = ROOT / "tests" / "js" / "node_modules" / "axe-core" / "axe.min.js"
VERSIONS = ROOT / "tests" / "fixtures" / "check" / "diff"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DENIED = {"medicare_member": False, "ordered_by_treating_physician": False, "terminally_ill": False}


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app = create_app(ServiceSettings(kb_dirs=(str(VERSIONS),)))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        assert time.time() < deadline, "the service did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    assert Path(CHROMIUM).exists(), f"Chromium not found at {CHROMIUM} (make test installs it)"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 900}, bypass_csp=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def shots() -> Path:
    if os.environ.get("POLICYKB_UPDATE_SCREENSHOTS"):
        folder = ROOT / "docs" / "images"
        folder.mkdir(exist_ok=True)
        return folder
    return Path(tempfile.mkdtemp(prefix="policykb-shots-"))


def open_policy(
    page: Page, base_url: str, policy: str, facts: dict[str, Any] | None = None
) -> None:
    fragment = f"#policy={policy}"
    if facts:
        from urllib.parse import quote

        fragment += f"&facts={quote(json.dumps(facts))}"
    page.goto(f"{base_url}/{fragment}")
    page.wait_for_selector("body[data-ready=true]")


def answer(page: Page, fact: str, value: str) -> None:
    """Answer a boolean question in the case form, as a user would."""
    page.locator(f"#case-form [data-fact={fact}] label", has_text=value).first.click()


def settled(page: Page) -> None:
    page.wait_for_load_state("networkidle")


def test_a_denied_case_cites_the_criteria_and_a_what_if_covers_it(
    page: Page, base_url: str, kb: KnowledgeBase, shots: Path
) -> None:
    open_policy(page, base_url, "massage-therapy")
    answer(page, "medicare_member", "no")
    answer(page, "ordered_by_treating_physician", "no")
    answer(page, "terminally_ill", "no")
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")
    settled(page)
    expected = kb.evaluate({"policy": "massage-therapy", "facts": DENIED})
    cited = [item.criterion for item in expected.explanation]
    expect(page.locator("#explanation li")).to_have_count(len(cited))
    assert (
        page.locator("#explanation li").evaluate_all("items => items.map(i => i.dataset.criterion)")
        == cited
    )
    for item in expected.explanation:
        expect(page.locator("#explanation")).to_contain_text(item.text)
    # The criteria tree shows each status the evaluation gives.
    for criterion, status in expected.criteria.items():
        node = page.locator(f"#criteria details[data-criterion='{criterion}']")
        expect(node).to_have_attribute("data-status", status)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(shots / "page-denied.png"), full_page=False)
    expect(page.locator("#answer-section")).not_to_contain_text("null")
    expect(page.locator("#answer-section")).not_to_contain_text("undefined")
    # A what-if change applied from its button makes the case covered.
    expect(page.locator("#whatif")).not_to_have_attribute("aria-busy", "true")
    page.locator("#whatif button.whatif").first.click()
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "covered")


def test_the_proof_opens_as_a_tree(page: Page, base_url: str, shots: Path) -> None:
    open_policy(page, base_url, "massage-therapy", DENIED)
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")
    page.click("#show-proof")
    expect(page.locator("#proof")).to_be_visible()
    expect(page.locator("#proof")).to_contain_text("SWI-Prolog's verdict: Not covered")
    expect(page.locator("#proof [data-goal='covered']")).to_have_count(1)
    assert page.locator("#proof details").count() > 3
    expect(page.locator("#show-proof")).to_have_attribute("aria-expanded", "true")
    page.locator("#proof").scroll_into_view_if_needed()
    page.screenshot(path=str(shots / "page-proof.png"), full_page=False)


def test_a_check_witness_opens_in_the_form(
    page: Page, base_url: str, kb: KnowledgeBase, shots: Path
) -> None:
    open_policy(page, base_url, "bariatric-surgery")
    page.click("#run-check")
    expect(page.locator("#findings h3")).to_contain_text("Check of bariatric-surgery")
    report = kb.check(kb.evaluator("bariatric-surgery")).to_dict()
    with_witness = [f for f in report["findings"] if f["witness"]]
    assert with_witness, "the bundled policy's check has findings with witnesses"
    page.locator("#findings button.witness").first.click()
    settled(page)
    expect(page.locator("#status")).to_contain_text("Opened the witness")
    witness = with_witness[0]["witness"]["facts"]
    state = json.loads(page.evaluate("new URLSearchParams(location.hash.slice(1)).get('facts')"))
    assert state == witness
    expected = kb.evaluate({"policy": "bariatric-surgery", "facts": witness}).verdict.value
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", expected)
    page.click("#run-check")
    expect(page.locator("#findings h3")).to_be_visible()
    page.locator("#findings").screenshot(path=str(shots / "page-check.png"))


def test_the_diff_view_opens_a_region_witness(page: Page, base_url: str, kb: KnowledgeBase) -> None:
    open_policy(page, base_url, "v1")
    page.select_option("#diff-old", "v1")
    page.select_option("#diff-new", "v2")
    page.click("#run-diff")
    expect(page.locator("#findings h3")).to_contain_text("Differences from v1 to v2")
    page.locator("#findings button.witness").first.click()
    settled(page)
    expect(page.locator("#policy")).to_have_value("v2")
    facts = json.loads(
        page.evaluate("new URLSearchParams(location.hash.slice(1)).get('facts')") or "{}"
    )
    expected = KnowledgeBase([VERSIONS]).evaluate({"policy": "v2", "facts": facts}).verdict.value
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", expected)


def test_a_case_round_trips_through_the_url(page: Page, base_url: str, browser: Browser) -> None:
    open_policy(page, base_url, "bariatric-surgery")
    page.fill("#fact-age", "42")
    page.fill("#fact-bmi", "34.9")
    page.select_option("#fact-procedure", "sleeve_gastrectomy")
    page.fill("#fact-diagnoses", "E11.9, M17.11")
    answer(page, "pregnant", "no")
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")
    settled(page)
    link = page.url
    other = browser.new_page()
    other.goto(link)
    other.wait_for_selector("body[data-ready=true]")
    expect(other.locator("#fact-age")).to_have_value("42")
    expect(other.locator("#fact-bmi")).to_have_value("34.9")
    expect(other.locator("#fact-procedure")).to_have_value("sleeve_gastrectomy")
    expect(other.locator("#fact-diagnoses")).to_have_value("E11.9, M17.11")
    expect(other.locator("#fact-pregnant-no")).to_be_checked()
    expect(other.locator("#verdict [data-verdict]")).to_have_attribute(
        "data-verdict", "not_covered"
    )
    other.close()


def test_missing_facts_are_answered_in_place_and_cases_load_from_yaml(
    page: Page, base_url: str
) -> None:
    open_policy(page, base_url, "bariatric-surgery")
    page.click("#paste-toggle")
    yaml_case = (ROOT / "examples" / "bariatric-needs-bmi.yaml").read_text()
    page.fill("#paste-text", yaml_case)
    page.click("#paste-load")
    # Loaded once the page says so: before, the empty case's answer is still
    # shown, and an answer typed then would be replaced by the loaded case.
    expect(page.locator("#status")).to_contain_text("Loaded case bariatric-needs-bmi")
    expect(page.locator("#fact-age")).to_have_value("35")
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute(
        "data-verdict", "needs_information"
    )
    expect(page.locator("#missing [data-fact=bmi]")).to_be_visible()
    page.fill("#missing-bmi", "41")
    expect(page.locator("#verdict [data-verdict]")).not_to_have_attribute(
        "data-verdict", "needs_information"
    )
    expect(page.locator("#fact-bmi")).to_have_value("41")


def test_the_keyboard_alone_answers_a_question(page: Page, base_url: str) -> None:
    open_policy(
        page,
        base_url,
        "massage-therapy",
        {"medicare_member": False, "ordered_by_treating_physician": False},
    )
    page.focus("#fact-terminally_ill-unknown")
    page.keyboard.press("ArrowLeft")  # from "unknown" to "no" in the radio group
    expect(page.locator("#fact-terminally_ill-no")).to_be_checked()
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")


def test_the_notice_renders_and_errors_show_in_one_line(page: Page, base_url: str) -> None:
    open_policy(page, base_url, "massage-therapy", DENIED)
    page.click("#show-notice")
    expect(page.locator("#notice-text")).to_contain_text("Notice of adverse benefit determination")
    open_policy(page, base_url, "bariatric-surgery")
    page.fill("#fact-bmi", "900")  # beyond the fact's bounds
    expect(page.locator("#status")).to_have_class("error")


@contextmanager
def held(page: Page, pattern: str) -> Iterator[None]:
    """Holds the page's requests matching `pattern` until the block ends, then lets them through."""
    routes: list[Route] = []

    def hold(route: Route) -> None:
        routes.append(route)

    page.route(pattern, hold)
    try:
        yield
    finally:
        for route in routes:
            route.continue_()
        page.unroute(pattern, hold)


def test_a_link_to_another_policy_with_the_same_facts_opens_it(page: Page, base_url: str) -> None:
    open_policy(page, base_url, "massage-therapy")
    with held(page, "**/v1/why*"):
        page.goto(f"{base_url}/#policy=bariatric-surgery")  # same empty case, another policy
        expect(page.locator("#policy")).to_have_value("bariatric-surgery")
        expect(page.locator("#fact-bmi")).to_be_visible()
        expect(page.locator("#whatif")).to_have_attribute("aria-busy", "true")
        page.goto(f"{base_url}/#policy=no-such-policy")
        expect(page.locator("#status")).to_have_class("error")
    # the what-if answer for the policy opened before the error arrives after it
    expect(page.locator("#whatif")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#status")).to_have_class("error")
    expect(page.locator("#status")).to_contain_text("no-such-policy was not opened")
    expect(page.locator("#policy")).to_have_value("bariatric-surgery")


def test_an_error_about_a_field_outlives_an_answer_asked_before_it(
    page: Page, base_url: str
) -> None:
    open_policy(page, base_url, "bariatric-surgery")
    with held(page, "**/v1/why*"):
        page.fill("#fact-age", "30")
        expect(page.locator("#whatif")).to_have_attribute("aria-busy", "true")
        page.fill("#fact-bmi", "900")  # beyond the fact's bounds, refused by the browser
        expect(page.locator("#status")).to_have_class("error")
    expect(page.locator("#whatif")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator("#status")).to_have_class("error")
    page.fill("#fact-bmi", "41")
    expect(page.locator("#status")).not_to_have_class("error")


@pytest.mark.parametrize(
    ("button", "panel", "request_"),
    [("#show-proof", "#proof", "prove"), ("#show-notice", "#notice", "notice")],
    ids=["proof", "notice"],
)
def test_a_proof_or_notice_asked_as_the_case_changes_is_of_the_changed_case(
    page: Page, base_url: str, button: str, panel: str, request_: str
) -> None:
    open_policy(page, base_url, "massage-therapy", DENIED)
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")
    asked: list[Any] = []
    page.on(
        "request", lambda r: asked.append(r.post_data_json) if f"/v1/{request_}" in r.url else None
    )
    with held(page, f"**/v1/{request_}"):
        page.click(button)
        answer(page, "ordered_by_treating_physician", "yes")  # the case changes meanwhile
        expect(page.locator("#whatif")).not_to_have_attribute("aria-busy", "true")
    expect(page.locator(panel)).to_be_visible()
    expect(page.locator(button)).to_have_attribute("aria-expanded", "true")
    settled(page)
    assert [document["facts"]["ordered_by_treating_physician"] for document in asked] == [
        False,
        True,
    ]
    expect(page.locator("#status")).not_to_contain_text("Proving")


def test_an_error_said_while_a_check_runs_outlives_the_check(page: Page, base_url: str) -> None:
    open_policy(page, base_url, "bariatric-surgery")
    with held(page, "**/v1/check"):
        page.click("#run-check")
        expect(page.locator("#status")).to_contain_text("Checking the policy")
        page.fill("#fact-bmi", "900")
        expect(page.locator("#status")).to_have_class("error")
    expect(page.locator("#findings h3")).to_contain_text("Check of bariatric-surgery")
    expect(page.locator("#status")).to_have_class("error")
    expect(page.locator("#status")).to_contain_text("bmi")


@pytest.mark.parametrize(
    "view", ["massage-therapy", "bariatric-surgery-proof", "bariatric-surgery-check"]
)
def test_no_serious_accessibility_violations(page: Page, base_url: str, view: str) -> None:
    policy = view.removesuffix("-proof").removesuffix("-check")
    open_policy(page, base_url, policy, DENIED if policy == "massage-therapy" else {"age": 30})
    if view.endswith("-proof"):
        page.click("#show-proof")
        expect(page.locator("#proof")).to_be_visible()
    if view.endswith("-check"):
        page.click("#run-check")
        expect(page.locator("#findings h3")).to_be_visible()
    settled(page)
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        "axe.run(document, {runOnly: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']})"
    )
    serious = [v for v in results["violations"] if v["impact"] in ("serious", "critical")]
    assert not serious, [
        (v["id"], v["help"], [n["target"] for n in v["nodes"][:3]]) for v in serious
    ]
