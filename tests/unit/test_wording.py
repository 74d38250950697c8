"""explain.wording: the English of explanation items, worded from the data
the bridge states (the frame a reference date decides, a value's region)."""

from __future__ import annotations

import json
from datetime import date
from itertools import product

import pytest

from policykb.bridge.model.policy import Span
from policykb.bridge.model.result import ExplanationItem, FrameReason
from policykb.explain.wording import frame_words, item_words


@pytest.mark.parametrize(
    ("every", "exclusion", "expected"),
    [
        (True, False, "as of this date, every sleep_test_date within its bounds meets TEST"),
        (False, False, "as of this date, no sleep_test_date within its bounds meets TEST"),
        (
            True,
            True,
            "as of this date, every sleep_test_date within its bounds meets exclusion TEST",
        ),
    ],
)
def test_a_frame_says_whether_every_or_no_compared_date_meets_the_criterion(
    every: bool, exclusion: bool, expected: str
) -> None:
    assert frame_words(FrameReason("TEST", ("sleep_test_date",), every, exclusion)) == expected


def test_a_frame_names_every_compared_date_in_the_order_given() -> None:
    frame = FrameReason("A1", ("weight_date", "height_date", "bmi_date"), False, False)
    assert frame_words(frame) == (
        "as of this date, no weight_date or height_date or bmi_date within its bounds meets A1"
    )


def test_a_frame_item_reads_as_its_date_then_its_frame_and_keeps_the_json_form() -> None:
    for every, exclusion in product([False, True], repeat=2):
        frame = FrameReason("FOLLOW-UP", ("followup_date",), every, exclusion)
        item = ExplanationItem(
            "therapy_start_date", date(2026, 3, 1), "FOLLOW-UP", "text", frame=frame
        )
        assert item_words(item) == f"2026-03-01, {frame_words(frame)}"
        # The JSON contract: the frame's criterion and compared dates, nothing worded.
        assert json.dumps(item.to_dict()) == json.dumps(
            {
                "fact": "therapy_start_date",
                "value": "2026-03-01",
                "criterion": "FOLLOW-UP",
                "text": "text",
                "frame": {"criterion": "FOLLOW-UP", "compared": ["followup_date"]},
            }
        )


def test_an_item_without_a_frame_reads_as_its_value_and_its_region() -> None:
    region = Span("range", {"max": 35}, "at most 35 kg/m2", 34)
    with_region = ExplanationItem("bmi", 34, "A1", "text", region=region)
    assert item_words(with_region) == "34, at most 35 kg/m2"
    assert item_words(ExplanationItem("smoker", False, "A2", "text")) == "false"
    assert item_words(ExplanationItem("codes", frozenset({"b", "a"}), "A3", "text")) == "a, b"
