"""What a codec is, and the error it raises: a `Codec` carries the values
of one Python type to and from JSON, refusing a value that does not fit
with a `ValidationError` that names where it sits and what was wanted."""
from __future__ import annotations

import json
import reprlib
from typing import Any

from .schema_defs import Definitions

MISSING = object()  # no value: a lookup that found nothing, no default


class ValidationError(ValueError):
    """A value that does not fit its type: `path` locates it (`items[2].name`,
    empty for the value itself), `expected` names the type wanted and
    `problem` says what is wrong."""

    def __init__(self, expected: str, problem: str) -> None:
        super().__init__(problem)
        self.expected = expected
        self.problem = problem
        self._segments: list[str] = []  # innermost first

    def inside(self, segment: str) -> ValidationError:
        """Records that the value sat at `segment` (`.name`, `[2]`) of its
        container; returns the error, to be raised again."""
        self._segments.append(segment)
        return self

    @property
    def path(self) -> str:
        return "".join(reversed(self._segments)).removeprefix(".")

    def describe(self, root: str) -> str:
        """The message, with `root` naming the value at the top."""
        return f"{self.path or root}: {self.problem}"

    def __str__(self) -> str:
        return self.describe("value")


def describe_json(value: Any) -> str:
    """A short description of a JSON value for an error message."""
    if value is None:
        return "null"
    if value is True or value is False:
        return f"boolean {'true' if value else 'false'}"
    if isinstance(value, (int, float)):
        text = repr(value)
        return "number " + (text if len(text) <= 40 else text[:40] + "...")
    if isinstance(value, str):
        shown = json.dumps(value[:40])
        return f"string {shown}{'...' if len(value) > 40 else ''}"
    if isinstance(value, list):
        return f"array of {len(value)} item{'' if len(value) == 1 else 's'}"
    if isinstance(value, dict):
        return "object"
    return type(value).__qualname__


def wrong(codec: Codec, value: Any, python: bool = False
           ) -> ValidationError:
    """The value is not of the codec's type (`python`: a Python value on
    its way out, described as Python, not as JSON)."""
    shown = f"{type(value).__qualname__} {reprlib.repr(value)}" if python \
        else describe_json(value)
    return ValidationError(codec.expected,
                           f"expected {codec.expected}, got {shown}")


class Codec:
    """How values of one type travel as JSON."""

    name = "?"  # the type as written in Python

    @property
    def expected(self) -> str:
        """The type as an error message names it."""
        return self.name

    def decode(self, value: Any) -> Any:
        """A parsed JSON value as an instance of the type."""
        raise NotImplementedError

    def encode(self, value: Any) -> Any:
        """An instance of the type as plain JSON values."""
        raise NotImplementedError

    def schema(self, defs: Definitions) -> dict[str, Any]:
        """The JSON Schema of the type; named types go into `defs`."""
        raise NotImplementedError
