"""The console script's direct path: a command called without typer.

Building the typer app and importing typer and click costs about a fifth of
`policykb evaluate --format json`'s start-up. For the commands in `DIRECT`,
arguments of the simplest shape are read here from the command's own
declarations (`policykb.cli.parameters`) and the command function is called
as typer would call it; every other shape goes to typer.

The shape read here: the command's name first, then each of its str
arguments once, in order, and any of its enum-valued options once each, as
FLAG VALUE with one of the flags it declares and exactly the value of one of
the enum's members. Nothing else: no global options, no `--help`, no `=`
form, no `--`, no token that starts with `-` where an argument is expected
(`-`, stdin, is an argument), no other parameter given, no value typer would
convert (another letter case, a prefix).

Invariant: whenever `direct_call` returns a call, typer would call the same
function with the same keyword arguments (tests/cli/test_direct.py holds the
two equal over generated argument lists), after the same global callback
with its defaults.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from enum import Enum
from importlib import import_module
from typing import Any, get_type_hints

from policykb.cli.parameters import declaration

DIRECT = frozenset({"evaluate"})
"""The commands with a direct path: the ones whose start-up is measured
(where their functions are: `policykb.cli.main.COMMANDS`)."""


class _Shape:
    """What of a command's parameters the direct path reads: its required str
    arguments in order, its enum-valued options by flag, and every
    parameter's default (typer passes the declared defaults)."""

    def __init__(self, function: Callable[..., Any]) -> None:
        hints = get_type_hints(function, include_extras=True)
        self.arguments: list[str] = []
        self.options: dict[str, tuple[str, type[Enum]]] = {}
        self.defaults: dict[str, Any] = {}
        self.readable = True
        for name, parameter in inspect.signature(function).parameters.items():
            base, declared = declaration(hints[name])
            required = parameter.default is inspect.Parameter.empty
            if not required:
                self.defaults[name] = parameter.default
            if declared is None:
                self.readable &= not required  # an undeclared parameter typer would ask for
            elif declared.kind == "Argument":
                # an optional or converted argument: typer's to read
                self.readable &= (
                    required and base is str and set(declared.kwargs) <= {"help", "metavar"}
                )
                self.arguments.append(name)
            elif (
                isinstance(base, type)
                and issubclass(base, Enum)
                and not required
                and set(declared.kwargs) <= {"help", "case_sensitive"}
            ):
                for flag in declared.names():
                    self.options[flag] = (name, base)


def direct_call(arguments: list[str]) -> tuple[Callable[..., Any], dict[str, Any]] | None:
    """The command function and the keyword arguments typer would call it
    with, when `arguments` are in the shape above; else None."""
    if not arguments or arguments[0] not in DIRECT or _completion_asked():
        return None
    from policykb.cli.main import COMMANDS  # the console script's own module: loaded

    command = next(c for c in COMMANDS if c.name == arguments[0])
    function = getattr(import_module(f"policykb.cli.commands.{command.group}"), command.function)
    shape = _Shape(function)
    if not shape.readable:
        return None
    given: dict[str, Any] = {}
    waiting = list(shape.arguments)
    tokens = iter(arguments[1:])
    for token in tokens:
        if token in shape.options:
            option, kind = shape.options[token]
            value = next(tokens, None)
            members = {member.value: member for member in kind}
            if option in given or value not in members:
                return None
            given[option] = members[value]
        elif waiting and token and (token == "-" or not token.startswith("-")):
            given[waiting.pop(0)] = token
        else:
            return None
    if waiting:
        return None
    return function, {**shape.defaults, **given}


def _completion_asked() -> bool:
    """Whether click's shell completion is asked for (_PROG_COMPLETE in the
    environment): typer answers that, whatever the arguments."""
    return any(key.startswith("_") and key.endswith("_COMPLETE") for key in os.environ)


def run_direct(arguments: list[str]) -> bool:
    """Run the command the arguments name on the direct path, if they are in
    its shape: the global callback with its defaults, then the command (its
    SystemExit, if any, propagates). False when typer must parse them."""
    call = direct_call(arguments)
    if call is None:
        return False
    from policykb.cli.global_options import limits

    limits()
    function, keywords = call
    function(**keywords)
    return True
