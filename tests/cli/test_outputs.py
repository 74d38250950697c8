"""No output onto an input, anywhere (issue 26).

Every output flag of every command is listed from the typer app itself, so
a new flag cannot be added without a probe here: each writes onto one of the
command's inputs (directly, through a symlink, through a hard link) and must
be refused with exit 5 and one line naming both files, the input intact.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import typer
from typer.testing import CliRunner

from policykb.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
CHECK_FIXTURES = ROOT / "tests" / "fixtures" / "check"
REVISION = ROOT / "examples" / "revision" / "massage-therapy"
runner = CliRunner()
CASE = {"medicare_member": False, "ordered_by_treating_physician": False}

OUTPUTS = {
    ("evaluate", "output"),
    ("why", "output"),
    ("check", "export"),
    ("diff", "export"),
    ("batch", "output"),
    ("batch", "summary_file"),
    ("impact", "output"),
    ("impact", "records"),
    ("serve", "audit"),
    ("serve", "jti_store"),
    ("serve", "pas_store"),
    ("serve", "hook_log"),
    ("init-case", "output"),
    ("reference", "output"),
}
"""(command, parameter) of every parameter that names a file or folder written."""

NOT_OUTPUTS = {
    "every",  # check --all
    "case",
    "input_path",
    "cases",
    "old",
    "new",
    "paths",
    "policy",
    "log",
    "kb",
    "trust",
    "output_format",
    "report_format",
    "input_format",
    "proof",
    "cross_check",
    "as_of",
    "max_changes",
    "keep",
    "jobs",
    "no_explain",
    "dask",
    "examples",
    "regions",
    "host",
    "port",
    "workers",
    "no_auth",
    "public_url",
    "max_body",
    "max_orders",
    "max_resources",
    "max_connections",
    "cors_origin",
    "ehr_timeout",
    "payer_name",
    "max_header_bytes",
    "max_headers",
    "header_timeout",
    "body_timeout",
    "decision_threads",
    "smart_clients",
    "ssl_certfile",
    "ssl_keyfile",
}
"""Parameter names that never name a file written (inputs, switches, numbers)."""


def app_parameters() -> list[tuple[str, str]]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return [
        (name, parameter.name or "")
        for name, command in group.commands.items()
        for parameter in command.params
    ]


def test_every_parameter_is_known_as_output_or_not() -> None:
    parameters = app_parameters()
    unknown = [p for p in parameters if p not in OUTPUTS and p[1] not in NOT_OUTPUTS]
    assert unknown == [], f"classify these (an output needs a probe below): {unknown}"
    assert set(parameters) >= OUTPUTS


# -- the places a probe writes over ---------------------------------------------


class Place:
    """A scratch folder with a case, a case history (JSONL and Parquet), a
    policy folder of the user's own and a trust file, for probes to aim at."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.case = root / "case.json"
        self.case.write_text(json.dumps({"facts": CASE}))
        self.history = root / "history.jsonl"
        self.history.write_text(
            "".join(json.dumps({"id": f"c{i}", "facts": CASE}) + "\n" for i in range(3))
        )
        self.parquet = root / "history.parquet"
        pq.write_table(
            pa.table({"id": ["c0", "c1"], "medicare_member": [False, True]}), self.parquet
        )
        self.kb = root / "kb"
        shutil.copytree(CHECK_FIXTURES / "gap", self.kb / "gap")
        self.policy = self.kb / "gap"
        self.v1, self.v2 = root / "v1", root / "v2"
        shutil.copytree(CHECK_FIXTURES / "diff" / "v1", self.v1)
        shutil.copytree(CHECK_FIXTURES / "diff" / "v2", self.v2)
        self.trust = root / "trust.json"
        self.trust.write_text('{"issuers": []}')

    def link(self, target: Path, name: str = "link") -> Path:
        link = self.root / name
        link.symlink_to(target)
        return link

    def hard_link(self, target: Path, name: str = "hard") -> Path:
        link = self.root / name
        os.link(target, link)
        return link

    def files(self) -> dict[Path, bytes]:
        return {
            path: path.read_bytes()
            for path in self.root.rglob("*")
            if path.is_file() and not path.is_symlink()
        }


