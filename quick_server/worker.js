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
 * window.quick_server) or require it (CommonJS export too). The same
 * client as an ES module, with the named exports Worker, WorkerError and
 * liveReload, is worker.mjs (served beside this file by link_worker_js,
 * written by mirror_worker_js, with its TypeScript declarations
 * worker.d.ts). `quick_server.liveReload(server)` listens to the
 * live-reload stream of the server (server.live_reload = True) in a page
 * it did not serve. `new quick_server.Worker({baseUrl, headers})` sends
 * its jobs to another server, with extra headers; `work.run(url, payload,
 * {onProgress, signal})` runs a job as a promise (docs/worker-js.rst).
 *
 * The server serves this file with the parts the include line names put
 * in (quick_server/browser.py): the protocol's core (worker-core.js,
 * shared by every client the server generates), the hub (hub.js), live
 * reload (live-reload.js) and the Worker class (worker-class.js).
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

  // the URL this script was loaded from (the hub's server), if any
  const SCRIPT_BASE = typeof document !== 'undefined' &&
    document.currentScript ? document.currentScript.src : null;

  /* include: worker-core.js, hub.js, live-reload.js, worker-class.js */

  return { Worker, WorkerError, liveReload };
});
