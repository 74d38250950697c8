"""The options and arguments that commands of several groups share, as
typed annotations (an option of one group is defined in its module).

Defining one here, not in a command, keeps its flag, help and limits the
same wherever it appears.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

from policykb.bridge.model.errors import CaseError
from policykb.bridge.model.formats import OutputFormat
from policykb.cli.parameters import Argument, Option

KbOption = Annotated[
    list[Path] | None,
    Option(
        "--kb",
        help="A folder of your own policies (or one policy folder); repeatable. "
        "Its policies are added to the bundled ones and win on a name clash.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, Option("--format", "-f", help="Output format.", case_sensitive=False)
]
PolicyArgument = Annotated[
    str,
    Argument(help="A policy name, or a policy folder or entry file given as a path (./NAME)."),
]
AsOfOption = Annotated[
    str | None,
    Option(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="Use the version of the policy in force on this day (default: the case's "
        "date_of_service, else today); a policy that compares dates with a reference "
        "date (the date of service, say) is analysed as of this day.",
        show_default=False,
    ),
]
PolicyOption = Annotated[
    str | None,
    Option(help="Use this policy (name, folder or entry file), whatever the case names."),
]


def day(text: str | None) -> date | None:
    """--as-of as a date (None when not given)."""
    if text is None:
        return None
    from policykb.bridge.model.dates import require_date

    return require_date(text, CaseError(f"--as-of: {text!r} is not a date YYYY-MM-DD"))
