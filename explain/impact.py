"""An impact report for a policy committee: Markdown, or a self-contained
HTML page with a chart of the transitions (matplotlib, drawn as inline SVG:
no script, no file beside it, nothing fetched).

Case ids come from the data: escaped for the medium like every case text.
"""

from __future__ import annotations

import html
import io
import json
from pathlib import PurePath
from typing import Any

from policykb.bridge.batch.impact import VERDICTS, ImpactReport
from policykb.bridge.model.formats import ImpactFormat
from policykb.explain.escape import markdown_safe, shorten

WORDS = {
    "covered": "covered",
    "not_covered": "not covered",
    "needs_information": "needs information",
}


def _side(side: dict[str, Any]) -> str:
    version = side["version"]
    effective = version["effective"] or "undated"
    return (
        f"{side['title']} ({side['policy']}, effective {effective}, sha256 {version['hash'][:12]})"
    )


def render_impact_markdown(report: ImpactReport) -> str:
    data = report.to_dict()
    lines = [
        "# Impact of a policy revision",
        "",
        f"- Old: {markdown_safe(_side(data['old']))}",
        f"- New: {markdown_safe(_side(data['new']))}",
        f"- Cases: {data['records']:,} read, {data['evaluated']:,} decided under both, "
        f"{data['errors']:,} failed; **{data['changed']:,} decided differently**",
        "",
        "## Verdicts",
        "",
        "| old \\ new | " + " | ".join(WORDS[v] for v in VERDICTS) + " | total |",
        "|---|" + "---:|" * (len(VERDICTS) + 1),
    ]
    for old in VERDICTS:
        row = data["transitions"][old]
        cells = [
            f"**{row[new]:,}**" if new != old and row[new] else f"{row[new]:,}" for new in VERDICTS
        ]
        lines.append(
            f"| {WORDS[old]} | " + " | ".join(cells) + f" | {data['verdicts']['old'][old]:,} |"
        )
    totals = [f"{data['verdicts']['new'][v]:,}" for v in VERDICTS]
    lines.append("| total | " + " | ".join(totals) + f" | {data['evaluated']:,} |")
    lines += ["", "## Changed decisions", ""]
    if not data["transition_examples"]:
        lines.append("No case is decided differently.")
    for change in data["transition_examples"]:
        lines.append(
            f"- {WORDS[change['old']]} -> {WORDS[change['new']]}: {change['cases']:,} "
            f"case(s), such as {_ids(change['examples'])}"
        )
    lines += ["", "## Regions of change (from `policykb diff`)", ""]
    if data["regions_note"]:
        lines.append(f"Not counted: {data['regions_note']}.")
    elif not data["regions"]:
        lines.append("The versions decide every scenario alike.")
    for number, region in _by_cases(data["regions"]):
        if not _counted(region):
            continue
        examples = f", such as {_ids(region['examples'])}" if region["examples"] else ""
        lines.append(
            f"{number}. {markdown_safe(shorten(region['summary'], 600))}: "
            f"**{region['cases']:,}** case(s){examples}"
        )
        if region.get("not_as_stated"):
            lines.append(
                f"   - **{region['not_as_stated']:,}** case(s) in this region are not "
                f"decided as it states (such as {_ids(region['not_as_stated_examples'])})"
            )
    empty = [str(n) for n, r in enumerate(data["regions"], start=1) if not _counted(r)]
    if empty:
        lines.append(f"\nRegions with no case: {', '.join(empty)} (listed by `policykb diff`).")
    if data["regions_capped"]:
        lines.append("(more regions exist; diff capped the list)")
    lines += ["", "## Criteria newly cited in denials", ""]
    if not data["newly_cited_in_denials"]:
        lines.append("None: every denial under the new version cites what the old one did.")
    for cited in data["newly_cited_in_denials"]:
        lines.append(
            f"- **{markdown_safe(cited['criterion'])}** ({cited['cases']:,} case(s), such as "
            f"{_ids(cited['examples'])}): {markdown_safe(cited['text'])}"
        )
    return "\n".join(lines) + "\n"


def _counted(region: dict[str, Any]) -> bool:
    """Whether some case falls in the region (as stated or not)."""
    return bool(region["cases"] or region.get("not_as_stated"))


def _by_cases(regions: list[dict[str, Any]]) -> list[tuple[int, dict[str, Any]]]:
    """Regions numbered as diff lists them, those with the most cases first."""
    numbered = list(enumerate(regions, start=1))
    return sorted(numbered, key=lambda item: -item[1]["cases"])


def _ids(ids: list[str]) -> str:
    return ", ".join(f"`{markdown_safe(shorten(i, 80)).replace('`', '')}`" for i in ids) or "none"


