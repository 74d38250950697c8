"""The exit codes of `policykb`: the one table they are written in.

The top-level help, the mapping of the library's errors to codes
(`policykb.cli.errors`) and the "Exit codes" section of docs/cli.md are all
built from `EXIT_CODES`; `python -m policykb.cli.exit_codes` prints that
section (`make docs-exit-codes` writes it into docs/cli.md), and a test
holds the committed docs equal to it.

Invariants: codes are unique and ascending; each error class of
`policykb.bridge.model.errors` except the base is named by exactly one row
(CaseError and PolicyError by the "invalid input" row; check and diff map
PolicyError to usage instead, their 1 meaning findings).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from policykb.bridge.model.errors import (
    CaseError,
    EngineError,
    ExtraMissing,
    LimitError,
    OutputError,
    PolicyError,
    PolicyKBError,
    PrologUnavailable,
    ProofUnsupported,
)


@dataclass(frozen=True)
class ExitCode:
    """One exit code: its number, its words in --help and in the docs, and
    the library's error classes that end a command with it."""

    code: int
    brief: str
    """A few words for the top-level --help."""
    meaning: str
    """The docs' table cell (Markdown): every case that gives this code."""
    errors: tuple[type[PolicyKBError], ...] = ()


EXIT_DONE = 0
EXIT_INVALID = 1
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ENGINES_DISAGREE = 3
EXIT_PROLOG_UNAVAILABLE = 4
EXIT_OUTPUT = 5
EXIT_LIMIT = 6
EXIT_UNPROVABLE = 7
EXIT_EXTRA_MISSING = 8
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

EXIT_CODES: tuple[ExitCode, ...] = (
    ExitCode(
        EXIT_DONE,
        "done",
        "done: `evaluate`, `why`, `notice` whatever the verdict; `check` no warnings; "
        "`diff` no difference; `batch` every record evaluated; `impact` every case decided "
        "under both versions; `test` all cases passed",
    ),
    ExitCode(
        EXIT_INVALID,
        "invalid input (case or policy), or for check/diff findings",
        "invalid input: malformed JSON/YAML (line and column named), unknown fact (nearest "
        "known one named), wrong type, unknown policy, a policy given by path inside a case, "
        "missing input file; an invalid policy (the file and line of the wrong rule or "
        "declaration named); `check` warnings found, or with `--all` conflicts between "
        "policies (a code claimed without precedence, a fact shared with another type or "
        "unit); `diff` differences found; `batch` some "
        "record failed (each has an error record in its place) or the input broke off "
        "(named by line, item or row); `impact` some case failed under either version "
        "(named on stderr, left out of the counts); a case dated outside every version's "
        "period; `test` a case failed or a suite is malformed",
        (CaseError, PolicyError),
    ),
    ExitCode(
        EXIT_USAGE,
        "usage error (for check/diff also an invalid policy)",
        "usage error (unknown option, missing argument, `--jobs` over 64, `check --all` with "
        "`--policy` or `--export`); for `check` and `diff` also an invalid or unknown policy, "
        "or two policies that are not versions of one another",
    ),
    ExitCode(
        EXIT_ENGINES_DISAGREE,
        "the two engines disagree (evaluate --cross-check)",
        "`evaluate --cross-check`: the two engines disagree (or an engine answered what the "
        "semantics rule out); `batch`/`impact --dask`: the cluster cannot be reached or failed",
        (EngineError,),
    ),
    ExitCode(
        EXIT_PROLOG_UNAVAILABLE,
        "SWI-Prolog is not available",
        "the second engine is not available: SWI-Prolog or pyswip missing (the message says "
        "how to install it)",
        (PrologUnavailable,),
    ),
    ExitCode(
        EXIT_OUTPUT,
        "an output could not be written",
        "an output could not be written: `-o`/`--summary`/`--records`/`--export`/`--audit`/"
        "`--jti-store` onto a folder, a file or a missing folder, onto one of the command's "
        "inputs (see Limits and safety), a full disk, a closed pipe",
        (OutputError,),
    ),
    ExitCode(
        EXIT_LIMIT,
        "a limit was reached",
        "a limit was reached (see [Limits and safety](#limits-and-safety))",
        (LimitError,),
    ),
    ExitCode(
        EXIT_UNPROVABLE,
        "the second engine cannot prove the policy",
        "`--proof` or `--cross-check` on a policy whose rules use a construct the second "
        "engine cannot translate (such as `#sum`); the message names the rule's file and "
        "line, and `check` lists it as an `unprovable` finding",
        (ProofUnsupported,),
    ),
    ExitCode(
        EXIT_EXTRA_MISSING,
        "an optional extra is not installed",
        "an optional part of policykb is not installed (`serve` and `replay`: `serve`; "
        "Parquet, Arrow or `--dask`: `lake`; `impact --format html`: `report`): the message "
        "names the pip command that installs it",
        (ExtraMissing,),
    ),
    ExitCode(
        EXIT_INTERNAL,
        "internal error",
        "internal error: a defect of policykb itself (one line; please report it)",
    ),
    ExitCode(
        EXIT_INTERRUPTED,
        "interrupted",
        "interrupted by Ctrl-C or SIGTERM: nothing partial is left behind",
    ),
)


def help_summary() -> str:
    """The exit codes as one sentence of the top-level --help."""
    return "Exit codes: " + "; ".join(f"{row.code} {row.brief}" for row in EXIT_CODES) + "."


def docs_section() -> str:
    """The body of docs/cli.md's "Exit codes" section (Markdown), without its heading."""
    mapped = [
        (" and ".join(f"`{error.__name__}`" for error in row.errors), row.code)
        for row in EXIT_CODES
        if row.errors
    ]
    classes = ", ".join(f"{names} {code}" for names, code in mapped)
    intro = (
        "Every failure is one line on stderr (`error: ...`) and one of these codes, "
        f"each the mark of one error class of `policykb.bridge.model.errors` ({classes}):"
    )
    import textwrap  # the docs' section only

    lines = [
        *textwrap.wrap(intro, width=78, break_long_words=False, break_on_hyphens=False),
        "",
        "| code | meaning |",
        "|---|---|",
        *(f"| {row.code} | {row.meaning} |" for row in EXIT_CODES),
    ]
    return "\n".join(lines) + "\n"


DOCS_BEGIN = "<!-- exit codes: generated by `make docs-exit-codes` from policykb.cli.exit_codes -->"
DOCS_END = "<!-- end of the generated exit codes -->"


def with_docs_section(page: str) -> str:
    """`page` (docs/cli.md) with the text between its markers replaced by `docs_section()`."""
    begin, end = page.find(DOCS_BEGIN), page.find(DOCS_END)
    if begin < 0 or end < begin:
        raise ValueError("docs/cli.md has no exit-code markers")
    return page[: begin + len(DOCS_BEGIN)] + "\n" + docs_section() + page[end:]


def main(arguments: list[str]) -> None:
    """Print the section, or with a path rewrite that page's section in place."""
    if not arguments:
        sys.stdout.write(docs_section())
        return
    page = Path(arguments[0])
    page.write_text(with_docs_section(page.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
