"""The `policykb` command: parse arguments, call the library, render.

Exit codes:
  0    done (for evaluate: the case was evaluated, whatever the verdict)
  1    invalid input: a malformed or invalid case, an unknown or invalid policy;
       for check and diff: warnings or differences found
  2    usage error: unknown command or option, a missing argument; for check
       and diff also an invalid or unknown policy
  3    the two engines disagree (evaluate --cross-check), or an engine failed
  4    the second engine (SWI-Prolog) is not available
  5    an output could not be written (a folder, a missing folder, the input
       file itself, a full disk)
  6    a limit was reached (input size or nesting, policy loading time or memory)
  7    the second engine cannot prove this policy: a rule uses a construct with
       no Prolog translation (--proof, --cross-check; check lists it)
  8    an optional part of policykb is not installed (serve; Parquet, Arrow or
       --dask; impact --format html): the message names the pip command
  70   internal error: a defect of policykb (one line on stderr; please report it)
  130  interrupted (Ctrl-C or SIGTERM)
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import os
import shutil
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import date
from functools import wraps
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ParamSpec, TypeVar

import typer

from policykb.bridge import Case, EngineError, KnowledgeBase, PolicyKBError
from policykb.bridge.model.case import DEFAULT_POLICY
from policykb.bridge.model.errors import (
    CaseError,
    ExtraMissing,
    LimitError,
    OutputError,
    PolicyError,
    PrologUnavailable,
    ProofUnsupported,
)
from policykb.bridge.model.extras import missing_extra, require_extra
from policykb.bridge.model.formats import (
    ImpactFormat,
    InputFormat,
    NoticeFormat,
    OutputFormat,
    RecordFormat,
)
from policykb.explain.render import render_markdown, render_text

# Command-specific modules are imported inside their commands: a single
# `evaluate` should not pay for batch, check or the Prolog engine.
if TYPE_CHECKING:
    from policykb.bridge.batch.output import ChunkResult
    from policykb.bridge.solving.evaluator import Evaluator
    from policykb.cli.streams import Outputs

EXIT_INVALID = 1
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_ENGINES_DISAGREE = 3
EXIT_PROLOG_UNAVAILABLE = 4
EXIT_OUTPUT = 5
EXIT_LIMIT = 6
EXIT_UNPROVABLE = 7
EXIT_EXTRA_MISSING = 8
EXIT_INTERNAL = 70
EXIT_INTERRUPTED = 130

app = typer.Typer(
    name="policykb",
    help=(
        "Evaluate health-plan coverage cases against policies encoded as ASP rules, "
        "with minimal explanations that quote the policy.\n\n"
        "Exit codes: 0 done; 1 invalid input (case or policy), or for check/diff "
        "findings; 2 usage error (for check/diff also an invalid policy); "
        "3 the two engines disagree (evaluate --cross-check); 4 SWI-Prolog is not "
        "available; 5 an output could not be written; 6 a limit was reached; "
        "7 the second engine cannot prove the policy; 8 an optional extra is not installed; "
        "70 internal error; 130 interrupted."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

KbOption = Annotated[
    list[Path] | None,
    typer.Option(
        "--kb",
        help="A folder of your own policies (or one policy folder); repeatable. "
        "Its policies are added to the bundled ones and win on a name clash.",
        show_default=False,
    ),
]
FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
PolicyArgument = Annotated[
    str,
    typer.Argument(
        help="A policy name, or a policy folder or entry file given as a path (./NAME)."
    ),
]

P = ParamSpec("P")


def _report(error: Exception | str) -> None:
    from policykb.explain.escape import terminal_safe

    prefix = "error:"
    if sys.stderr.isatty():
        from policykb.explain.terminal import styled

        prefix = styled(prefix, "bold red")
    try:
        sys.stderr.write(f"{prefix} {terminal_safe(str(error))}\n")
        sys.stderr.flush()
    except OSError:
        pass  # stderr itself is gone: the exit code still tells


R = TypeVar("R")


def _exits_on_error(invalid: int) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Turn the library's errors into one line on stderr and the documented exit
    code: 3 when the engines disagree, `invalid` for any other user error."""

    def decorate(command: Callable[P, R]) -> Callable[P, R]:
        @wraps(command)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                with _interruptible():
                    return command(*args, **kwargs)
            except typer.Exit:
                raise
            except EngineError as error:
                code = EXIT_ENGINES_DISAGREE
                _report(error)
            except PrologUnavailable as error:
                code = EXIT_PROLOG_UNAVAILABLE
                _report(error)
            except OutputError as error:
                code = EXIT_OUTPUT
                _report(error)
            except LimitError as error:
                code = EXIT_LIMIT
                _report(error)
            except ProofUnsupported as error:
                code = EXIT_UNPROVABLE
                _report(error)
            except ExtraMissing as error:
                code = EXIT_EXTRA_MISSING
                _report(error)
            except PolicyKBError as error:
                code = invalid
                _report(error)
            except KeyboardInterrupt:
                code = EXIT_INTERRUPTED
                _report("interrupted")
            except BrokenPipeError:
                code = EXIT_OUTPUT
                _silence_stdout()
            except OSError as error:
                code = EXIT_OUTPUT
                _report(f"cannot write the output: {_reason(error)}")
                _silence_stdout()
            except Exception as error:  # a defect of policykb itself: still one line
                # ...unless it is an import of an extra the user did not install
                missing = missing_extra(error) if isinstance(error, ModuleNotFoundError) else None
                if missing is not None:
                    code = EXIT_EXTRA_MISSING
                    _report(missing)
                else:
                    code = EXIT_INTERNAL
                    detail = " ".join(str(error).split())[:300]
                    _report(f"internal error ({type(error).__name__}: {detail}); please report it")
            raise typer.Exit(code)

        return wrapper

    return decorate


