"""Writing an answer to stdout (or a file) in the format asked for."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policykb.bridge.model.formats import OutputFormat

if TYPE_CHECKING:
    from policykb.bridge import Case, KnowledgeBase
    from policykb.cli.streams import Outputs


def write_json(document: object) -> None:
    """The document as indented JSON on stdout (UTF-8 kept as is)."""
    sys.stdout.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")


def text_width() -> int:
    """The terminal's width, or 80 when stdout is not a terminal."""
    import shutil  # text output only

    return shutil.get_terminal_size((80, 24)).columns if sys.stdout.isatty() else 80


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


def _proof_block(proof: dict[str, Any], markdown: bool) -> str:
    from policykb.explain.proof import render_proof_text

    tree = render_proof_text(proof)
    if markdown:
        return "\n### Proof (SWI-Prolog)\n\n```\n" + tree + "```\n"
    return "\nProof (SWI-Prolog)\n" + tree


def emit_answer(
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
        write_json(document)
    else:
        sys.stdout.write(text)
        if proof_tree is not None:
            sys.stdout.write(
                _proof_block(proof_tree, markdown=output_format is OutputFormat.MARKDOWN)
            )
