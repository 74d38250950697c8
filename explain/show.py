"""A policy as people read it: its criteria tree, its vocabulary, a case
template to fill in, and the KB reference generated from `%*!` blocks."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from policykb.bridge.model.policy import Criterion, Fact, Policy, Role, Value
from policykb.bridge.model.result import value_words

ROLE_ORDER = (Role.INDICATION, Role.EXCLUSION, Role.PREREQUISITE)
ROLE_HEADINGS = {
    Role.INDICATION: "Covered when ANY of these indications holds",
    Role.EXCLUSION: "unless ANY of these exclusions holds",
    Role.PREREQUISITE: "and provided ALL of these prerequisites are met",
}


GROUP_WORDS = {
    "all": "ALL of",
    "any": "ANY of",
    "at_least": "AT LEAST {needed} of",
    "rules": "parts (combined by its own rules)",
}


def _document_lines(policy: Policy) -> list[str]:
    info = policy.info
    parts = [
        f"{key} {'; '.join(info[key])}" for key in ("created", "revised", "reviewed") if key in info
    ]
    source = "; ".join(info.get("source", ()))
    return [
        line
        for line in (
            f"Source: {source}" if source else "",
            f"Dates: {', '.join(parts)}" if parts else "",
        )
        if line
    ]


def _section_label(policy: Policy, criterion: Criterion) -> str:
    """Where a criterion applies: its heading; for a part without a heading of
    its own, where its parents apply (a part shared under several headings
    names each); "all members" only for what applies to every case."""
    if criterion.section is not None:
        path = policy.heading_path(criterion.section)
        return " > ".join(policy.headings.get(h, h) for h in path)
    if criterion.parents:
        labels = list(
            dict.fromkeys(_section_label(policy, policy.criteria[p]) for p in criterion.parents)
        )
        if len(labels) == 1:
            return labels[0]
        return "where its parents apply: " + "; ".join(labels)
    return "all members"


def criteria_tree(policy: Policy) -> dict[str, Any]:
    """The policy's criteria as a tree: roles, then criteria, each with its parts."""

    def node(criterion: Criterion) -> dict[str, Any]:
        found: dict[str, Any] = {
            "id": criterion.id,
            "place": criterion.place,
            "text": criterion.text,
            "role": criterion.role.value,
            "heading": _section_label(policy, criterion),
        }
        if criterion.parts:
            found["combines"] = criterion.combines or "rules"
            if criterion.combines == "at_least":
                found["needed"] = criterion.needed
            found["parts"] = [node(policy.criteria[part]) for part in criterion.parts]
        return found

    groups = []
    for role in ROLE_ORDER:
        members = [c for c in policy.criteria.values() if c.role is role and not c.parents]
        if members:
            groups.append(
                {
                    "role": role.value,
                    "meaning": ROLE_HEADINGS[role],
                    "criteria": [node(c) for c in members],
                }
            )
    return {
        "policy": policy.name,
        "title": policy.title,
        "document": {key: list(values) for key, values in policy.info.items()},
        "tree": groups,
    }


def render_show(policy: Policy, markdown: bool = False) -> str:
    tree = criteria_tree(policy)
    lines = [f"{'# ' if markdown else ''}{policy.title} ({policy.name})", ""]
    lines += [f"{line}{'  ' if markdown else ''}" for line in _document_lines(policy)]
    lines.append("")

    def walk(node: dict[str, Any], depth: int) -> None:
        indent = "  " * depth
        head = f"**{node['id']}**" if markdown else node["id"]
        lines.append(f'{indent}- {head} [{node["place"]}; {node["heading"]}] "{node["text"]}"')
        if "parts" in node:
            lines.append(f"{indent}  - {GROUP_WORDS[node['combines']].format(**node)}:")
            for part in node["parts"]:
                walk(part, depth + 2)

    for group in tree["tree"]:
        lines.append(f"{'## ' if markdown else ''}{group['meaning']}:")
        if markdown:
            lines.append("")
        for node in group["criteria"]:
            walk(node, 0)
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


References = Mapping[str, Sequence[str]]
"""Each reference date of a policy and the dates its rules compare with it
(Evaluator.references). A case may leave one out: it is then asked, with
the runs of its days that decide."""


def reference_words(compared: Sequence[str]) -> str:
    """What makes a fact a reference date: "reference date: the policy compares
    a, b with it"."""
    return f"reference date: the policy compares {', '.join(compared)} with it"


