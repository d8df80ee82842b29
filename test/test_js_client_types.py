"""The typed browser client's files: TypeScript's compiler (tsc --strict)
checks a front end against api.d.ts and worker.d.ts and refuses a
misspelled field; every type of the rpc type rules has its TypeScript
form; names that clash are errors that say how to rename; no docstring,
field or value of the contracts can inject code; mirror_js_client writes
the files and writes them anew when a contract changes."""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from typing import Literal

import pytest

from conftest import get
from quick_server.browser import js_source
from test_js_client import OrderRequest, OrderResponse, order
from test_rpc import Order, Tree

TSC_ARGS = ["--strict", "--noEmit", "--target", "es2022", "--module",
            "es2022", "--moduleResolution", "bundler", "--lib", "es2022,dom",
            "src/main.ts"]

FRONT_END = """
import { order, steps, everything, configureClient, RpcError, WorkerError,
         type OrderRequestInput, type OrderResponse, type Progress,
         type Order, type OrderInput, type Tree } from './api.js';
import { Worker } from './worker.js';

configureClient({ baseUrl: 'http://127.0.0.1:8080',
                  headers: { Authorization: 'Bearer k' } });

export async function main(signal: AbortSignal): Promise<string> {
  const request: OrderRequestInput = { lines: [{ name: 'apple' }],
                                       mode: 'slow' };
  const answer: OrderResponse = await order(request, { signal });
  const total: number = answer.total;
  const first: string | undefined = answer.names[0];
  try {
    await order({ lines: [{ name: 'pear', qty: 2 }], note: null });
  } catch (err) {
    if (err instanceof RpcError) {
      const where: string | null = err.field;
      console.log(err.status, where, err.expected);
    }
  }
  const result: unknown = await steps({ n: 3 }, {
    signal, onProgress: (p: Progress) => console.log(p.done, p.total),
  });
  const full: OrderInput = { items: [{ name: 'x' }] };
  const back: Order = await everything(full);
  const tree: Tree = back.tree ?? { value: 1, children: [] };
  const when: string | null = back.when;
  const pair: [number, string] = back.pair;
  const color: 'red' | 'green' = back.color;
  const level: 1 | 2 = back.level;
  const either: number | string = back.either;
  const tags: Record<string, number> = back.tags;
  const work = new Worker();
  const done = await work.run<{ steps: number }>('/api/steps', { n: 1 });
  if (result instanceof WorkerError) { throw result; }
  return `${total} ${first} ${tree.value} ${when} ${pair[1]} ${color} ` +
    `${level} ${either} ${tags.a} ${done.steps}`;
}
"""


def everything(request: Order) -> Order:
    """Every type of the rules."""
    return request


@pytest.fixture
def front_end(make_server, tmp_path):
    """A front end's sources with the mirrored client and worker.js."""
    server = make_server(start=False)
    server.rpc("/api/order")(order)
    server.rpc("/api/everything")(everything)

    @server.json_worker("/api/steps")
    def steps(payload):
        return payload

    server.mirror_js_client(str(tmp_path / "src"), json_workers=True)
    server.mirror_worker_js(str(tmp_path / "src" / "worker.js"))
    return tmp_path


def test_tsc_checks_a_front_end_and_refuses_misspelled_fields(front_end,
                                                              tsc):
    main = front_end / "src" / "main.ts"
    main.write_text(FRONT_END)
    done = tsc(front_end, *TSC_ARGS)
    assert done.returncode == 0, done.stdout + done.stderr
    typos = {"answer.total": ("answer.totl", "Property 'totl' does not "
                                             "exist on type 'OrderResponse'"),
             "{ name: 'apple' }": ("{ nme: 'apple' }", "'nme' does not "
                                   "exist in type 'LineInput'"),
             "mode: 'slow'": ("mode: 'slo'", "Type '\"slo\"' is not "
                              "assignable"),
             "p.done": ("p.dnoe", "Property 'dnoe' does not exist on type "
                        "'Progress'")}
    text = FRONT_END
    for right, (wrong, _) in typos.items():
        text = text.replace(right, wrong, 1)
    main.write_text(text)  # each typo is an error of its own
    done = tsc(front_end, *TSC_ARGS)
    assert done.returncode != 0
    for _, says in typos.values():
        assert says in done.stdout, done.stdout
    assert done.stdout.count("error TS") == len(typos), done.stdout


def test_the_javascript_is_typed_by_its_jsdoc_too(front_end, tsc):
    """Without api.d.ts, TypeScript reads api.js's JSDoc (checkJs): the
    same types."""
    os.remove(front_end / "src" / "api.d.ts")
    (front_end / "src" / "main.ts").write_text(
        "import { order } from './api.js';\n"
        "export async function f(): Promise<number> {\n"
        "  const answer = await order({ lines: [{ name: 'a' }] });\n"
        "  return answer.total;\n}\n")
    args = TSC_ARGS[:-1] + ["--allowJs", "--checkJs", "src/main.ts"]
    done = tsc(front_end, *args)
    assert done.returncode == 0, done.stdout + done.stderr
    (front_end / "src" / "main.ts").write_text(
        "import { order } from './api.js';\n"
        "export async function f(): Promise<number> {\n"
        "  const answer = await order({ lines: [{ name: 'a' }] });\n"
        "  return answer.totl;\n}\n")
    done = tsc(front_end, *args)
    assert "Property 'totl' does not exist" in done.stdout, done.stdout


