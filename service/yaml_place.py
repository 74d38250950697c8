"""A place of a YAML file, named as `file:line: key.path` for an error message.

Invariant: the line named is that of the deepest key of the path the file
holds (a key's own line; a list item's first line), 1 when the text does not
parse or holds none of it.
"""

from __future__ import annotations

from typing import Any


class Where:
    """Names a place of a fhir.yaml: the file and the line of a key path."""

    def __init__(self, shown: str, text: str) -> None:
        import yaml

        self.shown = shown
        try:
            self.root: Any = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            self.root = None

    def __call__(self, *path: str | int) -> str:
        """`file:line: a.b[0].c`, the line of the deepest key of `path` the
        file holds (a key's own line; a list item's first line)."""
        node, line = self.root, 1
        for step in path:
            if node is None or not isinstance(node.value, list):
                break
            if isinstance(step, int):
                node = node.value[step] if step < len(node.value) else None
                key = node
            else:
                pair = next(
                    ((k, v) for k, v in node.value if isinstance(k.value, str) and k.value == step),
                    None,
                )
                key, node = pair if pair is not None else (None, None)
            if key is not None:
                line = key.start_mark.line + 1
        named = "".join(f"[{s}]" if isinstance(s, int) else f".{s}" for s in path)
        return f"{self.shown}:{line}: {named.lstrip('.')}"


__all__ = ["Where"]
