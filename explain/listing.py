"""The catalogue as `policykb policies` lists it: every policy grouped by its
payer, with its source document, its address or citation and the days each
of its versions is in force.

Everything shown comes from the policies' own declarations (policy/2 and
each version's effective and retired dates); a policy that declares no
payer is listed under UNDECLARED_PAYER, after every named payer.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from itertools import groupby
from typing import Any

from policykb.bridge.model.policy import Policy
from policykb.bridge.model.version import periods

UNDECLARED_PAYER = "payer not declared"
PLAIN_URL = re.compile(r"https?://[^\s()<>\[\]`]+")
"""An address a Markdown link may carry as it is (anything else is shown as text)."""
DOCUMENT_DATES = ("created", "revised", "reviewed")


def payer_order(payer: str) -> tuple[bool, str]:
    """Payers by name, case-insensitively; the undeclared payer last."""
    return (not payer, payer.casefold())


def policy_row(name: str, versions: Sequence[Policy], folder: str) -> dict[str, Any]:
    """One policy's entry: what its latest version declares about its document,
    and every version (entry file, declared dates, days in force, hash).

    `versions` are the policy's versions by effective date (at least one)."""
    latest = versions[-1]
    info = latest.info
    spans = periods([v.version for v in versions])
    return {
        "name": name,
        "title": latest.title,
        "payer": latest.payer or None,
        "source": "; ".join(info.get("source", ())) or None,
        "url": info.get("url", (None,))[0],
        "citation": info.get("citation", (None,))[0],
        "dates": {key: list(info[key]) for key in DOCUMENT_DATES if key in info},
        "folder": folder,
        "versions": [
            {
                "entry": version.source.entry.name,
                **version.version.to_dict(),
                "in_force": span.to_dict(),
            }
            for version, span in zip(versions, spans, strict=True)
        ],
    }


def by_payer(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, list[Mapping[str, Any]]]]:
    """The rows grouped by payer (payer_order), each group by policy name."""
    ordered = sorted(rows, key=lambda r: (payer_order(r["payer"] or ""), r["name"]))
    return [
        (payer or UNDECLARED_PAYER, list(group))
        for payer, group in groupby(ordered, key=lambda r: r["payer"] or "")
    ]


def render_listing(rows: Sequence[Mapping[str, Any]], markdown: bool = False) -> str:
    """The listing as text, or with `markdown` a heading and a table per payer."""
    if markdown:
        return _markdown_listing(rows)
    return _text_listing(rows)


def _markdown_listing(rows: Sequence[Mapping[str, Any]]) -> str:
    from policykb.bridge.model.version import Period
    from policykb.explain.escape import markdown_safe

    lines: list[str] = []
    for payer, group in by_payer(rows):
        lines += [f"## {markdown_safe(payer)}", ""]
        lines += ["| policy | title | source | versions in force |", "|---|---|---|---|"]
        for row in group:
            where = "; ".join(markdown_safe(w) for w in (row["source"], row["citation"]) if w)
            if row["url"]:
                url = row["url"]
                where += (
                    f" ([document]({url}))"
                    if PLAIN_URL.fullmatch(url)
                    else f" ({markdown_safe(url)})"
                )
            versions = "; ".join(
                f"`{v['entry']}` {Period.from_dict(v['in_force']).words}" for v in row["versions"]
            )
            lines.append(
                f"| `{row['name']}` | {markdown_safe(row['title'])} | {where} | {versions} |"
            )
        lines.append("")
    return "\n".join(lines).rstrip() + "\n" if lines else ""


def _text_listing(rows: Sequence[Mapping[str, Any]]) -> str:
    """The text listing: a line per payer, under it each policy with its
    title, source, address or citation, dates and folder, and a line per
    version with the days it is in force and its hash."""
    from policykb.bridge.model.version import Period
    from policykb.explain.escape import terminal_safe

    lines: list[str] = []
    for payer, group in by_payer(rows):
        lines.append(terminal_safe(payer))
        for row in group:
            lines.append(f"  {row['name']}\t{terminal_safe(row['title'])}")
            where = [row["source"], row["url"] or row["citation"]]
            shown = "; ".join(terminal_safe(w) for w in where if w)
            if shown:
                lines.append(f"    source: {shown}")
            dates = ", ".join(f"{key} {'; '.join(days)}" for key, days in row["dates"].items())
            if dates:
                lines.append(f"    document: {terminal_safe(dates)}")
            lines.append(f"    folder: {terminal_safe(row['folder'])}")
            for version in row["versions"]:
                period = Period.from_dict(version["in_force"]).words
                lines.append(
                    f"    {version['entry']}\tin force {period}\tsha256 {version['hash'][:12]}"
                )
    return "\n".join(lines) + "\n" if lines else ""
