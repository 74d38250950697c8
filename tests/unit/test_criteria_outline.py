"""The criteria tree of the text and Markdown renderings keeps a part with a
heading of its own in its parent's tree (as colorectal's frequency limits,
each "in the case of an individual who is (not) at high risk"); a shared
fact's item cites the part whose heading covers the case."""

from __future__ import annotations

from pathlib import Path

from policykb.bridge import KnowledgeBase, Verdict
from policykb.explain.render import criteria_outline, render_markdown, render_text

POLICY = """
policy(title, "Limits by risk").
fact(high_risk, bool). rank(high_risk, 1). question(high_risk, "High risk?").
clause(high_risk, "LIMITS/AVERAGE"). clause(high_risk, "LIMITS/HIGH").
fact(recent_test, bool). rank(recent_test, 2). question(recent_test, "Recent test?").
clause(recent_test, "LIMITS/AVERAGE"). clause(recent_test, "LIMITS/HIGH").
heading("Average", "Not at high risk").  section("Average") :- fails(high_risk).
heading("High", "At high risk").  section("High") :- holds(high_risk).
criterion("TEST", "1", "A screening test.").  role("TEST", indication).
criterion("LIMITS", "1", "Limits.").  role("LIMITS", requirement).  part_of("LIMITS", "TEST").
combines("TEST", all).  combines("LIMITS", any).
criterion("LIMITS/AVERAGE", "1(a)", "Not at high risk: none in 10 years.").
role("LIMITS/AVERAGE", requirement).  part_of("LIMITS/AVERAGE", "LIMITS").
under("LIMITS/AVERAGE", "Average").
met("LIMITS/AVERAGE") :- fails(high_risk), fails(recent_test).
criterion("LIMITS/HIGH", "1(b)", "At high risk: none in 2 years.").
role("LIMITS/HIGH", requirement).  part_of("LIMITS/HIGH", "LIMITS").  under("LIMITS/HIGH", "High").
met("LIMITS/HIGH") :- holds(high_risk), fails(recent_test).
"""


def test_a_part_with_its_own_heading_stays_in_its_parents_tree(tmp_path: Path) -> None:
    folder = tmp_path / "limits"
    folder.mkdir()
    (folder / "policy.lp").write_text(POLICY)
    kb = KnowledgeBase([folder])
    policy = kb.policy("limits")
    outline = list(criteria_outline(policy))
    assert [(section, [(d, c.id) for d, c in entries]) for section, entries in outline] == [
        (
            "All members",
            [(0, "TEST"), (1, "LIMITS"), (2, "LIMITS/AVERAGE"), (2, "LIMITS/HIGH")],
        )
    ]
    evaluation = kb.evaluate(
        {"policy": "limits", "facts": {"high_risk": True, "recent_test": True}}
    )
    assert evaluation.verdict is Verdict.NOT_COVERED
    # Both limits fail on the recent test; the one whose heading covers the
    # case (at high risk) is cited for it.
    assert {i.fact: i.criterion for i in evaluation.explanation}["recent_test"] == "LIMITS/HIGH"
    text = render_text(evaluation, policy)
    assert "            └── [ ] LIMITS/HIGH (part, not met)" in text
    assert "[-] LIMITS/AVERAGE (part, not applicable)" in text
    assert "      - `[-]` **LIMITS/AVERAGE**" in render_markdown(evaluation, policy)