def _reason(error: OSError) -> str:
    return "the disk is full" if error.errno == errno.ENOSPC else (error.strerror or str(error))


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's last flush cannot fail again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def _forward_to_main(
    wakeup: int, stopping: threading.Event, handler: Callable[[int, Any], None]
) -> None:
    """Make sure the main thread runs the handler of a signal another thread took.

    A signal sent to the process may be taken by any thread that does not
    block it (a library's thread pool, Dask's event loop); Python then runs
    its handler only when the main thread next runs Python code, which a main
    thread waiting on a read never does. Each handled signal's number comes
    through the wakeup fd; if the main thread has not begun stopping shortly
    after, the signal is sent to the main thread itself, whose read then ends.
    Only while `handler` is the signal's handler: a command that installs its
    own (serve's server) counts a second signal as a forced stop.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)  # never take one here
    main = threading.main_thread().ident
    with open(wakeup, "rb", buffering=0, closefd=True) as pipe:
        for received in iter(lambda: pipe.read(64), b""):
            _forward(received, main, stopping, handler)


def _forward(
    received: bytes,
    main: int | None,
    stopping: threading.Event,
    handler: Callable[[int, Any], None],
) -> None:
    for number in received:
        if number not in STOP_SIGNALS or signal.getsignal(number) is not handler:
            continue
        if not stopping.wait(0.05) and main is not None:
            with contextlib.suppress(OSError, ValueError):
                signal.pthread_kill(main, number)


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """Ctrl-C and SIGTERM end a command (exit 130): cleanup runs, nothing
    partial is left. The first one starts the stop; more while it runs change
    nothing, so cleanup is never cut short."""
    stopping = threading.Event()

    def stop(_signal: int, _frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            raise KeyboardInterrupt

    try:
        previous = {number: signal.signal(number, stop) for number in STOP_SIGNALS}
    except ValueError:  # not the main thread (a test runner's worker): nothing to install
        yield
        return
    reading, writing = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(reading, True)
    previous_wakeup = signal.set_wakeup_fd(writing, warn_on_full_buffer=False)
    threading.Thread(
        target=_forward_to_main,
        args=(reading, stopping, stop),
        name="policykb-signals",
        daemon=True,
    ).start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous_wakeup)
        for number, handler in previous.items():
            signal.signal(number, handler)
        os.close(writing)  # the forwarder reads the end of its pipe and returns


reports_errors = _exits_on_error(EXIT_INVALID)
# check and diff exit 1 for findings, so an invalid policy is exit 2 there.
_consistency_errors = _exits_on_error(EXIT_USAGE)


def _print_version(given: bool) -> None:
    """--version: the installed distribution's version, then exit 0."""
    if given:
        from policykb.bridge.model.release import version

        sys.stdout.write(f"policykb {version()}\n")
        raise typer.Exit()


@app.callback()
def limits(
    load_timeout: Annotated[
        float,
        typer.Option(
            "--load-timeout",
            min=0.1,
            help="Seconds a policy of your own may take to ground (bundled ones are trusted).",
        ),
    ] = 30.0,
    load_memory: Annotated[
        int,
        typer.Option(
            "--load-memory", min=64, help="MiB of memory a policy of your own may ground in."
        ),
    ] = 4096,
    _version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_print_version,
            help="Print policykb's version and exit.",
        ),
    ] = False,
) -> None:
    """Limits that hold for every command (give them before the command)."""
    from policykb.bridge.solving.control import LIMITS

    LIMITS.seconds = load_timeout
    LIMITS.memory_mib = load_memory


def _write_json(document: object) -> None:
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def _text_width() -> int:
    return shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 80


AsOfOption = Annotated[
    str | None,
    typer.Option(
        "--as-of",
        metavar="YYYY-MM-DD",
        help="Use the version of the policy in force on this day (default: the case's "
        "date_of_service, else today); a policy that compares dates with a reference "
        "date (the date of service, say) is analysed as of this day.",
        show_default=False,
    ),
]


InputFormatOption = Annotated[
    InputFormat | None,
    typer.Option(
        "--input-format",
        help="Input format (default: from the file name; stdin is JSONL).",
        case_sensitive=False,
        show_default=False,
    ),
]
JobsOption = Annotated[
    int,
    typer.Option(
        "--jobs", "-j", min=0, max=64, help="Worker processes (0: one per CPU; at most 64)."
    ),
]
DaskOption = Annotated[
    str | None,
    typer.Option(
        "--dask",
        metavar="SCHEDULER|local[N]",
        help="Run the partitions on a Dask cluster: a scheduler's address "
        "(tcp://host:8786), or local[N] for N worker processes on this machine.",
        show_default=False,
    ),
]


def _day(text: str | None) -> date | None:
    """--as-of as a date (None when not given)."""
    if text is None:
        return None
    from policykb.bridge.model.dates import require_date

    return require_date(text, CaseError(f"--as-of: {text!r} is not a date YYYY-MM-DD"))


CaseArgument = Annotated[str, typer.Argument(help="A case file (JSON or YAML), or - for stdin.")]
PolicyOption = Annotated[
    str | None,
    typer.Option(help="Use this policy (name, folder or entry file), whatever the case names."),
]
ProofOption = Annotated[
    bool,
    typer.Option(
        "--proof",
        help="Add a goal-directed proof of the verdict from SWI-Prolog "
        "(with --format dot: the proof alone, as Graphviz DOT).",
    ),
]
DotOutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="With --format dot: write the DOT here, and an SVG beside it when "
        "Graphviz is installed.",
        show_default=False,
    ),
]


