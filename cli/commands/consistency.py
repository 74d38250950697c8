"""The commands that analyse policies over every scenario: check and diff."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.case import DEFAULT_POLICY
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.formats import OutputFormat
from policykb.cli import guards
from policykb.cli.answers import write_json
from policykb.cli.errors import consistency_errors, report
from policykb.cli.exit_codes import EXIT_FINDINGS, EXIT_USAGE
from policykb.cli.options import AsOfOption, FormatOption, KbOption, day

if TYPE_CHECKING:
    from policykb.bridge.solving.evaluator import Evaluator


ExportOption = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Write each witness as a case file in this folder (policykb evaluate runs them).",
        show_default=False,
    ),
]


def _as_of(evaluator: Evaluator, as_of: str | None) -> Evaluator:
    """The evaluator grounded at `as_of` for each reference date of the policy."""
    if not evaluator.references:
        return evaluator
    if as_of is None:
        raise PolicyError(
            f"policy {evaluator.policy.name!r} compares dates with "
            f"{', '.join(evaluator.references)}: give --as-of YYYY-MM-DD to analyse it "
            "as of a day"
        )
    parsed = day(as_of)
    assert parsed is not None
    return evaluator.at({name: parsed.toordinal() for name in evaluator.references}, fixed=True)


@consistency_errors
def check(
    policy: Annotated[
        str, typer.Option(help="The policy to check: a name, policy folder or entry file.")
    ] = DEFAULT_POLICY,
    output_format: FormatOption = OutputFormat.TEXT,
    export: ExportOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
    every: Annotated[
        bool,
        typer.Option(
            "--all",
            help="Check every policy, and the catalogue as a whole: codes two policies "
            "claim, facts two policies declare differently. Policies that compare dates "
            "with a reference date are checked as of --as-of, else today.",
        ),
    ] = False,
) -> None:
    """Check a policy for overlaps, dead rules, gaps and vocabulary defects.

    Searches every scenario for overlaps, redundant, unreachable and shadowed
    rules, gaps, and vocabulary defects, each with a minimal witness case.

    A witness is the smallest set of facts that forces the finding in every
    scenario; unreachable rules and vocabulary defects have none, since no
    scenario shows them. Findings the KB acknowledges (acknowledge/3) are
    listed, not counted.
    With --all, every policy is checked, and so is the catalogue: a code two
    policies claim without precedence/2, and a fact two policies declare
    with another type, unit or code system, are conflicts.

    Exit codes: 0 no warnings, 1 warnings (or conflicts) found, 2 usage error
    or invalid policy.
    """
    from policykb.explain.findings import check_witness_files, render_check

    if every:
        _check_all(policy, output_format, export, kb, as_of)
        return
    outputs = guards.outputs(policies=(policy,), kb=kb)
    if export is not None:
        outputs.check_folder(export)
    knowledge = KnowledgeBase(kb or ())
    report = knowledge.check(knowledge.evaluator(policy, day(as_of)), day(as_of))
    if output_format is OutputFormat.JSON:
        write_json(report.to_dict())
    else:
        sys.stdout.write(render_check(report, markdown=output_format is OutputFormat.MARKDOWN))
    if export is not None:
        guards.export(check_witness_files(report), export, outputs)
    if report.warnings:
        raise typer.Exit(EXIT_FINDINGS)


def _check_all(
    policy: str,
    output_format: OutputFormat,
    export: Path | None,
    kb: list[Path] | None,
    as_of: str | None,
) -> None:
    """check --all: each policy's report, then the catalogue's conflicts."""
    from datetime import date

    from policykb.bridge.analysis.catalogue import catalogue_conflicts
    from policykb.explain.findings import render_catalogue, render_check

    if policy != DEFAULT_POLICY or export is not None:
        given = "--policy" if policy != DEFAULT_POLICY else "--export"
        report(f"{given} checks one policy: it cannot be given with --all")
        raise typer.Exit(EXIT_USAGE)
    knowledge = KnowledgeBase(kb or ())
    chosen = day(as_of)
    reports = []
    for name in knowledge.policy_names():
        evaluator = knowledge.evaluator(name, chosen)
        reference_day = chosen or (date.today() if evaluator.references else None)
        reports.append(knowledge.check(evaluator, reference_day))
    catalogue = {
        name: [version.policy for version in knowledge.versions(name)]
        for name in knowledge.policy_names()
    }
    conflicts = catalogue_conflicts(catalogue)
    if output_format is OutputFormat.JSON:
        write_json(
            {
                "policies": [report.to_dict() for report in reports],
                "catalogue": [conflict.to_dict() for conflict in conflicts],
            }
        )
    else:
        markdown = output_format is OutputFormat.MARKDOWN
        pages = [render_check(report, markdown=markdown) for report in reports]
        sys.stdout.write("\n".join([*pages, render_catalogue(conflicts, markdown=markdown)]))
    if conflicts or any(report.warnings for report in reports):
        raise typer.Exit(EXIT_FINDINGS)


@consistency_errors
def diff(
    old: Annotated[
        str, typer.Argument(help="The old version: a policy folder, entry file or name.")
    ],
    new: Annotated[
        str, typer.Argument(help="The new version: a policy folder, entry file or name.")
    ],
    output_format: FormatOption = OutputFormat.TEXT,
    export: ExportOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Show the change impact between two versions of a policy.

    Lists every region of scenarios whose verdict changes, as a minimal
    condition with a witness case, and the criteria and facts added, removed
    or changed.

    Exit codes: 0 no difference, 1 differences found, 2 usage error or invalid policy.
    """
    from policykb.bridge.analysis.diff import diff_policies
    from policykb.explain.findings import diff_witness_files, render_diff

    outputs = guards.outputs(policies=(old, new), kb=kb)
    if export is not None:
        outputs.check_folder(export)
    knowledge = KnowledgeBase(kb or ())
    before = knowledge.evaluator(old, day(as_of))
    after = knowledge.evaluator(new, day(as_of))
    if (before.references or after.references) and as_of is not None:
        # Reference dates: regions relative to them, as of the day.
        report = diff_policies(before, after, day(as_of))
    else:
        before, after = _as_of(before, as_of), _as_of(after, as_of)
        report = diff_policies(before, after)
    if output_format is OutputFormat.JSON:
        write_json(report.to_dict())
    else:
        sys.stdout.write(render_diff(report, markdown=output_format is OutputFormat.MARKDOWN))
    if export is not None:
        guards.export(diff_witness_files(report, after.policy.name), export, outputs)
    if not report.empty:
        raise typer.Exit(EXIT_FINDINGS)
