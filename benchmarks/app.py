"""The server the benchmark starts: `python app.py PORT WWW`.

Uses only calls from the original quick_server README, so the same file
runs this checkout (PYTHONPATH) and the PyPI release (its own venv)."""
import itertools
import sys
import time

from quick_server import create_server


def main() -> None:
    port, www = int(sys.argv[1]), sys.argv[2]
    server = create_server(("127.0.0.1", port), parallel=True)
    server.bind_path("/", www)
    server.add_default_white_list()
    server.add_file_patterns(["*.bin"], blacklist=False)
    server.suppress_noise = True
    server.no_command_loop = True
    counter = itertools.count()

    @server.json_get("/api/ping")
    def _ping(req, args):
        return {"ok": True, "n": next(counter)}

    @server.json_post("/api/upload")
    def _upload(req, args):
        return {"files": len(args.get("files", {}))}

    @server.json_worker("/api/work")
    def _work(args):
        time.sleep(float(args.get("ms", 0)) / 1000)
        return {"ok": True}

    server.serve_forever()


if __name__ == "__main__":
    main()
