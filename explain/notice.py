"""The plain-language notice of a determination.

For a denial (or a request that needs information) it holds what a notice of
adverse benefit determination must contain under 29 CFR 2560.503-1(g)(1): the
specific reasons, the criteria relied on (policy title, criterion IDs, their
text and the policy's dates), the additional information needed and why, and
that a medical-necessity denial is reviewed by a physician reviewer before it
is final. A covered case gets an approval summary instead.
"""

from __future__ import annotations

from policykb.bridge.model.policy import Criterion, Fact, Policy
from policykb.bridge.model.result import CoveredFrom, Evaluation, ExplanationItem, Status, Verdict
from policykb.explain.escape import markdown_safe
from policykb.explain.wording import item_words

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
    elif fact.options and isinstance(item.value, str | frozenset):
        chosen = [item.value] if isinstance(item.value, str) else sorted(item.value)
        answer = markdown_safe(", ".join(_option(fact, v) for v in chosen) or "none")
    else:
        answer = markdown_safe(item_words(item))
    source = " (assumed; not stated in the request)" if item.assumed else ""
    cited = f"Criterion {item.criterion}" if item.criterion in policy.criteria else "Policy"
    return f'{statement} — **{answer}**{source}. {cited}: "{item.text}"'


def _option(fact: Fact, value: str) -> str:
    """An option in words; a string outside the options as the request gave it."""
    return fact.option_words(value) if value in fact.options else value


def _reasons(evaluation: Evaluation, policy: Policy) -> list[str]:
    """The specific reasons of a denial: the stated facts it rests on, then
    the defaults it assumed, marked as such and never given as the reason alone."""
    stated = [item for item in evaluation.explanation if not item.assumed]
    assumed = [item for item in evaluation.explanation if item.assumed]
    lines = [f"- {_reason(item, policy)}" for item in stated]
    if not evaluation.explanation:
        # The policy denies every request of this kind (the empty explanation):
        # say so rather than leave the section empty.
        lines.append(
            "- The policy's criteria cannot be met by any request under this policy, "
            "whatever its facts."
        )
    if assumed and not stated:
        lines.append(
            "- The request does not state the facts the criteria need; the determination "
            "rests on the policy's defaults below. Tell us if they are wrong."
        )
    if assumed:
        lines += ["", "Assumed, because the request does not state them:", ""]
        lines += [f"- {_reason(item, policy)}" for item in assumed]
    return lines


def _criterion_line(criterion: Criterion, evaluation: Evaluation) -> str:
    """A criterion relied on, with how its parts stand for a group: "(all of 4: 3 met)"."""
    line = f'**{criterion.id}** ({criterion.place}): "{criterion.text}"'
    if criterion.combines is not None:
        met = sum(evaluation.criteria.get(p) is Status.MET for p in criterion.parts)
        line += f" ({criterion.group_words}: {met} met)"
    return line


def _relied_on(evaluation: Evaluation, policy: Policy) -> list[Criterion]:
    cited: list[Criterion] = []
    for item in evaluation.explanation:
        criterion = policy.criteria.get(item.criterion)
        parents = [policy.criteria.get(p) for p in criterion.parents] if criterion else []
        for found in (criterion, *parents):
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
    parts.append(f"version {policy.version.words}")
    return "; ".join(parts)


TITLES = {
    Verdict.COVERED: "Approval summary",
    Verdict.NOT_COVERED: "Notice of adverse benefit determination",
    Verdict.NEEDS_INFORMATION: "Request for additional information",
}


def render_notice_markdown(
    evaluation: Evaluation, policy: Policy, covered_from: CoveredFrom | None = None
) -> str:
    """The notice in Markdown; for a denial with `covered_from` (the earliest
    date of service that is covered, KnowledgeBase.covered_from), that date
    or that there is none in the horizon searched."""
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
        lines += _reasons(evaluation, policy)
        if covered_from is not None:
            lines += ["", "## Earliest date of service covered", ""]
            lines.append(f"- {covered_from.words[:1].upper()}{covered_from.words[1:]}.")
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
            lines += [f"- {_criterion_line(c, evaluation)}" for c in relied]
        lines += ["", "## Review", "", PHYSICIAN_REVIEW]
    if evaluation.warnings:
        lines += ["", "## Notes", ""]
        lines += [f"- {note.text}" for note in evaluation.warnings]
    return "\n".join(lines) + "\n"


def render_notice_text(
    evaluation: Evaluation, policy: Policy, covered_from: CoveredFrom | None = None
) -> str:
    """The notice as plain text: the Markdown without its markup."""
    text = render_notice_markdown(evaluation, policy, covered_from)
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
