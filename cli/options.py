"""The options and arguments several commands share, as typed annotations.

Defining one here, not in a command, keeps its flag, help and limits the
same wherever it appears.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from policykb.bridge.batch.settings import MAX_JOBS
from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.formats import InputFormat, OutputFormat

KbOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--kb",
        help="A folder of your own policies (or one policy folder); repeatable. "
        "Its policies are added to the bundled ones and win on a name clash.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
PolicyArgument = Annotated[
    str,
    typer.Argument(
        help="A policy name, or a policy folder or entry file given as a path (./NAME)."
    ),
]
AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="Use the version of the policy in force on this day (default: the case's "
        "date_of_service, else today); a policy that compares dates with a reference "
        "date (the date of service, say) is analysed as of this day.",
        show_default=False,
    ),
]
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
CaseArgument = Annotated[str, typer.Argument(help="A case file (JSON or YAML), or - for stdin.")]
PolicyOption = Annotated[
    str | None,
    typer.Option(help="Use this policy (name, folder or entry file), whatever the case names."),
]
ProofOption = Annotated[
    bool,
    typer.Option(
        "--proof",
        help="Add a goal-directed proof of the verdict from SWI-Prolog "
        "(with --format dot: the proof alone, as Graphviz DOT).",
    ),
]
DotOutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="With --format dot: write the DOT here, and an SVG beside it when "
        "Graphviz is installed.",
        show_default=False,
    ),
]
ExportOption = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Write each witness as a case file in this folder (policykb evaluate runs them).",
        show_default=False,
    ),
]


def worker_count(jobs: int) -> int:
    """--jobs as a number of worker processes: 0 is one per CPU, at most MAX_JOBS."""
    import os

    return min(jobs or (os.cpu_count() or 1), MAX_JOBS)


def day(text: str | None) -> date | None:
    """--as-of as a date (None when not given)."""
    if text is None:
        return None
    from policykb.bridge.model.dates import require_date

    return require_date(text, CaseError(f"--as-of: {text!r} is not a date YYYY-MM-DD"))
