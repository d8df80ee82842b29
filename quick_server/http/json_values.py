"""Values the JSON encoder cannot write by itself, recognised by their
methods and written as JSON: numpy scalars and arrays (`tolist`), pandas
DataFrames (records), Series (label -> value), Timestamps and NaT,
datetimes, dates and times (ISO 8601), `Decimal` (a string of its exact
digits), `UUID` (a string), `Enum` (its value), sets (a list, sorted when
it can be) and dataclasses (an object of their fields). Neither numpy nor
pandas is imported: only values that reach the encoder's `default` (the
C encoder writes plain JSON values at full speed) are looked at here."""
from __future__ import annotations

import dataclasses
import enum
import uuid
from decimal import Decimal
from typing import Any, Callable

JsonDefault = Callable[[Any], Any]

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
        if getattr(value.dtype, "kind", "") == "M":  # datetime64: ISO
            return value.astype(str).tolist()
        return value.tolist()
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
        return value.tolist()
    raise TypeError(
        f"Object of type {type(value).__name__} is not JSON serializable")


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
