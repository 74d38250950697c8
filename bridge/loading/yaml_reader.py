"""YAML read as written, within stated limits.

PyYAML's safe loader follows YAML 1.1: `012345` becomes the octal number
5349, `0x1F` and `1:30` become numbers, `yes`/`no`/`on`/`off` booleans, and a
mapping that repeats a key keeps the last value without a word. A case would
then mean something other than what its author wrote. This loader resolves
scalars as YAML 1.2's core schema does (decimal numbers, true/false, null),
so a code such as `012345` stays the string "012345"; refuses repeated keys
(merge keys `<<` keep their meaning); and refuses documents that nest deeper
than MAX_DEPTH or expand, through aliases, to more than MAX_NODES values.

Kept because no maintained loader does all of that (tried with their
current releases): ruamel.yaml 0.19 (safe loader) refuses repeated keys and
reads yes/on as strings, but reads `012345` as the number 12345 and `1_000`
as 1000, and sets no bound on alias expansion; strictyaml 1.6 keeps
`012345` a string and refuses repeated keys, but refuses flow mappings
(`facts: {a: 1}`, which cases use) and anchors outright.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from policykb.bridge.model.errors import CaseError, LimitError

MAX_DEPTH = 100
MAX_NODES = 100_000

_INT = re.compile(r"^[-+]?(0|[1-9][0-9]*)$")  # 012345 stays a string: a code
_FLOAT = re.compile(r"^[-+]?((0|[1-9][0-9]*)(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?$")
_BOOL = re.compile(r"^(true|True|TRUE|false|False|FALSE)$")
_NULL = re.compile(r"^(~|null|Null|NULL|)$")


class _Loader(yaml.SafeLoader):
    """The safe loader with YAML 1.2 core scalars, repeated keys refused."""

    def construct_yaml_int(self, node: yaml.ScalarNode) -> int:
        text = str(self.construct_scalar(node))
        if len(text.lstrip("+-")) > 100:
            raise LimitError(f"line {node.start_mark.line + 1}: a number of more than 100 digits")
        return int(text)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                line = key_node.start_mark.line + 1
                raise CaseError(f"line {line}: duplicate key {key_node.value!r}")
            seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.yaml_implicit_resolvers = {}
for tag, pattern, first in (
    ("tag:yaml.org,2002:bool", _BOOL, "tTfF"),
    ("tag:yaml.org,2002:int", _INT, "-+0123456789"),
    ("tag:yaml.org,2002:float", _FLOAT, "-+0123456789."),
    ("tag:yaml.org,2002:null", _NULL, ["~", "n", "N", ""]),
    ("tag:yaml.org,2002:merge", re.compile(r"^(?:<<)$"), "<"),
):
    _Loader.add_implicit_resolver(tag, pattern, list(first))


def _construct_int(loader: _Loader, node: yaml.Node) -> int:
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_yaml_int(node)


def _construct_map(loader: _Loader, node: yaml.Node) -> dict[Any, Any]:
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)


def _check_size(node: yaml.Node) -> None:
    """Depth and expanded size of the node graph (aliases share nodes: memoised)."""
    sizes: dict[int, int] = {}

    def size(current: yaml.Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise LimitError(f"the YAML nests deeper than {MAX_DEPTH} levels")
        known = sizes.get(id(current))
        if known is not None:
            return known
        total = 1
        if isinstance(current, yaml.SequenceNode):
            total += sum(size(child, depth + 1) for child in current.value)
        elif isinstance(current, yaml.MappingNode):
            total += sum(size(k, depth + 1) + size(v, depth + 1) for k, v in current.value)
        if total > MAX_NODES:
            raise LimitError(
                f"the YAML expands to more than {MAX_NODES:,} values (through aliases?)"
            )
        sizes[id(current)] = total
        return total

    size(node, 0)


def load_yaml(text: str) -> Any:
    """One YAML document, read as written; yaml.YAMLError, CaseError or LimitError."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_size(node)
        return loader.construct_document(node)
    except RecursionError:
        raise LimitError(f"the YAML nests deeper than {MAX_DEPTH} levels") from None
    finally:
        loader.dispose()