def export_names(args: list[str], scratch: Path) -> list[str]:
    """The names an --export run writes (learnt from a run into a scratch folder)."""
    result = runner.invoke(app, [*args, "--export", str(scratch)])
    assert result.exit_code in (0, 1), result.stderr
    names = sorted(path.name for path in scratch.iterdir())
    assert names, "the probe needs a run that exports something"
    return names


def witness_over(place: Place, args: list[str], victim: Path) -> list[str]:
    """An export folder whose witness file names are symlinks to `victim`."""
    folder = place.root / "export"
    folder.mkdir()
    for name in export_names(args, place.root / "scratch"):
        (folder / name).symlink_to(victim)
    return [*args, "--export", str(folder)]


Probe = Callable[[Place], tuple[list[str], Path]]
"""The arguments of a run that writes over an input, and the output it names."""

PROBES: dict[tuple[str, str], list[tuple[str, Probe]]] = {
    ("evaluate", "output"): [
        ("case", lambda p: (["evaluate", str(p.case), "-f", "dot", "-o", str(p.case)], p.case)),
        (
            "case-symlink",
            lambda p: (
                ["evaluate", str(p.case), "-f", "dot", "-o", str(p.link(p.case, "c.dot"))],
                p.root / "c.dot",
            ),
        ),
        (
            "svg-beside",
            lambda p: (
                [
                    "evaluate",
                    str(p.hard_link(p.case, "proof.svg")),
                    "-f",
                    "dot",
                    "-o",
                    str(p.root / "proof.dot"),
                ],
                p.root / "proof.svg",
            ),
        ),
    ],
    ("why", "output"): [
        ("case", lambda p: (["why", str(p.case), "-f", "dot", "-o", str(p.case)], p.case)),
        (
            "policy-file",
            lambda p: (
                [
                    "why",
                    str(p.case),
                    "--policy",
                    str(p.policy),
                    "-f",
                    "dot",
                    "-o",
                    str(p.policy / "rules.lp"),
                ],
                p.policy / "rules.lp",
            ),
        ),
    ],
    ("check", "export"): [
        (
            "witness-symlink",
            lambda p: (
                witness_over(p, ["check", "--policy", str(p.policy)], p.policy / "policy.lp"),
                p.root / "export",
            ),
        ),
    ],
    ("diff", "export"): [
        (
            "witness-symlink",
            lambda p: (
                witness_over(p, ["diff", str(p.v1), str(p.v2)], p.v2 / "policy.lp"),
                p.root / "export",
            ),
        ),
    ],
    ("batch", "output"): [
        ("history", lambda p: (["batch", str(p.history), "-o", str(p.history)], p.history)),
        (
            "hard-link",
            lambda p: (
                ["batch", str(p.history), "-o", str(p.hard_link(p.history))],
                p.root / "hard",
            ),
        ),
    ],
    ("batch", "summary_file"): [
        (
            "history",
            lambda p: (
                [
                    "batch",
                    str(p.history),
                    "-o",
                    str(p.root / "out.jsonl"),
                    "--summary",
                    str(p.history),
                ],
                p.history,
            ),
        ),
        (
            "kb-policy",
            lambda p: (
                [
                    "batch",
                    str(p.history),
                    "--kb",
                    str(p.kb),
                    "--summary",
                    str(p.policy / "vocabulary.lp"),
                ],
                p.policy / "vocabulary.lp",
            ),
        ),
    ],
    ("impact", "output"): [
        (
            "history",
            lambda p: (
                ["impact", "massage-therapy", str(REVISION), str(p.history), "-o", str(p.history)],
                p.history,
            ),
        ),
        (
            "parquet",
            lambda p: (
                ["impact", "massage-therapy", str(REVISION), str(p.parquet), "-o", str(p.parquet)],
                p.parquet,
            ),
        ),
        (
            "symlink",
            lambda p: (
                [
                    "impact",
                    "massage-therapy",
                    str(REVISION),
                    str(p.history),
                    "-o",
                    str(p.link(p.history, "report.md")),
                ],
                p.root / "report.md",
            ),
        ),
    ],
    ("impact", "records"): [
        (
            "history",
            lambda p: (
                [
                    "impact",
                    "massage-therapy",
                    str(REVISION),
                    str(p.history),
                    "--records",
                    str(p.history),
                ],
                p.history,
            ),
        ),
    ],
    ("serve", "audit"): [
        (
            "trust",
            lambda p: (
                ["serve", "--trust", str(p.trust), "--audit", str(p.trust)],
                p.trust,
            ),
        ),
        (
            "kb-policy",
            lambda p: (
                ["serve", "--kb", str(p.kb), "--audit", str(p.policy / "policy.lp")],
                p.policy / "policy.lp",
            ),
        ),
    ],
    ("serve", "jti_store"): [
        (
            "trust",
            lambda p: (
                ["serve", "--trust", str(p.trust), "--jti-store", str(p.trust)],
                p.trust,
            ),
        ),
    ],
    ("serve", "pas_store"): [
        (
            "trust",
            lambda p: (
                ["serve", "--trust", str(p.trust), "--pas-store", str(p.trust)],
                p.trust,
            ),
        ),
    ],
    ("serve", "hook_log"): [
        (
            "trust",
            lambda p: (
                ["serve", "--trust", str(p.trust), "--hook-log", str(p.trust)],
                p.trust,
            ),
        ),
        (
            "kb-policy",
            lambda p: (
                ["serve", "--kb", str(p.kb), "--hook-log", str(p.policy / "policy.lp")],
                p.policy / "policy.lp",
            ),
        ),
    ],
    ("init-case", "output"): [
        (
            "policy-entry",
            lambda p: (
                ["init-case", str(p.policy), "-o", str(p.policy / "policy.lp")],
                p.policy / "policy.lp",
            ),
        ),
    ],
    ("reference", "output"): [
        (
            "kb-policy",
            lambda p: (
                ["reference", "--kb", str(p.kb), "-o", str(p.link(p.policy / "rules.lp"))],
                p.root / "link",
            ),
        ),
    ],
}


