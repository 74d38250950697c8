"""Grounded clingo programs for a policy, from its files.

The scenario program (core + policy + show) is grounded once per policy and
then queried under assumptions case after case: a case never changes a
grounded program, and its data never becomes program text. Programs built
from parsed statements (renamed copies, the twin) are in transform.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import clingo

from policykb.bridge.errors import PolicyError
from policykb.bridge.kb_files import PolicySource, core_files, show_file


def collect_messages(messages: list[str]) -> Callable[[clingo.MessageCode, str], None]:
    def log(_code: clingo.MessageCode, message: str) -> None:
        messages.append(" ".join(message.split()))

    return log


def ground_base(ctl: clingo.Control, messages: list[str], what: str) -> None:
    try:
        ctl.ground([("base", [])])
    except RuntimeError as error:
        detail = "; ".join(messages) or str(error)
        raise PolicyError(f"cannot ground {what}: {detail}") from None


def new_control(messages: list[str]) -> clingo.Control:
    return clingo.Control(["--models=0"], logger=collect_messages(messages), message_limit=20)


def policy_files(source: PolicySource) -> list[Path]:
    """The files of a policy's program: the core, then the policy's entry file."""
    return [*core_files(), source.entry]


def ground_files(
    files: Sequence[Path], extra: str, what: str, options: Sequence[str] = ("--models=0",)
) -> clingo.Control:
    """Program files (clingo parses them and follows #include) plus the fixed
    program text `extra`, grounded. Faster than going through the Python AST."""
    messages: list[str] = []
    ctl = clingo.Control(list(options), logger=collect_messages(messages), message_limit=20)
    try:
        for path in files:
            ctl.load(str(path))
        if extra:
            ctl.add("base", [], extra)
    except RuntimeError as error:
        detail = "; ".join(messages) or str(error)
        raise PolicyError(f"cannot parse {what}: {detail}") from None
    ground_base(ctl, messages, what)
    return ctl


def ground_scenarios(source: PolicySource, extra: str = "") -> clingo.Control:
    """The scenario program of a policy (plus fixed rules `extra`), grounded."""
    files = [*policy_files(source), show_file()]
    return ground_files(files, extra, f"policy {source.name!r}", ["--models=0", "--opt-mode=opt"])
