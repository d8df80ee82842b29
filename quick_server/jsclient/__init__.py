"""The typed browser client: an ES module (`api.js`) and its TypeScript
declarations (`api.d.ts`) generated from the server's contracts.

`typescript` turns JSON Schema into TypeScript types (and JSDoc), `names`
checks the names the client's functions get, `generate` writes the two
files; `js_client_api.JsClientApi` is the server's side
(`bind_js_client`, `mirror_js_client`). Nothing here is imported until a
client is bound."""
