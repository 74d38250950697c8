"""Replacing a regular file whole or not at all: the project's one atomic writer.

The new content goes to an anonymous file (Linux O_TMPFILE) in the target's
folder that gets a name only once complete and on disk, so no death, SIGKILL
included, leaves a partial file under the target's name or beside it. Where
the file system has no O_TMPFILE, a hidden named file is used instead and
removed on any error Python sees (only SIGKILL can leave it behind).

Invariants: the target either keeps its old content or has the whole new
content; an existing target keeps its mode (and owner, where allowed); errors
are OSError, for the caller to word.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO


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


def _new_file(folder: str, mode: int) -> tuple[int, str | None]:
    """A file descriptor for the new content, and its visible name if it has one."""
    if _anonymous_files_work(folder):
        return os.open(folder, os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, mode), None
    fd, name = tempfile.mkstemp(dir=folder, prefix=".policykb-", suffix=".partial")
    return fd, name


@contextmanager
def replaced_whole(target: str, existing: os.stat_result | None = None) -> Iterator[IO[bytes]]:
    """A binary stream whose content replaces the file `target` (a resolved
    path, not a symlink) only when the block succeeds. `existing` is the
    target's stat when it exists: its mode and owner are kept."""
    folder = os.path.dirname(target) or "."
    mode = (existing.st_mode & 0o7777) if existing is not None else 0o666 & ~_umask()
    fd, name = _new_file(folder, 0o600)
    try:
        os.fchmod(fd, mode)
        if existing is not None:
            with contextlib.suppress(PermissionError):
                os.fchown(fd, existing.st_uid, existing.st_gid)
        with open(fd, "wb", closefd=False) as stream:
            yield stream
        os.fsync(fd)
        if name is None:
            name = _link_name(fd, folder)
        os.replace(name, target)
        name = None
    finally:
        os.close(fd)
        if name is not None:
            with contextlib.suppress(OSError):
                os.unlink(name)
