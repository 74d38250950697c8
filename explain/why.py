"""Render the answer to "why?": explanations, changes and missing facts."""

from __future__ import annotations

from collections.abc import Callable

from policykb.bridge.model.policy import Policy
from policykb.bridge.model.result import Change, Verdict, WhyAnswer, value_words
from policykb.explain.escape import markdown_safe, terminal_safe
from policykb.explain.render import VERDICT_WORDS
from policykb.explain.wording import item_words


def _change_words(changes: tuple[Change, ...], safe: Callable[[str], str], policy: Policy) -> str:
    return ", ".join(f"{_named(c.fact, policy)} = {safe(value_words(c.value))}" for c in changes)


def _named(fact: str, policy: Policy) -> str:
    """A fact as a change names it; a product or ratio with its operands,
    which are what the requester changes: "ahi (apnea_events / sleep_hours)"."""
    use = next((u for u in policy.arithmetic if u.fact == fact), None)
    return fact if use is None else f"{fact} ({use.words})"


def render_why_text(answer: WhyAnswer, policy: Policy, markdown: bool = False) -> str:
    heading = "## " if markdown else ""
    bullet = "- " if markdown else "  - "
    safe = markdown_safe if markdown else terminal_safe
    lines = [
        f"{heading}{safe(answer.id)}: {VERDICT_WORDS[answer.verdict]} ({policy.title})",
        "",
        f"Version: {policy.version.words}",
        "",
    ]
    count = len(answer.explanations)
    lines.append(f"{heading}Minimal explanations ({count}, smallest first)")
    numbered = "" if markdown else "  "
    for number, explanation in enumerate(answer.explanations, start=1):
        if not explanation:
            reason = (
                "with every fact unknown the case already needs information"
                if answer.verdict is Verdict.NEEDS_INFORMATION
                else "the verdict holds whatever the facts"
            )
            lines.append(f"{numbered}{number}. (none: {reason})")
            continue
        lines.append(
            f"{numbered}{number}. "
            + "; ".join(
                f"{item.fact} = {safe(item_words(item))}"
                f"{' (assumed)' if item.assumed else ''} "
                f"[{item.criterion}]"
                for item in explanation
            )
        )
    lines += ["", f"{heading}Smallest changes that make it {answer.target.value}"]
    if not answer.changes:
        lines.append(f"{bullet}none: no change of facts gives that verdict")
    for changes in answer.changes:
        lines.append(f"{bullet}{_change_words(changes, safe, policy)}")
    if answer.changes_capped:
        more = ("" if answer.changes_left_out_exact else "at least ") + str(answer.changes_left_out)
        lines.append(
            f"{bullet}({more} more sets of this size left out; raise --max-changes to list them)"
        )
    if answer.covered_from is not None:
        lines += ["", f"{heading}Covered from", f"{bullet}{safe(answer.covered_from.words)}"]
    elif answer.covered_from_reason is not None:
        reason = f"not searched: {answer.covered_from_reason}"
        lines += ["", f"{heading}Covered from", f"{bullet}{safe(reason)}"]
    if answer.missing:
        lines += ["", f"{heading}Missing facts"]
        for missing in answer.missing:
            lines.append(
                f"{bullet}{missing.fact} ({', '.join(missing.criteria)}): {missing.question}"
            )
            for option in missing.answers:
                lines.append(
                    f"    {'- ' if markdown else ''}if {safe(value_words(option.value))}: "
                    f"{option.verdict.value}"
                )
    return "\n".join(lines) + "\n"
