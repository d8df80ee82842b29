  // -- Worker: named jobs with callbacks, and jobs as promises -----------

  class Worker {
    /**
     * options.wait: seconds the server may hold a poll (default 25).
     * options.onError: onError(name, err) for a failed job that has no
     * onError of its own.
     * options.baseUrl: what job URLs are relative to (default: the page).
     * options.headers: extra headers of every request (an Authorization).
     */
    constructor(options) {
      const opts = options || {};
      this.wait = opts.wait === undefined ? 25 : opts.wait;
      this.baseUrl = opts.baseUrl === undefined ? null : String(opts.baseUrl);
      this.headers = Object.assign({}, opts.headers || {});
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

    /** Counts active jobs; `page` false for runJob's, counted there. */
    _setActive(delta, page) {
      this._active += delta;
      if (delta > 0) {
        this._failed = false;
      }
      if (page !== false) {
        countJobs(delta);
      }
      this._report();
    }

    _url(url) {
      return this.baseUrl === null ? url : new URL(url, this.baseUrl).href;
    }

    _options() {
      return { wait: this.wait, headers: this.headers };
    }

    /**
     * Starts a job: onResult(result) gets its decoded result,
     * onProgress(progress) its progress as it changes, onError(err) its
     * failure (else the Worker's options.onError(name, err)).
     */
    post(name, url, payload, onResult, onProgress, onError) {
      this.cancel(name);
      const job = new Job(this._url(url), payload,
                          Object.assign(this._options(), { onProgress }));
      job.name = name;
      this._jobs.set(name, job);
      this._setActive(1);
      job.run().then((result) => {
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

    /**
     * Runs a job as a promise: resolves with its result, rejects with a
     * WorkerError, or with options.signal's reason once that AbortSignal
     * aborts (the job is stopped on the server). options.onProgress gets
     * its progress as it changes.
     */
    run(url, payload, options) {
      const opts = Object.assign(this._options(), options || {});
      this._setActive(1, false);
      return runJob(this._url(url), payload, opts).then((result) => {
        this._setActive(-1, false);
        return result;
      }, (err) => {
        this._failed = err instanceof WorkerError;
        this._setActive(-1, false);
        throw err;
      });
    }

    /** Cancels the job with this name (no callback will be called). */
    cancel(name) {
      const job = this._jobs.get(name);
      if (!job) {
        return;
      }
      job.cancel();
      this._forget(job);
      this._setActive(-1);
    }

    /** Cancels every job started with post. */
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
  }
