"""Every failure of a command as one line on stderr and the code of the
exit-code table (`policykb.cli.exit_codes`), never a traceback."""

from __future__ import annotations

import contextlib
import errno
import os
import sys
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, TypeVar

from policykb.bridge.model.errors import PolicyKBError
from policykb.cli.exit_codes import (
    EXIT_CODES,
    EXIT_EXTRA_MISSING,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_OUTPUT,
    EXIT_USAGE,
)
from policykb.cli.interrupts import interruptible

P = ParamSpec("P")
R = TypeVar("R")

ERROR_CODES: tuple[tuple[type[PolicyKBError], int], ...] = tuple(
    (error, row.code) for row in EXIT_CODES if row.code != EXIT_INVALID for error in row.errors
)
"""Each error class of the library with a code of its own, from the table;
any other (CaseError, PolicyError) is invalid input."""


def report(error: Exception | str) -> None:
    """Write `error: MESSAGE` on stderr, escaped for the terminal."""
    from policykb.explain.escape import terminal_safe

    prefix = "error:"
    if sys.stderr.isatty():
        from policykb.explain.terminal import styled

        prefix = styled(prefix, "bold red")
    try:
        sys.stderr.write(f"{prefix} {terminal_safe(str(error))}\n")
        sys.stderr.flush()
    except OSError:
        pass  # stderr itself is gone: the exit code still tells


def reason(error: OSError) -> str:
    """Why an output failed, in words."""
    return "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))


def silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _code_of(error: PolicyKBError, invalid: int) -> int:
    for kind, code in ERROR_CODES:
        if isinstance(error, kind):
            return code
    return invalid


def _is_typer_exit(error: Exception) -> bool:
    """Whether `error` is typer's Exit (only a command run by typer can have
    raised one, so typer is not imported to ask)."""
    typer = sys.modules.get("typer")
    return typer is not None and isinstance(error, typer.Exit)


def _exits_on_error(invalid: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn the library's errors into one line on stderr and the code the
    table gives their class; invalid input (a case, a policy) exits `invalid`."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @wraps(command)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                with interruptible():
                    return command(*args, **kwargs)
            except PolicyKBError as error:
                code = _code_of(error, invalid)
                report(error)
            except KeyboardInterrupt:
                code = EXIT_INTERRUPTED
                report("interrupted")
            except BrokenPipeError:
                code = EXIT_OUTPUT
                silence_stdout()
            except OSError as error:
                code = EXIT_OUTPUT
                report(f"cannot write the output: {reason(error)}")
                silence_stdout()
            except Exception as error:  # a defect of policykb itself: still one line
                if _is_typer_exit(error):
                    raise  # a command's own exit code (typer.Exit is a RuntimeError)
                # ...unless it is an import of an extra the user did not install
                from policykb.bridge.model.extras import missing_extra

                missing = missing_extra(error) if isinstance(error, ModuleNotFoundError) else None
                if missing is not None:
                    code = EXIT_EXTRA_MISSING
                    report(missing)
                else:
                    code = EXIT_INTERNAL
                    detail = " ".join(str(error).split())[:300]
                    report(f"internal error ({type(error).__name__}: {detail}); please report it")
            raise SystemExit(code)

        return wrapper

    return decorate


reports_errors = _exits_on_error(EXIT_INVALID)
"""The error handling of every command but check and diff."""
consistency_errors = _exits_on_error(EXIT_USAGE)
"""check and diff exit 1 for findings, so invalid input is exit 2 there."""
