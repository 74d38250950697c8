"""Fuzzing the inputs (hypothesis, bounded to about a minute in all).

Properties:
- the case parser, the batch readers and the suite loader never fail with
  anything but policykb's own errors (so the CLI never prints a traceback);
- a batch writes exactly one output record per input record;
- a batch's answers equal evaluate's.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policykb.bridge import KnowledgeBase, PolicyKBError
from policykb.bridge.batch.runner import run_batch
from policykb.bridge.batch.settings import BatchSettings
from policykb.bridge.loading.case import parse_case_text
from policykb.bridge.model.formats import InputFormat
from policykb.bridge.testing.suite import load_suite
from tests.oracle.test_properties import cases
from tests.sampling import examples

FUZZ = settings(
    max_examples=examples(60),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
SETTINGS = BatchSettings()
KB = KnowledgeBase()

INT64 = st.integers(min_value=-(2**63) + 1, max_value=2**63 - 1)  # the readers' stated limit
json_values = st.recursive(
    st.none()
    | st.booleans()
    | INT64
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
fact_names = st.sampled_from(["medicare_member", "terminally_ill", "review_type", "cpt_code", "x"])
documents = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"facts": st.dictionaries(fact_names, json_values, max_size=4)},
        optional={"id": json_values, "policy": json_values},
    ),
)


@FUZZ
@given(text=st.text(max_size=200) | documents.map(json.dumps))
def test_the_case_parser_only_raises_its_own_errors(text: str) -> None:
    for origin in ("case.json", "case.yaml"):
        with contextlib.suppress(PolicyKBError):
            KB.case(parse_case_text(text, origin))


@FUZZ
@given(text=st.text(max_size=300))
def test_the_suite_loader_only_raises_its_own_errors(tmp_path: Path, text: str) -> None:
    suite = tmp_path / "test_fuzz.yaml"
    suite.write_text(text, encoding="utf-8")
    with contextlib.suppress(PolicyKBError):
        load_suite(suite)


def run(data: bytes, kind: InputFormat) -> tuple[list[dict[str, Any]], PolicyKBError | None]:
    out = io.BytesIO()
    try:
        run_batch(io.BytesIO(data), out, kind, SETTINGS)
        failure = None
    except PolicyKBError as error:
        failure = error
    return [json.loads(line) for line in out.getvalue().splitlines()], failure


@FUZZ
@given(
    lines=st.lists(
        documents.map(json.dumps)
        | st.text(max_size=40).filter(lambda t: "\n" not in t and "\r" not in t),
        max_size=12,
    )
)
def test_jsonl_records_out_equal_records_in(lines: list[str]) -> None:
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    records, failure = run(data, InputFormat.JSONL)
    assert failure is None
    physical = [line for line in data.split(b"\n")[:-1]]
    assert len(records) == sum(1 for line in physical if line.strip())


cells = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=10)


@FUZZ
@given(
    rows=st.lists(st.lists(cells, min_size=1, max_size=5), max_size=10),
    header=st.lists(
        st.sampled_from(["medicare_member", "terminally_ill", "policy", "x"]),
        max_size=3,
        unique=True,
    ),
)
def test_csv_records_out_equal_records_in(rows: list[list[str]], header: list[str]) -> None:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["id", *header])
    written = 0
    for row in rows:
        if any(cell.strip() for cell in row) or len(row) > 1:
            writer.writerow(row)
            written += 1
    records, failure = run(text.getvalue().encode("utf-8"), InputFormat.CSV)
    assert failure is None, failure
    assert len(records) == written


@FUZZ
@given(items=st.lists(documents, max_size=8), tail=st.sampled_from(["", " ", "x", "]", ",", "[1]"]))
def test_json_arrays_are_whole_or_refused(items: list[Any], tail: str) -> None:
    data = (json.dumps(items) + tail).encode()
    records, failure = run(data, InputFormat.JSON)
    if tail.strip():
        assert failure is not None
    else:
        assert failure is None
        assert len(records) == len(items)


@settings(
    max_examples=examples(30),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(cases(), min_size=1, max_size=6))
def test_batch_equals_evaluate(batch: list[dict[str, Any]]) -> None:
    plain = [{f: sorted(v) if isinstance(v, frozenset) else v for f, v in c.items()} for c in batch]
    documents = [{"id": f"c{i}", "facts": facts} for i, facts in enumerate(plain)]
    data = "".join(json.dumps(d) + "\n" for d in documents).encode()
    records, failure = run(data, InputFormat.JSONL)
    assert failure is None
    assert records == [json.loads(json.dumps(KB.evaluate(d).to_dict())) for d in documents]
