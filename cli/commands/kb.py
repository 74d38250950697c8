"""The commands that show the knowledge base: show, facts, policies,
init-case and reference."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from policykb.bridge import KnowledgeBase
from policykb.bridge.model.case import DEFAULT_POLICY
from policykb.bridge.model.formats import OutputFormat
from policykb.cli import guards
from policykb.cli.answers import write_json
from policykb.cli.errors import reports_errors
from policykb.cli.options import FormatOption, KbOption, PolicyArgument


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
        write_json(criteria_tree(chosen))
    else:
        sys.stdout.write(render_show(chosen, markdown=output_format is OutputFormat.MARKDOWN))


@reports_errors
def policies(
    output_format: FormatOption = OutputFormat.TEXT,
    kb: KbOption = None,
) -> None:
    """List the policies in the knowledge base, grouped by payer.

    Each policy with its title, payer, source document and its address or
    citation, the document's dates and its folder; each version with its
    entry file, the days it is in force and its content hash (what every
    answer names).
    """
    from policykb.explain.listing import by_payer, policy_row, render_listing

    knowledge = KnowledgeBase(kb or ())
    rows = []
    for name in knowledge.policy_names():
        versions = knowledge.versions(name)
        folder = str(versions[-1].source.folder)
        rows.append(policy_row(name, [v.policy for v in versions], folder))
    if output_format is OutputFormat.JSON:
        write_json([row for _, group in by_payer(rows) for row in group])
    else:
        sys.stdout.write(render_listing(rows, markdown=output_format is OutputFormat.MARKDOWN))


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
        write_json(vocabulary(chosen, references))
    else:
        markdown = output_format is OutputFormat.MARKDOWN
        sys.stdout.write(render_facts(chosen, markdown=markdown, references=references))


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

    outputs = guards.outputs(policies=(policy,), kb=kb)
    if output is not None:
        outputs.check(output)
    evaluator = KnowledgeBase(kb or ()).evaluator(policy)
    template = case_template(evaluator.policy, references=evaluator.references)
    if output is None:
        sys.stdout.write(template)
    else:
        outputs.write(output, template)


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
