"""The page's policy menus group the policies by payer, as `policykb policies` does."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from policykb.bridge import KnowledgeBase
from policykb.explain.listing import UNDECLARED_PAYER, by_payer, policy_row
from tests.browser.test_page import (  # noqa: F401
    VERSIONS,
    base_url,
    browser,
    held,
    page,
)


def expected_menu() -> list[tuple[str, list[str]]]:
    """(payer, policy names) in menu order, from the policies in force today."""
    knowledge = KnowledgeBase([VERSIONS])
    rows = [policy_row(name, [knowledge.policy(name)], "") for name in knowledge.policy_names()]
    return [(payer, [row["name"] for row in group]) for payer, group in by_payer(rows)]


def shown_menu(opened: Page, menu: str) -> list[tuple[str, list[str]]]:
    groups = opened.locator(f"#{menu} optgroup").evaluate_all(
        "groups => groups.map(g => [g.label, [...g.querySelectorAll('option')].map(o => o.value)])"
    )
    return [(label, list(names)) for label, names in groups]


def test_the_policy_menus_group_the_policies_by_payer(
    page: Page,  # noqa: F811
    base_url: str,  # noqa: F811
) -> None:
    expected = expected_menu()
    payers = [payer for payer, _ in expected]
    # The bundled Medicare policies share one group; the fixture policies,
    # which declare no payer, come last.
    assert "Medicare" in payers and payers[-1] == UNDECLARED_PAYER
    assert len(payers) == len(set(payers))
    # The menu is filled from /v1/policies before any policy opens: hold the
    # opening policy's vocabulary, so the grouping is seen before the form.
    with held(page, "**/v1/policies/*"):
        page.goto(f"{base_url}/#policy=home-oxygen")
        expect(page.locator("#policy optgroup")).to_have_count(len(expected))
        for menu in ("policy", "diff-old", "diff-new"):
            assert shown_menu(page, menu) == expected, menu
        expect(page.locator("body")).not_to_have_attribute("data-ready", "true")
    page.wait_for_selector("body[data-ready=true]")
    expect(page.locator("#policy")).to_have_value("home-oxygen")
    chosen = page.locator("#policy option:checked").evaluate("o => o.parentElement.label")
    assert chosen == "Medicare"
