"""The `policykb` command: its registry of commands, wired into one typer app.

Each command lives in a module of `policykb.cli.commands` (one per group);
adding one means writing it there and adding its line to `COMMANDS`. The exit
codes are the table of `policykb.cli.exit_codes`, which `--help` prints.

The console script (`run`) imports and builds only the command it runs:
typer builds every registered command's parameters before it parses, and
each group's module has imports of its own. `app`, the whole app (help,
usage, tests), is built on first use. Arguments of the simplest shape for
`evaluate` skip typer altogether (`policykb.cli.direct`, from the same
declarations).
"""

from __future__ import annotations

import sys
from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, NamedTuple

from policykb.cli.exit_codes import EXIT_OUTPUT, help_summary

if TYPE_CHECKING:
    import typer


class Command(NamedTuple):
    """A command's name and where its function is: `policykb.cli.commands.<group>.<function>`."""

    name: str
    group: str
    function: str


COMMANDS = (
    Command("evaluate", "case", "evaluate"),
    Command("why", "case", "why"),
    Command("notice", "case", "notice"),
    Command("check", "consistency", "check"),
    Command("diff", "consistency", "diff"),
    Command("batch", "records", "batch"),
    Command("impact", "records", "impact"),
    Command("test", "suites", "test_cases"),
    Command("show", "kb", "show"),
    Command("serve", "service", "serve"),
    Command("replay", "service", "replay"),
    Command("policies", "kb", "policies"),
    Command("facts", "kb", "facts"),
    Command("init-case", "kb", "init_case"),
    Command("reference", "kb", "reference"),
)
"""Every command, in the order `policykb --help` lists them."""

HELP = (
    "Evaluate health-plan coverage cases against policies encoded as ASP rules, "
    "with minimal explanations that quote the policy.\n\n" + help_summary()
)


@cache
def _root() -> typer.Typer:
    """The app with the global options and no command yet."""
    import typer

    from policykb.cli.global_options import limits
    from policykb.cli.parameters import for_typer

    root = typer.Typer(
        name="policykb",
        help=HELP,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )
    root.callback()(for_typer(limits))
    return root


def _with(commands: tuple[Command, ...]) -> typer.Typer:
    """The root app with these commands registered (their modules imported)."""
    import copy

    from policykb.cli.parameters import for_typer

    chosen = copy.copy(_root())
    chosen.registered_commands = []
    for command in commands:
        function = getattr(
            import_module(f"policykb.cli.commands.{command.group}"), command.function
        )
        chosen.command(name=command.name)(for_typer(function))
    return chosen


@cache
def full_app() -> typer.Typer:
    """The app with every command: what help, usage errors and tests see."""
    return _with(COMMANDS)


def __getattr__(name: str) -> typer.Typer:
    """`app`, the whole app, built when first asked for."""
    if name == "app":
        return full_app()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _named_command(arguments: list[str]) -> str | None:
    """The command the arguments name, or None (no command, or --help first)."""
    from policykb.cli.global_options import GLOBAL_VALUE_OPTIONS

    value_next = False
    for argument in arguments:
        if value_next:
            value_next = False
        elif argument in GLOBAL_VALUE_OPTIONS:
            value_next = True
        elif argument.startswith("-"):
            if argument in ("--help", "-h"):
                return None
        else:
            return argument
    return None


def _app_for(arguments: list[str]) -> typer.Typer:
    """The app with only the command the arguments name, when they name one
    (about 60 ms less than building all of them, a seventh of `evaluate`'s
    start-up); the whole app answers help, usage and unknown commands."""
    name = _named_command(arguments)
    chosen = tuple(command for command in COMMANDS if command.name == name)
    return _with(chosen) if chosen else full_app()


def run() -> None:
    """The console script's entry point: the exit code, after a last flush of stdout."""
    from policykb.cli.direct import run_direct
    from policykb.cli.errors import reason, report, silence_stdout

    direct = False
    try:
        direct = run_direct(sys.argv[1:])
        if not direct:
            _app_for(sys.argv[1:])()
        code: int = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        silence_stdout()
        code = code or EXIT_OUTPUT
    except OSError as error:
        report(f"cannot write the output: {reason(error)}")
        silence_stdout()
        code = EXIT_OUTPUT
    if direct:
        _leave(code)
    sys.exit(code)


def _leave(code: int) -> None:
    """End the process after a direct-path command without the interpreter's
    teardown (freeing every module and object: about a tenth of `evaluate`'s
    CPU time), once nothing is left that teardown would do observably: the
    exit handlers have run and both streams are flushed. Only the direct path
    comes here, whose command reads files and writes only to stdout and
    stderr; with another thread alive, the normal exit (which waits for it)
    is kept."""
    threading = sys.modules.get("threading")
    if threading is not None and threading.active_count() > 1:
        return
    import atexit
    import os
    from contextlib import suppress

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with suppress(OSError, ValueError):  # as at a normal exit: the code says what happened
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
