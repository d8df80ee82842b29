/*
 * quick_server worker client: runs long server jobs from the browser.
 *
 *   const work = new quick_server.Worker({ onError: (name, err) => {} });
 *   work.status((n) => { ... });  // active jobs, -1 after an error
 *   work.post('name', 'url', payload, (result) => { ... },
 *             (progress) => { ... },  // optional: {done, total, message}
 *             (err) => { ... });      // optional: this job's failure
 *   work.cancel('name');
 *
 * A post with the name of a running one replaces it (the old callbacks are
 * never called again). Jobs are stopped when the page unloads (one whose
 * start was not answered yet has no token to stop it by: the server
 * cancels it when nobody asks for it, after abandon_timeout); live reload
 * waits for the page's jobs to end before it reloads. Results
 * split in parts ("cargo") are joined here. The server holds each poll
 * until the job is done, reports progress, or `wait` seconds passed
 * (long-poll), so results and progress arrive as soon as they exist.
 *
 * Progress: `onProgress(progress)` is called with the `{done, total,
 * message}` object (`total` and `message` may be null) of the job's latest
 * `report_progress` whenever a reply carries one different from the last
 * seen, also with the final one just before `onResult`.
 *
 * Errors: a job that fails calls its own `onError(err)` when the post gave
 * one, else the Worker's `options.onError(name, err)` (default: logged to
 * the console); `onResult` is never called with an error. `err` is a
 * `quick_server.WorkerError` (an Error) with
 *   kind     'job'       the job raised: `type` and `message` are its
 *                        exception's ('KeyError', "'x'"), status 500
 *            'http'      any other refusal (400, 404, 413, a 502,
 *                        503 or 504 still there after the retries): type
 *                        'HTTPError', `message` the server's text (the
 *                        `error` of a JSON answer), `status` its code
 *            'network'   no answer (after the retries): type
 *                        'NetworkError', status null
 *            'cancelled' the server cancelled the job (it stopped, or the
 *                        job was abandoned): type 'Cancelled'
 *            'protocol'  an answer that is not the worker protocol
 *                        (e.g. no JSON): type 'ProtocolError'
 *   type, message, status, and progress (the job's last progress or null).
 * (`err.err` and `err.code` repeat message and status, as the errors of the
 * original quick_server's worker.js had them. Its `post(name, url,
 * payload, cb, errCb)` took the error callback fifth, where onProgress is
 * now: pass it sixth, `post(name, url, payload, cb, null, errCb)`.)
 *
 * Waiting is shared: however many tabs and jobs, a page's jobs are
 * watched by its browser's hub (hub.js), which holds one long-poll for the
 * jobs of every tab and one live-reload event stream (docs/worker-js.rst).
 *
 * Plain JavaScript, no dependencies: load it with a <script> tag (defines
 * window.quick_server) or import it with a bundler (CommonJS export too).
 * `quick_server.liveReload(server)` listens to the live-reload stream of
 * the server (server.live_reload = True) in a page it did not serve.
 *
 * The server serves this file with hub.js and live-reload.js put in
 * where the comment before the exports says (quick_server/browser.py).
 */
