"""The options given before the command, which hold for every command."""

from __future__ import annotations

import sys
from typing import Annotated

from policykb.cli.parameters import Option


def _print_version(given: bool) -> None:
    """--version: the installed distribution's version, then exit 0."""
    if given:
        from policykb.bridge.model.release import version

        sys.stdout.write(f"policykb {version()}\n")
        raise SystemExit(0)


GLOBAL_VALUE_OPTIONS = frozenset({"--load-timeout", "--load-memory"})
"""The options of `limits` that take a value (the console script skips them
to find the command's name)."""


def limits(
    load_timeout: Annotated[
        float,
        Option(
            "--load-timeout",
            min=0.1,
            help="Seconds a policy of your own may take to ground (bundled ones are trusted).",
        ),
    ] = 30.0,
    load_memory: Annotated[
        int,
        Option("--load-memory", min=64, help="MiB of memory a policy of your own may ground in."),
    ] = 4096,
    _version: Annotated[
        bool,
        Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print policykb's version and exit.",
        ),
    ] = False,
) -> None:
    """Limits that hold for every command (give them before the command)."""
    from policykb.bridge.solving.load_limits import LIMITS

    LIMITS.seconds = load_timeout
    LIMITS.memory_mib = load_memory
