"""FHIRPath expressions compiled to Python closures, for the part of the
language fact mappings use; fhirpathpy evaluates everything else.

fhirpathpy interprets its syntax tree on every call, about 0.1 ms per
operation and resource: a mapping's `where(...)` over a patient's
observations costs milliseconds, most of a CRD request. The subset here
(navigation, choice types, literals, %variables, `|`, `=`/`!=`, `and`/`or`,
`in`/`contains`, and where, exists, empty, not, first, last, count,
startsWith) is compiled once from fhirpathpy's own parse tree; an expression
using anything else is evaluated by fhirpathpy. tests/service/test_fhirpath.py ties
the two on generated records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

Collection = list[Any]
Compiled = Callable[[Collection, Mapping[str, Any]], Collection]
"""(focus, variables) -> result; a collection is a list of JSON values."""


class Unsupported(Exception):
    """The expression uses FHIRPath this module does not compile."""


def compile_path(expression: str) -> Compiled:
    """The expression as a function of a focus (the context collection) and
    the variables (%name); Unsupported when it leaves the subset (now, or
    when run on data it does not cover)."""
    from fhirpathpy.parser import parse

    tree = parse(expression)  # type: ignore[no-untyped-call]
    try:
        (root,) = tree["children"]
        return _node(root)
    except (KeyError, IndexError, ValueError, TypeError) as error:  # a shape not handled here
        raise Unsupported(f"{type(error).__name__} in the parse tree") from None


def _flat(value: Any) -> Collection:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _choices() -> dict[str, tuple[str, ...]]:
    """Choice elements by name (value, effective, onset, ...) and their type
    suffixes, from fhirpathpy's R4 model."""
    from fhirpathpy.models import models

    found: dict[str, set[str]] = {}
    for path, types in models["r4"]["choiceTypePaths"].items():
        found.setdefault(path.rsplit(".", 1)[-1], set()).update(types)
    return {name: tuple(sorted(types)) for name, types in found.items()}


CHOICES = _choices()


def _is_object(item: Any) -> bool:
    # JSON objects are dicts: the exact type test first spares the ABC's
    # instance check, a measured share of reading a record's facts.
    return type(item) is dict or isinstance(item, Mapping)


def _member(name: str) -> Compiled:
    names_type = name[0].isupper()
    choices = tuple(name + suffix for suffix in CHOICES.get(name, ()))

    def member(focus: Collection, _variables: Mapping[str, Any]) -> Collection:
        found: Collection = []
        for item in focus:
            if not _is_object(item):
                continue
            if names_type and item.get("resourceType") == name:
                found.append(item)  # Patient.birthDate: the type names the resource
            elif name in item:
                found += _flat(item[name])
            else:  # a choice element: value -> valueQuantity, effective -> effectiveDateTime
                for choice in choices:
                    if choice in item:
                        found += _flat(item[choice])
        return found

    return member


def _singleton(collection: Collection) -> Any:
    if len(collection) != 1:
        raise Unsupported("a singleton was expected")
    return collection[0]


def _truth(collection: Collection) -> bool | None:
    """A collection as a Boolean: empty is unknown, one Boolean is itself."""
    if not collection:
        return None
    value = collection[0] if len(collection) == 1 else None
    if isinstance(value, bool):
        return value
    return True  # a single non-Boolean item is true (FHIRPath's singleton evaluation)


def _function(name: str, parameters: list[Compiled]) -> Compiled:
    count = len(parameters)
    if name == "where" and count == 1:
        (criterion,) = parameters
        return lambda focus, v: [item for item in focus if _truth(criterion([item], v)) is True]
    if name == "exists" and count <= 1:
        if parameters:
            (criterion,) = parameters
            return lambda focus, v: [any(_truth(criterion([item], v)) is True for item in focus)]
        return lambda focus, v: [bool(focus)]
    if name == "empty" and count == 0:
        return lambda focus, v: [not focus]
    if name == "not" and count == 0:

        def negation(focus: Collection, _v: Mapping[str, Any]) -> Collection:
            truth = _truth(focus)
            return [] if truth is None else [not truth]

        return negation
    if name == "first" and count == 0:
        return lambda focus, v: focus[:1]
    if name == "last" and count == 0:
        return lambda focus, v: focus[-1:]
    if name == "count" and count == 0:
        return lambda focus, v: [len(focus)]
    if name == "startsWith" and count == 1:
        (prefix,) = parameters

        def starts(focus: Collection, v: Mapping[str, Any]) -> Collection:
            if not focus:
                return []
            text, start = _singleton(focus), _singleton(prefix(focus, v))
            if not isinstance(text, str) or not isinstance(start, str):
                raise Unsupported("startsWith on a non-string")
            return [text.startswith(start)]

        return starts
    raise Unsupported(f"function {name}")


