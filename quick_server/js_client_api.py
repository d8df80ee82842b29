"""The typed browser client's methods of a server (a mixin of
`QuickServer`): `bind_js_client` and `mirror_js_client`. The generator
(`jsclient`) is imported when a client is bound."""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable

from .browser import (JS_TYPE, TS_TYPE, declarations_path, script_answer,
                      serve_hub, write_if_changed)
from .http.routing import ReqF

if TYPE_CHECKING:
    from .jsclient.client import JsClient

# where a copy in a front end's sources calls: the page's server (a dev
# server proxies the API's paths), unless configured
PAGE_SERVER = "() => (typeof location !== 'undefined' ? " \
              "new URL('/', location.href).href : null)"


class JsClientApi:
    """`bind_js_client` and `mirror_js_client`; the registration of rpc
    routes and workers tells the clients (`_js_client_pending` before,
    `_js_clients_changed` after)."""

    # (client, the folder a mirror writes to, or None for a served one)
    _js_clients: list[tuple[JsClient, str | None]] | None = None
    _js_files: dict[int, tuple[int, bytes, bytes]] | None = None
    _js_serial = 0  # contracts changed: served files are made anew

    if TYPE_CHECKING:  # what the server provides
        base_path: str

        def add_route(self, method: str, kind: str, mask: str,
                      handler: ReqF, argc: int | None = None, *,
                      exclusive: bool = True,
                      guard: Callable[[Any], None] | None = None
                      ) -> None: ...

    def bind_js_client(self, mask: str = "/api.js", *,
                       names: dict[str, str] | None = None,
                       json_workers: bool = False) -> None:
        """Serves the typed browser client at `mask`: an ES module with
        one exported async function per rpc route and typed worker (and,
        with `json_workers`, per json_worker), named after its Python
        function, with JSDoc types; its TypeScript declarations beside it
        (`/api.js` -> `/api.d.ts`). It calls the server it was served
        from. `names` maps a route's path to its function's name in
        JavaScript; a name that is no identifier, a reserved word or
        taken twice is a ValueError (docs/js-client.rst)."""
        if not mask.startswith("/") or ":" in mask:
            raise ValueError(f"the client's path is a plain path: {mask!r}")
        from .jsclient.client import JsClient
        from .jsclient.text import js_string
        up = "../" * (mask.count("/") - 1) or "./"
        client = JsClient("bind_js_client",
                          f"() => new URL({js_string(up)}, "
                          f"import.meta.url).href", names, json_workers)
        client.check(self)
        self._add_js_client(client, None)
        for path, index, ctype in ((mask, 0, JS_TYPE),
                                   (declarations_path(mask), 1, TS_TYPE)):
            self.add_route("GET", "text", path,
                           self._js_client_route(client, index, ctype), 0)
        serve_hub(self)

    def mirror_js_client(self, folder: str, *,
                         names: dict[str, str] | None = None,
                         json_workers: bool = False) -> None:
        """Writes the typed client (`api.js`, `api.d.ts`) into `folder`
        (a front end's sources, relative to `base_path`) and writes it
        anew whenever a contract is registered; a file already current is
        left alone. The copy calls the page's own server unless
        `configureClient({baseUrl})` says otherwise. `names` and
        `json_workers` as for `bind_js_client`."""
        from .jsclient.client import JsClient
        client = JsClient("mirror_js_client", PAGE_SERVER, names,
                          json_workers)
        client.check(self)
        target = os.path.join(self.base_path, folder)
        self._add_js_client(client, target)
        serve_hub(self)  # for pages of this server (else a tab holds it)
        self._write_js_client(client, target)

    def _add_js_client(self, client: JsClient, folder: str | None) -> None:
        if self._js_clients is None:
            self._js_clients = []
            self._js_files = {}
        self._js_clients.append((client, folder))

    def _js_client_route(self, client: JsClient, index: int,
                         ctype: str) -> ReqF:
        def serve(req: Any, args: Any) -> Any:
            return script_answer(self._js_client_files(client)[index],
                                 ctype)
        return serve

    def _js_client_files(self, client: JsClient) -> tuple[bytes, bytes]:
        """A served client's files, made once per change of contracts."""
        assert self._js_files is not None
        made = self._js_files.get(id(client))
        if made is None or made[0] != self._js_serial:
            made = (self._js_serial, *client.files(self))
            self._js_files[id(client)] = made
        return made[1], made[2]

    def _write_js_client(self, client: JsClient, folder: str) -> None:
        js, dts = client.files(self)
        write_if_changed(os.path.join(folder, "api.js"), js)
        write_if_changed(os.path.join(folder, "api.d.ts"), dts)

    def _js_client_pending(self, path: str, fn: Any,
                           typed: bool = True) -> None:
        """Before a route of `fn` is registered at `path` (`typed`: it has
        a contract; else a plain json_worker): ValueError when its name
        does not fit a client."""
        for client, _ in self._js_clients or ():
            client.check(self, [(path, fn, typed)])

    def _js_clients_changed(self) -> None:
        """After a registration: served clients are made anew when next
        asked for, copies are written anew now."""
        if not self._js_clients:
            return
        self._js_serial += 1
        for client, folder in self._js_clients:
            if folder is not None:
                self._write_js_client(client, folder)
