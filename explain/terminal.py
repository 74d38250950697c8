"""Colour for a terminal, through rich: only human output on a terminal is
styled, and rich is imported only then (a JSON evaluate or a pipe never
loads it; it costs about 10 ms).

Styles are rich's style names ("bold green"); output uses the standard
16-colour codes, which every terminal that claims to be one reads.
"""

from __future__ import annotations


def styled(text: str, style: str) -> str:
    """`text` with the ANSI codes of `style` around it (reset after)."""
    from rich.color import ColorSystem
    from rich.style import Style

    return Style.parse(style).render(text, color_system=ColorSystem.STANDARD)
