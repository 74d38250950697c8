"""Reading program files into clingo's AST, with clingo's messages kept."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import clingo

from policykb.bridge.loading.files import core_files
from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import PolicySource

if TYPE_CHECKING:
    from clingo import ast


def collect_messages(messages: list[str]) -> Callable[[clingo.MessageCode, str], None]:
    def log(_code: clingo.MessageCode, message: str) -> None:
        messages.append(" ".join(message.split()))

    return log


def policy_files(source: PolicySource) -> list[Path]:
    """The files of a policy's program: the core, then the policy's entry file."""
    return [*core_files(), source.entry]


def parse_program(files: Sequence[Path]) -> list[ast.AST]:
    """Parse program files (following their #include directives) into statements."""
    from clingo import ast  # the start-up's grounding reads files in clingo itself

    statements: list[ast.AST] = []
    messages: list[str] = []
    try:
        ast.parse_files(
            [str(f) for f in files], statements.append, logger=collect_messages(messages)
        )
    except RuntimeError as error:
        detail = "; ".join(messages) or str(error)
        raise PolicyError(f"cannot parse the policy: {detail}") from None
    return statements


def policy_statements(source: PolicySource) -> list[ast.AST]:
    """The parsed statements of a policy with the core, without #show."""
    return parse_program(policy_files(source))
