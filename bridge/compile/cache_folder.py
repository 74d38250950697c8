"""Where policykb keeps what it computes once per policy: compiled circuits
(cache.py) and evaluate's stored snapshots (snapshot.py).

$POLICYKB_CACHE_DIR, else $XDG_CACHE_HOME/policykb, else ~/.cache/policykb;
POLICYKB_CACHE_DIR=off turns every cache off. The folder is the user's own:
what is read from it is trusted as the user's own files are.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_folder() -> Path | None:
    chosen = os.environ.get("POLICYKB_CACHE_DIR")
    if chosen == "off":
        return None
    if chosen:
        return Path(chosen)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "policykb"
