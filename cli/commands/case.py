"""The commands that answer one case: evaluate, why and notice."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from policykb.bridge.loading.case import read_case_document
from policykb.bridge.model.formats import NoticeFormat, OutputFormat
from policykb.bridge.model.result import Verdict
from policykb.cli import guards
from policykb.cli.answers import emit_answer, text_width, write_json
from policykb.cli.errors import reports_errors
from policykb.cli.options import AsOfOption, FormatOption, KbOption, PolicyOption, day
from policykb.cli.parameters import Argument, Option

if TYPE_CHECKING:
    from policykb.bridge.knowledge_base import KnowledgeBase

CaseArgument = Annotated[str, Argument(help="A case file (JSON or YAML), or - for stdin.")]
ProofOption = Annotated[
    bool,
    Option(
        "--proof",
        help="Add a goal-directed proof of the verdict from SWI-Prolog "
        "(with --format dot: the proof alone, as Graphviz DOT).",
    ),
]
DotOutputOption = Annotated[
    Path | None,
    Option(
        "--output",
        "-o",
        help="With --format dot: write the DOT here, and an SVG beside it when "
        "Graphviz is installed.",
        show_default=False,
    ),
]


@reports_errors
def evaluate(
    case: CaseArgument,
    output_format: FormatOption = OutputFormat.TEXT,
    policy: PolicyOption = None,
    proof: ProofOption = False,
    cross_check: Annotated[
        bool,
        Option(
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
    outputs = guards.dot_outputs(output, case, policy, kb)
    as_of_day = day(as_of)  # checked before the case is read, as read_case's argument was
    document, default_id = read_case_document(case)
    # JSON alone is answered from the policy's stored snapshot when it has
    # one (compile/snapshot.py: without clingo, the same bytes); else here,
    # and the snapshot is kept for the next case.
    stored = output_format is OutputFormat.JSON and not (proof or cross_check)
    if stored:
        from policykb.bridge.compile.snapshot import evaluate_stored

        found = evaluate_stored(document, default_id, policy, kb or [], as_of_day)
        if found is not None:
            write_json(found.to_dict())
            return
    knowledge = _knowledge(kb)
    parsed = knowledge.case(document, default_id, policy, as_of_day)
    evaluation = knowledge.evaluate(parsed, policy)
    if stored:
        knowledge.keep_snapshot(parsed, policy, evaluation)
    chosen = knowledge.case_evaluator(parsed, policy).policy
    if cross_check:
        knowledge.cross_check(parsed, policy)
    text = ""  # JSON and DOT are not the text: their start-up skips its renderer
    if output_format is OutputFormat.MARKDOWN:
        from policykb.explain.render import render_markdown

        text = render_markdown(evaluation, chosen)
    elif output_format is OutputFormat.TEXT:
        from policykb.explain.render import render_text

        text = render_text(evaluation, chosen, width=text_width(), color=sys.stdout.isatty())
    emit_answer(
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


@reports_errors
def why(
    case: CaseArgument,
    output_format: FormatOption = OutputFormat.TEXT,
    max_changes: Annotated[
        int,
        Option(
            "--max-changes",
            min=1,
            help="List at most this many smallest change sets (the output says when capped).",
        ),
    ] = 20,
    keep: Annotated[
        list[str] | None,
        Option(
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

    outputs = guards.dot_outputs(output, case, policy, kb)
    knowledge = _knowledge(kb)
    parsed = knowledge.read_case(case, policy, day(as_of))
    answer = knowledge.why(parsed, policy, max_changes, keep or ())
    chosen = knowledge.case_evaluator(parsed, policy).policy
    text = render_why_text(answer, chosen, markdown=output_format is OutputFormat.MARKDOWN)
    emit_answer(
        knowledge, parsed, policy, answer.to_dict(), text, output_format, proof, output, outputs
    )


@reports_errors
def notice(
    case: CaseArgument,
    output_format: Annotated[
        NoticeFormat, Option("--format", "-f", help="Output format.", case_sensitive=False)
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

    knowledge = _knowledge(kb)
    parsed = knowledge.read_case(case, policy, day(as_of))
    evaluation = knowledge.evaluate(parsed, policy)
    chosen = knowledge.case_evaluator(parsed, policy).policy
    covered_from = (
        knowledge.covered_from(parsed, policy)
        if evaluation.verdict is Verdict.NOT_COVERED
        else None
    )
    if output_format is NoticeFormat.TEXT:
        sys.stdout.write(render_notice_text(evaluation, chosen, covered_from))
    else:
        sys.stdout.write(render_notice_markdown(evaluation, chosen, covered_from))


def _knowledge(kb: list[Path] | None) -> KnowledgeBase:
    """The knowledge base (imported here: the grounded path's modules and
    clingo are not loaded when a stored snapshot answers)."""
    from policykb.bridge.knowledge_base import KnowledgeBase

    return KnowledgeBase(kb or ())
