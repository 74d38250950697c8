"""The plain-language notice of a determination.

For a denial (or a request that needs information) it holds what a notice of
adverse benefit determination must contain under 29 CFR 2560.503-1(g)(1): the
specific reasons, the criteria relied on (policy title, criterion IDs, their
text and the policy's dates), the additional information needed and why, and
that a medical-necessity denial is reviewed by a physician reviewer before it
is final. A covered case gets an approval summary instead.
"""

from __future__ import annotations

from policykb.bridge.model.policy import Criterion, Policy
from policykb.bridge.model.result import Evaluation, ExplanationItem, Verdict
from policykb.explain.escape import markdown_safe

PHYSICIAN_REVIEW = (
    "This determination applies medical-necessity criteria. Before a denial is final, "
    "a physician reviewer reviews the request and these reasons. You may ask for the "
    "criteria relied on, free of charge, and you may appeal the determination."
)


def _reason(item: ExplanationItem, policy: Policy) -> str:
    fact = policy.facts[item.fact]
    statement = fact.meaning or item.fact
    if isinstance(item.value, bool):
        answer = "Yes" if item.value else "No"
    else:
        answer = markdown_safe(item.words)
    source = " (assumed; not stated in the request)" if item.assumed else ""
    cited = f"Criterion {item.criterion}" if item.criterion in policy.criteria else "Policy"
    return f'{statement} — **{answer}**{source}. {cited}: "{item.text}"'


def _relied_on(evaluation: Evaluation, policy: Policy) -> list[Criterion]:
    cited: list[Criterion] = []
    for item in evaluation.explanation:
        criterion = policy.criteria.get(item.criterion)
        for found in (
            criterion,
            policy.criteria.get(criterion.parent or "") if criterion else None,
        ):
            if found is not None and found not in cited:
                cited.append(found)
    return sorted(cited, key=lambda c: list(policy.criteria).index(c.id))


def _dates(policy: Policy) -> str:
    parts = []
    for key, label in (
        ("created", "created"),
        ("revised", "last revised"),
        ("reviewed", "last reviewed"),
    ):
        values = policy.info.get(key)
        if values:
            parts.append(f"{label} {values[-1]}")
    return "; ".join(parts)


TITLES = {
    Verdict.COVERED: "Approval summary",
    Verdict.NOT_COVERED: "Notice of adverse benefit determination",
    Verdict.NEEDS_INFORMATION: "Request for additional information",
}


def render_notice_markdown(evaluation: Evaluation, policy: Policy) -> str:
    lines = [f"# {TITLES[evaluation.verdict]}", ""]
    lines += [f"Request: {markdown_safe(evaluation.id)}  ", f"Policy: *{policy.title}*"]
    source = policy.info.get("source")
    if source:
        lines[-1] += f", {source[0]}"
    dates = _dates(policy)
    lines[-1] += f" ({dates})" if dates else ""
    lines.append("")
    if evaluation.verdict is Verdict.COVERED:
        lines += ["**Determination: covered.** The request meets the policy's criteria:", ""]
        lines += [f"- {_reason(item, policy)}" for item in evaluation.explanation]
    elif evaluation.verdict is Verdict.NOT_COVERED:
        lines += ["**Determination: not covered.**", "", "## Specific reasons", ""]
        lines += [f"- {_reason(item, policy)}" for item in evaluation.explanation]
    else:
        lines += [
            "**Determination: pending.** The information in the request does not decide it.",
        ]
    if evaluation.verdict is not Verdict.COVERED:
        if evaluation.missing:
            lines += ["", "## Additional information needed", ""]
            for missing in evaluation.missing:
                criteria = ", ".join(missing.criteria)
                lines.append(
                    f"- {missing.question} Needed because the policy's criteria {criteria} "
                    "depend on it, and the determination can still turn on the answer."
                )
        relied = _relied_on(evaluation, policy)
        if relied:
            lines += ["", "## Criteria relied on", ""]
            lines += [f'- **{c.id}** ({c.place}): "{c.text}"' for c in relied]
        lines += ["", "## Review", "", PHYSICIAN_REVIEW]
    if evaluation.warnings:
        lines += ["", "## Notes", ""]
        lines += [f"- {note.text}" for note in evaluation.warnings]
    return "\n".join(lines) + "\n"


def render_notice_text(evaluation: Evaluation, policy: Policy) -> str:
    """The notice as plain text: the Markdown without its markup."""
    text = render_notice_markdown(evaluation, policy)
    plain = []
    for line in text.splitlines():
        if line.startswith("# "):
            title = line[2:]
            plain += [title.upper(), "=" * len(title)]
        elif line.startswith("## "):
            title = line[3:]
            plain += [title, "-" * len(title)]
        else:
            plain.append(line.replace("**", "").replace("*", "").rstrip())
    return "\n".join(plain) + "\n"
