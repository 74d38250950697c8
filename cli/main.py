"""The `policykb` command: parse arguments, call the library, render.

Exit codes (every command):
  0  done (for evaluate: the case was evaluated, whatever the verdict)
  1  invalid input: a malformed or invalid case, an unknown or invalid policy
  2  usage error: unknown command or option, a missing argument
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from typing import Annotated, ParamSpec, TypeVar

import typer
from policykb.bridge import KnowledgeBase, PolicyKBError
from policykb.bridge.kb_files import DEFAULT_POLICY
from policykb.explain.render import OutputFormat, render_markdown, render_text, to_json
from rich.console import Console

EXIT_INVALID = 1

app = typer.Typer(
    name="policykb",
    help=(
        "Evaluate health-plan coverage cases against policies encoded as ASP rules, "
        "with minimal explanations that quote the policy.\n\n"
        "Exit codes: 0 done; 1 invalid input (case or policy); 2 usage error."
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
PolicyArgument = Annotated[str, typer.Argument(help="A policy name, policy folder or entry file.")]

P = ParamSpec("P")
R = TypeVar("R")


def reports_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Turn the library's user errors into one line on stderr and exit 1."""

    @wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return command(*args, **kwargs)
        except PolicyKBError as error:
            Console(stderr=True, soft_wrap=True).print(
                f"[bold red]error:[/] {error}", highlight=False
            )
            raise typer.Exit(EXIT_INVALID) from None

    return wrapper


def _console() -> Console:
    return Console(highlight=False, soft_wrap=False)


@app.command()
@reports_errors
def evaluate(
    case: Annotated[str, typer.Argument(help="A case file (JSON or YAML), or - for stdin.")],
    output_format: FormatOption = OutputFormat.TEXT,
    policy: Annotated[
        str | None,
        typer.Option(help="Evaluate under this policy, whatever the case names."),
    ] = None,
    kb: KbOption = None,
) -> None:
    """Evaluate one case: verdict, criteria, minimal explanation, missing facts.

    A fact absent or null in the case is unknown (unless the policy gives it a
    default, which the explanation then marks as assumed). The verdict is
    covered if every way of filling in the unknowns is covered, not_covered if
    none is, and needs_information otherwise.

    Exit codes: 0 evaluated (whatever the verdict), 1 invalid case or policy,
    2 usage error.
    """
    knowledge = KnowledgeBase(kb or ())
    parsed = knowledge.read_case(case, policy)
    evaluation = knowledge.evaluate(parsed, policy)
    chosen = knowledge.policy(policy or parsed.policy)
    if output_format is OutputFormat.JSON:
        sys.stdout.write(to_json(evaluation) + "\n")
    elif output_format is OutputFormat.MARKDOWN:
        sys.stdout.write(render_markdown(evaluation, chosen))
    else:
        _console().print(render_text(evaluation, chosen))


@app.command()
@reports_errors
def policies(kb: KbOption = None) -> None:
    """List the policies in the knowledge base."""
    knowledge = KnowledgeBase(kb or ())
    for name in knowledge.policy_names():
        policy = knowledge.policy(name)
        sys.stdout.write(f"{name}\t{policy.title}\t{policy.source.folder}\n")


@app.command()
@reports_errors
def facts(
    policy: PolicyArgument = DEFAULT_POLICY,
    kb: KbOption = None,
) -> None:
    """List a policy's vocabulary: each fact's type, default, clause and question."""
    knowledge = KnowledgeBase(kb or ())
    for fact in knowledge.policy(policy).facts.values():
        default = "" if fact.default is None else str(fact.default).lower()
        sys.stdout.write(
            f"{fact.name}\t{fact.type_label}\t{default}\t{', '.join(fact.clauses)}\t"
            f"{fact.question}\n"
        )


def run() -> None:
    """The console script's entry point."""
    app()


if __name__ == "__main__":
    run()
