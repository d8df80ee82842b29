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
