"""The analyst's page: how long a changed fact takes to show its verdict.

In Debian's Chromium (headless, driven by Playwright) against `policykb serve`
on loopback: a yes/no answer of the massage policy is flipped 40 times; each
time, from the click to the new verdict in the page. Baseline in the same
run: the page's own round trip of POST /v1/evaluate (fetch, no rendering).
Target (issue: the analyst's page): a verdict update under 150 ms.

    python bench/page.py
"""

from __future__ import annotations

import socket
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import uvicorn
from playwright.sync_api import sync_playwright

from policykb.service.app import create_app
from policykb.service.settings import ServiceSettings
from tests.browser.test_page import CHROMIUM, CHROMIUM_ARGS

FLIPS = 40
TIMED_CLICK = """async ([fact, value]) => {
  // The page renders the verdict afresh on every answer: the first
  // mutation of #verdict is the new verdict shown.
  const target = document.querySelector('#verdict');
  const start = performance.now();
  const changed = new Promise((resolve) => {
    new MutationObserver((_, observer) => { observer.disconnect(); resolve(); })
      .observe(target, {childList: true, subtree: true});
  });
  document.getElementById(`fact-${fact}-${value}`).click();
  await changed;
  return performance.now() - start;
}"""
ROUND_TRIP = """async () => {
  const start = performance.now();
  const response = await fetch('/v1/evaluate?audit=false', {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({policy: 'massage-therapy', facts: {medicare_member: false}})});
  await response.json();
  return performance.now() - start;
}"""


def main() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(ServiceSettings()), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(
            f"http://127.0.0.1:{port}/#policy=massage-therapy&facts="
            + '{"medicare_member":false,"ordered_by_treating_physician":false}'
        )
        page.wait_for_selector("body[data-ready=true]")
        updates = []
        for flip in range(FLIPS):
            value = "yes" if flip % 2 == 0 else "no"
            updates.append(page.evaluate(TIMED_CLICK, ["terminally_ill", value]))
            page.wait_for_load_state("networkidle")
        trips = [page.evaluate(ROUND_TRIP) for _ in range(FLIPS)]
        browser.close()
    server.should_exit = True
    update, trip = statistics.median(updates), statistics.median(trips)
    updates.sort()
    print(
        f"page verdict update ({FLIPS} flips): median {update:.1f} ms, "
        f"p90 {updates[int(0.9 * (FLIPS - 1))]:.1f} ms, max {updates[-1]:.1f} ms (target < 150 ms)"
    )
    print(
        f"  baseline: the page's fetch of /v1/evaluate, median {trip:.1f} ms; "
        f"the update is {update / trip:.1f}x it"
    )


if __name__ == "__main__":
    main()
