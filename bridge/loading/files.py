"""Where policies live: the bundled KB and any folders of the user's own.

A policy is a folder holding an entry file `policy.lp` that only includes the
policy's parts. The core logic in the bundled `core/` folder is loaded with
every policy, so a policy folder holds nothing but the policy.

A policy revised over time holds one entry file per dated version:
`policy.lp` and `policy-LABEL.lp` (say `policy-2024.lp`), each including the
parts it is made of (parts that did not change are shared) and declaring its
own `policy(effective, "YYYY-MM-DD")`.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

from policykb.bridge.model.errors import PolicyError
from policykb.bridge.model.policy import PolicySource

ENTRY_FILE = "policy.lp"
CORE_FILES = (
    "vocabulary.lp",
    "scenario.lp",
    "typed.lp",
    "arithmetic.lp",
    "history.lp",
    "verdict.lp",
)
SHOW_FILE = "show.lp"


def bundled_kb() -> Path:
    """The folder of the bundled knowledge base (package data of policykb.kb).

    The package is installed as files (clingo loads them by path), so its
    folder is found from the module itself: importlib.resources would cost a
    start-up millisecond for nothing.
    """
    import policykb.kb

    return Path(policykb.kb.__file__).parent


def core_files() -> list[Path]:
    """The policy-independent program parts, in load order."""
    core = bundled_kb() / "core"
    return [core / name for name in CORE_FILES]


def meta_file(name: str) -> Path:
    """A meta-program of the bundled KB (kb/meta/NAME.lp): fixed rules the
    analyses add to a policy's program, never built from case data."""
    return bundled_kb() / "meta" / f"{name}.lp"


def show_file() -> Path:
    """The file that declares what a model shows to the bridge."""
    return bundled_kb() / "core" / SHOW_FILE


def entry_files(folder: Path) -> list[Path]:
    """The entry files of a policy folder, one per version: policy.lp first,
    then policy-*.lp by name (empty: not a policy folder)."""
    if not folder.is_dir():
        return []
    found = sorted(path for path in folder.glob("policy-*.lp") if path.is_file())
    if (folder / ENTRY_FILE).is_file():
        found.insert(0, folder / ENTRY_FILE)
    return found


def folder_source(folder: Path) -> PolicySource | None:
    """The policy of a folder, with every version's entry file; None if it holds none."""
    entries = entry_files(folder)
    if not entries:
        return None
    return PolicySource(folder.name, entries[0], tuple(entries) if len(entries) > 1 else ())


def _policies_in(folder: Path) -> Iterable[PolicySource]:
    own = folder_source(folder)
    if own is not None:
        yield own
        return
    for child in sorted(folder.iterdir()):
        source = folder_source(child)
        if source is not None:
            yield source


def discover_policies(extra_dirs: Sequence[Path] = ()) -> dict[str, PolicySource]:
    """Every policy by name: the bundled ones, then the user's (which win on a clash).

    Each folder in `extra_dirs` is either a policy folder itself or a folder of
    policy folders.
    """
    found = {source.name: source for source in _policies_in(bundled_kb() / "policies")}
    for folder in extra_dirs:
        if not folder.is_dir():
            raise PolicyError(f"--kb {folder}: no such folder")
        own = list(_policies_in(folder))
        if not own:
            raise PolicyError(
                f"--kb {folder}: no policy found (a policy is a folder with a {ENTRY_FILE})"
            )
        found.update((source.name, source) for source in own)
    return found


def looks_like_path(target: str | Path) -> bool:
    """A policy given as a path: a Path, or text with a folder separator or ending in .lp.

    A bare name is always a policy name: a folder of that name in the current
    directory never stands in for a policy (write ./NAME for the folder).
    """
    if isinstance(target, Path):
        return True
    return "/" in target or os.sep in target or target.endswith(".lp")


def policy_source(
    target: str | Path, extra_dirs: Sequence[Path] = (), allow_paths: bool = True
) -> PolicySource:
    """Resolve a policy name (or, from the command line, a folder or entry file).

    Case data passes allow_paths=False: a case chooses among the loaded
    policies by name and never makes policykb load a file.
    """
    if looks_like_path(target):
        if not allow_paths:
            raise PolicyError(
                f"a case names its policy by name, not by path ({str(target)[:80]!r})"
            )
        path = Path(target)
        if path.suffix == ".lp" and path.is_file():
            return PolicySource(path.parent.name, path)
        source = folder_source(path)
        if source is not None:
            return source
        raise PolicyError(f"{target}: not a policy folder (with a {ENTRY_FILE}) or entry file")
    known = discover_policies(extra_dirs)
    name = str(target)
    if name not in known:
        names = ", ".join(sorted(known)) or "none"
        raise PolicyError(f"unknown policy {name[:80]!r} (known policies: {names})")
    return known[name]


# -- content --------------------------------------------------------------------

_INCLUDE = re.compile(rb'^\s*#include\s+"([^"]+)"\s*\.', re.MULTILINE)


def program_files(source: PolicySource) -> list[Path]:
    """The files a version's program is made of: its entry file and every file
    it includes, transitively, in the order first met."""
    seen: dict[Path, None] = {}
    pending = [source.entry.resolve()]
    while pending:
        path = pending.pop(0)
        if path in seen or not path.is_file():
            continue
        seen[path] = None
        for included in _INCLUDE.findall(path.read_bytes()):
            pending.append((path.parent / included.decode("utf-8", "replace")).resolve())
    return list(seen)


MAPPING_FILE = "fhir.yaml"


def content_hash(source: PolicySource) -> str:
    """SHA-256 of a version's files, each under its name: the core, the
    version's program files and the folder's FHIR mapping (if any)."""
    import hashlib  # OpenSSL: not on the start-up's path

    digest = hashlib.sha256()
    folder = source.folder.resolve()
    own = program_files(source)
    mapping = folder / MAPPING_FILE
    if mapping.is_file():
        own.append(mapping)
    named = [(Path("core", path.name).as_posix(), path) for path in core_files()]
    named += [(Path(os.path.relpath(path, folder)).as_posix(), path) for path in own]
    for shown, path in named:
        data = path.read_bytes()
        digest.update(f"{shown}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def policy_input_files(
    targets: Iterable[str | Path | None], extra_dirs: Sequence[Path] = ()
) -> list[Path]:
    """The files the named policies and the `extra_dirs` policies are read
    from (every version's program files and the folder's FHIR mapping): what
    a command's output must never be written over. A target that names no
    policy adds nothing (the command itself reports it)."""
    sources: list[PolicySource] = []
    with contextlib.suppress(PolicyError):
        if extra_dirs:
            sources += discover_policies(extra_dirs).values()
    for target in targets:
        if target is None:
            continue
        if not looks_like_path(target):
            target = str(target).split("@", 1)[0]  # NAME@YYYY-MM-DD: every version of NAME
        with contextlib.suppress(PolicyError, OSError):
            sources.append(policy_source(target, extra_dirs))
    found: dict[Path, None] = {}
    for source in sources:
        for version in source.versions:
            with contextlib.suppress(OSError):
                found.update(dict.fromkeys(program_files(version)))
        mapping = source.folder / MAPPING_FILE
        if mapping.is_file():
            found[mapping] = None
    return list(found)
