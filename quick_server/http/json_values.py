"""Values the JSON encoder cannot write by itself, recognised by their
methods and written as JSON: numpy scalars and arrays (`tolist`), pandas
DataFrames (records), Series (label -> value), Timestamps and NaT,
datetimes, dates and times (ISO 8601), durations (`timedelta`, pandas'
Timedelta, numpy's timedelta64: ISO 8601 as pandas writes them),
`Decimal` (a string of its exact
digits), `UUID` (a string), `Enum` (its value), sets (a list, sorted when
it can be) and dataclasses (an object of their fields). Neither numpy nor
pandas is imported: only values that reach the encoder's `default` (the
C encoder writes plain JSON values at full speed) are looked at here."""
from __future__ import annotations

import dataclasses
import datetime
import enum
import math
import uuid
from decimal import Decimal
from typing import Any, Callable

JsonDefault = Callable[[Any], Any]

DAY_NS = 86_400 * 10**9


def iso_duration(value: datetime.timedelta) -> str:
    """`value` as an ISO 8601 duration, as pandas' `Timedelta.isoformat()`
    writes it (`P1DT2H3M4.5S`), for a `timedelta` and a pandas Timedelta
    (its nanoseconds too) alike. A negative one is whole days back and
    the rest forward, as pandas writes it: `P-1DT23H0M0S` is an hour
    back."""
    total = ((value.days * 86_400 + value.seconds) * 10**6
             + value.microseconds) * 1000 + getattr(value, "nanoseconds", 0)
    days, rest = divmod(total, DAY_NS)
    seconds, fraction = divmod(rest, 10**9)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    digits = f".{fraction:09d}".rstrip("0") if fraction else ""
    return f"P{days}DT{hours}H{minutes}M{seconds}{digits}S"


def is_frame(value: Any) -> bool:
    """A pandas DataFrame (or anything shaped like one)."""
    return (hasattr(value, "to_dict") and hasattr(value, "columns")
            and hasattr(value, "to_json") and not isinstance(value, type))


def _missing(value: Any) -> bool:
    """pandas' NaT and NA: missing values that are not NaN."""
    name = type(value).__name__
    return name in ("NaTType", "NAType")


def json_key(key: Any) -> Any:
    """A JSON object key of a label (a Timestamp, a numpy integer...)."""
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    if isinstance(key, datetime.timedelta):
        return iso_duration(key)
    if hasattr(key, "isoformat") and not _missing(key):
        return key.isoformat()
    if hasattr(key, "item") and hasattr(key, "dtype"):  # numpy scalar
        return json_key(key.item())
    return str(key)


def recognise(value: Any) -> Any:
    """`value` as something the JSON encoder can write (the encoder's
    `default`, called again on what it returns); TypeError when it is
    not recognised."""
    if _missing(value):
        return None
    if is_frame(value):
        return value.to_dict(orient="records")
    if hasattr(value, "to_dict") and hasattr(value, "index") \
            and hasattr(value, "tolist"):  # a pandas Series
        return {json_key(k): v for k, v in value.to_dict().items()}
    if hasattr(value, "tolist") and hasattr(value, "dtype"):  # numpy
        kind = getattr(value.dtype, "kind", "")
        if kind == "M":  # datetime64: ISO, NaT as null
            return _nat_null(value.astype(str).tolist())
        if kind == "m":  # timedelta64: `timedelta`s (to the microsecond)
            try:
                return value.astype("timedelta64[us]").tolist()
            except (TypeError, ValueError):  # a unit numpy cannot convert
                return value.astype(str).tolist()
        # (a longdouble lists as itself: the nearest float, as JSON has)
        return _listed(value, float if kind == "f" else None)
    if isinstance(value, datetime.timedelta):  # pandas' Timedelta too
        return iso_duration(value)
    if hasattr(value, "isoformat"):  # datetime, date, time, Timestamp
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (set, frozenset)):
        try:
            return sorted(value)
        except TypeError:  # items of different kinds
            return list(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name)
                for field in dataclasses.fields(value)}
    if hasattr(value, "tolist"):  # a pandas Index, Categorical...
        return _listed(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON "
                    f"serializable{_hint(value)}")


def _listed(value: Any, fallback: Callable[[Any], Any] | None = None
            ) -> Any:
    """`value.tolist()`; when that is the value again (numpy's longdouble
    has no Python form), which the encoder would otherwise hand back to
    `recognise` until the recursion limit: `fallback(value)`, else a
    TypeError."""
    made = value.tolist()
    if type(made) is type(value):
        if fallback is not None:
            return fallback(value)
        raise TypeError(f"Object of type {type(value).__name__} is not "
                        f"JSON serializable (it has no Python value; "
                        f"convert it, e.g. to float)")
    return made


def _hint(value: Any) -> str:
    """What to do with a picture or page met where JSON is written (in a
    worker's result, inside a dict): a route answers with it only when
    its handler returns it itself."""
    if callable(getattr(value, "savefig", None)):
        return ("; a picture (it has savefig) answers as PNG or SVG only "
                "when a route's handler returns it itself, not inside "
                "data or as a worker's result")
    if callable(getattr(value, "_repr_html_", None)):
        return ("; a value with _repr_html_ answers as an HTML page only "
                "when a route's handler returns it itself, not inside "
                "data or as a worker's result")
    return ""


def with_hook(hook: JsonDefault | None) -> JsonDefault:
    """`recognise`, then `hook` for what it does not recognise."""
    if hook is None:
        return recognise

    def default(value: Any) -> Any:
        try:
            return recognise(value)
        except TypeError:
            pass  # (the hook's own error alone, not chained to this one)
        return hook(value)
    return default


def _nat_null(items: Any) -> Any:
    """numpy's text of datetimes (nested lists of them) with NaT as None."""
    if isinstance(items, list):
        return [_nat_null(item) for item in items]
    return None if items == "NaT" else items


def plain_keys(value: dict[Any, Any]) -> dict[Any, Any]:
    """`value` with the keys JSON cannot write (a Timestamp, a numpy
    integer, NaN) made into keys it can (`json_key`; NaN and the
    infinities as Python's `json` names them)."""
    return {_plain_key(key): item for key, item in value.items()}


def _plain_key(key: Any) -> Any:
    if isinstance(key, float) and not math.isfinite(key):
        return "NaN" if key != key else \
            "Infinity" if key > 0 else "-Infinity"
    if key is None or isinstance(key, (str, int, float, bool)):
        return key
    return _plain_key(json_key(key))