(function (root, factory) {
  'use strict';
  const api = factory();
  if (typeof module === 'object' && module.exports) {
    module.exports = api;
  }
  if (root) {
    root.quick_server = Object.assign(root.quick_server || {}, api);
  }
})(typeof globalThis !== 'undefined' ? globalThis : this, function () {
  'use strict';

  class Cancelled extends Error {}

  /** Why a job failed: see the kinds in the comment at the top. */
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
  // the URL this script was loaded from (the hub's server), if any
  const SCRIPT_BASE = typeof document !== 'undefined' &&
    document.currentScript ? document.currentScript.src : null;

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** The page's running jobs, counted across its Workers and the copies of
   * this script it loaded (worker.js and the live-reload script each carry
   * one): `count`, and `listeners` called with it when it changes. Live
   * reload waits for it to be 0. */
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

  class Worker {
    /**
     * options.wait: seconds the server may hold a poll (default 25).
     * options.onError: onError(name, err) for a failed job that has no
     * onError of its own.
     */
    constructor(options) {
      const opts = options || {};
      this.wait = opts.wait === undefined ? 25 : opts.wait;
      this.onError = opts.onError || ((name, err) => {
        console.error(`quick_server worker "${name}" failed: ` +
                      `${err.type}: ${err.message}`);
      });
      this._jobs = new Map();
      this._statusCb = null;
      this._active = 0;
      this._failed = false;
      if (typeof addEventListener === 'function') {
        addEventListener('pagehide', () => this.cancelAll());
      }
    }

    /** Registers cb(n): n active jobs, -1 after an error. */
    status(cb) {
      this._statusCb = cb;
      this._report();
    }

    _report() {
      if (this._statusCb) {
        notify(this._statusCb, this._failed ? -1 : this._active);
      }
    }

    _setActive(delta) {
      this._active += delta;
      if (delta > 0) {
        this._failed = false;
      }
      countJobs(delta);
      this._report();
    }

    /**
     * Starts a job: onResult(result) gets its decoded result,
     * onProgress(progress) its progress as it changes, onError(err) its
     * failure (else the Worker's options.onError(name, err)).
     */
    post(name, url, payload, onResult, onProgress, onError) {
      this.cancel(name);
      const job = { name, url, token: null, cancelled: false,
                    controller: new AbortController(),
                    onProgress, lastProgress: 'null' };
      this._jobs.set(name, job);
      this._setActive(1);
      this._run(job, payload).then((result) => {
        if (job.cancelled) {
          return;
        }
        this._forget(job);
        this._setActive(-1);
        if (onResult) {
          notify(onResult, result);
        }
      }, (err) => {
        if (job.cancelled || err instanceof Cancelled) {
          return;
        }
        this._forget(job);
        this._failed = true;
        this._setActive(-1);
        if (onError) {
          notify(onError, err);
        } else {
          notify(this.onError, name, err);
        }
      });
    }

    /** Cancels the job with this name (no callback will be called). */
    cancel(name) {
      const job = this._jobs.get(name);
      if (!job) {
        return;
      }
      job.cancelled = true;
      job.controller.abort();
      if (job.abandon) {
        job.abandon();
      }
      this._forget(job);
      this._setActive(-1);
      this._stop(job);
    }

    /** Cancels every running job. */
    cancelAll() {
      for (const name of Array.from(this._jobs.keys())) {
        this.cancel(name);
      }
    }

    _forget(job) {
      if (this._jobs.get(job.name) === job) {
        this._jobs.delete(job.name);
      }
    }

    _stop(job) {
      if (job.token === null) {
        return;  // the start answer will carry the token: stopped then
      }
      this._send(job.url, { action: 'stop', token: job.token },
                 { keepalive: true }).catch(() => {});
    }

    /** Hands a reply's progress to the job's onProgress when it changed. */
    _progress(job, progress) {
      const key = JSON.stringify(progress || null);
      if (key === job.lastProgress || job.cancelled) {
        return;
      }
      job.lastProgress = key;
      if (job.onProgress && progress) {
        notify(job.onProgress, progress);
      }
    }

    /**
     * POSTs one protocol request. A 502, 503 or 504 (a full queue, or a
     * server that restarts or is down, behind a dev proxy or not) is
     * asked again after its Retry-After, else after the next back-off
     * delay, a start too (the server did not answer it; a job it started
     * all the same is cancelled when nobody asks for it). A network error
     * is asked again after the back-off, except for a start, which may
     * have reached the server (get and cargo can be repeated, and are for
     * longer: POLL_RETRY_DELAYS). Throws a WorkerError (or the AbortError
     * of a cancelled job).
     */
    async _send(url, body, extra) {
      const delays = body.action === 'get' || body.action === 'cargo' ?
        POLL_RETRY_DELAYS : RETRY_DELAYS;
      for (let attempt = 0; ; attempt += 1) {
        const delay = delays[attempt];
        let resp;
        let text;
        try {
          resp = await fetch(url, Object.assign({
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
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
     * Waits for the job's end through the browser's hub, which watches
     * the jobs of every tab with one long-poll: resolves with its final
     * reply (or the one saying the server cancelled it).
     */
    _watch(job) {
      return new Promise((resolve, reject) => {
        const link = linkToHub(SCRIPT_BASE);
        let stop = null;
        const finish = () => {
          stop();
          link.unwatchJob(job.token);
          job.abandon = null;
        };
        stop = link.listen((msg) => {
          if (msg.token !== job.token) {
            return;
          }
          if (msg.type === 'failed') {
            finish();
            reject(pollFailure(msg, job.url));
          } else if (msg.type === 'reply' && msg.reply.status !== undefined) {
            finish();
            reject(httpError(msg.reply.status, JSON.stringify(msg.reply)));
          } else if (msg.type === 'reply') {
            this._progress(job, msg.reply.progress);
            if (msg.reply.done || !msg.reply.continue) {
              finish();
              resolve(msg.reply);
            }
          }
        });
        job.abandon = () => {
          finish();
          reject(new Cancelled());
        };
        link.watchJob(job.token, new URL(job.url, location.href).href,
                      this.wait);
      });
    }

    async _run(job, payload) {
      // start answers at once with a token (or with the result of a quick
      // job); polls are then held by the server until the job is done
      let res;
      try {
        res = await this._send(job.url, { action: 'start', payload });
        job.token = res.token;
        this._progress(job, res.progress);
        if (!res.done && res.continue && !job.cancelled && canShare()) {
          res = await this._watch(job);
        }
        while (!res.done) {
          if (job.cancelled) {
            this._stop(job);
            throw new Cancelled();
          }
          if (!res.continue) {
            throw new WorkerError('cancelled', 'Cancelled',
                                  'the server cancelled the job', null,
                                  res.progress);
          }
          res = await this._send(job.url, {
            action: 'get', token: job.token, wait: this.wait,
          }, { signal: job.controller.signal });
          this._progress(job, res.progress);
        }
      } catch (err) {
        if (err instanceof WorkerError && err.progress) {
          this._progress(job, err.progress);
        }
        throw err;
      }
      let text = res.result;
      if (res.continue) {
        const parts = [];
        for (const key of res.result) {
          const part = await this._send(job.url, { action: 'cargo', token: key },
                                        { signal: job.controller.signal });
          parts.push(part.result);
        }
        text = parts.join('');
      }
      return parseJson(text, 200);
    }
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

  /* the hub and live reload: hub.js, live-reload.js */

  return { Worker, WorkerError, liveReload };
});
