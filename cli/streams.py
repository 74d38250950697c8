"""Files for the commands: input, output that cannot destroy, a progress bar.

Output rules (every file a command writes goes through an `Outputs` guard,
made from the command's inputs):
- `-` is stdout.
- An output that is one of the inputs (the same file: same device and inode,
  so through a symlink or a hard link too) is refused before any work, and
  again just before it is written, with exit 5 and both names.
- A regular file (or a path that does not exist yet) is replaced atomically
  (bridge/model/atomic_file.py): an interrupted or failed run leaves the old
  file as it was. A symlink is followed to its target rather than replaced.
- Anything else (a FIFO, a device such as /dev/null) is written in place,
  never renamed over.
"""

from __future__ import annotations

import errno
import os
import stat
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from policykb.bridge.model.atomic_file import replaced_whole
from policykb.bridge.model.errors import CaseError, OutputError


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
    except OSError as error:
        raise CaseError(f"{path}: cannot read: {error.strerror}") from None
    with stream:
        yield stream


MAX_FOLDER_FILES = 10_000
"""An input folder (a --kb, a policy folder) is guarded file by file, up to this many."""


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _regular_files(path: str) -> Iterator[tuple[str, os.stat_result]]:
    """The regular files an input names: itself, or those in the folder it is."""
    try:
        info = os.stat(path)
    except OSError:
        return
    if stat.S_ISREG(info.st_mode):
        yield path, info
    elif stat.S_ISDIR(info.st_mode):
        seen = 0
        for folder, _, names in os.walk(path):
            for name in names:
                inside = os.path.join(folder, name)
                try:
                    found = os.stat(inside)
                except OSError:
                    continue
                if stat.S_ISREG(found.st_mode):
                    yield inside, found
                    seen += 1
                    if seen >= MAX_FOLDER_FILES:
                        return


class Outputs:
    """The outputs of one command run, guarded against its inputs.

    Invariant: no file this guard writes is one of the inputs it was made
    with. Inputs are compared by identity (device and inode), so a symlink,
    a hard link or another spelling of the same file is the same input. Only
    regular files are guarded: writing to a FIFO or a device destroys nothing.
    """

    def __init__(self, inputs: Iterable[str | Path | None] = ()) -> None:
        self._inputs: dict[tuple[int, int], str] = {}
        for given in inputs:
            if given is None or str(given) == "-":
                continue
            for name, info in _regular_files(str(given)):
                self._inputs.setdefault(_identity(info), name)

    def _refuse_input(self, shown: str, target: str) -> os.stat_result | None:
        """The target's stat (None when it does not exist); OutputError when it
        cannot be written or is an input."""
        try:
            info = os.stat(target)
        except FileNotFoundError:
            return None
        except OSError as error:
            raise OutputError(f"{shown}: cannot write: {error.strerror}") from None
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"{shown}: is a folder, not a file")
        same = self._inputs.get(_identity(info)) if stat.S_ISREG(info.st_mode) else None
        if same is not None:
            raise OutputError(f"{shown}: is the input file {same}; write the output elsewhere")
        return info

    def check(self, path: str | Path) -> None:
        """Refuse, before any work, an output that cannot be written or is an input."""
        shown = str(path)
        if shown == "-":
            return
        target = os.path.realpath(shown)
        self._refuse_input(shown, target)
        if not os.path.isdir(os.path.dirname(target) or "."):
            raise OutputError(f"{shown}: the folder {os.path.dirname(shown) or '.'} does not exist")

    @contextmanager
    def open(self, path: str | Path) -> Iterator[IO[bytes]]:
        """A binary stream whose content replaces `path` only when the block succeeds."""
        shown = str(path)
        if shown == "-":
            yield sys.stdout.buffer
            sys.stdout.flush()
            return
        target = os.path.realpath(shown)
        info = self._refuse_input(shown, target)
        if info is not None and not stat.S_ISREG(info.st_mode):
            # A FIFO, a device or a socket: write to it, never replace it.
            try:
                stream = open(target, "wb")  # noqa: SIM115 (closed below)
            except OSError as error:
                raise OutputError(f"{shown}: cannot write: {error.strerror}") from None
            with stream:
                yield stream
            return
        if not os.path.isdir(os.path.dirname(target) or "."):
            raise OutputError(f"{shown}: the folder {os.path.dirname(shown) or '.'} does not exist")
        try:
            with replaced_whole(target, info) as whole:
                yield whole
        except OSError as error:
            reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror
            raise OutputError(f"{shown}: cannot write: {reason}") from None

    def write(self, path: str | Path, text: str) -> None:
        """Write a whole text file (`-`: stdout)."""
        if str(path) == "-":
            sys.stdout.write(text)
            return
        with self.open(path) as stream:
            stream.write(text.encode("utf-8"))

    def check_folder(self, path: Path) -> None:
        """Refuse, before any work, a folder to write into that is a file."""
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: is a file, not a folder")

    def folder(self, path: Path) -> Path:
        """A folder to write files into: created when missing, refused when a file."""
        if path.exists() and not path.is_dir():
            raise OutputError(f"{path}: is a file, not a folder")
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise OutputError(f"{path}: cannot create the folder: {error.strerror}") from None
        return path


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