def test_the_types_of_the_rules(make_server):
    server = make_server()
    server.rpc("/api/everything")(everything)
    server.bind_js_client()
    dts = get(server.port, "/api.d.ts")[2].decode()
    for line in ("  items: ItemInput[];", "  tags?: Record<string, number>;",
                 'export type Color = "red" | "green";',
                 "export type Level = 1 | 2;",
                 '  mode?: "fast" | "slow";', "  note?: string | null;",
                 "  pair?: [number, string];", "  many?: number[];",
                 "  either?: number | string;", "  tree?: TreeInput | null;",
                 "  children?: TreeInput[];", "  extra?: unknown;",
                 "  when: string | null;", "  tree: Tree | null;",
                 "export declare function everything(request: OrderInput, "
                 "options?: RpcOptions): Promise<Order>;"):
        assert line in dts, line
    assert Tree  # (the recursive type, imported for the line above)


def test_names_that_clash_are_errors_that_say_how_to_rename(make_server,
                                                            tmp_path):
    server = make_server(start=False)
    server.bind_js_client("/api.js")
    server.rpc("/api/order")(order)

    def delete(request: OrderRequest) -> OrderResponse:
        return OrderResponse(0)

    with pytest.raises(ValueError) as err:
        server.rpc("/api/delete")(delete)
    assert "'delete' is a JavaScript reserved word" in str(err.value)
    assert "names={'/api/delete': 'deleteCall'}" in str(err.value)
    assert "/api/delete" not in server._typed  # nothing was registered
    with pytest.raises(ValueError) as err:  # (every typed route's name
        server.rpc("/v2/order")(order)  # is unique: the model says so)
    assert "the name 'order' is taken by rpc /api/order" in str(err.value)
    assert 'pass name="..." to the decorator' in str(err.value)
    # a name fit for Python, not for JavaScript: said when the client is
    other = make_server(start=False)
    other.rpc("/api/order")(order)
    other.rpc("/v2/order", name="order2")(order)
    other.rpc("/api/delete")(delete)
    with pytest.raises(ValueError, match="reserved word"):
        other.mirror_js_client(str(tmp_path / "unused"))
    with pytest.raises(ValueError, match="both be"):
        other.mirror_js_client(str(tmp_path / "unused"),
                               names={"/api/delete": "order2"})
    with pytest.raises(ValueError, match="reserved word"):
        other.bind_js_client("/api.js", names={"/v2/order": "orderV2",
                                               "/api/delete": "new"})
    with pytest.raises(ValueError, match="client's own exports"):
        other.bind_js_client("/api.js", names={"/v2/order": "RpcError"})
    other.bind_js_client("/api.js", names={"/v2/order": "orderV2",
                                           "/api/delete": "deleteOrder"})


def test_plain_json_workers_only_when_asked(make_server):
    server = make_server()

    @server.json_worker("/work")
    def work(payload):
        return payload

    server.json_worker("/lambda")(lambda payload: payload)
    server.bind_js_client("/api.js")
    assert b"work" not in get(server.port, "/api.js")[2].split(
        b"export const configureClient")[1]
    with pytest.raises(ValueError, match="'<lambda>' is not a JavaScript "
                                         "identifier"):
        server.bind_js_client("/all.js", json_workers=True)
    server.bind_js_client("/all.js", json_workers=True,
                          names={"/lambda": "echo"})
    js = get(server.port, "/all.js")[2]
    assert b"export { $echo as echo, $work as work };" in js


EVIL = "*/ globalThis.pwned = 1; /* </script> @param {number} x \u2028 '\""


@dataclass
class Evil:
    __doc__ = EVIL
    plain: Literal["*/ globalThis.pwned = 2; /*", "a@b"] = "a@b"
    described: int = field(default=0, metadata={"description": EVIL})


def evil(request: Evil) -> Evil:
    return request


evil.__doc__ = EVIL


def test_no_contract_text_injects_code(make_server, tmp_path, tsc):
    """Docstrings, descriptions and values land in comments and JSON
    strings only: the module runs without running them, and both files
    compile."""
    server = make_server(start=False)
    server.rpc("/api/evil*/")(evil)
    server.mirror_js_client(str(tmp_path / "src"))
    js = (tmp_path / "src" / "api.js").read_text()
    assert "*/ globalThis.pwned" not in js and "\u2028" not in js
    check = subprocess.run(
        ["node", "--input-type=module", "-e",
         f"const api = await import({str(tmp_path / 'src' / 'api.js')!r});"
         "console.log(typeof api.evil, globalThis.pwned === undefined);"],
        capture_output=True, text=True, timeout=60, check=False)
    assert check.stdout.split() == ["function", "true"], check.stderr
    (tmp_path / "src" / "main.ts").write_text(
        "import { evil } from './api.js';\n"
        "export const p = evil({ plain: '*/ globalThis.pwned = 2; /*' });\n")
    done = tsc(tmp_path, *TSC_ARGS)
    assert done.returncode == 0, done.stdout


def test_mirror_writes_the_files_anew_when_a_contract_changes(
        make_server, tmp_path):
    server = make_server(start=False)
    server.mirror_js_client(str(tmp_path / "web"))
    js, dts = tmp_path / "web" / "api.js", tmp_path / "web" / "api.d.ts"
    assert b"function order" not in js.read_bytes()
    server.rpc("/api/order")(order)
    assert b"const $order = async function order(request, options)" in \
        js.read_bytes()
    assert b"export declare function order(" in dts.read_bytes()
    # the same contracts again (a restarted server): the files are left
    os.utime(js, (1, 1))
    again = make_server(start=False)
    again.rpc("/api/order")(order)
    again.mirror_js_client(str(tmp_path / "web"))
    assert os.stat(js).st_mtime == 1
    # a served client calls the server it came from, a copy the page's
    assert b"new URL('/', location.href)" in js.read_bytes()
    # the worker protocol's core is worker.js's, the same text
    assert js_source("worker-core.js").encode() in js.read_bytes()
    assert OrderRequest
