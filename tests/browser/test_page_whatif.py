"""The page's what-if buttons word each change as the CLI does, from the JSON API's words."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.result import value_words
from tests.browser.test_page import base_url, browser, open_policy, page, settled  # noqa: F401

BELOW_35 = {
    "age": 42,
    "procedure": "sleeve_gastrectomy",
    "bmi": 34.9,
    "pregnant": False,
    "diagnoses": ["E11.9"],
}


def test_a_range_change_reads_as_the_cli_words_it(
    page: Page,  # noqa: F811
    base_url: str,  # noqa: F811
    kb: KnowledgeBase,
) -> None:
    open_policy(page, base_url, "bariatric-surgery", BELOW_35)
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")
    settled(page)
    expect(page.locator("#whatif")).not_to_have_attribute("aria-busy", "true")
    answer = kb.why(kb.case({"policy": "bariatric-surgery", "facts": BELOW_35}))
    cli = [
        ", ".join(f"{c.fact} = {value_words(c.value)}" for c in changes)
        for changes in answer.changes
    ]
    assert "bmi = 35 or more kg/m2" in cli
    buttons = page.locator("#whatif button.whatif")
    expect(buttons).to_have_count(len(cli))
    shown = buttons.all_inner_texts()
    assert shown == [f"Make it covered: {words}" for words in cli]
    assert not any("{" in text for text in shown), "no raw JSON in a what-if"


def test_a_denial_in_a_waiting_period_moves_to_its_covered_from_date(
    page: Page,  # noqa: F811
    base_url: str,  # noqa: F811
) -> None:
    """The line states the earliest covered date of service, and its button
    moves the case there: the verdict becomes covered."""
    import json
    from pathlib import Path

    example = Path(__file__).parents[2] / "examples" / "defibrillator-mi-waiting-period.json"
    facts = json.loads(example.read_text())["facts"]
    open_policy(page, base_url, "implantable-defibrillators", facts)
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "not_covered")
    line = page.locator("#covered-from")
    expect(line).to_contain_text("Earliest date of service covered: 2024-06-01: the earliest")
    line.locator("button").click()
    expect(page.locator("#verdict [data-verdict]")).to_have_attribute("data-verdict", "covered")
    expect(page.locator("#covered-from")).to_have_count(0)
