"""Files and progress for `policykb batch`: stdin/stdout, atomic output, a progress bar."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from policykb.bridge.errors import CaseError


@contextmanager
def open_input(path: str) -> Iterator[IO[bytes]]:
    if path == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = open(path, "rb")  # noqa: SIM115 (closed below)
    except FileNotFoundError:
        raise CaseError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CaseError(f"{path}: is a folder") from None
    with stream:
        yield stream


@contextmanager
def atomic_output(path: str) -> Iterator[IO[bytes]]:
    """Write to a temporary file beside `path`, renamed over it only on success."""
    if path == "-":
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    target = Path(path)
    if not target.parent.is_dir():
        raise CaseError(f"{path}: the folder {target.parent} does not exist")
    handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 (renamed or removed below)
        dir=target.parent, prefix=f".{target.name}.", suffix=".partial", delete=False
    )
    try:
        with handle:
            yield handle
    except BaseException:
        Path(handle.name).unlink(missing_ok=True)
        raise
    os.replace(handle.name, target)


class _Progress:
    """A rich progress bar on a terminal; nothing otherwise."""

    def __init__(self, console: Console) -> None:
        self.bar: Progress | None = None
        if console.is_terminal:
            self.bar = Progress(
                TextColumn("evaluating"),
                BarColumn(),
                TextColumn("{task.completed:,} records"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
            )
        self.task = self.bar.add_task("batch", total=None) if self.bar else None
        self.count = 0

    def advance(self, records: int) -> None:
        self.count += records
        if self.bar is not None and self.task is not None:
            self.bar.update(self.task, completed=self.count)

    def __enter__(self) -> _Progress:
        if self.bar is not None:
            self.bar.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.bar is not None:
            self.bar.stop()


def make_progress(console: Console) -> _Progress:
    return _Progress(console)
