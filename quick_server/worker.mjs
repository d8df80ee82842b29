/*
 * quick_server worker client, as an ES module: the same client as
 * worker.js (docs/worker-js.rst), with named exports.
 *
 *   import { Worker, WorkerError, liveReload } from './worker.js';
 *
 *   const work = new Worker({ baseUrl: 'http://localhost:8000' });
 *   const result = await work.run('/primes', { n: 100000 }, {
 *     onProgress: ({ done, total, message }) => { ... },
 *     signal: controller.signal,  // an AbortSignal: cancels the job
 *   });
 *
 * Importing it also sets globalThis.quick_server, as worker.js does. Its
 * TypeScript declarations are worker.d.ts. The server serves this file
 * with the parts the include line names put in (quick_server/browser.py).
 */

// the URL this module was loaded from (the hub's server)
const SCRIPT_BASE = import.meta.url;

/* include: worker-core.js, hub.js, live-reload.js, worker-class.js */

globalThis.quick_server = Object.assign(globalThis.quick_server || {},
                                        { Worker, WorkerError, liveReload });

export { Worker, WorkerError, liveReload };
