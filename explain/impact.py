"""An impact report for a policy committee: Markdown, or a self-contained
HTML page with a chart of the transitions (matplotlib, drawn as inline SVG:
no script, no file beside it, nothing fetched), from a jinja2 template.

Case ids come from the data: escaped for the medium like every case text.
"""

from __future__ import annotations

import io
import json
from functools import cache
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from policykb.bridge.batch.impact import VERDICTS, ImpactReport
from policykb.bridge.model.formats import ImpactFormat
from policykb.explain.escape import markdown_safe, shorten

if TYPE_CHECKING:
    import jinja2
    from markupsafe import Markup

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
    """A self-contained page: the tables of the Markdown report and the chart
    (templates/impact.html.j2, autoescaped: case ids and policy text are
    text, whatever they hold)."""
    from markupsafe import Markup

    data = report.to_dict()
    regions = data["regions"]
    return (
        _templates()
        .get_template("impact.html.j2")
        .render(
            old=_side(data["old"]),
            new=_side(data["new"]),
            records=data["records"],
            evaluated=data["evaluated"],
            errors=data["errors"],
            changed=data["changed"],
            # matplotlib's drawing of the counts: markup of ours, no case text
            chart=Markup(transitions_svg(report)),
            verdicts=[WORDS[v] for v in VERDICTS],
            transitions=[
                (WORDS[old], [data["transitions"][old][new] for new in VERDICTS])
                for old in VERDICTS
            ],
            changes=[
                {**change, "old": WORDS[change["old"]], "new": WORDS[change["new"]]}
                for change in data["transition_examples"]
            ],
            regions_note=data["regions_note"],
            regions=[
                {**region, "number": number, "summary": shorten(region["summary"], 600)}
                for number, region in _by_cases(regions)
                if _counted(region)
            ],
            empty=[str(n) for n, r in enumerate(regions, start=1) if not _counted(r)],
            newly_cited=data["newly_cited_in_denials"],
        )
    )


@cache
def _templates() -> jinja2.Environment:
    """The report templates (package data of policykb.explain), autoescaped."""
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("policykb.explain", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["count"] = lambda n: f"{n:,}"
    environment.filters["ids"] = _html_ids
    return environment


def _html_ids(ids: list[str]) -> Markup | str:
    """Case ids as code, escaped and shortened (a 1 MB id is not echoed whole)."""
    from markupsafe import Markup

    return (
        Markup(", ").join(Markup("<code>{}</code>").format(shorten(i, 80)) for i in ids) or "none"
    )


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
