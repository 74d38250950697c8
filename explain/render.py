"""Render an evaluation as text (for a terminal), Markdown (for a review) or JSON.

Text and Markdown show the verdict, the criteria as the policy's tree with
met / not met / unknown marks, the explanation quoting the policy, the
questions for missing facts, and the warnings and cautions.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator, Mapping

from policykb.bridge.model.policy import Criterion, Policy
from policykb.bridge.model.result import Evaluation, Status, Verdict
from policykb.explain.escape import markdown_safe, terminal_safe
from policykb.explain.terminal import styled
from policykb.explain.wording import item_words

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
    """The policy's criteria grouped by heading (nested headings joined by " > "),
    each with its depth in the tree of parts; a part shared by several parents
    appears under each, and a part with a heading of its own stays in its
    parent's tree (its status says where it does not apply)."""
    sections: dict[str, list[tuple[int, Criterion]]] = {}

    def walk(criterion: Criterion, depth: int, section: str) -> None:
        if criterion.section is not None and depth == 0:
            section = " > ".join(policy.heading_path(criterion.section))
        sections.setdefault(section, []).append((depth, criterion))
        for part in criterion.parts:
            walk(policy.criteria[part], depth + 1, section)

    for criterion in policy.criteria.values():
        if not criterion.parents:
            walk(criterion, 0, ALL_MEMBERS)
    yield from sections.items()


def _cited(ident: str, policy: Policy, evaluation: Evaluation) -> str:
    """A cited criterion, with the groups it is a part of: "F1, part of F:
    at least 2 of 3: 1 met"."""
    criterion = policy.criteria.get(ident)
    if criterion is None:
        return ident
    groups = [
        f"part of {parent.id}: {parent.group_words}: "
        f"{sum(evaluation.criteria.get(p) is Status.MET for p in parent.parts)} met"
        for parent in (policy.criteria[p] for p in criterion.parents if p in policy.criteria)
        if parent.combines is not None
    ]
    return ", ".join([ident, *groups])


def _role_label(criterion: Criterion, statuses: Mapping[str, Status]) -> str:
    """The criterion's role, and for a group how its parts stand: "covered
    when, at least 2 of 3: 1 met"."""
    role = {
        "exclusion": "not covered when",
        "prerequisite": "required",
        "indication": "covered when",
        "requirement": "part",
    }[criterion.role.value]
    if criterion.combines is None:
        return role
    met = sum(statuses.get(part) is Status.MET for part in criterion.parts)
    return f"{role}, {criterion.group_words}: {met} met"


def _wrap(text: str, first: str, rest: str, width: int) -> list[str]:
    lines = textwrap.wrap(
        text,
        width=max(width, 40),
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
    )
    return lines or [first.rstrip()]


def questions(evaluation: Evaluation, policy: Policy) -> list[tuple[str, str, list[str]]]:
    """The questions to ask, in order: (question, fact, criteria). A history's
    missing facts are one question, the history's, naming each record class
    the verdict still turns on and the counts of it that matter."""
    found: list[tuple[str, str, list[str]]] = []
    levels: dict[str, dict[int, list[int]]] = {}
    for missing in evaluation.missing:
        history = policy.history_of(missing.fact) if policy.histories else None
        if history is None:
            found.append((missing.question, missing.fact, list(missing.criteria)))
            continue
        if history.derived_of(missing.fact) is not None:
            # Which record is the latest, or what records add up to, is its
            # own question, in the rule's words.
            found.append((missing.question, missing.fact, list(missing.criteria)))
            continue
        if history.name not in levels:
            levels[history.name] = {}
            found.append(("", history.name, []))
        place = history.level_of(missing.fact)
        assert place is not None
        levels[history.name].setdefault(place[0].index, []).append(place[1])
        criteria = next(c for q, n, c in found if n == history.name)
        criteria += [c for c in missing.criteria if c not in criteria]
    return [
        (history_question(policy, name, levels[name]) if name in levels else question, name, c)
        for question, name, c in found
    ]


def history_question(policy: Policy, name: str, counts: Mapping[int, list[int]]) -> str:
    """ "Which screening tests ...? The verdict turns on how many records are:
    a colonoscopy ... (1 or more); ..." """
    history = policy.histories[name]
    classes = {c.index: c for c in history.classes}
    parts = []
    for index, levels in counts.items():
        shown = ", ".join(str(k) for k in sorted(levels))
        parts.append(f"{history.class_words(classes[index])} ({shown} or more)")
    return f"{history.asked} The verdict turns on how many of its records are: " + "; ".join(parts)


