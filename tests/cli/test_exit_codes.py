"""One table of exit codes (issue 28): the help, the error mapping and the
docs are built from `policykb.cli.exit_codes`, and the commands are one
registry."""

from __future__ import annotations

import inspect
import re
from importlib import import_module
from pathlib import Path

import pytest
from typer.testing import CliRunner

from policykb.bridge.model import errors
from policykb.cli.errors import consistency_errors, reports_errors
from policykb.cli.exit_codes import EXIT_CODES, help_summary, with_docs_section
from policykb.cli.main import COMMANDS, app

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs" / "cli.md"
runner = CliRunner()
CODES = {row.code for row in EXIT_CODES}

PINNED = {
    errors.EngineError: 3,
    errors.PrologUnavailable: 4,
    errors.OutputError: 5,
    errors.LimitError: 6,
    errors.ProofUnsupported: 7,
    errors.ExtraMissing: 8,
}
"""The codes the docs have promised for each error class with a code of its own."""


def library_errors() -> list[type[errors.PolicyKBError]]:
    return [
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, errors.PolicyKBError) and kind is not errors.PolicyKBError
    ]


def test_the_committed_docs_equal_the_text_generated_from_the_table() -> None:
    page = DOCS.read_text(encoding="utf-8")
    assert page == with_docs_section(page), "run `make docs-exit-codes`"


def test_codes_are_unique_and_ascending_and_every_error_class_has_exactly_one_row() -> None:
    codes = [row.code for row in EXIT_CODES]
    assert codes == sorted(set(codes))
    for kind in library_errors():
        assert sum(kind in row.errors for row in EXIT_CODES) == 1, kind.__name__


@pytest.mark.parametrize("kind", sorted(library_errors(), key=lambda kind: kind.__name__))
def test_each_error_class_ends_a_command_with_its_code_in_one_line(
    kind: type[errors.PolicyKBError], capsys: pytest.CaptureFixture[str]
) -> None:
    def fails() -> None:
        raise kind("what went wrong, and where")

    expected = PINNED.get(kind, 1)
    for decorate, invalid in ((reports_errors, 1), (consistency_errors, 2)):
        with pytest.raises(SystemExit) as ended:
            decorate(fails)()
        assert ended.value.code == (expected if kind in PINNED else invalid)
        assert capsys.readouterr().err == "error: what went wrong, and where\n"


def test_an_error_that_is_not_the_users_is_an_internal_error_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    def defect() -> None:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(SystemExit) as ended:
        reports_errors(defect)()
    assert ended.value.code == 70
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error (ZeroDivisionError" in err


def test_the_top_level_help_states_every_code_of_the_table() -> None:
    shown = runner.invoke(app, ["--help"])
    assert shown.exit_code == 0
    words = " ".join(shown.stdout.replace("│", " ").split())
    assert " ".join(help_summary().split()) in words
    for row in EXIT_CODES:
        assert f"{row.code} {row.brief}" in help_summary()


@pytest.mark.parametrize("command", [command.name for command in COMMANDS])
def test_every_code_a_commands_help_names_is_a_code_of_the_table(command: str) -> None:
    info = next(c for c in app.registered_commands if c.name == command)
    assert info.callback is not None
    text = " ".join((info.callback.__doc__ or "").split())
    block = text.partition("Exit codes:")[2]
    named = {int(code) for code in re.findall(r"(?:^|, )(\d+) ", block.strip())}
    if block:
        assert named, command
    assert named <= CODES, (command, named - CODES)


def test_the_registry_is_the_one_place_a_command_is_added() -> None:
    assert [c.name for c in app.registered_commands] == [c.name for c in COMMANDS]
    assert len({c.name for c in COMMANDS}) == len(COMMANDS)
    for group in {command.group for command in COMMANDS}:
        module = import_module(f"policykb.cli.commands.{group}")
        commands = {
            name
            for name, function in inspect.getmembers(module, inspect.isfunction)
            if function.__module__ == module.__name__ and hasattr(function, "__wrapped__")
        }
        registered = {c.function for c in COMMANDS if c.group == group}
        assert commands == registered, group