def transitions_svg(report: ImpactReport) -> str:
    """The transition matrix as a heat map with its counts, as SVG text."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot
    from matplotlib.figure import Figure

    data = report.to_dict()["transitions"]
    counts = [[data[old][new] for new in VERDICTS] for old in VERDICTS]
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    axes = figure.subplots()
    image = axes.imshow(counts, cmap="Blues")
    labels = [WORDS[v] for v in VERDICTS]
    axes.set_xticks(range(len(VERDICTS)), labels=labels)
    axes.set_yticks(range(len(VERDICTS)), labels=labels)
    axes.set_xlabel("new version")
    axes.set_ylabel("old version")
    axes.set_title("Cases by verdict, old version -> new version")
    peak = max(max(row) for row in counts) or 1
    for i, row in enumerate(counts):
        for j, count in enumerate(row):
            color = "white" if count > peak / 2 else "black"
            weight = "bold" if i != j and count else "normal"
            axes.text(j, i, f"{count:,}", ha="center", va="center", color=color, weight=weight)
    figure.colorbar(image, ax=axes, label="cases")
    out = io.StringIO()
    figure.savefig(out, format="svg", metadata={"Date": None})
    pyplot.close("all")
    svg = out.getvalue()
    return svg[svg.index("<svg") :]


def render_impact_html(report: ImpactReport) -> str:
    """A self-contained page: the tables of the Markdown report and the chart."""
    data = report.to_dict()

    def e(text: object) -> str:
        return html.escape(str(text))

    def ids(values: list[str]) -> str:
        return ", ".join(f"<code>{e(shorten(v, 80))}</code>" for v in values) or "none"

    rows = []
    for old in VERDICTS:
        cells = "".join(f"<td>{data['transitions'][old][new]:,}</td>" for new in VERDICTS)
        rows.append(f"<tr><th scope='row'>{WORDS[old]}</th>{cells}</tr>")
    header = "".join(f"<th scope='col'>{WORDS[v]}</th>" for v in VERDICTS)
    changed = (
        "".join(
            f"<li>{WORDS[c['old']]} &rarr; {WORDS[c['new']]}: {c['cases']:,} case(s), "
            f"such as {ids(c['examples'])}</li>"
            for c in data["transition_examples"]
        )
        or "<li>No case is decided differently.</li>"
    )
    if data["regions_note"]:
        regions = f"<p>Not counted: {e(data['regions_note'])}.</p>"
    else:
        items = "".join(
            f"<li value='{n}'>{e(shorten(r['summary'], 600))}: "
            f"<strong>{r['cases']:,}</strong> case(s)"
            + (f", such as {ids(r['examples'])}" if r["examples"] else "")
            + (
                f"; <strong>{r['not_as_stated']:,}</strong> case(s) not decided as it states"
                if r.get("not_as_stated")
                else ""
            )
            + "</li>"
            for n, r in _by_cases(data["regions"])
            if _counted(r)
        )
        empty = [str(n) for n, r in enumerate(data["regions"], start=1) if not _counted(r)]
        apart = f"<p>Regions with no case: {e(', '.join(empty))}.</p>" if empty else ""
        regions = (
            f"<ol>{items}</ol>{apart}"
            if items
            else apart or "<p>The versions decide every scenario alike.</p>"
        )
    cited = (
        "".join(
            f"<li><strong>{e(c['criterion'])}</strong> ({c['cases']:,} case(s), such as "
            f"{ids(c['examples'])}): {e(c['text'])}</li>"
            for c in data["newly_cited_in_denials"]
        )
        or "<li>None.</li>"
    )
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Impact of a policy revision</title>
<style>
body {{ font: 15px/1.5 system-ui, sans-serif; color: #1b1b1b;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }}
table {{ border-collapse: collapse; margin: 1rem 0; }}
th, td {{ border: 1px solid #999; padding: .3rem .7rem; text-align: right; }}
th[scope=row] {{ text-align: left; }}
figure {{ margin: 1rem 0; }} svg {{ max-width: 100%; height: auto; }}
</style>
</head>
<body>
<main>
<h1>Impact of a policy revision</h1>
<ul>
<li>Old: {e(_side(data["old"]))}</li>
<li>New: {e(_side(data["new"]))}</li>
<li>Cases: {data["records"]:,} read, {data["evaluated"]:,} decided under both,
{data["errors"]:,} failed; <strong>{data["changed"]:,} decided differently</strong></li>
</ul>
<h2>Verdicts</h2>
<figure role="img" aria-label="Heat map of cases by old and new verdict">
{transitions_svg(report)}
</figure>
<table>
<caption>Cases by verdict: rows old version, columns new version</caption>
<tr><th scope="col">old \\ new</th>{header}</tr>
{"".join(rows)}
</table>
<h2>Changed decisions</h2>
<ul>{changed}</ul>
<h2>Regions of change (from policykb diff)</h2>
{regions}
<h2>Criteria newly cited in denials</h2>
<ul>{cited}</ul>
</main>
</body>
</html>
"""


REPORT_SUFFIXES = {
    ".json": ImpactFormat.JSON,
    ".html": ImpactFormat.HTML,
    ".htm": ImpactFormat.HTML,
}
"""The report format a file name's suffix chooses; any other is Markdown."""


def impact_format_for(output: str) -> ImpactFormat:
    """The report format for a report file (`-`, stdout, is Markdown)."""
    suffix = PurePath(output).suffix.lower() if output != "-" else ""
    return REPORT_SUFFIXES.get(suffix, ImpactFormat.MARKDOWN)


def render_impact(report: ImpactReport, report_format: ImpactFormat) -> str:
    """The report as JSON, Markdown or a self-contained HTML page (which
    needs the `report` extra)."""
    if report_format is ImpactFormat.JSON:
        return json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    if report_format is ImpactFormat.HTML:
        return render_impact_html(report)
    return render_impact_markdown(report)
