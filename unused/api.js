// @ts-nocheck
// The typed client of a quick_server, generated from its contracts
// by quick_server's mirror_js_client.
// Do not edit: the server writes it anew when a contract changes. One
// async function per rpc route and worker (docs/js-client.rst), built on
// the protocol's core of quick_server's worker client.

const $$qs = (function (defaultBase) {
  'use strict';

  // the URL this module was loaded from (the hub's server)
  const SCRIPT_BASE = import.meta.url;

  // -- the worker protocol's core: one job from its start to its result ----
  //
  // Shared, as this one text, by every browser client the server hands
  // out: worker.js (classic script and ES module) and the typed clients
  // that bind_js_client generates (quick_server/browser.py puts it in).
  // It needs SCRIPT_BASE (where the hub is served) and hub.js's
  // linkToHub.

  class Cancelled extends Error {}

  /** Why a job failed: see the kinds in docs/worker-js.rst. */
  class WorkerError extends Error {
    constructor(kind, type, message, status, progress) {
      super(message);
      this.name = 'WorkerError';
      this.kind = kind;
      this.type = type;
      this.status = status === undefined ? null : status;
      this.progress = progress || null;
    }

    get err() { return this.message; }

    get code() { return this.status; }
  }

  const RETRY_DELAYS = [250, 500, 1000, 2000, 4000];  // milliseconds
  // a poll or a part of a result (asked again without harm) is retried
  // for about 30 s in all, the last delay repeated: through a restart
  const POLL_RETRY_DELAYS = RETRY_DELAYS.concat(Array(6).fill(4000));
  // not ready yet: a full queue, a server restarting (or whose restarted
  // program failed to start), or a dev proxy that cannot reach it
  const TRANSIENT = [502, 503, 504];

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** The page's running jobs, counted across its Workers, its typed
   * clients and the copies of this text it loaded (worker.js and the
   * live-reload script each carry one): `count`, and `listeners` called
   * with it when it changes. Live reload waits for it to be 0. */
  function pageJobs() {
    if (!globalThis.quickServerJobs) {
      globalThis.quickServerJobs = { count: 0, listeners: new Set() };
    }
    return globalThis.quickServerJobs;
  }

  function countJobs(delta) {
    const jobs = pageJobs();
    jobs.count += delta;
    for (const fn of jobs.listeners) {
      notify(fn, jobs.count);
    }
  }

  /** Calls a user's callback; what it throws is reported as uncaught
   * without ending the job that called it. */
  function notify(cb, ...args) {
    try {
      cb(...args);
    } catch (err) {
      setTimeout(() => { throw err; });
    }
  }

  /** The error of a refused request: a failed job's JSON body, else the
   * `error` text of a JSON answer, else the server's text. */
  function httpError(status, text) {
    let message = text.trim();
    try {
      const body = JSON.parse(text);
      const error = body.error;
      if (error && typeof error.type === 'string') {
        return new WorkerError('job', error.type, String(error.message),
                               status, body.progress);
      }
      if (typeof error === 'string') {
        message = error;
      }
    } catch (err) {
      // not JSON: a plain refusal
    }
    return new WorkerError('http', 'HTTPError', `HTTP ${status}: ${message}`,
                           status);
  }

  /**
   * POSTs one protocol request to `url` with the extra `headers`. A 502,
   * 503 or 504 (a full queue, or a server that restarts or is down,
   * behind a dev proxy or not) is asked again after its Retry-After, else
   * after the next back-off delay, a start too (the server did not answer
   * it; a job it started all the same is cancelled when nobody asks for
   * it). A network error is asked again after the back-off, except for a
   * start, which may have reached the server (get and cargo can be
   * repeated, and are for longer: POLL_RETRY_DELAYS). Throws a WorkerError
   * (or the AbortError of a cancelled job).
   */
  async function sendRequest(url, body, headers, extra) {
    const delays = body.action === 'get' || body.action === 'cargo' ?
      POLL_RETRY_DELAYS : RETRY_DELAYS;
    for (let attempt = 0; ; attempt += 1) {
      const delay = delays[attempt];
      let resp;
      let text;
      try {
        resp = await fetch(url, Object.assign({
          method: 'POST',
          headers: Object.assign({ 'Content-Type': 'application/json' },
                                 headers || {}),
          body: JSON.stringify(body),
        }, extra || {}));
        text = await resp.text();
      } catch (err) {
        if (err.name === 'AbortError') {
          throw err;
        }
        if (body.action === 'start' || delay === undefined) {
          throw new WorkerError('network', 'NetworkError',
                                `${url}: ${err.message}`);
        }
        await sleep(delay);
        continue;
      }
      if (TRANSIENT.includes(resp.status) && delay !== undefined) {
        const after = parseInt(resp.headers.get('Retry-After'), 10);
        await sleep(Number.isFinite(after) ?
          Math.min(Math.max(after, 0), 30) * 1000 : delay);
        continue;
      }
      if (!resp.ok) {
        throw httpError(resp.status, text);
      }
      return parseJson(text, resp.status);
    }
  }

  /**
   * One job of the worker at `url`: `run()` starts it and resolves with
   * its decoded result (parts of a large result fetched and joined) or
   * rejects with a WorkerError; `cancel()` stops it on the server, after
   * which `run()` rejects with Cancelled (or an AbortError), which callers
   * drop. options: wait (seconds a poll may be held), headers (added to
   * every request), onProgress(progress) (each new `{done, total,
   * message}`, the final one too, before the result).
   */
  class Job {
    constructor(url, payload, options) {
      const opts = options || {};
      this.url = url;
      this.payload = payload;
      this.wait = opts.wait === undefined ? 25 : opts.wait;
      this.headers = opts.headers || {};
      this.onProgress = opts.onProgress || null;
      this.token = null;
      this.cancelled = false;
      this.controller = new AbortController();
      this.lastProgress = 'null';
      this.abandon = null;  // set while the hub watches the job
    }

    cancel() {
      if (this.cancelled) {
        return;
      }
      this.cancelled = true;
      this.controller.abort();
      if (this.abandon) {
        this.abandon();
      }
      this._stop();
    }

    _send(body, extra) {
      return sendRequest(this.url, body, this.headers, extra);
    }

    _stop() {
      if (this.token === null) {
        return;  // the start answer will carry the token: stopped then
      }
      this._send({ action: 'stop', token: this.token },
                 { keepalive: true }).catch(() => {});
    }

    /** Hands a reply's progress to onProgress when it changed. */
    _progress(progress) {
      const key = JSON.stringify(progress || null);
      if (key === this.lastProgress || this.cancelled) {
        return;
      }
      this.lastProgress = key;
      if (this.onProgress && progress) {
        notify(this.onProgress, progress);
      }
    }

    /**
     * Waits for the job's end through the browser's hub, which watches
     * the jobs of every tab with one long-poll: resolves with its final
     * reply (or the one saying the server cancelled it).
     */
    _watch() {
      return new Promise((resolve, reject) => {
        const link = linkToHub(SCRIPT_BASE);
        let stop = null;
        const finish = () => {
          stop();
          link.unwatchJob(this.token);
          this.abandon = null;
        };
        stop = link.listen((msg) => {
          if (msg.token !== this.token) {
            return;
          }
          if (msg.type === 'failed') {
            finish();
            reject(pollFailure(msg, this.url));
          } else if (msg.type === 'reply' && msg.reply.status !== undefined) {
            finish();
            reject(httpError(msg.reply.status, JSON.stringify(msg.reply)));
          } else if (msg.type === 'reply') {
            this._progress(msg.reply.progress);
            if (msg.reply.done || !msg.reply.continue) {
              finish();
              resolve(msg.reply);
            }
          }
        });
        this.abandon = () => {
          finish();
          reject(new Cancelled());
        };
        link.watchJob(this.token, new URL(this.url, location.href).href,
                      this.wait, this.headers);
      });
    }

    async run() {
      // start answers at once with a token (or with the result of a quick
      // job); polls are then held by the server until the job is done
      let res;
      try {
        res = await this._send({ action: 'start', payload: this.payload });
        this.token = res.token;
        this._progress(res.progress);
        if (!res.done && res.continue && !this.cancelled && canShare()) {
          res = await this._watch();
        }
        while (!res.done) {
          if (this.cancelled) {
            this._stop();
            throw new Cancelled();
          }
          if (!res.continue) {
            throw new WorkerError('cancelled', 'Cancelled',
                                  'the server cancelled the job', null,
                                  res.progress);
          }
          res = await this._send({
            action: 'get', token: this.token, wait: this.wait,
          }, { signal: this.controller.signal });
          this._progress(res.progress);
        }
      } catch (err) {
        if (err instanceof WorkerError && err.progress) {
          this._progress(err.progress);
        }
        throw err;
      }
      let text = res.result;
      if (res.continue) {
        const parts = [];
        for (const key of res.result) {
          const part = await this._send({ action: 'cargo', token: key },
                                        { signal: this.controller.signal });
          parts.push(part.result);
        }
        text = parts.join('');
      }
      return parseJson(text, 200);
    }
  }

  /** Why a promise of a job cancelled with `signal` rejects: the signal's
   * reason (an AbortError unless the caller gave one). */
  function abortReason(signal) {
    if (signal.reason !== undefined) {
      return signal.reason;
    }
    return new DOMException('the job was cancelled', 'AbortError');
  }

  /**
   * Runs a job as a promise: it resolves with the result and rejects with
   * a WorkerError, or, once `options.signal` (an AbortSignal) aborts, with
   * the signal's reason while the job is stopped on the server. Options as
   * Job's, and `signal`. The page's job count (live reload) includes it.
   */
  function runJob(url, payload, options) {
    const opts = options || {};
    const signal = opts.signal || null;
    if (signal && signal.aborted) {
      return Promise.reject(abortReason(signal));
    }
    const job = new Job(url, payload, opts);
    countJobs(1);
    stopOnPagehide(job, true);
    return new Promise((resolve, reject) => {
      let ended = false;
      const end = () => {
        if (!ended) {
          ended = true;
          countJobs(-1);
          stopOnPagehide(job, false);
          if (signal) {
            signal.removeEventListener('abort', abort);
          }
        }
      };
      const abort = () => {
        job.cancel();
        end();
        reject(abortReason(signal));
      };
      if (signal) {
        signal.addEventListener('abort', abort);
      }
      job.run().then((result) => {
        if (!job.cancelled) {
          end();
          resolve(result);
        }
      }, (err) => {
        if (!job.cancelled && !(err instanceof Cancelled)) {
          end();
          reject(err);
        }
      });
    });
  }

  const runningJobs = new Set();  // runJob's, stopped when the page goes

  function stopOnPagehide(job, running) {
    if (!running) {
      runningJobs.delete(job);
      return;
    }
    if (!stopOnPagehide.listening && typeof addEventListener === 'function') {
      stopOnPagehide.listening = true;
      addEventListener('pagehide', () => {
        for (const each of Array.from(runningJobs)) {
          each.cancel();
        }
      });
    }
    runningJobs.add(job);
  }

  /** Whether this is a page, whose jobs its browser's hub can watch. */
  function canShare() {
    return typeof document !== 'undefined' && typeof location !== 'undefined' &&
      typeof addEventListener === 'function';
  }

  /** The error of a job whose shared poll failed for good. */
  function pollFailure(msg, url) {
    if (msg.kind === 'network') {
      return new WorkerError('network', 'NetworkError', `${url}: ${msg.text}`);
    }
    if (msg.kind === 'protocol') {
      return new WorkerError('protocol', 'ProtocolError',
                             'the answer is not a poll reply', msg.status);
    }
    return httpError(msg.status, msg.text);
  }

  function parseJson(text, status) {
    try {
      return JSON.parse(text);
    } catch (err) {
      throw new WorkerError('protocol', 'ProtocolError',
                            `the answer is not JSON: ${err.message}`, status);
    }
  }

  // -- one set of waiting connections per browser, whatever its tabs -----
  //
  // A browser opens at most six HTTP/1.1 connections to a host, across its
  // tabs. What waits in a page (the live-reload event stream, the
  // long-polls of running jobs) goes through one hub per browser instead,
  // which holds at most one event stream and one long-poll (the `poll`
  // action, for the jobs of every tab) per server (and set of extra
  // headers the jobs' requests carry): a SharedWorker running
  // this same script where the browser has one, else the tab elected with
  // the Web Locks API, which passes what it gets to the others over a
  // BroadcastChannel (when it closes, another tab takes over), else a hub
  // of each tab's own. Tabs tell the hub their whole state (the stream
  // they listen to, the jobs they watch) whenever it changes and every few
  // seconds; the hub forgets a tab it has not heard from for a while.

  const HUB_PATH = '/__quick_server__/worker.js';
  const HUB_NAME = 'quick_server-hub';
  const BEAT_MS = 5000;  // a tab's state, again
  // a tab not heard from is gone (a hidden tab's timers may fire but once a
  // minute; a tab that closed said bye already)
  const FORGET_MS = 180000;
  const STREAM_EVENTS = ['hello', 'reload', 'css'];

  function randomId() {
    return Math.random().toString(36).slice(2) + Date.now().toString(36);
  }

  /** Holds the shared connections; `send(to, message)` reaches the tab
   * with id `to`, or every tab when `to` is null. */
  class Hub {
    constructor(send, forget) {
      this.send = send;
      this.forget = forget || (() => {});
      this.tabs = new Map();  // id -> {live, watch: {token: {url, wait}}}
      this.stream = null;
      this.hello = null;  // the stream's last `hello`, for tabs that come
      // one poll per server and extra headers: group -> {key, serial, id}
      this.polls = new Map();
      this.ended = new Set();  // tokens whose final reply went out
      setInterval(() => this._expire(), BEAT_MS);
    }

    receive(msg) {
      if (!msg || typeof msg.id !== 'string') {
        return;
      }
      if (msg.type === 'bye') {
        this.tabs.delete(msg.id);
        this.forget(msg.id);
      } else if (msg.type === 'state') {
        const known = this.tabs.get(msg.id);
        this.tabs.set(msg.id, { live: msg.live, watch: msg.watch || {},
                                seen: Date.now() });
        if (msg.live && this.hello !== null &&
            !(known && known.live === msg.live)) {
          this.send(msg.id, { type: 'event', name: 'hello',
                              data: this.hello });
        }
      } else {
        return;
      }
      this._update();
    }

    _expire() {
      const now = Date.now();
      for (const [id, tab] of this.tabs) {
        if (now - tab.seen > FORGET_MS) {
          this.tabs.delete(id);
          this.forget(id);
        }
      }
      this._update();
    }

    _update() {
      this._updateStream();
      this._updatePolls();
    }

    _updateStream() {
      let url = null;
      for (const tab of this.tabs.values()) {
        url = url || tab.live || null;
      }
      if (this.stream && this.stream.url === url) {
        return;
      }
      if (this.stream) {
        this.stream.close();
        this.stream = null;
      }
      if (url) {
        this.stream = new EventSource(url);
        for (const name of STREAM_EVENTS) {
          this.stream.addEventListener(name, (event) => {
            if (name === 'hello') {
              this.hello = event.data;
            }
            this.send(null, { type: 'event', name, data: event.data });
          });
        }
      }
    }

    /** token -> {url, wait, headers, group, tab} of the jobs that tabs
     * watch; `group`: the poll that watches it (its server's origin and
     * the extra headers its requests carry). */
    _watched() {
      const watched = new Map();
      for (const [id, tab] of this.tabs) {
        for (const [token, job] of Object.entries(tab.watch)) {
          if (!this.ended.has(token)) {
            const headers = job.headers || {};
            const group = JSON.stringify([new URL(job.url).origin].concat(
              Object.entries(headers).sort()));
            watched.set(token, { url: job.url, wait: job.wait, headers,
                                 group, tab: id });
          }
        }
      }
      for (const token of this.ended) {
        if (!Array.from(this.tabs.values()).some((tab) => token in tab.watch)) {
          this.ended.delete(token);  // no tab lists it any more
        }
      }
      return watched;
    }

    _updatePolls() {
      const byGroup = new Map();
      for (const [token, job] of this._watched()) {
        byGroup.set(job.group, (byGroup.get(job.group) || []).concat([token]));
      }
      for (const group of new Set([...this.polls.keys(), ...byGroup.keys()])) {
        const key = (byGroup.get(group) || []).sort().join(' ');
        const poll = this.polls.get(group) ||
          { key: '', serial: 0, id: randomId() };
        if (poll.key !== key) {
          poll.key = key;
          poll.serial += 1;
          this.polls.set(group, poll);
          if (key) {
            this._poll(group, poll.serial);
          }
        }
      }
    }

    /** Long-polls the jobs of one server (with the same extra headers)
     * until what is watched there changes (a newer loop with the same
     * poll id supersedes this one). */
    async _poll(group, serial) {
      const poll = this.polls.get(group);
      for (let attempt = 0; poll.serial === serial;) {
        const jobs = Array.from(this._watched()).filter(
          ([, job]) => job.group === group);
        if (!jobs.length) {
          return;
        }
        const body = {
          action: 'poll', tokens: jobs.map(([token]) => token),
          wait: Math.min(...jobs.map(([, job]) => job.wait)),
          poll: poll.id,
        };
        let resp;
        let text;
        try {
          resp = await fetch(jobs[0][1].url, {
            method: 'POST',
            headers: Object.assign({ 'Content-Type': 'application/json' },
                                   jobs[0][1].headers),
            body: JSON.stringify(body),
          });
          text = await resp.text();
        } catch (err) {
          resp = null;
          text = err.message;
        }
        let kind = resp ? 'http' : 'network';
        if (resp && resp.ok) {
          const replies = pollReplies(text);
          if (replies) {
            attempt = 0;
            this._deliver(jobs, replies);
            this._updatePolls();  // without the jobs that ended
            continue;
          }
          kind = 'protocol';
        }
        const delay = POLL_RETRY_DELAYS[attempt];  // through a restart
        attempt += 1;
        if (delay === undefined || kind === 'protocol' ||
            (kind === 'http' && !TRANSIENT.includes(resp.status))) {
          for (const [token, job] of jobs) {  // every job there fails
            this.ended.add(token);
            this.send(job.tab, { type: 'failed', token, kind, text,
                                 status: resp ? resp.status : null });
          }
          return;
        }
        await sleep(delay);
      }
    }

    _deliver(jobs, replies) {
      for (const [token, job] of jobs) {
        const reply = replies[token];
        if (reply === undefined) {
          continue;
        }
        if (reply.status !== undefined || reply.done || !reply.continue) {
          this.ended.add(token);  // final: no longer polled
        }
        this.send(job.tab, { type: 'reply', token, reply });
      }
    }
  }

  function pollReplies(text) {
    try {
      const replies = JSON.parse(text).replies;
      return replies && typeof replies === 'object' ? replies : null;
    } catch (err) {
      return null;
    }
  }

  /** Runs the hub in a SharedWorker: every tab connects a port. */
  function serveHub(scope) {
    const ports = new Map();  // tab id -> its port
    const hub = new Hub((to, msg) => {
      const targets = to === null ? new Set(ports.values()) : [ports.get(to)];
      for (const port of targets) {
        if (port) {
          port.postMessage(Object.assign({ to }, msg));
        }
      }
    }, (id) => ports.delete(id));
    scope.addEventListener('connect', (event) => {
      const port = event.ports[0];
      port.addEventListener('message', (message) => {
        if (message.data && typeof message.data.id === 'string') {
          ports.set(message.data.id, port);
        }
        hub.receive(message.data);
      });
      port.start();
    });
  }

  /** A tab's side: its state, sent to whichever hub serves it, and the
   * messages the hub sends it. */
  class HubLink {
    constructor(hubUrl) {
      this.url = hubUrl;
      this.id = randomId();
      this.live = null;
      this.watch = new Map();
      this.listeners = new Set();
      // where this tab's hub runs: 'shared-worker', 'leader' (this tab),
      // 'follower' (another tab) or 'own' (a hub of its own)
      this.role = null;
      this._post = () => {};
      this._connect(hubUrl);
      setInterval(() => this._sendState(), BEAT_MS);
      addEventListener('pagehide', () => this._post({ type: 'bye', id: this.id }));
    }

    listen(fn) {
      this.listeners.add(fn);
      return () => this.listeners.delete(fn);
    }

    setLive(url) {
      this.live = url;
      this._sendState();
    }

    watchJob(token, url, wait, headers) {
      this.watch.set(token, { url, wait, headers: headers || {} });
      this._sendState();
    }

    unwatchJob(token) {
      if (this.watch.delete(token)) {
        this._sendState();
      }
    }

    _sendState() {
      this._post({ type: 'state', id: this.id, live: this.live,
                   watch: Object.fromEntries(this.watch) });
    }

    _receive(msg) {
      if (msg && (msg.to === null || msg.to === this.id)) {
        for (const fn of this.listeners) {
          notify(fn, msg);
        }
      }
    }

    _connect(hubUrl) {
      if (hubUrl && typeof SharedWorker === 'function') {
        try {
          const worker = new SharedWorker(hubUrl, { name: HUB_NAME });
          const port = worker.port;
          port.addEventListener('message', (event) => this._receive(event.data));
          port.start();
          this._post = (msg) => port.postMessage(msg);
          this.role = 'shared-worker';
          let failed = false;
          worker.addEventListener('error', () => {
            // its script did not load (not served here): a tab's hub
            if (!failed) {
              failed = true;
              port.close();
              this._elect();
            }
          });
          this._sendState();
          return;
        } catch (err) {
          // another origin's script, or no workers here: a tab's hub
        }
      }
      this._elect();
    }

    /** The hub in a tab: the one elected with a Web Lock, else its own. */
    _elect() {
      if (typeof BroadcastChannel !== 'function' ||
          typeof navigator === 'undefined' || !navigator.locks) {
        const hub = new Hub((to, msg) => this._receive(Object.assign({ to }, msg)));
        this._post = (msg) => hub.receive(msg);
        this.role = 'own';
        this._sendState();
        return;
      }
      const channel = new BroadcastChannel(HUB_NAME);
      let hub = null;
      channel.addEventListener('message', (event) => {
        const msg = event.data;
        if (msg && (msg.type === 'state' || msg.type === 'bye')) {
          if (hub) {
            hub.receive(msg);
          }
        } else if (msg && msg.type === 'hub') {
          this._sendState();  // a new hub: it learns what this tab wants
        } else {
          this._receive(msg);
        }
      });
      this._post = (msg) => (hub ? hub.receive(msg) : channel.postMessage(msg));
      this.role = 'follower';
      navigator.locks.request(HUB_NAME, () => {
        this.role = 'leader';
        hub = new Hub((to, msg) => {
          const message = Object.assign({ to }, msg);
          channel.postMessage(message);
          this._receive(message);
        });
        channel.postMessage({ type: 'hub' });
        this._sendState();
        return new Promise(() => {});  // held for as long as the tab lives
      });
      this._sendState();
    }
  }

  let hubLink = null;

  /** This page's link to its browser's hub (made on first use). */
  function linkToHub(base) {
    if (hubLink === null) {
      let url = null;
      try {
        url = new URL(HUB_PATH, base || location.href).href;
      } catch (err) {
        url = null;
      }
      // worker.js and live-reload.js each carry this file: the page's
      // first link serves both (two links would elect two hubs)
      const other = globalThis.quickServerHub;
      hubLink = other && other.url === url ? other : new HubLink(url);
      globalThis.quickServerHub = hubLink;  // for a look from the console
    }
    return hubLink;
  }

  const inSharedWorker = typeof SharedWorkerGlobalScope === 'function' &&
    globalThis instanceof SharedWorkerGlobalScope;
  if (inSharedWorker) {
    serveHub(globalThis);
  }

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

  return { callRpc, callWorker, configureClient, RpcError, WorkerError };
})(() => (typeof location !== 'undefined' ? new URL('/', location.href).href : null));

