"""Mutated requests (fixed seed, bounded count): whatever arrives, the
server answers with a 4xx/5xx it chose on purpose or closes, never with an
internal error, and keeps serving."""
from __future__ import annotations

import random

from conftest import get, raw, run_in_thread, statuses

SEEDS = [
    b"GET /index.html?a=1&b=%20#frag HTTP/1.1\r\nHost: x\r\n"
    b"Cookie: a=b; c=d\r\nRange: bytes=0-3\r\n\r\n",
    b"POST /api/echo/one/two?x=%ff HTTP/1.1\r\nHost: x\r\n"
    b"Content-Type: application/json\r\nContent-Length: 15\r\n\r\n"
    b'{"a": [1, 2.5]}',
    b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/"
    b"form-data; boundary=zz\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"4a\r\n--zz\r\nContent-Disposition: form-data; name=\"f\"; "
    b"filename=\"a.txt\"\r\n\r\nhello\r\n--zz--\r\n\r\n0\r\n\r\n",
    b"PUT /api/user/42/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/"
    b"x-www-form-urlencoded\r\nContent-Length: 7\r\n\r\na=1&b=2",
    b"POST /work HTTP/1.1\r\nHost: x\r\nContent-Length: 33\r\n\r\n"
    b'{"action": "get", "token": "zz"}\n',
]
ALPHABET = b"\x00\r\n :;=%/\\.?#&\"'-\t\xff\xc3\x28{}[]0123456789abcAZ"


def mutate(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 6)):
        pos = rng.randrange(len(out) + 1)
        kind = rng.random()
        if kind < 0.4 and out:
            out[min(pos, len(out) - 1)] = rng.choice(ALPHABET)
        elif kind < 0.7:
            out[pos:pos] = bytes(rng.choice(ALPHABET)
                                 for _ in range(rng.randint(1, 8)))
        else:
            del out[pos:pos + rng.randint(1, 8)]
    return bytes(out)


def test_mutated_requests_never_break_the_server(make_server, www, capfd):
    server = make_server(start=False)
    server.bind_path("/", www)
    server.add_default_white_list()
    server.limits.head_timeout = 0.3
    server.idle_timeout = 0.3

    @server.json_post("/api/echo")
    def _echo(req, args):
        return {"post": repr(args["post"]), "paths": args["paths"],
                "files": sorted(args["files"])}

    @server.json_put("/api/user/:id/")
    def _user(req, args):
        return {"id": args["segments"]["id"], "post": repr(args["post"])}

    @server.json_worker("/work")
    def _work(payload):
        return payload

    run_in_thread(server)
    rng = random.Random(1234)
    seen = set()
    for _ in range(300):
        data = mutate(rng, rng.choice(SEEDS))
        for code in statuses(raw(server.port, data, timeout=2,
                                 half_close=True)):
            seen.add(code)
            assert code != 500, data
    assert get(server.port, "/index.html")[0] == 200
    assert seen & {200, 206} and seen & {400, 404}
    assert "Traceback" not in capfd.readouterr().err  # nothing crashed
