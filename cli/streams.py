"""Files for the commands: input, output that cannot destroy, a progress bar.

Output rules (every command that writes a file goes through `safe_output`):
- `-` is stdout.
- A regular file (or a path that does not exist yet) is replaced atomically:
  the data go to an anonymous file (Linux O_TMPFILE) in the target's folder
  that gets a name only once complete, so no death, SIGKILL included, leaves
  a partial file behind. The existing file's mode and owner are kept, and a
  symlink is followed to its target rather than replaced.
- Anything else (a FIFO, a device such as /dev/null) is written in place,
  never renamed over.
- An output that is the input file itself is refused.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

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


def _identity(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def _link_name(fd: int, folder: str) -> str:
    """Give the anonymous file `fd` a hidden name in `folder` (linkat through /proc)."""
    # os.link calls link(2), which does not follow /proc's magic link, unless a
    # dir_fd is given: then it calls linkat(2) with AT_SYMLINK_FOLLOW.
    root = os.open("/", os.O_RDONLY | os.O_CLOEXEC)
    try:
        for attempt in range(100):
            name = os.path.join(folder, f".policykb-{os.getpid()}-{attempt}.new")
            try:
                os.link(f"/proc/self/fd/{fd}", name, src_dir_fd=root, follow_symlinks=True)
                return name
            except FileExistsError:
                continue
    finally:
        os.close(root)
    raise OSError(errno.EEXIST, "no free temporary name")


def _anonymous_files_work(folder: str) -> bool:
    """Whether this folder's file system can create O_TMPFILE files and link them."""
    try:
        probe = os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600)
    except (AttributeError, OSError):
        return False
    try:
        os.unlink(_link_name(probe, folder))
        return True
    except OSError:
        return False
    finally:
        os.close(probe)


def _anonymous_file(folder: str, mode: int) -> tuple[int, str | None]:
    """A file descriptor for the new content, and its visible name if it has one."""
    if _anonymous_files_work(folder):
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode), None
    # No O_TMPFILE here: a hidden named file, removed on any error or signal
    # that Python sees (only SIGKILL can leave it behind).
    fd, name = tempfile.mkstemp(dir=folder, prefix=".policykb-", suffix=".partial")
    return fd, name


def _publish(fd: int, name: str | None, target: str) -> None:
    """Give the finished file the target's name, atomically."""
    if name is None:
        name = _link_name(fd, os.path.dirname(target) or ".")
    os.replace(name, target)


@contextmanager
def safe_output(path: str | Path, inputs: tuple[str, ...] = ()) -> Iterator[IO[bytes]]:
    """A binary stream whose content replaces `path` only when the block succeeds."""
    shown = str(path)
    if shown == "-":
        yield sys.stdout.buffer
        sys.stdout.flush()
        return
    target = os.path.realpath(shown)
    mine = _identity(target)
    if mine is not None and any(_identity(i) == mine for i in inputs if i != "-"):
        raise OutputError(f"{shown}: is the input file; write the output elsewhere")
    try:
        info: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        info = None
    except OSError as error:
        raise OutputError(f"{shown}: cannot write: {error.strerror}") from None
    if info is not None and stat.S_ISDIR(info.st_mode):
        raise OutputError(f"{shown}: is a folder, not a file")
    if info is not None and not stat.S_ISREG(info.st_mode):
        # A FIFO, a device or a socket: write to it, never replace it.
        try:
            stream = open(target, "wb")  # noqa: SIM115 (closed below)
        except OSError as error:
            raise OutputError(f"{shown}: cannot write: {error.strerror}") from None
        with stream:
            yield stream
        return
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"{shown}: the folder {os.path.dirname(shown) or '.'} does not exist")
    mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666
    try:
        fd, name = _anonymous_file(folder, mode)
    except OSError as error:
        raise OutputError(f"{shown}: cannot write in its folder: {error.strerror}") from None
    try:
        if info is not None:
            os.fchmod(fd, mode)
            with contextlib.suppress(PermissionError):
                os.fchown(fd, info.st_uid, info.st_gid)
        else:
            os.fchmod(fd, 0o666 & ~_umask())
        with open(fd, "wb", closefd=False) as stream:
            yield stream
        os.fsync(fd)
        _publish(fd, name, target)
        name = None
    except OSError as error:
        reason = "the disk is full" if error.errno == errno.ENOSPC else error.strerror
        raise OutputError(f"{shown}: cannot write: {reason}") from None
    finally:
        os.close(fd)
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)


def check_output_path(path: str | Path) -> None:
    """Refuse, before any work, an output path that cannot be written."""
    shown = str(path)
    if shown == "-":
        return
    target = os.path.realpath(shown)
    if os.path.isdir(target):
        raise OutputError(f"{shown}: is a folder, not a file")
    folder = os.path.dirname(target) or "."
    if not os.path.isdir(folder):
        raise OutputError(f"{shown}: the folder {os.path.dirname(shown) or '.'} does not exist")


def write_output(path: str | Path, text: str) -> None:
    """Write a whole text file through `safe_output`."""
    with safe_output(path) as stream:
        stream.write(text.encode("utf-8"))


def output_folder(path: Path) -> Path:
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