export const configureClient = $$qs.configureClient;
export const RpcError = $$qs.RpcError;
export const WorkerError = $$qs.WorkerError;

/**
 * @typedef {Object} Progress
 * @property {number} done
 * @property {number | null} total - null: unknown
 * @property {string | null} message
 */
/**
 * @typedef {Object} ClientOptions
 * @property {string | URL | null} [baseUrl] - the server
 * @property {Record<string, string>} [headers] - extra request headers
 * @property {number} [wait] - seconds the server may hold a poll
 */
/**
 * @typedef {Object} RpcOptions
 * @property {string | URL} [baseUrl] - the server, for this call
 * @property {Record<string, string>} [headers] - extra headers
 * @property {AbortSignal} [signal] - aborts the call
 */
/**
 * @typedef {Object} WorkerCallOptions
 * @property {string | URL} [baseUrl] - the server, for this job
 * @property {Record<string, string>} [headers] - extra headers
 * @property {AbortSignal} [signal] - cancels the job
 * @property {(progress: Progress) => void} [onProgress] - its progress
 * @property {number} [wait] - seconds the server may hold a poll
 */

/**
 * @typedef {Object} OrderRequest
 * @property {Line[]} lines
 * @property {Mode} mode - (default: "fast")
 * @property {string | null} note - (default: null)
 */