def vocabulary(policy: Policy, references: References | None = None) -> list[dict[str, Any]]:
    """Each fact's row; "reference" is true for a reference date (the one
    fact a case is best to state: without it the answer ranges over its days)."""
    references = references or {}
    rows = [
        {
            "name": fact.name,
            "type": fact.type.value,
            "values": fact.type_label,
            "default": fact.default if not isinstance(fact.default, frozenset) else None,
            "clauses": list(fact.clauses),
            "question": fact.question,
            "meaning": fact.meaning,
            "reference": fact.name in references,
        }
        for fact in _case_facts(policy)
    ]
    # A history is stated as its records; its boolean facts are not listed.
    rows += [
        {
            "name": history.name,
            "type": "history",
            "values": history.type_label,
            "default": None,
            "clauses": list(history.clauses),
            "question": history.asked,
            "meaning": history.meaning,
            "reference": False,
        }
        for history in policy.histories.values()
    ]
    return rows


def _case_facts(policy: Policy) -> list[Fact]:
    """The facts a case states by name (a history's boolean facts come from its records)."""
    if not policy.histories:
        return list(policy.facts.values())
    return [f for f in policy.facts.values() if policy.history_of(f.name) is None]


def render_facts(
    policy: Policy, markdown: bool = False, references: References | None = None
) -> str:
    references = references or {}
    rows = vocabulary(policy, references)

    def values(row: dict[str, Any]) -> str:
        compared = references.get(row["name"])
        return str(row["values"]) + (f"; {reference_words(compared)}" if compared else "")

    if markdown:
        lines = ["| fact | type | default | clause | question |", "|---|---|---|---|---|"]
        lines += [
            f"| `{r['name']}` | {values(r)} | {_default(r['default'])} | "
            f"{', '.join(r['clauses'])} | {r['question']} |"
            for r in rows
        ]
        return "\n".join(lines) + "\n"
    lines = []
    for r in rows:
        default = _default(r["default"])
        lines.append(
            f"{r['name']}  ({values(r)}{'; default ' + default if default else ''}; "
            f"{', '.join(r['clauses'])})"
        )
        lines.append(f"    {r['question']}")
    return "\n".join(lines) + "\n"


def _default(value: Value | None) -> str:
    return "" if value is None else value_words(value)


def case_template(
    policy: Policy, case_id: str = "new-case", references: References | None = None
) -> str:
    """A YAML case with every fact set to null and its question as a comment;
    a reference date's comment says it is one (left null, the answer ranges
    over its days and asks it)."""
    references = references or {}
    lines = [
        f"# A case for {policy.title} ({policy.name}).",
        "# Fill in what you know; leave a fact null when it is unknown.",
    ]
    if references:
        lines.append(
            "# Reference dates (left null, the answer ranges over their days): "
            + ", ".join(references)
            + "."
        )
    lines += [
        "# Run it with: policykb evaluate THIS-FILE.yaml",
        f"id: {case_id}",
        f"policy: {policy.name}",
        "facts:",
    ]
    for fact in _case_facts(policy):
        default = _default(fact.default)
        hint = f"{fact.type_label}" + (f"; null means {default}" if default else "")
        if fact.name in references:
            hint += f"; {reference_words(references[fact.name])}"
        lines.append(f"  # {fact.question} ({hint}; {', '.join(fact.clauses)})")
        lines.append(f"  {fact.name}: null")
    for history in policy.histories.values():
        lines.append(f"  # {history.asked} ({history.type_label}; {', '.join(history.clauses)})")
        lines.append(f"  {history.name}: null")
    return "\n".join(lines) + "\n"


DOC_BLOCK = re.compile(r"%\*!\s*(?P<head>[^\n]*)\n(?P<body>.*?)\*%", re.DOTALL)
SECTION = re.compile(r"^%##\s*(?P<name>.+)$", re.MULTILINE)


def kb_reference(files: Iterable[Path], root: Path) -> str:
    """Markdown for every `%*!` predicate documentation block, by file and section."""
    lines = [
        "# KB reference",
        "",
        "Generated from the `%*!` documentation blocks of the `.lp` files by",
        "`policykb reference` (`make reference`). Do not edit by hand.",
        "",
    ]
    for path in files:
        text = path.read_text(encoding="utf-8")
        blocks = list(DOC_BLOCK.finditer(text))
        if not blocks:
            continue
        lines += [f"## `{path.relative_to(root).as_posix()}`", ""]
        sections = [(m.start(), m.group("name").strip()) for m in SECTION.finditer(text)]
        current = None
        for block in blocks:
            section = next(
                (name for start, name in reversed(sections) if start < block.start()), None
            )
            if section != current and section is not None:
                lines += [f"### {section}", ""]
                current = section
            body = "\n".join(line.rstrip() for line in block.group("body").strip().splitlines())
            lines += [f"#### `{block.group('head').strip()}`", "", body, ""]
    return "\n".join(lines).rstrip() + "\n"
