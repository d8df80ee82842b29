"""What JSON Schema documents share: the dialect they are written in, and
their `$defs`, one entry per named type."""
from __future__ import annotations

import re
from typing import Any, Callable

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def own_doc(cls: type) -> str | None:
    """A class's docstring, unless it is the one dataclass or Enum made."""
    doc = cls.__doc__
    if not doc or doc.startswith(cls.__name__ + "(") or \
            doc == "An enumeration.":
        return None
    return " ".join(doc.split())


class Definitions:
    """The `$defs` of one schema document: one entry per named type
    (dataclass, Enum), named after the class (qualified when two classes
    share a name). `where` is where a `$ref` finds them: `#/$defs/` in a
    JSON Schema document, `#/components/schemas/` in OpenAPI."""

    def __init__(self, where: str = "#/$defs/") -> None:
        self.defs: dict[str, dict[str, Any]] = {}
        self.where = where
        self._names: dict[type, str] = {}

    def ref(self, cls: type, build: Callable[[], dict[str, Any]]
            ) -> dict[str, Any]:
        name = self._names.get(cls)
        if name is None:
            name = self._free_name(cls)
            self._names[cls] = name
            self.defs[name] = {}  # taken while built: types may recurse
            self.defs[name] = build()
        return {"$ref": self.where + name}

    def _free_name(self, cls: type) -> str:
        for name in (cls.__name__, f"{cls.__module__}.{cls.__qualname__}"):
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            if name not in self.defs:
                return name
        count = 2
        while f"{name}_{count}" in self.defs:
            count += 1
        return f"{name}_{count}"
