  // -- the typed client's calls (api.js): rpc routes and workers ---------
  //
  // Put in by quick_server/jsclient/generate.py after the protocol's core
  // (worker-core.js) and the hub (hub.js); `defaultBase()` (the
  // generator's) says where the server is when nobody configured it.

  /** Why an rpc call failed: `status` (null: no answer), and for a
   * request that does not fit its type (400) the `field` and what was
   * `expected` there; `body` is the answer's JSON (or text). */
  class RpcError extends Error {
    constructor(status, message, field, expected, body) {
      super(message);
      this.name = 'RpcError';
      this.status = status;
      this.field = field === undefined ? null : field;
      this.expected = expected === undefined ? null : expected;
      this.body = body === undefined ? null : body;
    }
  }

  const config = { baseUrl: null, headers: {}, wait: 25 };

  /** Sets what every call of the client uses unless its options say
   * otherwise: baseUrl (the server), headers (extra request headers),
   * wait (seconds the server may hold a worker's poll). */
  function configureClient(options) {
    const opts = options || {};
    if (opts.baseUrl !== undefined) {
      config.baseUrl = opts.baseUrl === null ? null : String(opts.baseUrl);
    }
    if (opts.headers !== undefined) {
      config.headers = Object.assign({}, opts.headers || {});
    }
    if (opts.wait !== undefined) {
      config.wait = opts.wait;
    }
  }

  /** The URL of the route at `path` (absolute on the server). */
  function routeUrl(path, opts) {
    let base = opts.baseUrl !== undefined && opts.baseUrl !== null ?
      String(opts.baseUrl) : config.baseUrl || defaultBase();
    if (!base) {
      throw new RpcError(null, 'no server to call: configureClient({baseUrl}) ' +
                         'or a call\'s options.baseUrl says where it is');
    }
    if (!base.endsWith('/')) {
      base += '/';
    }
    return new URL(path.replace(/^\/+/, ''), base).href;
  }

  function requestHeaders(opts) {
    return Object.assign({}, config.headers, opts.headers || {});
  }

  /** The RpcError of a refused call: the rpc's JSON error (`error`,
   * `field`, `expected`), another JSON answer's `error`, or the text. */
  function refusal(url, status, text) {
    let body = text;
    let message = text.trim();
    try {
      body = JSON.parse(text);
      const error = body && body.error;
      if (typeof error === 'string') {
        message = error;
      } else if (error && typeof error.message === 'string') {
        message = error.message;
      }
    } catch (err) {
      // not JSON: the server's text
    }
    const field = body && typeof body.field === 'string' ? body.field : null;
    const expected = body && typeof body.expected === 'string' ?
      body.expected : null;
    return new RpcError(status, `POST ${url}: HTTP ${status}: ${message}`,
                        field, expected, body);
  }

  /**
   * POSTs `request` as JSON to the rpc at `path` and resolves with its
   * answer (a Blob when `files` and the answer is a file). A 502 (a proxy
   * could not reach the server) is sent again after a growing pause, a
   * 503 or 429 with a Retry-After (at most 30 s) after it, twice at most;
   * a network error is not (the call may have reached the server).
   * Rejects with an RpcError, or the reason of options.signal once that
   * AbortSignal aborts.
   */
  async function callRpc(path, request, options, files) {
    const opts = options || {};
    const url = routeUrl(path, opts);
    const headers = Object.assign({ 'Content-Type': 'application/json',
                                    Accept: 'application/json' },
                                  requestHeaders(opts));
    const signal = opts.signal || undefined;
    for (let attempt = 0; ; attempt += 1) {
      if (signal && signal.aborted) {
        throw abortReason(signal);
      }
      let resp;
      try {
        resp = await fetch(url, { method: 'POST', headers, signal,
                                  body: JSON.stringify(request) });
      } catch (err) {
        if (signal && signal.aborted) {
          throw abortReason(signal);
        }
        throw new RpcError(null, `POST ${url}: ${err.message}`);
      }
      const after = parseInt(resp.headers.get('Retry-After'), 10);
      if (attempt < 2 && (resp.status === 502 || ([503, 429].includes(
        resp.status) && Number.isFinite(after) && after <= 30))) {
        await sleep(resp.status === 502 ? RETRY_DELAYS[attempt] :
          Math.max(after, 0) * 1000);
        continue;
      }
      if (!resp.ok) {
        throw refusal(url, resp.status, await resp.text());
      }
      const ctype = resp.headers.get('Content-Type') || '';
      if (files && (resp.headers.get('Content-Disposition') !== null ||
                    !/[/+]json\b/i.test(ctype))) {
        return resp.blob();
      }
      const text = await resp.text();
      try {
        return text.trim() ? JSON.parse(text) : null;
      } catch (err) {
        throw new RpcError(resp.status,
                           `POST ${url}: the answer is not JSON: ${err.message}`);
      }
    }
  }

  /** Runs a job of the worker at `path` with `payload`: the promise of
   * runJob (the protocol's core), with the client's configuration. */
  function callWorker(path, payload, options) {
    const opts = options || {};
    let url;
    try {
      url = routeUrl(path, opts);
    } catch (err) {
      return Promise.reject(err);
    }
    return runJob(url, payload, {
      wait: opts.wait === undefined ? config.wait : opts.wait,
      headers: requestHeaders(opts),
      signal: opts.signal,
      onProgress: opts.onProgress,
    });
  }
