"""Data-science values answer as JSON (issue 25): numpy, pandas, dates,
`Decimal`, `UUID`, `Enum`, sets, dataclasses, and `server.json_default`
for the rest; a value nothing recognises is still a 500. Over HTTP."""
from __future__ import annotations

import datetime
import enum
import json
import sys
import timeit
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from conftest import get
from quick_server.http.responses import to_json

np = pytest.importorskip("numpy")
pd = pytest.importorskip("pandas")


class Colour(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    when: datetime.date


class Money:
    def __init__(self, cents: int) -> None:
        self.cents = cents


class Opaque:
    pass


FRAME = pd.DataFrame({"a": [1, 2], "b": [0.1 + 0.2, np.nan],
                      "t": [pd.Timestamp("2024-01-02 03:04:05"), pd.NaT],
                      "s": ["x", None]})

VALUES: dict[str, tuple[Any, Any]] = {
    "int64": (np.int64(7), 7),
    "int64_sum": (pd.Series([1, 2, 3]).sum(), 6),
    "float64": (np.float64(1.5), 1.5),
    "float64_nan": (np.float64("nan"), None),
    "float32": (np.float32(0.5), 0.5),
    "bool_": (np.bool_(True), True),
    "ndarray": (np.array([[1.0, np.nan], [np.inf, 4.0]]),
                [[1.0, None], [None, 4.0]]),
    "ndarray_int": (np.arange(3), [0, 1, 2]),
    "datetime64": (np.array(["2024-01-02"], dtype="datetime64[D]"),
                   ["2024-01-02"]),
    "frame": (FRAME, [
        {"a": 1, "b": 0.1 + 0.2, "t": "2024-01-02T03:04:05", "s": "x"},
        {"a": 2, "b": None, "t": None, "s": None}]),
    "nested_frame": ({"rows": FRAME[["a", "b"]]},
                     {"rows": [{"a": 1, "b": 0.1 + 0.2},
                               {"a": 2, "b": None}]}),
    "series": (pd.Series([1.5, np.nan], index=["p", "q"]),
               {"p": 1.5, "q": None}),
    "series_dates": (pd.Series([1, 2], index=pd.to_datetime(
        ["2024-01-01", "2024-01-02"])),
        {"2024-01-01T00:00:00": 1, "2024-01-02T00:00:00": 2}),
    "timestamp": (pd.Timestamp("2024-05-06 07:08:09"), "2024-05-06T07:08:09"),
    "nat": (pd.NaT, None),
    "na": ([pd.NA], [None]),
    "datetime": (datetime.datetime(2024, 1, 2, 3, 4, 5,
                                   tzinfo=datetime.timezone.utc),
                 "2024-01-02T03:04:05+00:00"),
    "date": (datetime.date(2024, 1, 2), "2024-01-02"),
    "time": (datetime.time(3, 4), "03:04:00"),
    "timedelta": (datetime.timedelta(days=1, hours=2, seconds=4.5),
                  "P1DT2H0M4.5S"),
    "timedelta_back": (datetime.timedelta(hours=-1), "P-1DT23H0M0S"),
    "pd_timedelta": (pd.Timedelta(nanoseconds=1500), "P0DT0H0M0.0000015S"),
    "timedelta64": (np.array([1500, -1], dtype="timedelta64[ms]"),
                    ["P0DT0H0M1.5S", "P-1DT23H59M59.999S"]),
    "timedelta64_nat": (np.timedelta64("NaT", "s"), None),
    "series_durations": (pd.Series([1], index=pd.to_timedelta(["1s"])),
                         {"P0DT0H0M1S": 1}),
    "decimal": (Decimal("1.10000000000000000001"), "1.10000000000000000001"),
    "decimal_nan": (Decimal("NaN"), None),
    "uuid": (uuid.UUID(int=1), "00000000-0000-0000-0000-000000000001"),
    "enum": (Colour.RED, "red"),
    "set": ({3, 1, 2}, [1, 2, 3]),
    "frozenset_mixed": (frozenset(["a"]), ["a"]),
    "dataclass": (Point(1, datetime.date(2024, 1, 2)),
                  {"x": 1, "when": "2024-01-02"}),
    "custom": (Money(250), {"cents": 250}),
    "custom_inside": ([Money(1), np.int64(2)], [{"cents": 1}, 2]),
}


@pytest.fixture(scope="module")
def server():
    from quick_server import create_server
    from conftest import run_in_thread
    srv = create_server(("127.0.0.1", 0))
    srv.no_command_loop = True
    srv.suppress_noise = True

    def money(value: Any) -> Any:
        if isinstance(value, Money):
            return {"cents": value.cents}
        raise TypeError(f"not mine: {type(value).__name__}")
    srv.json_default = money
    for name, (value, _) in VALUES.items():
        srv.add_json_get_mask(f"/v/{name}", lambda req, args, v=value: v)
    srv.json_worker("/work")(lambda payload: {
        "n": np.int64(payload["x"]), "m": Money(5),
        "rows": pd.DataFrame({"a": [1.5, np.nan]})})
    srv.add_json_get_mask("/opaque", lambda req, args: {"x": Opaque()})
    srv.add_json_get_mask("/big", lambda req, args: pd.DataFrame(
        {"x": np.arange(5000) / 7, "y": np.nan}))
    srv.add_json_get_mask("/dupes", lambda req, args: pd.DataFrame(
        [[1, 2]], columns=["a", "a"]))
    thread = run_in_thread(srv)
    yield srv
    srv.shutdown()
    thread.join(10)
    srv.server_close()


@pytest.mark.parametrize("name", list(VALUES))
def test_each_value_answers_as_json(server, name):
    code, headers, body = get(server.server_address[1], f"/v/{name}")
    assert code == 200, body
    assert headers["content-type"].startswith("application/json")
    assert json.loads(body) == VALUES[name][1]
    assert b"NaN" not in body and b"Infinity" not in body


def test_a_worker_result_answers_as_json_with_the_hook(server):
    from quick_server import worker_request
    url = f"http://127.0.0.1:{server.server_address[1]}/work"
    assert worker_request(url, {"x": 2}) == {
        "n": 2, "m": {"cents": 5}, "rows": [{"a": 1.5}, {"a": None}]}


def test_a_value_nothing_recognises_is_a_500(server, capsys):
    code, _, body = get(server.server_address[1], "/opaque")
    assert code == 500
    assert b"Internal Server Error" in body or b"error" in body


def test_a_frame_answer_keeps_every_digit(server):
    code, _, body = get(server.server_address[1], "/big")
    assert code == 200
    rows = json.loads(body)
    assert len(rows) == 5000 and rows[1]["y"] is None
    assert rows[1]["x"] == 1 / 7  # exact (pandas' to_json keeps 15 places)


def test_a_frame_to_json_refuses_falls_back_to_records(server):
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code, _, body = get(server.server_address[1], "/dupes")
    assert code == 200, body
    assert isinstance(json.loads(body), list)


@pytest.mark.parametrize("value", [
    pd.Timedelta(0), pd.Timedelta(days=400, hours=5, seconds=1.25),
    pd.Timedelta(-1, "h"), pd.Timedelta(microseconds=-1),
    pd.Timedelta(nanoseconds=-1), pd.Timedelta(days=-3, nanoseconds=5),
    pd.Timedelta(milliseconds=10)])
def test_a_duration_is_written_as_pandas_writes_it(value):
    assert json.loads(to_json(value)) == value.isoformat()
    if value.nanoseconds == 0:  # the same as a plain timedelta
        assert json.loads(to_json(value.to_pytimedelta())) == \
            value.isoformat()


def test_numpy_nat_is_null_like_pandas_nat():
    assert to_json({"nat": np.datetime64("NaT"), "arr": np.array(
        ["2024-01-01", "NaT"], dtype="datetime64[s]"), "grid": np.array(
        [["NaT"]], dtype="datetime64[D]")}) == \
        '{"nat":null,"arr":["2024-01-01T00:00:00",null],"grid":[[null]]}'


def test_keys_json_cannot_write_are_written_as_labels_are():
    """`series.to_dict()` and a frame's records keyed by Timestamps, numpy
    integers as keys: what the C encoder refuses ("keys must be str...")
    is written as a Series' labels are, NaN as null on the way."""
    days = pd.to_datetime(["2024-01-01", "2024-01-02"])
    by_day = pd.Series([1.5, np.nan], index=days).to_dict()
    assert to_json(by_day) == \
        '{"2024-01-01T00:00:00":1.5,"2024-01-02T00:00:00":null}'
    pivot = pd.DataFrame({"k": ["a", "a"], "d": days, "v": [1, 2]}
                         ).pivot_table(index="k", columns="d", values="v")
    assert json.loads(to_json({"table": pivot})) == {"table": [
        {"2024-01-01T00:00:00": 1.0, "2024-01-02T00:00:00": 2.0}]}
    assert to_json({np.int64(1): "a", None: [float("inf")]}) == \
        '{"1":"a","null":[null]}'
    # NaN labels, as Python's json names them (not an "Out of range" 500)
    assert to_json(pd.Series([1, 2], index=[1.5, np.nan])) == \
        '{"1.5":1,"NaN":2}'
    assert to_json({-float("inf"): {float("nan"): 0}}) == \
        '{"-Infinity":{"NaN":0}}'


def test_a_numpy_type_with_no_python_twin_is_named_not_a_recursion():
    assert to_json([np.longdouble(1.5), np.array([2], dtype=np.longdouble)]
                   ) == "[1.5,[2.0]]"
    with pytest.raises(TypeError, match="clongdouble"):
        to_json(np.clongdouble(1 + 2j))


def test_without_the_hook_a_custom_value_is_not_json():
    with pytest.raises(TypeError):
        to_json(Money(1))
    assert to_json([np.int64(1), {"d": Decimal("2")}]) == '[1,{"d":"2"}]'


def test_json_default_must_be_callable():
    from quick_server import create_server
    srv = create_server(("127.0.0.1", 0))
    try:
        with pytest.raises(TypeError):
            srv.json_default = 3
        srv.json_default = str
        assert srv._to_json(Opaque()).startswith('"<')
        assert srv._to_json(np.int64(3)) == "3"  # recognised first
        srv.json_default = None
        with pytest.raises(TypeError):
            srv._to_json(Opaque())
    finally:
        srv.server_close()


@pytest.mark.skipif(sys.gettrace() is not None, reason="timing")
def test_plain_json_keeps_its_speed():
    value = {"rows": [{"a": i, "b": "x" * 10, "c": [1.5, None, True]}
                      for i in range(200)]}
    plain = json.JSONEncoder(separators=(",", ":"), allow_nan=False).encode
    ours = min(timeit.repeat(lambda: to_json(value), number=50, repeat=5))
    theirs = min(timeit.repeat(lambda: plain(value), number=50, repeat=5))
    assert ours < theirs * 1.5 + 0.002
