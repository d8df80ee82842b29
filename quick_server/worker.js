/*
 * quick_server worker client: runs long server jobs from the browser.
 *
 *   const work = new quick_server.Worker();
 *   work.status((n) => { ... });  // active jobs, -1 after an error
 *   work.post('name', 'url', payload, (result) => { ... });
 *   work.cancel('name');
 *
 * A post with the name of a running one replaces it (the old callback is
 * never called). Jobs are stopped when the page unloads. Results split in
 * parts ("cargo") are joined here. The server holds each poll until the
 * job is done or `wait` seconds passed (long-poll), so results arrive as
 * soon as they exist. Plain JavaScript, no dependencies: load it with a
 * <script> tag (defines window.quick_server) or import it with a bundler.
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

  const RETRY_DELAYS = [250, 500, 1000, 2000, 4000];  // milliseconds

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  class Worker {
    /**
     * options.wait: seconds the server may hold a poll (default 25).
     * options.onError: called as onError(name, error) when a job fails.
     */
    constructor(options) {
      const opts = options || {};
      this.wait = opts.wait === undefined ? 25 : opts.wait;
      this.onError = opts.onError || ((name, err) => {
        console.error(`quick_server worker "${name}" failed:`, err);
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
        this._statusCb(this._failed ? -1 : this._active);
      }
    }

    _setActive(delta) {
      this._active += delta;
      if (delta > 0) {
        this._failed = false;
      }
      this._report();
    }

    /** Starts a job; cb(result) is called with the decoded result. */
    post(name, url, payload, cb) {
      this.cancel(name);
      const job = { name, url, token: null, cancelled: false,
                    controller: new AbortController() };
      this._jobs.set(name, job);
      this._setActive(1);
      this._run(job, payload).then((result) => {
        if (job.cancelled) {
          return;
        }
        this._forget(job);
        this._setActive(-1);
        cb(result);
      }, (err) => {
        if (job.cancelled || err instanceof Cancelled) {
          return;
        }
        this._forget(job);
        this._active -= 1;
        this._failed = true;
        this._report();
        this.onError(name, err);
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

    /**
     * POSTs one protocol request. A full queue (503) is asked again after
     * its Retry-After; a network error too, except for a start, which may
     * have reached the server (get and cargo can be repeated).
     */
    async _send(url, body, extra) {
      for (let attempt = 0; ; attempt += 1) {
        const delay = RETRY_DELAYS[attempt];
        let resp;
        try {
          resp = await fetch(url, Object.assign({
            method: 'POST',
            headers: { 'Content-Type': 'application/json' },
            body: JSON.stringify(body),
          }, extra || {}));
        } catch (err) {
          if (err.name === 'AbortError' || body.action === 'start' ||
              delay === undefined) {
            throw err;
          }
          await sleep(delay);
          continue;
        }
        if (resp.status === 503 && delay !== undefined) {
          const after = parseInt(resp.headers.get('Retry-After'), 10);
          await sleep(Number.isFinite(after) ?
            Math.min(after, 30) * 1000 : delay);
          continue;
        }
        if (!resp.ok) {
          const text = await resp.text();
          throw new Error(`HTTP ${resp.status}: ${text.trim()}`);
        }
        return resp.json();
      }
    }

    async _run(job, payload) {
      // start answers at once with a token (or with the result of a quick
      // job); polls are then held by the server until the job is done
      let res = await this._send(job.url, { action: 'start', payload });
      job.token = res.token;
      while (!res.done) {
        if (job.cancelled) {
          this._stop(job);
          throw new Cancelled();
        }
        if (!res.continue) {
          throw new Error('the server cancelled the job');
        }
        res = await this._send(job.url, {
          action: 'get', token: job.token, wait: this.wait,
        }, { signal: job.controller.signal });
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
      return JSON.parse(text);
    }
  }

  return { Worker };
});
