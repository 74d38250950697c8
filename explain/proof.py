"""Proof trees for people (an indented tree) and for Graphviz (DOT, SVG)."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from typing import Any

MARK = {"true": "✓", "false": "✗", "unknown": "?"}
PLAIN_TEXT_RULES = {"case", "cases", "case split"}


def render_proof_text(proof: Mapping[str, Any]) -> str:
    lines: list[str] = []

    def walk(node: Mapping[str, Any], depth: int) -> None:
        rule = f"[{node['rule']}] " if node["rule"] else ""
        if not node["text"]:
            text = ""
        elif node["rule"] in PLAIN_TEXT_RULES:
            text = f": {node['text']}"
        else:
            text = f' "{node["text"]}"'
        lines.append(f"{'  ' * depth}{MARK.get(node['truth'], ' ')} {rule}{node['goal']}{text}")
        for child in node["children"]:
            walk(child, depth + 1)

    walk(proof["root"], 0)
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_proof_dot(proof: Mapping[str, Any]) -> str:
    lines = ["digraph proof {", '  node [shape=box, fontname="Helvetica"];']
    counter = iter(range(1_000_000))

    def walk(node: Mapping[str, Any]) -> str:
        name = f"n{next(counter)}"
        label = f"{MARK.get(node['truth'], '')} {node['goal']}"
        if node["text"]:
            label += "\n" + node["text"]
        lines.append(f"  {name} [label={_dot_quote(label)}];")
        for child in node["children"]:
            lines.append(f"  {name} -> {walk(child)};")
        return name

    walk(proof["root"])
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_svg(dot_text: str) -> str | None:
    """An SVG of the proof from Graphviz; None when `dot` is not installed or fails."""
    dot = shutil.which("dot")
    if dot is None:
        return None
    done = subprocess.run([dot, "-Tsvg"], input=dot_text, text=True, capture_output=True)
    return done.stdout if done.returncode == 0 else None
