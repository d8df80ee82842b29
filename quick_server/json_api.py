"""`server.json_default`: how a server writes, as JSON, the values
neither JSON nor quick_server has a word for (a mixin of the server)."""
from __future__ import annotations

from typing import Any

from .http.json_values import JsonDefault, with_hook
from .http.responses import JSON, JsonWriter


class JsonApi:
    """`json_default` and the `JsonWriter` it makes (`_json_writer`)."""

    _json_default: JsonDefault | None = None
    _json_writer: JsonWriter | None = None

    @property
    def json_default(self) -> JsonDefault | None:
        """Called with a value a JSON answer holds that nothing else can
        write (numpy, pandas, dates, `Decimal`, `UUID`, `Enum`, sets and
        dataclasses are recognised first); returns what to write instead,
        or raises TypeError (the answer is a 500). None: no hook."""
        return self._json_default

    @json_default.setter
    def json_default(self, hook: JsonDefault | None) -> None:
        if hook is not None and not callable(hook):
            raise TypeError(
                f"json_default must be callable or None, got {hook!r}")
        self._json_default = hook
        self._json_writer = None if hook is None \
            else JsonWriter(with_hook(hook))

    def _to_json(self, value: Any) -> str:
        """A job's result (or another value) as this server writes JSON
        (route answers: `route_answers.to_response`)."""
        return (self._json_writer or JSON).text(value)
