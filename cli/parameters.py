"""Command parameters declared without importing typer.

`Option(...)` and `Argument(...)` here take exactly typer's arguments (mypy
checks them against typer's own signatures) but only record them: the app
builds the real typer objects when it registers a command (`for_typer`).
A command module that declares its parameters this way can be imported,
and its function called, without typer and click, which are a fifth of
`policykb evaluate`'s start-up; the console script's direct path
(`policykb.cli.direct`) reads the same declarations.

Invariant: `for_typer(f)` gives typer the signature of `f` with each
recorded declaration replaced by the typer object made from the same
arguments, so the two ways of declaring a parameter behave alike.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, TypeVar, get_args, get_origin

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Declared:
    """A typer.Option or typer.Argument call, recorded to be made later."""

    kind: str
    """"Option" or "Argument": the name of typer's function."""
    args: tuple[Any, ...]
    kwargs: dict[str, Any]

    def names(self) -> tuple[str, ...]:
        """An option's flags as written (--format, -f): its positional arguments."""
        return tuple(a for a in self.args if isinstance(a, str) and a.startswith("-"))

    def made(self) -> Any:
        """The typer object of this declaration."""
        import typer

        return getattr(typer, self.kind)(*self.args, **self.kwargs)


def _recorder(kind: str) -> Callable[..., Declared]:
    def declare(*args: Any, **kwargs: Any) -> Declared:
        return Declared(kind, args, kwargs)

    declare.__name__ = kind
    return declare


if TYPE_CHECKING:
    from typer import Argument as Argument
    from typer import Option as Option
else:
    Option = _recorder("Option")
    Argument = _recorder("Argument")


def declaration(annotation: Any) -> tuple[Any, Declared | None]:
    """The type of an annotation and its recorded declaration, if it has one."""
    if get_origin(annotation) is Annotated:
        base, *metadata = get_args(annotation)
        recorded = [m for m in metadata if isinstance(m, Declared)]
        return base, (recorded[0] if recorded else None)
    return annotation, None


def _made(annotation: Any) -> Any:
    if get_origin(annotation) is not Annotated:
        return annotation
    base, *metadata = get_args(annotation)
    made = [m.made() if isinstance(m, Declared) else m for m in metadata]
    return Annotated[(base, *made)]


def for_typer(function: F) -> F:
    """`function` with typer's own objects in its signature (set once, as
    `__signature__`, which typer reads through inspect.signature)."""
    signature = inspect.signature(function, eval_str=True)
    parameters = [p.replace(annotation=_made(p.annotation)) for p in signature.parameters.values()]
    function.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return function
