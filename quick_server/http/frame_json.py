"""A pandas DataFrame that is a whole JSON answer, as records, fast and at
full precision.

`to_dict("records")` makes a dict per row (seconds and hundreds of MB for
a 20 MB answer); pandas' own `to_json` is fast but keeps at most 15
decimal places (0.1 + 0.2 becomes 0.3, 1.2345678901234567e-05 becomes
0.000012345678901). Here each column is written by the fastest exact
means its dtype allows, a block of rows at a time (bounded memory):

- floats, integers and booleans: the C JSON encoder on the block's list
  (floats as Python writes them: the shortest text that reads back as
  the same number), NaN and infinities as null;
- naive datetimes: pandas' `to_json` in ISO 8601, the whole column in
  seconds, microseconds or nanoseconds, the coarsest that is exact for
  every value (`isoformat()` picks one per value), NaT as null;
- anything else (strings, categories, nullable and tz-aware columns,
  objects): each value by the server's JSON writer, as in any answer.

Then each row is one `%` of a template that holds the column names. numpy
and pandas are not imported: the values' own methods do the work."""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any, Callable

ROWS = 16384  # rows per block

ColumnWriter = Callable[[int, int], list[str]]  # rows [start, stop)


def frame_chunks(frame: Any, encode: Callable[[Any], str],
                 key: Callable[[Any], Any]) -> Iterator[str] | None:
    """The JSON records of `frame` in pieces; `encode` writes one value
    (the server's writer), `key` makes a column label a JSON key. None
    when the frame's columns are not unique (the records would lose
    some)."""
    labels = list(frame.columns)
    if len(set(map(repr, labels))) != len(labels):
        return None
    names = [_name(key(label), encode) for label in labels]
    if len(set(names)) != len(names):
        return None
    writers = [_writer(frame.iloc[:, index], encode)
               for index in range(len(labels))]
    template = "{" + ",".join(f"{name.replace('%', '%%')}:%s"
                              for name in names) + "}"
    return _chunks(len(frame), writers, template)


def _chunks(rows: int, writers: list[ColumnWriter],
            template: str) -> Iterator[str]:
    yield "["
    for start in range(0, rows, ROWS):
        stop = min(rows, start + ROWS)
        records: Iterable[str]
        if writers:
            records = map(template.__mod__,
                          zip(*(write(start, stop) for write in writers)))
        else:
            records = ["{}"] * (stop - start)
        yield ("," if start else "") + ",".join(records)
    yield "]"


def _name(label: Any, encode: Callable[[Any], str]) -> str:
    """A column's key as JSON: a string as it is, anything else as JSON
    writes an object key (1 -> "1", True -> "true", None -> "null")."""
    return encode(label if isinstance(label, str) else encode(label))


def _writer(column: Any, encode: Callable[[Any], str]) -> ColumnWriter:
    """How to write a block of `column` (a Series)."""
    values = column.to_numpy()
    dtype = getattr(values, "dtype", None)  # (a nullable column's is not
    kind = dtype.kind if dtype == column.dtype else "O"  # its own: NA)
    if kind in "fiub":
        return lambda start, stop: _numbers(values[start:stop].tolist(),
                                            kind == "f")
    if kind == "M" and getattr(column.dtype, "tz", None) is None:
        unit = _date_unit(values)
        return lambda start, stop: _split(column.iloc[start:stop].to_json(
            orient="values", date_format="iso", date_unit=unit))
    return lambda start, stop: list(map(encode,
                                        column.iloc[start:stop].tolist()))


def _numbers(items: list[Any], floats: bool) -> list[str]:
    text = json.dumps(items)
    # (NaN and the infinities are the only words such a list can hold)
    if floats and ("NaN" in text or "Infinity" in text):
        text = text.replace("NaN", "null").replace(
            "-Infinity", "null").replace("Infinity", "null")
    return text[1:-1].split(", ") if items else []


def _split(array: str) -> list[str]:
    """The items of a JSON array of ISO dates and nulls (no commas)."""
    return array[1:-1].split(",") if len(array) > 2 else []


def _date_unit(values: Any) -> str:
    """The coarsest unit that writes every datetime64 of `values` exactly
    (NaT compares unequal to itself, so it never decides)."""
    for unit in ("s", "us"):
        rounded = values.astype(f"datetime64[{unit}]")
        if ((rounded == values) | (values != values)).all():
            return unit
    return "ns"
