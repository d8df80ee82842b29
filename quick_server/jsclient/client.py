"""One typed client of a server (served at a path, or written into a
folder): which functions it has, under which names, and its two files.

Names: a function is called as its Python function (`order`), or as
`names` says for its path (`names={"/api/delete": "deleteItem"}`). A name
must be a plain identifier (ASCII letters, digits, `_`, not first a
digit), no JavaScript reserved word (`delete`, `new`, ...), none of the
client's own exports (`configureClient`, `RpcError`, `WorkerError`), and
no other function's: else registering the route (or binding the client)
is a ValueError that says how to rename it."""
from __future__ import annotations

import inspect
from typing import Any, Iterable, NamedTuple

from .generate import KINDS, ClientFunction, generate_dts, generate_js
from .text import IDENTIFIER, JS_RESERVED

OWN_EXPORTS = frozenset({"configureClient", "RpcError", "WorkerError"})


def _kind(contract: Any) -> str:
    """The kind of a contract of `server._typed`: "rpc", or the `kind` it
    names (a typed worker's "worker")."""
    kind = getattr(contract, "kind", "rpc")
    return kind if kind in KINDS else "rpc"


class Entry(NamedTuple):
    """A function of the client: its route, kind (a key of KINDS), its
    contract (None: a plain json_worker) and Python function."""
    path: str
    kind: str
    contract: Any
    fn: Any


class JsClient:
    """A client: `method` is how it was bound (for the messages),
    `default_base` the JavaScript expression of its server's URL."""

    def __init__(self, method: str, default_base: str,
                 names: dict[str, str] | None, json_workers: bool) -> None:
        self.method = method
        self.default_base = default_base
        self.names = dict(names or {})
        self.json_workers = json_workers
        for path, name in self.names.items():
            self._check_name(name, f"names[{path!r}]", path, name)

    def _rename_hint(self, path: str, suggestion: str) -> str:
        return (f"rename the Python function, or name it for JavaScript: "
                f"{self.method}(..., names={{{path!r}: {suggestion!r}}})")

    def _check_name(self, name: str, what: str, path: str,
                    fallback: str) -> None:
        problem = None
        if not IDENTIFIER.match(name):
            problem = "is not a JavaScript identifier (ASCII letters, " \
                      "digits and _)"
        elif name in JS_RESERVED:
            problem = "is a JavaScript reserved word"
        elif name in OWN_EXPORTS:
            problem = "is one of the client's own exports"
        if problem is not None:
            good = "".join(c for c in fallback if c.isascii() and
                           (c.isalnum() or c == "_")) + "Call"
            good = good if IDENTIFIER.match(good) else "callName"
            raise ValueError(f"{what} {name!r} {problem}, not a name for "
                             f"the JS client's function of {path}: "
                             f"{self._rename_hint(path, good)}")

    def _entries(self, server: Any, pending: Iterable[tuple[str, Any, bool]]
                 ) -> list[Entry]:
        """The client's functions, with those being registered
        (`pending`: path, function, whether it has a contract)."""
        res: dict[str, Entry] = {}
        if self.json_workers:
            for path, route in server._worker_routes.items():
                if ":" in path or (route.fn is None and
                                   path not in self.names):
                    continue  # a service's has no name of its own
                res[path] = Entry(path, "worker", None, route.fn)
        for path, contract in server._typed.items():
            res[path] = Entry(path, _kind(contract), contract,
                              getattr(contract, "fn", None))
        for path, fn, typed in pending:
            if fn is None and path not in self.names:
                continue
            if typed or self.json_workers:
                res[path] = Entry(path, "rpc" if typed else "worker", None,
                                  fn)
        return sorted(res.values(), key=lambda entry: entry.path)

    def _name(self, entry: Entry) -> str:
        if entry.path in self.names:
            return self.names[entry.path]
        name = getattr(entry.contract, "name", None)  # `rpc(..., name=)`
        return str(name or getattr(entry.fn, "__name__", ""))

    def check(self, server: Any,
              pending: Iterable[tuple[str, Any, bool]] = ()) -> None:
        """ValueError when a function's name is not fit or taken twice."""
        seen: dict[str, str] = {}
        for entry in self._entries(server, pending):
            name = self._name(entry)
            self._check_name(name, "the function name", entry.path, name)
            if name in seen:
                raise ValueError(
                    f"{seen[name]} and {entry.path} would both be the JS "
                    f"client's function {name}: "
                    f"{self._rename_hint(entry.path, name + '2')} (or the "
                    f"other one)")
            seen[name] = entry.path

    def functions(self, server: Any) -> tuple[list[ClientFunction],
                                              dict[str, Any]]:
        """The client's functions and the `$defs` of their types."""
        from ..rpc.model import contracts_document
        entries = self._entries(server, ())
        doc = contracts_document([entry.contract for entry in entries
                                  if entry.contract is not None])
        contracts = doc.get("contracts", {})
        res = []
        for entry in entries:
            schemas = contracts.get(entry.path) \
                if entry.contract is not None else None
            if schemas is None:  # a plain json_worker: any JSON
                res.append(ClientFunction(
                    entry.kind, self._name(entry), entry.path,
                    inspect.getdoc(entry.fn) if entry.fn else None,
                    None, None))
                continue
            res.append(ClientFunction(
                entry.kind, self._name(entry), entry.path,
                schemas.get("description"),
                schemas.get("request", schemas.get("payload")),
                schemas.get("response", schemas.get("result"))))
        return res, doc.get("$defs", {})

    def files(self, server: Any) -> tuple[bytes, bytes]:
        """api.js and api.d.ts (ValueError as `check`'s)."""
        self.check(server)
        functions, defs = self.functions(server)
        source = f"quick_server's {self.method}"
        return (generate_js(functions, defs, self.default_base,
                            source).encode("utf-8"),
                generate_dts(functions, defs, source).encode("utf-8"))
