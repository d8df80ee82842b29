"""Generated Python clients (issue 24): `python -m quick_server.codegen
URL -o client.py` writes a module with the dataclasses, Enums and
NewTypes of a server's contracts, as the server names them, and a
`Client` class with one method per rpc route (on `rpc_call`) and typed
worker (on `worker_request`), read from the server's OpenAPI document
(`bind_openapi`) or a file of it. The module imports only the standard
library and quick_server, and passes `mypy --strict`."""
from __future__ import annotations

from .load import load_document
from .module import generate
from .names import CodegenError

__all__ = ["CodegenError", "generate", "load_document"]
