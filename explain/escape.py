"""Case-supplied text made safe for the medium it is shown in.

A case id, a string fact or an unknown name comes from the requester: it may
hold Markdown, HTML or terminal control sequences. Shown as it is, it could
fake a heading in a notice or move the cursor on a terminal.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")  # line breaks too: fields are one line
_MARKDOWN = re.compile(r"([\\`*_\[\]<>#|~])")  # what starts markup inside a line
MAX_SHOWN = 200


def terminal_safe(text: str) -> str:
    """Control characters (ANSI escapes included) shown as \\x.. escapes."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def markdown_safe(text: str) -> str:
    """Text that Markdown shows literally: specials escaped, one line, no controls."""
    one_line = " ".join(terminal_safe(text).splitlines())
    return _MARKDOWN.sub(r"\\\1", one_line)


def shorten(text: str, limit: int = MAX_SHOWN) -> str:
    """At most `limit` characters, marked when cut (a 1 MB name is not echoed whole)."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"... ({len(text)} characters)"
