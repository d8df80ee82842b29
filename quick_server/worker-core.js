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