def test_every_output_has_a_probe() -> None:
    assert set(PROBES) == OUTPUTS
    assert all(PROBES[output] for output in OUTPUTS)


@pytest.mark.parametrize(
    ("output", "probe"),
    [
        pytest.param(output, probe, id=f"{output[0]}-{output[1]}-{name}")
        for output, probes in sorted(PROBES.items())
        for name, probe in probes
    ],
)
def test_an_output_onto_an_input_is_refused(
    tmp_path: Path, output: tuple[str, str], probe: Probe
) -> None:
    place = Place(tmp_path)
    args, named = probe(place)
    before = place.files()
    result = runner.invoke(app, args)
    assert result.exit_code == 5, (result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "is the input file" in lines[0]
    if output[1] != "export":  # an export names the file inside its folder
        prefixes = {
            ("serve", "audit"): "audit log ",
            ("serve", "jti_store"): "jti store ",
            ("serve", "pas_store"): "PAS store ",
            ("serve", "hook_log"): "hook log ",
        }
        prefix = prefixes.get(output, "")
        assert lines[0].startswith(f"error: {prefix}{named}:"), lines[0]
    assert place.files() == before  # nothing written over, nothing changed


def test_an_output_that_is_not_an_input_is_written(tmp_path: Path) -> None:
    """The guard refuses the input only: a file beside it, in the same folder, is fine."""
    place = Place(tmp_path)
    out, summary = tmp_path / "out.jsonl", tmp_path / "summary.json"
    result = runner.invoke(
        app, ["batch", str(place.history), "-o", str(out), "--summary", str(summary), "-j", "1"]
    )
    assert result.exit_code == 0, result.stderr
    assert out.read_text().count("\n") == 3
    assert json.loads(summary.read_text())["records"] == 3
