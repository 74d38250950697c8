"""The commands over many cases: batch and impact."""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from policykb.bridge import KnowledgeBase
from policykb.bridge.batch.settings import MAX_JOBS
from policykb.bridge.model.formats import ImpactFormat, InputFormat, RecordFormat
from policykb.cli import guards
from policykb.cli.errors import reports_errors
from policykb.cli.exit_codes import EXIT_INVALID
from policykb.cli.options import AsOfOption, KbOption, PolicyOption, day

if TYPE_CHECKING:
    from policykb.bridge.batch.output import ChunkResult


InputFormatOption = Annotated[
    InputFormat | None,
    typer.Option(
        "--input-format",
        help="Input format (default: from the file name; stdin is JSONL).",
        case_sensitive=False,
        show_default=False,
    ),
]
JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs",
        "-j",
        min=0,
        max=MAX_JOBS,
        help=f"Worker processes (0: one per CPU; at most {MAX_JOBS}).",
    ),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="SCHEDULER|local[N]",
        help="Run the partitions on a Dask cluster: a scheduler's address "
        "(tcp://host:8786), or local[N] for N worker processes on this machine.",
        show_default=False,
    ),
]


def worker_count(jobs: int) -> int:
    """--jobs as a number of worker processes: 0 is one per CPU, at most MAX_JOBS."""
    return min(jobs or (os.cpu_count() or 1), MAX_JOBS)


@reports_errors
def batch(
    input_path: Annotated[
        str, typer.Argument(metavar="INPUT", help="JSONL, CSV or JSON-array file, or - for stdin.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file, or - for stdout.")
    ] = "-",
    output_format: Annotated[
        RecordFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: parquet for an output file *.parquet, else jsonl).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    input_format: InputFormatOption = None,
    jobs: JobsOption = 0,
    no_explain: Annotated[
        bool, typer.Option("--no-explain", help="Leave the explanation out of JSONL records.")
    ] = False,
    summary_file: Annotated[
        Path | None,
        typer.Option(
            "--summary", help="Also write the summary as JSON to this file.", show_default=False
        ),
    ] = None,
    policy: PolicyOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
    dask: DaskOption = None,
) -> None:
    """Evaluate many cases: one output record per input record, in input order.

    INPUT is JSONL (one case per line), CSV (a header with id, optional policy,
    and one column per fact; an empty cell is unknown; lists are ;-separated;
    booleans true/false, yes/no or 1/0), a JSON array of cases, or Parquet (one
    column per fact, optional id and policy columns; null is unknown; read row
    group by row group). JSONL output records are the evaluate JSON; CSV output
    has the columns id, verdict, explanation (fact=value; ...), missing, error
    and version (EFFECTIVE sha256:HASH); Parquet output the columns id, policy,
    verdict, explanation, cited, missing, version_effective, version_hash and
    error.

    A case's date_of_service chooses the version of its policy in force that
    day (--as-of: the version in force on that day, for every case).

    A record that fails (malformed, unknown fact, wrong type) gets an error
    record in its place, {"line": N, "id": ..., "error": ...} ("record" for a
    JSON array), and a line on stderr; the batch goes on. An output file gets
    its name only when complete (an interrupted run leaves nothing); a FIFO or
    device is written in place; the input file is never the output. A summary
    goes to stderr.

    Exit codes: 0 every record evaluated, 1 some record failed (or the input
    could not be read), 2 usage error, 3 the Dask cluster failed or cannot be
    reached, 5 the output could not be written, 130 interrupted.
    """
    from policykb.bridge.batch.readers import guess_format
    from policykb.bridge.batch.runner import run_batch
    from policykb.bridge.batch.settings import BatchSettings
    from policykb.cli.streams import make_progress, open_input
    from policykb.explain.summary import render_summary

    kind = input_format or (InputFormat.JSONL if input_path == "-" else guess_format(input_path))
    if output_format is None:
        parquet = output.lower().endswith((".parquet", ".pq"))
        output_format = RecordFormat.PARQUET if parquet else RecordFormat.JSONL
    settings = BatchSettings(
        kb_dirs=tuple(str(d) for d in (kb or ())),
        explain=not no_explain,
        output=output_format,
        policy=policy,
        as_of=day(as_of),
    )
    outputs = guards.outputs((input_path,), (policy,), kb)
    if summary_file is not None:
        outputs.check(summary_file)
    outputs.check(output)
    # Validate the policy up front, so a wrong --policy fails once, not per record.
    if policy is not None:
        KnowledgeBase(kb or ()).policy(policy)
    from rich.console import Console

    errors = Console(stderr=True, soft_wrap=True, highlight=False)
    progress = make_progress(errors)

    place = {InputFormat.JSON: "record", InputFormat.PARQUET: "row"}.get(kind, "line")

    def seen(result: ChunkResult) -> None:
        for failed in result.errors:
            errors.print(f"{place} {failed.number}: {failed.message}", markup=False)
        progress.advance(result.summary.total)

    with (
        open_input(input_path) as source,
        outputs.open(output) as target,
        progress,
    ):
        summary = run_batch(source, target, kind, settings, worker_count(jobs), seen, dask)
    errors.print(render_summary(summary), markup=False)
    if summary_file is not None:
        outputs.write(summary_file, json.dumps(summary.to_dict(), indent=2) + "\n")
    if summary.errors:
        raise typer.Exit(EXIT_INVALID)


