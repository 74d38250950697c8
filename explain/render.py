"""Render an evaluation as text (for a terminal), Markdown (for a review) or JSON.

Text and Markdown show the verdict, the criteria as the policy's tree with
met / not met / unknown marks, the explanation quoting the policy, the
questions for missing facts, and the warnings and cautions.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import StrEnum

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.text import Text
from rich.tree import Tree

from policykb.bridge.policy import Criterion, Policy
from policykb.bridge.result import Evaluation, Status, Verdict, value_words


class OutputFormat(StrEnum):
    TEXT = "text"
    JSON = "json"
    MARKDOWN = "markdown"
    DOT = "dot"


VERDICT_WORDS = {
    Verdict.COVERED: "COVERED",
    Verdict.NOT_COVERED: "NOT COVERED",
    Verdict.NEEDS_INFORMATION: "NEEDS INFORMATION",
}
VERDICT_STYLE = {
    Verdict.COVERED: "bold green",
    Verdict.NOT_COVERED: "bold red",
    Verdict.NEEDS_INFORMATION: "bold yellow",
}
STATUS_MARK = {
    Status.MET: "[x]",
    Status.NOT_MET: "[ ]",
    Status.UNKNOWN: "[?]",
    Status.NOT_APPLICABLE: "[-]",
}
STATUS_WORDS = {
    Status.MET: "met",
    Status.NOT_MET: "not met",
    Status.UNKNOWN: "unknown",
    Status.NOT_APPLICABLE: "not applicable",
}
ALL_MEMBERS = "All members"


def criteria_outline(policy: Policy) -> Iterator[tuple[str, list[tuple[int, Criterion]]]]:
    """The policy's criteria grouped by heading, each with its depth in the all-of tree."""
    sections: dict[str, list[tuple[int, Criterion]]] = {}

    def walk(criterion: Criterion, depth: int) -> None:
        sections.setdefault(criterion.section or ALL_MEMBERS, []).append((depth, criterion))
        for part in criterion.parts:
            walk(policy.criteria[part], depth + 1)

    for criterion in policy.criteria.values():
        if criterion.parent is None:
            walk(criterion, 0)
    yield from sections.items()


def _role_label(criterion: Criterion) -> str:
    return {
        "exclusion": "not covered when",
        "prerequisite": "required",
        "indication": "covered when",
        "requirement": "all of",
    }[criterion.role.value]


def render_text(evaluation: Evaluation, policy: Policy) -> RenderableType:
    """A rich renderable for the terminal (plain when not a TTY)."""
    parts: list[RenderableType] = []
    head = Text()
    head.append(f"{evaluation.id}: ", style="bold")
    head.append(VERDICT_WORDS[evaluation.verdict], style=VERDICT_STYLE[evaluation.verdict])
    head.append(f"  ({policy.title})")
    parts.append(head)

    tree = Tree("Criteria")
    for section, entries in criteria_outline(policy):
        branch = tree.add(escape(section))
        stack: list[Tree] = [branch]
        for depth, criterion in entries:
            status = evaluation.criteria.get(criterion.id, Status.UNKNOWN)
            label = (
                f"{STATUS_MARK[status]} {criterion.id} ({_role_label(criterion)}, "
                f"{STATUS_WORDS[status]}): {criterion.text}"
            )
            del stack[depth + 1 :]
            node = stack[depth].add(Text(label))
            stack.append(node)
    parts.append(tree)

    parts.append(Text("Explanation", style="bold"))
    if evaluation.explanation:
        for item in evaluation.explanation:
            line = f"  - {item.fact} = {value_words(item.value)}"
            line += " (assumed: the policy's default)" if item.assumed else ""
            line += f'  [{item.criterion}] "{item.text}"'
            parts.append(Text(line))
    elif evaluation.verdict is Verdict.NEEDS_INFORMATION:
        parts.append(Text("  The facts given do not decide the case; see the questions below."))
    else:
        parts.append(Text("  The verdict holds whatever the facts."))

    if evaluation.missing:
        parts.append(Text("Questions", style="bold"))
        for missing in evaluation.missing:
            parts.append(
                Text(f"  - {missing.question} ({missing.fact}; {', '.join(missing.criteria)})")
            )
    for note in evaluation.warnings:
        parts.append(Text(f"{note.kind.capitalize()} [{note.id}]: {note.text}", style="yellow"))
    return Group(*parts)


def render_markdown(evaluation: Evaluation, policy: Policy) -> str:
    lines = [
        f"## {evaluation.id}: {VERDICT_WORDS[evaluation.verdict]}",
        "",
        f"Policy: *{policy.title}* ({policy.name})",
        "",
        "### Criteria",
        "",
    ]
    for section, entries in criteria_outline(policy):
        lines.append(f"- **{section}**")
        for depth, criterion in entries:
            status = evaluation.criteria.get(criterion.id, Status.UNKNOWN)
            indent = "  " * (depth + 1)
            lines.append(
                f"{indent}- `{STATUS_MARK[status]}` **{criterion.id}** "
                f"({_role_label(criterion)}, {STATUS_WORDS[status]}): {criterion.text}"
            )
    lines += ["", "### Explanation", ""]
    if evaluation.explanation:
        lines += ["| Fact | Value | Criterion | Policy text |", "|---|---|---|---|"]
        for item in evaluation.explanation:
            value = value_words(item.value) + (" (assumed)" if item.assumed else "")
            text = item.text.replace("|", "\\|")
            lines.append(f"| `{item.fact}` | {value} | {item.criterion} | {text} |")
    elif evaluation.verdict is Verdict.NEEDS_INFORMATION:
        lines.append("The facts given do not decide the case; see the questions below.")
    else:
        lines.append("The verdict holds whatever the facts.")
    if evaluation.missing:
        lines += ["", "### Questions", ""]
        lines += [
            f"- {m.question} (`{m.fact}`; {', '.join(m.criteria)})" for m in evaluation.missing
        ]
    if evaluation.warnings:
        lines += ["", "### Warnings and cautions", ""]
        lines += [f"- **{n.kind} {n.id}**: {n.text}" for n in evaluation.warnings]
    return "\n".join(lines) + "\n"
