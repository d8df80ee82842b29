// The typed client's declarations of a quick_server, generated from its contracts
// by quick_server's mirror_js_client.
// Do not edit: the server writes it anew when a contract changes. One
// async function per rpc route and worker (docs/js-client.rst), built on
// the protocol's core of quick_server's worker client.

/** A job's latest `report_progress(done, total, message)`. */
export interface Progress {
  done: number;
  /** null: unknown */
  total: number | null;
  message: string | null;
}

/** What went wrong with a job (docs/worker-js.rst). */
export type WorkerErrorKind = 'job' | 'http' | 'network' | 'cancelled' |
  'protocol';

/** Why a job failed. */
export declare class WorkerError extends Error {
  /** 'job': the job raised; 'http': another refusal; 'network': no
   * answer; 'cancelled': the server cancelled the job; 'protocol': an
   * answer that is not the worker protocol. */
  readonly kind: WorkerErrorKind;
  /** The exception's class name for a job error ('KeyError'), else
   * 'HTTPError', 'NetworkError', 'Cancelled' or 'ProtocolError'. */
  readonly type: string;
  /** The HTTP status, or null without an answer. */
  readonly status: number | null;
  /** The job's last progress, or null. */
  readonly progress: Progress | null;
  /** `message` again (the original quick_server's name). */
  readonly err: string;
  /** `status` again (the original quick_server's name). */
  readonly code: number | null;
}

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

export interface OrderRequest {
  lines: Line[];
  /** (default: "fast") */
  mode: Mode;
  /** (default: null) */
  note: string | null;
}

/** (as a request holds it: fields with a default may be left out) */
export interface OrderRequestInput {
  lines: LineInput[];
  /** (default: "fast") */
  mode?: Mode;
  /** (default: null) */
  note?: string | null;
}

/** One line of an order. */
export interface Line {
  name: string;
  /** (default: 1) */
  qty: number;
}

/**
 * One line of an order.
 * (as a request holds it: fields with a default may be left out)
 */
export interface LineInput {
  name: string;
  /** (default: 1) */
  qty?: number;
}

export type Mode = "fast" | "slow";

export interface OrderResponse {
  total: number;
  /** (default: []) */
  names: string[];
  /** (default: "fast") */
  mode: Mode;
}

/** The rpc at "/api/delete". */
export declare function del_(request: OrderRequestInput, options?: RpcOptions): Promise<OrderResponse>;

/**
 * Adds up an order.
 *
 * The rpc at "/api/order".
 */
export declare function order(request: OrderRequestInput, options?: RpcOptions): Promise<OrderResponse>;

/**
 * Adds up an order.
 *
 * The rpc at "/v2/order".
 */
export declare function order2(request: OrderRequestInput, options?: RpcOptions): Promise<OrderResponse>;

