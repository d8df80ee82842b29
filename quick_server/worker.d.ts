// TypeScript declarations of quick_server's worker client as an ES module
// (worker.mjs, or the worker.js that mirror_worker_js writes).

/* include: worker-core.d.ts */

export interface WorkerOptions {
  /** Seconds the server may hold a poll (default 25, at most 30). */
  wait?: number;
  /** Called for a failed job whose post gave no onError of its own
   * (default: logged to the console). */
  onError?: (name: string, err: WorkerError) => void;
  /** What job URLs are relative to (default: the page). */
  baseUrl?: string | URL;
  /** Extra headers of every request (say an Authorization). */
  headers?: Record<string, string>;
}

export interface RunOptions {
  /** Called with each new progress, the final one too. */
  onProgress?: (progress: Progress) => void;
  /** Cancels the job: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Seconds the server may hold a poll (default: the Worker's). */
  wait?: number;
  /** Extra headers of this job's requests (instead of the Worker's). */
  headers?: Record<string, string>;
}

/** Runs long server jobs: named jobs with callbacks (post), or jobs as
 * promises (run). */
export declare class Worker {
  constructor(options?: WorkerOptions);
  wait: number;
  baseUrl: string | null;
  headers: Record<string, string>;
  onError: (name: string, err: WorkerError) => void;
  /** Registers cb(n): n active jobs, -1 after an error. */
  status(cb: (active: number) => void): void;
  /** Starts a job (replacing a running one of the same name). */
  post<R = any>(name: string, url: string, payload: unknown,
                onResult?: ((result: R) => void) | null,
                onProgress?: ((progress: Progress) => void) | null,
                onError?: ((err: WorkerError) => void) | null): void;
  /** Runs a job: resolves with its result, rejects with a WorkerError
   * (or the reason of options.signal once it aborts). */
  run<R = unknown>(url: string, payload: unknown,
                   options?: RunOptions): Promise<R>;
  /** Cancels the job with this name (none of its callbacks is called). */
  cancel(name: string): void;
  /** Cancels every job started with post. */
  cancelAll(): void;
}

/** The page's listener of a live-reload stream. */
export interface LiveReload {
  url: string;
  /** 1 once the stream said hello. */
  readyState: number;
  instance: string | null;
}

/** Listens to the live-reload stream of the quick_server at `server`
 * (default: the server the module came from); null when the page
 * listens already. */
export declare function liveReload(server?: string | URL): LiveReload | null;

declare global {
  /** Set by worker.js, and by importing the module. */
  var quick_server: {
    Worker: typeof Worker;
    WorkerError: typeof WorkerError;
    liveReload: typeof liveReload;
  } | undefined;
}
