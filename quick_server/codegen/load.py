"""Reads an OpenAPI document from a URL or a file."""
from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from .names import CodegenError

MAX_DOCUMENT = 64 * 1024 * 1024


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_document(source: str, timeout: float = 30.0,
                  context: ssl.SSLContext | None = None) -> Any:
    """The JSON of the document at `source`: an http(s) URL or a file
    path; CodegenError when it cannot be read or is not JSON."""
    try:
        if source.startswith(("http://", "https://")):
            with urllib.request.urlopen(source, timeout=timeout,
                                        context=context) as answer:
                data = answer.read(MAX_DOCUMENT + 1)
        else:
            with open(source, "rb") as handle:
                data = handle.read(MAX_DOCUMENT + 1)
    except (OSError, ValueError) as err:  # URLError is an OSError
        raise CodegenError(f"cannot read {source}: {err}") from None
    if len(data) > MAX_DOCUMENT:
        raise CodegenError(f"{source}: the document is larger than "
                           f"{MAX_DOCUMENT} bytes")
    try:
        return json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        raise CodegenError(f"{source} is not JSON: {err}") from None
