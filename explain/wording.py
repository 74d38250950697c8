"""The English of the facts a verdict rests on.

The bridge states each item of an explanation as data (a value, the region of
values it stands for, or the frame a reference date decides alone); this
module is where that data becomes words, for every renderer and the service
alike, so that a reason reads the same wherever it is shown.
"""

from __future__ import annotations

from policykb.bridge.model.result import ExplanationItem, FrameReason, value_words


def frame_words(frame: FrameReason) -> str:
    """ "as of this date, no weight_date or height_date within its bounds meets A1":
    the dates compared with the reference, and whether every or no value of
    them meets the criterion (named as an exclusion when it is one)."""
    named = " or ".join(frame.compared)
    quantity = "every" if frame.every else "no"
    criterion = f"exclusion {frame.criterion}" if frame.exclusion else frame.criterion
    return f"as of this date, {quantity} {named} within its bounds meets {criterion}"


def item_words(item: ExplanationItem) -> str:
    """The item's value as a person reads it, with what it stands for:
    "34.9, less than 35 kg/m2"; a reference date with the frame it decides."""
    shown = value_words(item.value)
    if item.frame is not None:
        return f"{shown}, {frame_words(item.frame)}"
    return f"{shown}, {item.region.words}" if item.region is not None else shown