@reports_errors
def impact(
    old: Annotated[
        str,
        typer.Argument(
            help="The version in force: a name (NAME@YYYY-MM-DD), folder or entry file."
        ),
    ],
    new: Annotated[
        str,
        typer.Argument(help="The revision: a name (NAME@YYYY-MM-DD), folder or entry file."),
    ],
    cases: Annotated[
        str,
        typer.Argument(help="The case history: JSONL, CSV, JSON array or Parquet, or - for stdin."),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Report file, or - for stdout.")
    ] = "-",
    report_format: Annotated[
        ImpactFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Report format (default: from the report file's name, .json, .md or "
            ".html; markdown on stdout).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    input_format: InputFormatOption = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, max=1000, help="Example case ids per count.")
    ] = 5,
    records: Annotated[
        str | None,
        typer.Option(
            "--records",
            metavar="FILE",
            help="Also write one row per case (id, old_verdict, new_verdict, changed, "
            "newly_cited, regions, error): Parquet for *.parquet, else JSONL.",
            show_default=False,
        ),
    ] = None,
    regions: Annotated[
        bool,
        typer.Option(
            "--regions/--no-regions",
            help="Count the cases in each region of diff (diff takes the policy's time, "
            "not the data's).",
        ),
    ] = True,
    jobs: JobsOption = 0,
    kb: KbOption = None,
    as_of: AsOfOption = None,
    dask: DaskOption = None,
) -> None:
    """The impact of a revision on case history: which cases it decides differently.

    Decides every case under OLD and under NEW and reports the verdicts before
    and after with the transition matrix (every pair, unchanged ones too), how
    many cases fall in each region of `policykb diff` with example ids, and the
    criteria newly cited in denials. Each of OLD and NEW is one version for the
    whole run (a name: the version in force on --as-of, else today), whatever
    each case's date_of_service.

    A case that fails under either version is counted, named on stderr, and
    left out of the counts. The report is JSON, Markdown, or a self-contained
    HTML page with a chart.

    Exit codes: 0 every case decided, 1 some case failed (or the input or a
    policy could not be read), 2 usage error, 3 the Dask cluster failed or
    cannot be reached, 5 the report could not be written, 130 interrupted.
    """
    from policykb.bridge.batch.impact import ImpactSettings, RecordsWriter, run_impact
    from policykb.bridge.batch.readers import guess_format
    from policykb.cli.streams import make_progress, open_input
    from policykb.explain.impact import impact_format_for, render_impact

    kind = input_format or (InputFormat.JSONL if cases == "-" else guess_format(cases))
    if report_format is None:
        report_format = impact_format_for(output)
    outputs = guards.outputs((cases,), (old, new), kb)
    outputs.check(output)
    if records is not None:
        outputs.check(records)
    settings = ImpactSettings(
        old=old,
        new=new,
        kb_dirs=tuple(str(d) for d in (kb or ())),
        as_of=day(as_of),
        examples=examples,
        records=records is not None,
    )
    from rich.console import Console

    errors = Console(stderr=True, soft_wrap=True, highlight=False)
    progress = make_progress(errors)
    place = {InputFormat.JSON: "record", InputFormat.PARQUET: "row"}.get(kind, "line")

    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_input(cases))
        writer = None
        if records is not None:
            target = stack.enter_context(outputs.open(records))
            parquet = records.lower().endswith((".parquet", ".pq"))
            writer = RecordsWriter(target, parquet)
            stack.callback(writer.close)
        stack.enter_context(progress)

        def seen(part: Any) -> None:
            for failed in part.errors:
                errors.print(f"{place} {failed.number}: {failed.message}", markup=False)
            if writer is not None:
                writer.write(part.rows)
            progress.advance(part.records)

        report = run_impact(
            source,
            kind,
            settings,
            regions=regions,
            jobs=worker_count(jobs),
            dask=dask,
            on_part=seen,
        )
    outputs.write(output, render_impact(report, report_format))
    errors.print(
        f"{report.totals.records:,} cases: {report.changed:,} decided differently, "
        f"{report.totals.error_count:,} failed",
        markup=False,
    )
    if report.totals.error_count:
        raise typer.Exit(EXIT_INVALID)