def _outputs(
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


def _dot_outputs(
    output: Path | None, case: str, policy: str | None, kb: list[Path] | None
) -> Outputs | None:
    """The guard of --output (and the SVG beside it), checked before any work."""
    if output is None:
        return None
    outputs = _outputs((case,), (policy,), kb)
    outputs.check(output)
    outputs.check(output.with_suffix(".svg"))
    return outputs


def _emit_proof_dot(proof: dict[str, Any], output: Path | None, outputs: Outputs | None) -> None:
    from policykb.explain.proof import render_proof_dot, render_svg

    dot_text = render_proof_dot(proof)
    if output is None or outputs is None:
        sys.stdout.write(dot_text)
        return
    outputs.write(output, dot_text)
    svg = output.with_suffix(".svg")
    svg_text = render_svg(dot_text)
    if svg_text is not None:
        outputs.write(svg, svg_text)
        sys.stderr.write(f"wrote {output} and {svg}\n")
    else:
        sys.stderr.write(f"wrote {output} (no SVG: Graphviz is not installed)\n")


def _export(files: list[tuple[str, str]], folder: Path, outputs: Outputs) -> None:
    target = outputs.folder(folder)
    for name, text in files:
        outputs.write(target / name, text)


def _proof_block(proof: dict[str, Any], markdown: bool) -> str:
    from policykb.explain.proof import render_proof_text

    tree = render_proof_text(proof)
    if markdown:
        return "\n### Proof (SWI-Prolog)\n\n```\n" + tree + "```\n"
    return "\nProof (SWI-Prolog)\n" + tree


def _emit_answer(
    knowledge: KnowledgeBase,
    case: Case,
    policy: str | None,
    document: dict[str, Any],
    text: str,
    output_format: OutputFormat,
    proof: bool,
    output: Path | None,
    outputs: Outputs | None,
) -> None:
    """Write an answer in the chosen format, with the Prolog proof when asked
    (`--format dot` is the proof alone)."""
    proof_tree = None
    if proof or output_format is OutputFormat.DOT:
        proof_tree = knowledge.prove(case, policy)[1]
    if output_format is OutputFormat.DOT:
        assert proof_tree is not None
        _emit_proof_dot(proof_tree, output, outputs)
    elif output_format is OutputFormat.JSON:
        if proof_tree is not None:
            document["proof"] = proof_tree
        _write_json(document)
    else:
        sys.stdout.write(text)
        if proof_tree is not None:
            sys.stdout.write(
                _proof_block(proof_tree, markdown=output_format is OutputFormat.MARKDOWN)
            )


@app.command()
@reports_errors
def evaluate(
    case: CaseArgument,
    output_format: FormatOption = OutputFormat.TEXT,
    policy: PolicyOption = None,
    proof: ProofOption = False,
    cross_check: Annotated[
        bool,
        typer.Option(
            "--cross-check",
            help="Also decide the verdict with SWI-Prolog; exit 3 if the engines disagree.",
        ),
    ] = False,
    output: DotOutputOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Evaluate one case: verdict, criteria, minimal explanation, missing facts.

    A fact absent or null in the case is unknown (unless the policy gives it a
    default, which the explanation then marks as assumed). The verdict is
    covered if every way of filling in the unknowns is covered, not_covered if
    none is, and needs_information otherwise.

    Exit codes: 0 evaluated (whatever the verdict), 1 invalid case or policy,
    2 usage error, 3 the two engines disagree (--cross-check), 4 SWI-Prolog is
    not available, 7 the policy uses a construct the second engine cannot prove.
    """
    outputs = _dot_outputs(output, case, policy, kb)
    knowledge = KnowledgeBase(kb or ())
    parsed = knowledge.read_case(case, policy, _day(as_of))
    evaluation = knowledge.evaluate(parsed, policy)
    chosen = knowledge.case_evaluator(parsed, policy).policy
    if cross_check:
        knowledge.cross_check(parsed, policy)
    markdown = output_format is OutputFormat.MARKDOWN
    if markdown:
        text = render_markdown(evaluation, chosen)
    else:
        text = render_text(evaluation, chosen, width=_text_width(), color=sys.stdout.isatty())
    _emit_answer(
        knowledge,
        parsed,
        policy,
        evaluation.to_dict(),
        text,
        output_format,
        proof,
        output,
        outputs,
    )


@app.command()
@reports_errors
def why(
    case: CaseArgument,
    output_format: FormatOption = OutputFormat.TEXT,
    max_changes: Annotated[
        int,
        typer.Option(
            "--max-changes",
            min=1,
            help="List at most this many smallest change sets (the output says when capped).",
        ),
    ] = 20,
    keep: Annotated[
        list[str] | None,
        typer.Option(
            "--keep",
            help="A fact no change may touch (such as medicare_member); repeatable.",
            show_default=False,
        ),
    ] = None,
    policy: PolicyOption = None,
    proof: ProofOption = False,
    output: DotOutputOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Why a case got its verdict: explanations, flipping changes, answers.

    Lists every minimal explanation (smallest first), the smallest sets of
    fact changes that flip the verdict, and for each missing fact what each
    answer would lead to.

    Changes target covered for a not_covered or needs_information case, and
    not_covered for a covered one. --format dot writes the proof alone.

    Exit codes: 0 answered, 1 invalid case or policy, 2 usage error.
    """
    from policykb.explain.why import render_why_text

    outputs = _dot_outputs(output, case, policy, kb)
    knowledge = KnowledgeBase(kb or ())
    parsed = knowledge.read_case(case, policy, _day(as_of))
    answer = knowledge.why(parsed, policy, max_changes, keep or ())
    chosen = knowledge.case_evaluator(parsed, policy).policy
    text = render_why_text(answer, chosen, markdown=output_format is OutputFormat.MARKDOWN)
    _emit_answer(
        knowledge, parsed, policy, answer.to_dict(), text, output_format, proof, output, outputs
    )


@app.command()
@reports_errors
def notice(
    case: CaseArgument,
    output_format: Annotated[
        NoticeFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = NoticeFormat.MARKDOWN,
    policy: PolicyOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """A plain-language notice of the determination.

    For a denial or a request that needs information: the specific reasons,
    the criteria relied on (with the policy's title, text and dates), the
    information needed and why, and the physician-review statement
    (29 CFR 2560.503-1(g)(1)). For a covered case: an approval summary.

    Exit codes: 0 written, 1 invalid case or policy, 2 usage error.
    """
    from policykb.explain.notice import render_notice_markdown, render_notice_text

    knowledge = KnowledgeBase(kb or ())
    parsed = knowledge.read_case(case, policy, _day(as_of))
    evaluation = knowledge.evaluate(parsed, policy)
    chosen = knowledge.case_evaluator(parsed, policy).policy
    if output_format is NoticeFormat.TEXT:
        sys.stdout.write(render_notice_text(evaluation, chosen))
    else:
        sys.stdout.write(render_notice_markdown(evaluation, chosen))


ExportOption = Annotated[
    Path | None,
    typer.Option(
        "--export",
        help="Write each witness as a case file in this folder (policykb evaluate runs them).",
        show_default=False,
    ),
]


def _as_of(evaluator: Evaluator, day: str | None) -> Evaluator:
    """The evaluator grounded at `day` for each reference date of the policy."""
    if not evaluator.references:
        return evaluator
    if day is None:
        raise PolicyError(
            f"policy {evaluator.policy.name!r} compares dates with "
            f"{', '.join(evaluator.references)}: give --as-of YYYY-MM-DD to analyse it "
            "as of a day"
        )
    parsed = _day(day)
    assert parsed is not None
    return evaluator.at({name: parsed.toordinal() for name in evaluator.references}, fixed=True)


@app.command()
@_consistency_errors
def check(
    policy: Annotated[
        str, typer.Option(help="The policy to check: a name, policy folder or entry file.")
    ] = DEFAULT_POLICY,
    output_format: FormatOption = OutputFormat.TEXT,
    export: ExportOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Check a policy for overlaps, dead rules, gaps and vocabulary defects.

    Searches every scenario for overlaps, redundant, unreachable and shadowed
    rules, gaps, and vocabulary defects, each with a minimal witness case.

    A witness is the smallest set of facts that forces the finding in every
    scenario; unreachable rules and vocabulary defects have none, since no
    scenario shows them. Findings the KB acknowledges (acknowledge/3) are
    listed, not counted.
    Exit codes: 0 no warnings, 1 warnings found, 2 usage error or invalid policy.
    """
    from policykb.explain.findings import check_witness_files, render_check

    outputs = _outputs(policies=(policy,), kb=kb)
    if export is not None:
        outputs.check_folder(export)
    knowledge = KnowledgeBase(kb or ())
    report = knowledge.check(knowledge.evaluator(policy, _day(as_of)), _day(as_of))
    if output_format is OutputFormat.JSON:
        _write_json(report.to_dict())
    else:
        sys.stdout.write(render_check(report, markdown=output_format is OutputFormat.MARKDOWN))
    if export is not None:
        _export(check_witness_files(report), export, outputs)
    if report.warnings:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
@_consistency_errors
def diff(
    old: Annotated[
        str, typer.Argument(help="The old version: a policy folder, entry file or name.")
    ],
    new: Annotated[
        str, typer.Argument(help="The new version: a policy folder, entry file or name.")
    ],
    output_format: FormatOption = OutputFormat.TEXT,
    export: ExportOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
) -> None:
    """Show the change impact between two versions of a policy.

    Lists every region of scenarios whose verdict changes, as a minimal
    condition with a witness case, and the criteria and facts added, removed
    or changed.

    Exit codes: 0 no difference, 1 differences found, 2 usage error or invalid policy.
    """
    from policykb.bridge.analysis.diff import diff_policies
    from policykb.explain.findings import diff_witness_files, render_diff

    outputs = _outputs(policies=(old, new), kb=kb)
    if export is not None:
        outputs.check_folder(export)
    knowledge = KnowledgeBase(kb or ())
    before = knowledge.evaluator(old, _day(as_of))
    after = knowledge.evaluator(new, _day(as_of))
    if (before.references or after.references) and as_of is not None:
        # Reference dates: regions relative to them, as of the day.
        report = diff_policies(before, after, _day(as_of))
    else:
        before, after = _as_of(before, as_of), _as_of(after, as_of)
        report = diff_policies(before, after)
    if output_format is OutputFormat.JSON:
        _write_json(report.to_dict())
    else:
        sys.stdout.write(render_diff(report, markdown=output_format is OutputFormat.MARKDOWN))
    if export is not None:
        _export(diff_witness_files(report, after.policy.name), export, outputs)
    if not report.empty:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
@reports_errors
def batch(
    input_path: Annotated[
        str, typer.Argument(metavar="INPUT", help="JSONL, CSV or JSON-array file, or - for stdin.")
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Output file, or - for stdout.")
    ] = "-",
    output_format: Annotated[
        RecordFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format (default: parquet for an output file *.parquet, else jsonl).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    input_format: InputFormatOption = None,
    jobs: JobsOption = 0,
    no_explain: Annotated[
        bool, typer.Option("--no-explain", help="Leave the explanation out of JSONL records.")
    ] = False,
    summary_file: Annotated[
        Path | None,
        typer.Option(
            "--summary", help="Also write the summary as JSON to this file.", show_default=False
        ),
    ] = None,
    policy: PolicyOption = None,
    kb: KbOption = None,
    as_of: AsOfOption = None,
    dask: DaskOption = None,
) -> None:
    """Evaluate many cases: one output record per input record, in input order.

    INPUT is JSONL (one case per line), CSV (a header with id, optional policy,
    and one column per fact; an empty cell is unknown; lists are ;-separated;
    booleans true/false, yes/no or 1/0), a JSON array of cases, or Parquet (one
    column per fact, optional id and policy columns; null is unknown; read row
    group by row group). JSONL output records are the evaluate JSON; CSV output
    has the columns id, verdict, explanation (fact=value; ...), missing, error
    and version (EFFECTIVE sha256:HASH); Parquet output the columns id, policy,
    verdict, explanation, cited, missing, version_effective, version_hash and
    error.

    A case's date_of_service chooses the version of its policy in force that
    day (--as-of: the version in force on that day, for every case).

    A record that fails (malformed, unknown fact, wrong type) gets an error
    record in its place, {"line": N, "id": ..., "error": ...} ("record" for a
    JSON array), and a line on stderr; the batch goes on. An output file gets
    its name only when complete (an interrupted run leaves nothing); a FIFO or
    device is written in place; the input file is never the output. A summary
    goes to stderr.

    Exit codes: 0 every record evaluated, 1 some record failed (or the input
    could not be read), 2 usage error, 3 the Dask cluster failed or cannot be
    reached, 5 the output could not be written, 130 interrupted.
    """
    from policykb.bridge.batch.readers import guess_format
    from policykb.bridge.batch.runner import run_batch
    from policykb.bridge.batch.settings import MAX_JOBS, BatchSettings
    from policykb.cli.streams import make_progress, open_input
    from policykb.explain.summary import render_summary

    kind = input_format or (InputFormat.JSONL if input_path == "-" else guess_format(input_path))
    if output_format is None:
        parquet = output.lower().endswith((".parquet", ".pq"))
        output_format = RecordFormat.PARQUET if parquet else RecordFormat.JSONL
    settings = BatchSettings(
        kb_dirs=tuple(str(d) for d in (kb or ())),
        explain=not no_explain,
        output=output_format,
        policy=policy,
        as_of=_day(as_of),
    )
    outputs = _outputs((input_path,), (policy,), kb)
    if summary_file is not None:
        outputs.check(summary_file)
    outputs.check(output)
    # Validate the policy up front, so a wrong --policy fails once, not per record.
    if policy is not None:
        KnowledgeBase(kb or ()).policy(policy)
    workers = min(jobs or (os.cpu_count() or 1), MAX_JOBS)
    from rich.console import Console

    errors = Console(stderr=True, soft_wrap=True, highlight=False)
    progress = make_progress(errors)

    place = {InputFormat.JSON: "record", InputFormat.PARQUET: "row"}.get(kind, "line")

    def seen(result: ChunkResult) -> None:
        for failed in result.errors:
            errors.print(f"{place} {failed.number}: {failed.message}", markup=False)
        progress.advance(result.summary.total)

    with (
        open_input(input_path) as source,
        outputs.open(output) as target,
        progress,
    ):
        summary = run_batch(source, target, kind, settings, workers, seen, dask)
    errors.print(render_summary(summary), markup=False)
    if summary_file is not None:
        outputs.write(summary_file, json.dumps(summary.to_dict(), indent=2) + "\n")
    if summary.errors:
        raise typer.Exit(EXIT_INVALID)


@app.command()
@reports_errors
def impact(
    old: Annotated[
        str,
        typer.Argument(
            help="The version in force: a name (NAME@YYYY-MM-DD), folder or entry file."
        ),
    ],
    new: Annotated[
        str,
        typer.Argument(help="The revision: a name (NAME@YYYY-MM-DD), folder or entry file."),
    ],
    cases: Annotated[
        str,
        typer.Argument(help="The case history: JSONL, CSV, JSON array or Parquet, or - for stdin."),
    ],
    output: Annotated[
        str, typer.Option("--output", "-o", help="Report file, or - for stdout.")
    ] = "-",
    report_format: Annotated[
        ImpactFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="Report format (default: from the report file's name, .json, .md or "
            ".html; markdown on stdout).",
            case_sensitive=False,
            show_default=False,
        ),
    ] = None,
    input_format: InputFormatOption = None,
    examples: Annotated[
        int, typer.Option("--examples", min=0, max=1000, help="Example case ids per count.")
    ] = 5,
    records: Annotated[
        str | None,
        typer.Option(
            "--records",
            metavar="FILE",
            help="Also write one row per case (id, old_verdict, new_verdict, changed, "
            "newly_cited, regions, error): Parquet for *.parquet, else JSONL.",
            show_default=False,
        ),
    ] = None,
    regions: Annotated[
        bool,
        typer.Option(
            "--regions/--no-regions",
            help="Count the cases in each region of diff (diff takes the policy's time, "
            "not the data's).",
        ),
    ] = True,
    jobs: JobsOption = 0,
    kb: KbOption = None,
    as_of: AsOfOption = None,
    dask: DaskOption = None,
) -> None:
    """The impact of a revision on case history: which cases it decides differently.

    Decides every case under OLD and under NEW and reports the verdicts before
    and after with the transition matrix (every pair, unchanged ones too), how
    many cases fall in each region of `policykb diff` with example ids, and the
    criteria newly cited in denials. Each of OLD and NEW is one version for the
    whole run (a name: the version in force on --as-of, else today), whatever
    each case's date_of_service.

    A case that fails under either version is counted, named on stderr, and
    left out of the counts. The report is JSON, Markdown, or a self-contained
    HTML page with a chart.

    Exit codes: 0 every case decided, 1 some case failed (or the input or a
    policy could not be read), 2 usage error, 3 the Dask cluster failed or
    cannot be reached, 5 the report could not be written, 130 interrupted.
    """
    from policykb.bridge.batch.impact import ImpactSettings, RecordsWriter, run_impact
    from policykb.bridge.batch.readers import guess_format
    from policykb.cli.streams import make_progress, open_input

    kind = input_format or (InputFormat.JSONL if cases == "-" else guess_format(cases))
    if report_format is None:
        suffix = Path(output).suffix.lower() if output != "-" else ""
        report_format = {
            ".json": ImpactFormat.JSON,
            ".html": ImpactFormat.HTML,
            ".htm": ImpactFormat.HTML,
        }.get(suffix, ImpactFormat.MARKDOWN)
    outputs = _outputs((cases,), (old, new), kb)
    outputs.check(output)
    if records is not None:
        outputs.check(records)
    settings = ImpactSettings(
        old=old,
        new=new,
        kb_dirs=tuple(str(d) for d in (kb or ())),
        as_of=_day(as_of),
        examples=examples,
        records=records is not None,
    )
    from rich.console import Console

    errors = Console(stderr=True, soft_wrap=True, highlight=False)
    progress = make_progress(errors)
    place = {InputFormat.JSON: "record", InputFormat.PARQUET: "row"}.get(kind, "line")

    workers = min(jobs or (os.cpu_count() or 1), 64)
    with contextlib.ExitStack() as stack:
        source = stack.enter_context(open_input(cases))
        writer = None
        if records is not None:
            target = stack.enter_context(outputs.open(records))
            parquet = records.lower().endswith((".parquet", ".pq"))
            writer = RecordsWriter(target, parquet)
            stack.callback(writer.close)
        stack.enter_context(progress)

        def seen(part: Any) -> None:
            for failed in part.errors:
                errors.print(f"{place} {failed.number}: {failed.message}", markup=False)
            if writer is not None:
                writer.write(part.rows)
            progress.advance(part.records)

        report = run_impact(
            source, kind, settings, regions=regions, jobs=workers, dask=dask, on_part=seen
        )
    if report_format is ImpactFormat.JSON:
        text = json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n"
    elif report_format is ImpactFormat.HTML:
        from policykb.explain.impact import render_impact_html

        text = render_impact_html(report)
    else:
        from policykb.explain.impact import render_impact_markdown

        text = render_impact_markdown(report)
    outputs.write(output, text)
    errors.print(
        f"{report.totals.records:,} cases: {report.changed:,} decided differently, "
        f"{report.totals.error_count:,} failed",
        markup=False,
    )
    if report.totals.error_count:
        raise typer.Exit(EXIT_INVALID)


@app.command(name="test")
@reports_errors
def test_cases(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Suite files (YAML) or folders holding test_*.yaml suites. Default: the "
            "tests/ folder of every policy in the KB.",
            show_default=False,
        ),
    ] = None,
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """Run YAML case tests written by analysts.

    Each case has a name, facts and expect: a verdict, and optionally the
    explanation (criterion IDs or facts) and the missing facts.

    Prints PASS or FAIL per case, with a diff of expected and actual for each
    failure. Exit codes: 0 all passed, 1 a case failed (or a suite is
    malformed), 2 usage error.
    """
    from policykb.bridge.testing.suite import SuiteRunner, as_dict, bundled_suites

    knowledge = KnowledgeBase(kb or ())
    targets = list(paths) if paths else bundled_suites(knowledge)
    results = list(SuiteRunner(knowledge).run_suites(targets))
    failed = [r for r in results if not r.passed]
    if output_format is OutputFormat.JSON:
        _write_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "results": [as_dict(r) for r in results],
            }
        )
    else:
        for result in results:
            sys.stdout.write(f"{'PASS' if result.passed else 'FAIL'}  {result.test.ident}\n")
            detail = result.error or result.diff
            if detail:
                sys.stdout.write("".join(f"      {line}\n" for line in detail.splitlines()))
        sys.stdout.write(f"{len(results) - len(failed)} passed, {len(failed)} failed\n")
    if failed or not results:
        raise typer.Exit(EXIT_INVALID)


@app.command()
@reports_errors
def show(
    policy: PolicyArgument = DEFAULT_POLICY,
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """Print a policy as its criteria tree.

    Indications (any of, each with its all-of parts), exclusions and
    prerequisites, each with its ID, place and quoted text, and the source
    document and its dates.
    """
    from policykb.explain.show import criteria_tree, render_show

    chosen = KnowledgeBase(kb or ()).policy(policy)
    if output_format is OutputFormat.JSON:
        _write_json(criteria_tree(chosen))
    else:
        sys.stdout.write(render_show(chosen, markdown=output_format is OutputFormat.MARKDOWN))


@app.command()
@reports_errors
def serve(
    host: Annotated[str, typer.Option(help="The address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="The port to listen on.")] = 8080,
    kb: KbOption = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Worker processes (each loads the policies).")
    ] = 1,
    audit: Annotated[
        Path, typer.Option(help="The audit log: one JSON line per decision, appended.")
    ] = Path("policykb-audit.jsonl"),
    trust: Annotated[
        Path | None,
        typer.Option(
            help="JSON file of trusted JWT issuers and their keys (JWKS): every request "
            "but discovery then needs a bearer token (CDS Hooks 2.0).",
            show_default=False,
        ),
    ] = None,
    no_auth: Annotated[
        bool,
        typer.Option(
            "--no-auth", help="Serve a non-loopback address without authentication (explicit)."
        ),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="The base URL clients call (behind a proxy): JWT audiences and "
            "questionnaire canonicals; required with --trust off loopback.",
            show_default=False,
        ),
    ] = None,
    max_body: Annotated[
        int, typer.Option(min=1024, help="The largest request body accepted, in bytes.")
    ] = 1 << 20,
    max_orders: Annotated[
        int, typer.Option(min=1, help="Draft orders (CRD) or Claim items (PAS) per request: 413.")
    ] = 100,
    max_resources: Annotated[
        int, typer.Option(min=1, help="FHIR resources read from one request: 413 past it.")
    ] = 10_000,
    max_connections: Annotated[
        int,
        typer.Option(min=1, help="Open connections per worker; one more is answered 503."),
    ] = 256,
    max_header_bytes: Annotated[
        int, typer.Option(min=1024, help="Request line and headers, in bytes: 431 past it.")
    ] = 16 << 10,
    max_headers: Annotated[
        int, typer.Option(min=8, help="Header fields of one request: 431 past it.")
    ] = 100,
    header_timeout: Annotated[
        float,
        typer.Option(min=0.1, help="Seconds for a request's line and headers to arrive: 408."),
    ] = 10.0,
    body_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds for a request's body to arrive: 408.")
    ] = 30.0,
    decision_threads: Annotated[
        int,
        typer.Option(min=1, max=64, help="Threads per worker that decide, off the event loop."),
    ] = 4,
    jti_store: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file of used token ids, shared by the workers "
            "(default with --trust: the audit log's path + .jti.sqlite).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve coverage decisions: Da Vinci CRD (CDS Hooks), DTR, PAS and a JSON API.

    Routes: GET /cds-services, POST /cds-services/{id}, GET /fhir/Questionnaire/{policy},
    POST /fhir/Claim/$submit, POST /v1/evaluate, /v1/why, /v1/check, GET /openapi.json.
    Authentication is required on an address other than loopback: give --trust, or
    --no-auth to serve without it.

    Off loopback, a token's audience is --public-url, which is then required; on
    loopback without it, the address served (http://127.0.0.1:PORT, or localhost).
    The Host header never decides an audience or a URL.

    Exit codes: 0 stopped, 1 invalid policy or trust file, 2 usage error, 5 the audit
    log cannot be written.
    """
    require_extra("serve")
    from urllib.parse import urlsplit

    from policykb.service.settings import ServiceSettings, is_loopback

    if not is_loopback(host) and trust is None and not no_auth:
        _report(
            f"serving {host} needs --trust FILE (the JWT issuers to accept) or, "
            "explicitly, --no-auth"
        )
        raise typer.Exit(EXIT_USAGE)
    if not is_loopback(host) and trust is not None and not public_url:
        _report(
            f"serving {host} with --trust needs --public-url URL (the base URL clients "
            "call: tokens must name it as their audience)"
        )
        raise typer.Exit(EXIT_USAGE)
    if public_url is not None:
        parts = urlsplit(public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
            _report(f"--public-url {public_url[:80]!r} must be an http(s) URL without a query")
            raise typer.Exit(EXIT_USAGE)
    store = jti_store or (Path(f"{audit}.jti.sqlite") if trust else None)
    guard = _outputs((trust,), kb=kb)
    # appending to an input would corrupt it; so would the jti store's SQLite pages
    for name, written in (("audit log", audit), ("jti store", store)):
        try:
            if written is not None:
                guard.check(written)
        except OutputError as error:
            raise OutputError(f"{name} {error}") from None
    settings = ServiceSettings(
        kb_dirs=tuple(str(d) for d in kb or ()),
        audit=str(audit),
        trust=str(trust) if trust else None,
        public_url=public_url,
        max_body=max_body,
        max_orders=max_orders,
        max_resources=max_resources,
        max_connections=max_connections,
        max_header_bytes=max_header_bytes,
        max_headers=max_headers,
        header_timeout=header_timeout,
        body_timeout=body_timeout,
        decision_threads=decision_threads,
        jti_store=str(store) if store else None,
    )
    from policykb.service.serve import run_service

    run_service(settings, host, port, workers)


@app.command()
@reports_errors
def replay(
    log: Annotated[Path, typer.Argument(help="An audit log written by policykb serve.")],
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """Check an audit log's hash chain and hashes, decide every entry again,
    and report the entries that are bad or differ now.

    An entry is bad when the chain breaks at it (its prev_hash does not name
    the line before: an entry edited, removed or inserted), when its
    facts_hash or coverage_assertion_id does not match its content, or when it
    cannot be read or decided; each is reported with its line and the replay
    goes on. An entry differs when its verdict or cited criteria changed (the
    report says whether the policy's content hash changed too). The last line
    gives the chain's head hash: keep it elsewhere to detect a rewrite of the
    log's end.

    Exit codes: 0 every entry is sound and decides as it did, 1 some entry is
    bad or differs (or the log cannot be read).
    """
    require_extra("serve")
    from policykb.explain.escape import terminal_safe
    from policykb.service.audit import Chain
    from policykb.service.audit import replay as replay_log
    from policykb.service.decisions import Decisions

    if not log.exists():
        raise CaseError(f"{log}: no such audit log")
    if log.is_dir():
        raise CaseError(f"{log}: is a folder, not an audit log")
    decisions = Decisions(KnowledgeBase(kb or ()), compile_now=False)
    chain = Chain()
    total, bad, changed, differing = 0, 0, 0, []
    for entry in replay_log(log, decisions, chain):
        total += 1
        bad += entry.bad
        changed += entry.changed
        if entry.differs:
            differing.append(entry)
    if output_format is OutputFormat.JSON:
        _write_json(
            {
                "entries": total,
                "bad": bad,
                "chain_head": chain.head,
                "differ": [entry.to_dict() for entry in differing],
            }
        )
    else:
        lines = [f"{total} entries replayed, {bad} bad, {changed} differ\n"]
        for entry in differing:
            where = f"{log.name}:{entry.line}"
            if entry.bad:
                lines.append(f"{where}: bad: {entry.problem}\n")
            if entry.changed:
                since = " (the policy changed since)" if entry.policy_changed else ""
                lines.append(
                    f"{where}: {entry.assertion_id} {entry.policy}: {entry.before} -> "
                    f"{entry.after}, criteria {entry.criteria_before} -> "
                    f"{entry.criteria_after}{since}\n"
                )
        lines.append(f"chain head sha256:{chain.head}\n")
        # Everything above may come from the log: no raw escape reaches the terminal.
        sys.stdout.write("".join(terminal_safe(line.rstrip("\n")) + "\n" for line in lines))
    if differing:
        raise typer.Exit(EXIT_FINDINGS)


@app.command()
@reports_errors
def policies(
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """List the policies in the knowledge base: name, title, folder and versions.

    Each version is listed with its entry file, the days it is in force and
    its content hash (what every answer names).
    """
    from policykb.bridge.model.version import periods

    knowledge = KnowledgeBase(kb or ())
    rows: list[dict[str, Any]] = []
    lines: list[str] = []
    for name in knowledge.policy_names():
        versions = knowledge.versions(name)
        spans = periods([v.policy.version for v in versions])
        folder = str(versions[-1].source.folder)
        title = versions[-1].policy.title
        rows.append({"name": name, "title": title, "folder": folder, "versions": []})
        lines.append(f"{name}\t{title}\t{folder}\n")
        for version, span in zip(versions, spans, strict=True):
            entry, declared = version.source.entry.name, version.policy.version
            rows[-1]["versions"].append(
                {"entry": entry, **declared.to_dict(), "in_force": span.to_dict()}
            )
            lines.append(f"  {entry}\tin force {span.words}\tsha256 {declared.short_hash}\n")
    if output_format is OutputFormat.JSON:
        _write_json(rows)
    else:
        sys.stdout.write("".join(lines))


@app.command()
@reports_errors
def facts(
    policy: PolicyArgument = DEFAULT_POLICY,
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """List a policy's vocabulary: each fact's name, type, default, clause and question."""
    from policykb.explain.show import render_facts, vocabulary

    evaluator = KnowledgeBase(kb or ()).evaluator(policy)
    chosen, references = evaluator.policy, evaluator.references
    if output_format is OutputFormat.JSON:
        _write_json(vocabulary(chosen, references))
    else:
        markdown = output_format is OutputFormat.MARKDOWN
        sys.stdout.write(render_facts(chosen, markdown=markdown, references=references))


@app.command(name="init-case")
@reports_errors
def init_case(
    policy: PolicyArgument = DEFAULT_POLICY,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the template here (default: stdout).", show_default=False
        ),
    ] = None,
    kb: KbOption = None,
) -> None:
    """Write a YAML case template for an analyst to fill in.

    Every fact of the policy is set to null, with its question, type and
    default as a comment.
    """
    from policykb.explain.show import case_template

    outputs = _outputs(policies=(policy,), kb=kb)
    if output is not None:
        outputs.check(output)
    evaluator = KnowledgeBase(kb or ()).evaluator(policy)
    template = case_template(evaluator.policy, references=evaluator.references)
    if output is None:
        sys.stdout.write(template)
    else:
        outputs.write(output, template)


@app.command()
@reports_errors
def reference(
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write the page here (default: stdout).", show_default=False
        ),
    ] = None,
    kb: KbOption = None,
) -> None:
    """Generate the KB reference page (Markdown).

    Built from the %*! predicate documentation blocks of the core, the
    meta-programs and every policy.
    """
    from policykb.bridge.loading.files import bundled_kb, discover_policies
    from policykb.cli.streams import Outputs
    from policykb.explain.show import kb_reference

    root = bundled_kb()
    files = sorted((root / "core").glob("*.lp")) + sorted((root / "meta").glob("*.lp"))
    for source in discover_policies([Path(d) for d in (kb or ())]).values():
        files += sorted(source.folder.glob("*.lp"))
    outputs = Outputs(files)
    if output is not None:
        outputs.check(output)
    page = kb_reference(files, root)
    if output is None:
        sys.stdout.write(page)
    else:
        outputs.write(output, page)


GLOBAL_VALUE_OPTIONS = frozenset({"--load-timeout", "--load-memory"})
"""The options given before the command that take a value (the callback's)."""


def _named_command(arguments: list[str]) -> str | None:
    """The command the arguments name, or None (no command, or --help first)."""
    value_next = False
    for argument in arguments:
        if value_next:
            value_next = False
        elif argument in GLOBAL_VALUE_OPTIONS:
            value_next = True
        elif argument.startswith("-"):
            if argument in ("--help", "-h"):
                return None
        else:
            return argument
    return None


def _app_for(arguments: list[str]) -> typer.Typer:
    """The app with only the command the arguments name, when they name one:
    typer builds every registered command's parameters before it parses
    (about 60 ms for all of them, a seventh of `evaluate`'s start-up)."""
    name = _named_command(arguments)
    chosen = [
        command
        for command in app.registered_commands
        if name is not None
        and command.callback is not None
        and (command.name or typer.main.get_command_name(command.callback.__name__)) == name
    ]
    if not chosen:
        return app  # the full app answers help, usage and unknown commands
    single = copy.copy(app)
    single.registered_commands = chosen
    return single


def run() -> None:
    """The console script's entry point: the exit code, after a last flush of stdout."""
    try:
        _app_for(sys.argv[1:])()
        code: int = 0
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        _silence_stdout()
        code = code or EXIT_OUTPUT
    except OSError as error:
        _report(f"cannot write the output: {_reason(error)}")
        _silence_stdout()
        code = EXIT_OUTPUT
    sys.exit(code)


if __name__ == "__main__":
    run()
