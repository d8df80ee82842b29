/** Why an rpc call failed. */
export declare class RpcError extends Error {
  /** The HTTP status, or null without an answer. */
  readonly status: number | null;
  /** For a request that does not fit its type (400): where, as
   * `lines[2].qty`; else null. */
  readonly field: string | null;
  /** For a request that does not fit its type (400): the type wanted
   * there, as `int`; else null. */
  readonly expected: string | null;
  /** The answer's JSON (or its text), null without an answer. */
  readonly body: unknown;
}

/** What every call uses unless its own options say otherwise. */
export interface ClientOptions {
  /** The server (default: where api.js was served from, or the page's
   * server for a copy in a front end's sources). */
  baseUrl?: string | URL | null;
  /** Extra headers of every request (say an Authorization). */
  headers?: Record<string, string>;
  /** Seconds the server may hold a worker's poll (default 25). */
  wait?: number;
}

/** Options of an rpc call. */
export interface RpcOptions {
  /** The server, for this call. */
  baseUrl?: string | URL;
  /** Extra headers of this call (added to configureClient's). */
  headers?: Record<string, string>;
  /** Aborts the call: the promise rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** Options of a worker's job. */
export interface WorkerCallOptions extends RpcOptions {
  /** Called with each new progress of the job, the final one too. */
  onProgress?: (progress: Progress) => void;
  /** Cancels the job (stopped on the server): the promise rejects with
   * the signal's reason. */
  signal?: AbortSignal;
  /** Seconds the server may hold a poll. */
  wait?: number;
}

/** Sets the server, the extra headers and the poll wait of every call. */
export declare function configureClient(options: ClientOptions): void;
