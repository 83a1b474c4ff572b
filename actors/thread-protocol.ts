/**
 * What crosses the thread boundary, by name. Everything here is plain data (structured-clone
 * safe); errors cross as {@link SerializedError} and are never checked with `instanceof`.
 *
 * main → thread: a Piscina task ({@link RunTask} or {@link DescribeTask}); aborts and recalls go
 *   over a BroadcastChannel named {@link abortChannelName} ({@link AbortNotice},
 *   {@link RecallNotice}), because a Piscina AbortSignal would terminate the whole thread.
 * thread → main: {@link ThreadReport}s posted on `parentPort` (Piscina re-emits them as pool
 *   `message` events), batched per tick: a job `started`, its `progress`, its `result`. The
 *   task's return value ({@link RunTaskOutput}) repeats every result, so a result never depends
 *   on the order in which two different ports deliver; the first copy to arrive wins. Except
 *   `recalled`, reported once only: the job goes back to the buffer under the same lease, so a
 *   second copy would find it again.
 */
import type { SerializedError } from '../src/errors.js';

/** Data every thread gets at start (Piscina `workerData`). */
export interface ThreadData {
  /** The handlers module, as a file: URL. */
  readonly handlersUrl: string;
  /** This pool's id: names its abort channel and marks its reports. */
  readonly poolId: string;
  /** pino level for `ctx.log` in handlers. */
  readonly logLevel: string;
  /** The largest result or progress value, in bytes of JSON. */
  readonly maxPayloadBytes: number;
}

/** One job handed to a thread. */
export interface ThreadJob {
  readonly id: number;
  readonly token: number;
  readonly name: string;
  readonly payloadText: string;
  readonly attempt: number;
}

/**
 * Run these jobs in this thread, at most `lanes` at once, in order: the first `lanes` start now,
 * each later one when an earlier one ends. Jobs waiting for a lane are parked in the thread: they
 * hold no slot there until they start, and a {@link RecallNotice} (or an abort) takes them back
 * unstarted.
 */
export interface RunTask {
  readonly kind: 'run';
  readonly jobs: readonly ThreadJob[];
  readonly lanes: number;
}

/** Report the handler names the module exports. */
export interface DescribeTask {
  readonly kind: 'describe';
}

/** A Piscina task of leasehold. */
export type ThreadTask = RunTask | DescribeTask;

/** How a job's run in the thread ended. */
export type JobResult =
  | { readonly id: number; readonly token: number; readonly outcome: 'done'; readonly resultText: string }
  | { readonly id: number; readonly token: number; readonly outcome: 'skipped'; readonly reason: string }
  | { readonly id: number; readonly token: number; readonly outcome: 'failed'; readonly error: SerializedError }
  /** Parked in the thread and recalled before it started: it never ran. */
  | { readonly id: number; readonly token: number; readonly outcome: 'recalled' };

/** What a thread reports while jobs run. */
export type ThreadEvent =
  | { readonly t: 'started'; readonly id: number; readonly token: number; readonly threadId: number }
  | { readonly t: 'progress'; readonly id: number; readonly token: number; readonly value: unknown }
  | ({ readonly t: 'result' } & JobResult);

/** One batch of thread events, posted on `parentPort`. */
export interface ThreadReport {
  readonly leasehold: string;
  readonly events: readonly ThreadEvent[];
}

/** The return value of a {@link RunTask}: every job's result, except `recalled` ones (reported once, on `parentPort`, never repeated). */
export interface RunTaskOutput {
  readonly results: readonly JobResult[];
}

/** The return value of a {@link DescribeTask}. */
export interface DescribeOutput {
  readonly handlers: readonly string[];
}

/** Sent on the abort channel: stop this job's handler. */
export interface AbortNotice {
  readonly t: 'abort';
  readonly id: number;
  readonly token: number;
  readonly reason: 'lease_lost' | 'timeout' | 'cancelled' | 'stopping';
}

/** Sent on the abort channel: give back these jobs if they are still parked in the hearing thread (never started); elsewhere it changes nothing and is not kept. */
export interface RecallNotice {
  readonly t: 'recall';
  readonly refs: ReadonlyArray<{ readonly id: number; readonly token: number }>;
}

/** The abort channel's name for a pool. */
export const abortChannelName = (poolId: string): string => `leasehold:abort:${poolId}`;

/** True when `message` is a {@link ThreadReport} of pool `poolId`. */
export function isThreadReport(message: unknown, poolId: string): message is ThreadReport {
  return typeof message === 'object' && message !== null && (message as { leasehold?: unknown }).leasehold === poolId;
}
