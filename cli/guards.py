"""The output guard of a command: which files it must never write over."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policykb.cli.streams import Outputs


def outputs(
    inputs: tuple[str | Path | None, ...] = (),
    policies: tuple[str | Path | None, ...] = (),
    kb: list[Path] | None = None,
) -> Outputs:
    """The guard of a command's output files: its input files, and the files
    of the policies it reads (named as paths or in --kb folders), are never
    written over (exit 5)."""
    from policykb.bridge.loading.files import policy_input_files
    from policykb.cli.streams import Outputs

    return Outputs([*inputs, *policy_input_files(policies, kb or ())])


def dot_outputs(
    output: Path | None, case: str, policy: str | None, kb: list[Path] | None
) -> Outputs | None:
    """The guard of --output (and the SVG beside it), checked before any work."""
    if output is None:
        return None
    guard = outputs((case,), (policy,), kb)
    guard.check(output)
    guard.check(output.with_suffix(".svg"))
    return guard


def export(files: list[tuple[str, str]], folder: Path, guard: Outputs) -> None:
    """Write witness case files into `folder` (created when missing)."""
    target = guard.folder(folder)
    for name, text in files:
        guard.write(target / name, text)
