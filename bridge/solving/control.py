"""Grounded clingo programs for a policy, from its files.

The scenario program (core + policy + show) is grounded once per policy and
then queried under assumptions case after case: a case never changes a
grounded program, and its data never becomes program text. Programs built
from parsed statements (renamed copies, the twin) are in transform.py.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import clingo

from policykb.bridge.loading.files import bundled_kb, show_file
from policykb.bridge.loading.parsing import collect_messages, policy_files
from policykb.bridge.model.errors import LimitError, PolicyError
from policykb.bridge.model.policy import PolicySource
from policykb.bridge.solving.load_limits import LIMITS

_GROUNDED, _INVALID, _OUT_OF_MEMORY = 0, 3, 4


def _ground_in_child(files: Sequence[Path], memory_mib: int) -> None:
    import resource

    limit = memory_mib << 20
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        ctl = clingo.Control(["--warn=none"])
        for path in files:
            ctl.load(str(path))
        ctl.ground([("base", [])])
    except MemoryError:
        os._exit(_OUT_OF_MEMORY)
    except RuntimeError as error:
        os._exit(_OUT_OF_MEMORY if "alloc" in str(error) else _INVALID)
    os._exit(_GROUNDED)


def check_grounding_limits(files: Sequence[Path], what: str) -> None:
    """Ground in a child process under LIMITS; LimitError when it goes past them.

    A plain fork, not multiprocessing: the caller may itself be a daemonic
    process (a Dask worker), which multiprocessing forbids to have children."""
    import signal

    pid = os.fork()
    if pid == 0:  # the child grounds and leaves through os._exit, whatever happens
        try:
            _ground_in_child(files, LIMITS.memory_mib)
        finally:
            os._exit(_INVALID)
    deadline = time.monotonic() + LIMITS.seconds
    try:
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            if time.monotonic() > deadline:
                raise LimitError(
                    f"{what}: grounding takes longer than {LIMITS.seconds:g} s "
                    "(the limit; --load-timeout SECONDS changes it)"
                )
            time.sleep(0.02)
    except BaseException:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        raise
    exitcode = os.waitstatus_to_exitcode(status)
    if exitcode in (_GROUNDED, _INVALID):
        return  # an invalid program is reported by the main process, with its messages
    raise LimitError(
        f"{what}: grounding needs more than {LIMITS.memory_mib:,} MiB of memory "
        "(the limit; --load-memory MIB changes it)"
    )


def is_bundled(source: PolicySource) -> bool:
    return bundled_kb().resolve() in source.entry.resolve().parents


def ground_base(ctl: clingo.Control, messages: list[str], what: str) -> None:
    try:
        ctl.ground([("base", [])])
    except RuntimeError as error:
        detail = "; ".join(messages) or str(error)
        raise PolicyError(f"cannot ground {what}: {detail}") from None


def new_control(messages: list[str], options: Sequence[str] = ("--models=0",)) -> clingo.Control:
    """A clingo Control whose messages (warnings, errors) are kept in `messages`."""
    return clingo.Control(list(options), logger=collect_messages(messages), message_limit=20)


def ground_files(
    files: Sequence[Path], what: str, options: Sequence[str] = ("--models=0",)
) -> clingo.Control:
    """Program files (clingo parses them and follows #include), grounded.
    Faster than going through the Python AST."""
    messages: list[str] = []
    ctl = new_control(messages, options)
    try:
        for path in files:
            ctl.load(str(path))
    except RuntimeError as error:
        detail = "; ".join(messages) or str(error)
        raise PolicyError(f"cannot parse {what}: {detail}") from None
    ground_base(ctl, messages, what)
    return ctl


def ground_scenarios(source: PolicySource, extra: Sequence[Path] = ()) -> clingo.Control:
    """The scenario program of a policy (plus the meta-programs `extra`), grounded."""
    files = [*policy_files(source), show_file(), *extra]
    if not is_bundled(source):
        check_grounding_limits(files, f"policy {source.name!r}")
    return ground_files(files, f"policy {source.name!r}", ["--models=0", "--opt-mode=opt"])
