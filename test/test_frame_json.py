"""A DataFrame answered as JSON records column by column (`frame_json.py`,
issue 25): the same records as `to_dict("records")` through the server's
JSON writer, at full precision, for every kind of column. No sockets."""
from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest

from quick_server.http import frame_json
from quick_server.http.responses import JSON


def records(frame: pd.DataFrame) -> str:
    return JSON.text(frame)


def reference(frame: pd.DataFrame) -> str:
    """The slow path: a dict per row, through the same writer."""
    return JSON([{str(k) if not isinstance(k, str) else k: v
                  for k, v in row.items()}
                 for row in frame.to_dict("records")])


def test_floats_keep_every_digit_and_nan_is_null():
    values = [0.1 + 0.2, 1.2345678901234567e-05, 1 / 3, 2.5e300, 5e-324,
              float("nan"), float("inf"), -float("inf"), -0.0, 123456789.123]
    frame = pd.DataFrame({"x": values})
    rows = json.loads(records(frame))
    assert [row["x"] for row in rows[:5]] == values[:5]  # exact, not 15 digits
    assert [row["x"] for row in rows[5:8]] == [None, None, None]
    assert records(frame) == reference(frame)


def test_every_kind_of_column_writes_what_the_records_path_writes():
    frame = pd.DataFrame({
        "f32": np.array([0.1, 2.5], dtype=np.float32),
        "i": [1, -(2 ** 62)],
        "u": np.array([3, 2 ** 63], dtype=np.uint64),
        "b": [True, False],
        "s": ['a, "quoted" %s', "é\u2028\n"],
        "cat": pd.Categorical(["x", "y"]),
        "nullable": pd.array([1, None], dtype="Int64"),
        "obj": [{"a": 1}, [1, 2]],
        "when": pd.to_datetime(["2024-01-01", None]),
        "tz": pd.to_datetime(["2024-01-01 10:00", "2024-06-01 10:00"]
                             ).tz_localize("Europe/Paris"),
        "day": [dt.date(2024, 1, 2), dt.date(2024, 1, 3)],
    })
    assert records(frame) == reference(frame)


@pytest.mark.parametrize("stamps, width", [
    (["2024-01-01 00:00:01", "2024-01-02"], 19),  # whole seconds
    (["2024-01-01 00:00:00.5", "2024-01-02"], 26),  # microseconds
    (["2024-01-01 00:00:00.000000001", None], 29),  # nanoseconds, NaT
])
def test_datetimes_are_exact_in_one_unit_per_column(stamps, width):
    """The coarsest of seconds, microseconds and nanoseconds that is exact
    for every value of the column (`isoformat()` picks one per value)."""
    frame = pd.DataFrame({"t": pd.to_datetime(stamps, format="ISO8601")})
    written = [row["t"] for row in json.loads(records(frame))]
    assert [None if w is None else pd.Timestamp(w) for w in written] == \
        [None if pd.isna(t) else pd.Timestamp(t) for t in stamps]
    assert {len(w) for w in written if w is not None} == {width}


def test_column_labels_become_json_keys_escaped():
    frame = pd.DataFrame([[1, 2, 3, 4]],
                         columns=["100%", 'say "hi"', 7, None])
    assert json.loads(records(frame)) == [
        {"100%": 1, 'say "hi"': 2, "7": 3, "null": 4}]


def test_shapes_empty_no_columns_and_many_blocks(monkeypatch):
    assert records(pd.DataFrame({"a": []})) == "[]"
    assert json.loads(records(pd.DataFrame(index=range(3)))) == [{}, {}, {}]
    monkeypatch.setattr(frame_json, "ROWS", 7)  # blocks end mid-frame
    frame = pd.DataFrame({"a": np.arange(30) / 7, "b": [str(i) for i in range(30)]})
    assert records(frame) == reference(frame)
    assert JSON.body(frame) == reference(frame).encode()


def test_duplicate_columns_take_the_records_path():
    frame = pd.DataFrame([[1, 2]], columns=["a", "a"])
    assert frame_json.frame_chunks(frame, JSON, str) is None
