"""bottle on its default server (wsgiref): `python bottle_app.py PORT WWW`."""
import itertools
import sys

import bottle

port, www = int(sys.argv[1]), sys.argv[2]
counter = itertools.count()


@bottle.get("/api/ping")
def _ping():
    return {"ok": True, "n": next(counter)}


@bottle.get("/<path:path>")
def _static(path):
    return bottle.static_file(path, root=www)


bottle.run(host="127.0.0.1", port=port, quiet=True)