def render_text(
    evaluation: Evaluation, policy: Policy, width: int = 80, color: bool = False
) -> str:
    """Plain text for a terminal: the verdict, the criteria tree with marks, the
    explanation, the questions and the notes, wrapped to `width`.

    The tree is drawn here rather than by rich, whose layout would wrap
    and quote differently from the Markdown rendering; with `color` (a
    terminal) rich styles the verdict and headings.
    """

    def bold(text: str, style: str = "bold") -> str:
        return styled(text, style) if color else text

    verdict = bold(VERDICT_WORDS[evaluation.verdict], VERDICT_STYLE[evaluation.verdict])
    lines = [
        f"{bold(terminal_safe(evaluation.id) + ':')} {verdict}  ({policy.title})",
        f"Version: {policy.version.words}",
        "Criteria",
    ]
    sections = list(criteria_outline(policy))
    for number, (section, entries) in enumerate(sections):
        last_section = number == len(sections) - 1
        lines.append(("└── " if last_section else "├── ") + section)
        base = "    " if last_section else "│   "
        for index, (depth, criterion) in enumerate(entries):
            guides = base + "".join(
                "    " if _last_sibling(entries, _ancestor(entries, index, level)) else "│   "
                for level in range(depth)
            )
            last = _last_sibling(entries, index)
            status = evaluation.criteria.get(criterion.id, Status.UNKNOWN)
            role = _role_label(criterion, evaluation.criteria)
            label = (
                f"{STATUS_MARK[status]} {criterion.id} ({role}, "
                f"{STATUS_WORDS[status]}): {criterion.text}"
            )
            first = guides + ("└── " if last else "├── ")
            lines += _wrap(label, first, guides + ("    " if last else "│   "), width)
    lines.append(bold("Explanation"))
    if evaluation.explanation:
        for item in evaluation.explanation:
            line = f"- {item.fact} = {terminal_safe(item_words(item))}"
            line += " (assumed: the policy's default)" if item.assumed else ""
            line += f' [{_cited(item.criterion, policy, evaluation)}] "{item.text}"'
            lines += _wrap(line, "  ", "    ", width)
    elif evaluation.verdict is Verdict.NEEDS_INFORMATION:
        lines.append("  The facts given do not decide the case; see the questions below.")
    else:
        lines.append("  The verdict holds whatever the facts.")
    if evaluation.missing:
        lines.append(bold("Questions"))
        for question, name, criteria in questions(evaluation, policy):
            text = f"- {question} ({name}; {', '.join(criteria)})"
            lines += _wrap(text, "  ", "    ", width)
    for note in evaluation.warnings:
        text = f"{note.kind.capitalize()} [{note.id}]: {note.text}"
        lines += [bold(line, "33") for line in _wrap(text, "", "  ", width)]
    return "\n".join(lines) + "\n"


def _ancestor(entries: list[tuple[int, Criterion]], index: int, level: int) -> int:
    """The index of the entry at depth `level` that entry `index` stands under."""
    return max(i for i in range(index + 1) if entries[i][0] == level)


def _last_sibling(entries: list[tuple[int, Criterion]], index: int) -> bool:
    """Whether no later entry at the same depth follows under the same parent."""
    depth = entries[index][0]
    for later, _ in entries[index + 1 :]:
        if later < depth:
            return True
        if later == depth:
            return False
    return True


def render_markdown(evaluation: Evaluation, policy: Policy) -> str:
    lines = [
        f"## {markdown_safe(evaluation.id)}: {VERDICT_WORDS[evaluation.verdict]}",
        "",
        f"Policy: *{policy.title}* ({policy.name}; {policy.version.words})",
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
                f"({_role_label(criterion, evaluation.criteria)}, {STATUS_WORDS[status]}): "
                f"{criterion.text}"
            )
    lines += ["", "### Explanation", ""]
    if evaluation.explanation:
        lines += ["| Fact | Value | Criterion | Policy text |", "|---|---|---|---|"]
        for item in evaluation.explanation:
            value = markdown_safe(item_words(item)) + (" (assumed)" if item.assumed else "")
            text = item.text.replace("|", "\\|")
            cited = _cited(item.criterion, policy, evaluation)
            lines.append(f"| `{item.fact}` | {value} | {cited} | {text} |")
    elif evaluation.verdict is Verdict.NEEDS_INFORMATION:
        lines.append("The facts given do not decide the case; see the questions below.")
    else:
        lines.append("The verdict holds whatever the facts.")
    if evaluation.missing:
        lines += ["", "### Questions", ""]
        lines += [
            f"- {question} (`{name}`; {', '.join(criteria)})"
            for question, name, criteria in questions(evaluation, policy)
        ]
    if evaluation.warnings:
        lines += ["", "### Warnings and cautions", ""]
        lines += [f"- **{n.kind} {n.id}**: {n.text}" for n in evaluation.warnings]
    return "\n".join(lines) + "\n"
