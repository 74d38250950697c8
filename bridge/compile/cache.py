"""Compiled policies kept on disk, keyed by a hash of what they compile.

A compiled policy depends on its statements (the policy, its includes, the
core, and for typed facts their regions), the reference days it is grounded
at, and how its facts' values are numbered: all go into the key, with the
format version. The cache lives in the cache folder (cache_folder.py),
one file per key, written whole or not at all (model/atomic_file.py). It
is only a cache: an unreadable, unwritable or damaged entry is compiled
again, and POLICYKB_CACHE_DIR=off turns it off.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from policykb.bridge.compile.cache_folder import cache_folder

if TYPE_CHECKING:
    from policykb.bridge.compile.circuit import Circuit
    from policykb.bridge.compile.program import Domain, Roots
    from policykb.bridge.solving.evaluator import Evaluator

FORMAT = "policykb-circuit-2"


def cache_key(evaluator: Evaluator, domain: Domain) -> str:
    import hashlib

    from clingo import ast

    digest = hashlib.sha256(FORMAT.encode())
    for statement in evaluator.statements:
        if statement.ast_type == ast.ASTType.Comment:
            continue  # a comment changes nothing compiled
        digest.update(str(statement).encode())
        digest.update(b"\n")
    digest.update(repr((sorted(evaluator.anchors.items()), evaluator.fixed)).encode())
    digest.update(repr((domain.facts, domain.keys, sorted(domain.lists))).encode())
    return digest.hexdigest()


def _path(evaluator: Evaluator, domain: Domain) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    return folder / f"{evaluator.policy.name}-{cache_key(evaluator, domain)[:32]}.json"


def load_compiled(evaluator: Evaluator, domain: Domain) -> tuple[Circuit, Roots] | None:
    import orjson

    from policykb.bridge.compile.circuit import Circuit
    from policykb.bridge.compile.program import Roots

    path = _path(evaluator, domain)
    if path is None:
        return None
    try:
        data = orjson.loads(path.read_bytes())
        circuit = Circuit.load(data["circuit"])
        roots = data["roots"]
        return circuit, Roots(roots["covered"], roots["met"], roots["applies"])
    except (OSError, ValueError, KeyError, TypeError, AssertionError):
        return None


def store_compiled(evaluator: Evaluator, domain: Domain, circuit: Circuit, roots: Roots) -> None:
    import orjson

    from policykb.bridge.model.atomic_file import replaced_whole

    path = _path(evaluator, domain)
    if path is None:
        return
    data = {
        "format": FORMAT,
        "policy": evaluator.policy.name,
        "circuit": circuit.dump(),
        "roots": {"covered": roots.covered, "met": roots.met, "applies": roots.applies},
    }
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with replaced_whole(str(path.resolve())) as out:
            out.write(orjson.dumps(data))
    except OSError:
        return  # only a cache: the next run compiles again
