"""The command that runs analysts' YAML case suites: test."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.formats import OutputFormat
from policykb.cli.answers import write_json
from policykb.cli.errors import reports_errors
from policykb.cli.exit_codes import EXIT_INVALID
from policykb.cli.options import FormatOption, KbOption


@reports_errors
def test_cases(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Suite files (YAML) or folders holding test_*.yaml suites. Default: the "
            "tests/ folder of every policy in the KB.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """Run YAML case tests written by analysts.

    Each case has a name, facts and expect: a verdict, and optionally the
    explanation (criterion IDs or facts) and the missing facts.

    Prints PASS or FAIL per case, with a diff of expected and actual for each
    failure. Exit codes: 0 all passed, 1 a case failed (or a suite is
    malformed), 2 usage error.
    """
    from policykb.bridge.testing.suite import SuiteRunner, as_dict, bundled_suites

    knowledge = KnowledgeBase(kb or ())
    targets = list(paths) if paths else bundled_suites(knowledge)
    results = list(SuiteRunner(knowledge).run_suites(targets))
    failed = [r for r in results if not r.passed]
    if output_format is OutputFormat.JSON:
        write_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "results": [as_dict(r) for r in results],
            }
        )
    else:
        for result in results:
            sys.stdout.write(f"{'PASS' if result.passed else 'FAIL'}  {result.test.ident}\n")
            detail = result.error or result.diff
            if detail:
                sys.stdout.write("".join(f"      {line}\n" for line in detail.splitlines()))
        sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed\n")
    if failed or not results:
        raise typer.Exit(EXIT_INVALID)