/**
 * (as a request holds it: fields with a default may be left out)
 * @typedef {Object} OrderRequestInput
 * @property {LineInput[]} lines
 * @property {Mode} [mode] - (default: "fast")
 * @property {string | null} [note] - (default: null)
 */

/**
 * One line of an order.
 * @typedef {Object} Line
 * @property {string} name
 * @property {number} qty - (default: 1)
 */

/**
 * One line of an order.
 * (as a request holds it: fields with a default may be left out)
 * @typedef {Object} LineInput
 * @property {string} name
 * @property {number} [qty] - (default: 1)
 */

/** @typedef {"fast" | "slow"} Mode */

/**
 * @typedef {Object} OrderResponse
 * @property {number} total
 * @property {string[]} names - (default: [])
 * @property {Mode} mode - (default: "fast")
 */

/**
 * The rpc at "/api/delete".
 * @param {OrderRequestInput} request
 * @param {RpcOptions} [options]
 * @returns {Promise<OrderResponse>}
 */
const $del_ = async function del_(request, options) {
  return $$qs.callRpc("/api/delete", request, options);
};

/**
 * Adds up an order.
 *
 * The rpc at "/api/order".
 * @param {OrderRequestInput} request
 * @param {RpcOptions} [options]
 * @returns {Promise<OrderResponse>}
 */
const $order = async function order(request, options) {
  return $$qs.callRpc("/api/order", request, options);
};

/**
 * Adds up an order.
 *
 * The rpc at "/v2/order".
 * @param {OrderRequestInput} request
 * @param {RpcOptions} [options]
 * @returns {Promise<OrderResponse>}
 */
const $order2 = async function order2(request, options) {
  return $$qs.callRpc("/v2/order", request, options);
};

export { $del_ as del_, $order as order, $order2 as order2 };