def _children(node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return list(node.get("children", []))


def _identifier(node: Mapping[str, Any]) -> str:
    while node.get("type") != "Identifier":
        (node,) = _children(node)
    text = node["terminalNodeText"][0]
    return str(text).strip("`")


def _invocation(node: Mapping[str, Any]) -> Compiled:
    kind = node["type"]
    if kind == "MemberInvocation":
        return _member(_identifier(node))
    if kind == "FunctionInvocation":
        (function,) = _children(node)
        parts = _children(function)
        name = _identifier(parts[0])
        parameters = [_node(p) for p in _children(parts[1])] if len(parts) > 1 else []
        return _function(name, parameters)
    if kind == "ThisInvocation":
        return lambda focus, v: focus
    raise Unsupported(kind)


def _equal(left: Collection, right: Collection) -> bool:
    return len(left) == len(right) and all(_same(a, b) for a, b in zip(left, right, strict=True))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def _literal(node: Mapping[str, Any]) -> Collection:
    (literal,) = _children(node)
    kind = literal["type"]
    if kind not in ("StringLiteral", "BooleanLiteral", "NumberLiteral"):
        raise Unsupported(kind)
    text = literal["terminalNodeText"][0]
    if kind == "StringLiteral":
        body = text[1:-1]
        if "\\" in body:
            raise Unsupported("escapes in a string literal")
        return [body]
    if kind == "BooleanLiteral":
        return [text == "true"]
    if kind == "NumberLiteral" and "." not in text:
        return [int(text)]
    raise Unsupported(kind)


def _constant(node: Mapping[str, Any]) -> Collection | None:
    """The value of a literal term (a string, Boolean or integer), else None."""
    if node.get("type") != "TermExpression":
        return None
    (term,) = _children(node)
    return _literal(term) if term.get("type") == "LiteralTerm" else None


def _node(node: Mapping[str, Any]) -> Compiled:
    kind = node["type"]
    children = _children(node)
    if kind == "TermExpression":
        (term,) = children
        return _node(term)
    if kind == "InvocationTerm":
        (invocation,) = children
        return _invocation(invocation)
    if kind == "ParenthesizedTerm":
        (inner,) = children
        return _node(inner)
    if kind == "LiteralTerm":
        value = _literal(node)
        return lambda focus, v: list(value)
    if kind == "ExternalConstantTerm":
        name = _identifier(node)
        return lambda focus, v: _flat(v.get(name))
    if kind == "InvocationExpression":
        source, step = _node(children[0]), _invocation(children[1])
        return lambda focus, v: step(source(focus, v), v)
    left, right = (_node(c) for c in children) if len(children) == 2 else (None, None)
    if left is None or right is None:
        raise Unsupported(kind)
    operator = node["terminalNodeText"][0]
    if kind == "UnionExpression":

        def union(focus: Collection, v: Mapping[str, Any]) -> Collection:
            found: Collection = []
            for item in left(focus, v) + right(focus, v):
                if not any(_same(item, seen) for seen in found):
                    found.append(item)
            return found

        return union
    if kind == "EqualityExpression" and operator in ("=", "!="):
        negate = operator == "!="
        constant = _constant(children[1])
        if constant is not None:  # `system = 'http://loinc.org'`: one literal on the right
            (literal,) = constant

            def equals_literal(focus: Collection, v: Mapping[str, Any]) -> Collection:
                a = left(focus, v)
                if not a:
                    return []
                return [(len(a) == 1 and _same(a[0], literal)) != negate]

            return equals_literal

        def equality(focus: Collection, v: Mapping[str, Any]) -> Collection:
            a, b = left(focus, v), right(focus, v)
            if not a or not b:
                return []
            return [_equal(a, b) != negate]

        return equality
    if kind in ("AndExpression", "OrExpression"):
        both = kind == "AndExpression"

        def logic(focus: Collection, v: Mapping[str, Any]) -> Collection:
            a, b = _truth(left(focus, v)), _truth(right(focus, v))
            if both:
                if a is False or b is False:
                    return [False]
                return [True] if a and b else []
            if a is True or b is True:
                return [True]
            return [False] if a is False and b is False else []

        return logic
    if kind == "MembershipExpression" and operator in ("in", "contains"):
        element, container = (left, right) if operator == "in" else (right, left)

        def membership(focus: Collection, v: Mapping[str, Any]) -> Collection:
            item, within = element(focus, v), container(focus, v)
            if not item:
                return []
            return [any(_same(_singleton(item), other) for other in within)]

        return membership
    raise Unsupported(kind)
