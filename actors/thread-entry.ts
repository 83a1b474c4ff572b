/**
 * The Piscina task entry: runs in every worker thread, loads the user's handlers module once,
 * and runs the jobs of each task concurrently.
 *
 * Each handler is a named export `(payload, ctx) => result`. `ctx` gives the job's id, name and
 * attempt, an AbortSignal (aborted on lease loss, timeout, cancellation or shutdown), `progress`,
 * a pino `log` with the job's fields, `skip(reason)` and `NonRetryableError`. A handler's result
 * must be plain JSON data; anything else fails the job (never a hang, never a clone error).
 * Everything that happens is reported to the supervisor as plain data (`thread-protocol.ts`).
 */
import { BroadcastChannel, parentPort, threadId, workerData } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { NonRetryableError, serializeError, type SerializedError } from '../src/errors.js';
import { encodeJson } from '../src/json.js';
import { leaseKey } from '../src/store/store.js';
import {
  abortChannelName,
  type AbortNotice,
  type DescribeOutput,
  type JobResult,
  type RunTaskOutput,
  type ThreadData,
  type ThreadEvent,
  type ThreadJob,
  type ThreadTask,
} from './thread-protocol.js';

/** What a handler gets besides its payload. */
export interface JobHandlerContext {
  /** The job's id. */
  readonly jobId: number;
  /** The handler name the job was enqueued for. */
  readonly name: string;
  /** This attempt's number, 1 for the first. */
  readonly attempt: number;
  /**
   * This attempt's lease token: it increases with every lease of the job. Pass it to downstream
   * systems as a fencing token (reject writes carrying a smaller one), or use `jobId:leaseToken`
   * as an idempotency key per attempt.
   */
  readonly leaseToken: number;
  /** Aborted when the job must stop: its lease was lost, it timed out, was cancelled, or the supervisor is stopping. */
  readonly signal: AbortSignal;
  /** Reports progress (plain JSON data); the latest value reaches the supervisor's `job.progress` event and the job's record. */
  progress(value: unknown): void;
  /** A pino logger with the job's id, name and attempt. */
  readonly log: Logger;
  /** Ends the job as `skipped` with this reason. Never returns. */
  skip(reason?: string): never;
  /** Throw this to fail without retrying. */
  readonly NonRetryableError: typeof NonRetryableError;
}

/** A job handler, as exported by a handlers module. */
export type JobHandler = (payload: unknown, ctx: JobHandlerContext) => unknown;

const data = workerData as ThreadData;
const SKIP = Symbol.for('leasehold.skip');

class SkipSignal extends Error {
  readonly [SKIP] = true;
  constructor(readonly reason: string) {
    super(`skipped: ${reason}`);
    this.name = 'SkipSignal';
  }
}

const logger = pino({ level: data.logLevel, base: { threadId } }, pino.destination({ dest: 2, sync: true }));

let handlers: Promise<Map<string, JobHandler>> | undefined;
function loadHandlers(): Promise<Map<string, JobHandler>> {
  handlers ??= import(data.handlersUrl).then((mod: Record<string, unknown>) => {
    const map = new Map<string, JobHandler>();
    for (const [name, value] of Object.entries(mod)) if (typeof value === 'function' && name !== 'default') map.set(name, value as JobHandler);
    return map;
  });
  return handlers;
}

// Reports: batched per tick, posted on parentPort.
let outbox: ThreadEvent[] = [];
let flushScheduled = false;
function report(event: ThreadEvent): void {
  outbox.push(event);
  if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flush);
  }
}
function flush(): void {
  flushScheduled = false;
  if (outbox.length === 0) return;
  const events = outbox;
  outbox = [];
  parentPort?.postMessage({ leasehold: data.poolId, events });
}

// Aborts: by (id, token), from the supervisor's broadcast channel. The supervisor broadcasts to
// every thread, and an abort can arrive before the job's task does (the task still queued in
// Piscina): such aborts are kept, bounded, so that the job never starts. Keys hold the lease
// token, which is never reused, so a kept abort can only ever match the lease it was meant for.
const controllers = new Map<string, AbortController>();
const earlyAborts = new Map<string, string>();
const MAX_EARLY_ABORTS = 10_000;
const abortError = (id: number, reason: string): DOMException => new DOMException(`job ${id}: ${reason}`, 'AbortError');
const abortChannel = new BroadcastChannel(abortChannelName(data.poolId));
abortChannel.onmessage = (message: unknown) => {
  const notice = (message as { data?: AbortNotice }).data;
  if (notice?.t !== 'abort') return;
  const key = leaseKey(notice.id, notice.token);
  const controller = controllers.get(key);
  if (controller !== undefined) {
    controller.abort(abortError(notice.id, notice.reason));
    return;
  }
  earlyAborts.set(key, notice.reason);
  if (earlyAborts.size > MAX_EARLY_ABORTS) earlyAborts.delete(earlyAborts.keys().next().value as string);
};
// The channel must not keep an idle thread alive.
(abortChannel as unknown as { unref?: () => void }).unref?.();

/** A handler's return value as a result: JSON text, or a non-retryable failure when it is not plain JSON data. */
function encodeResult(ref: { id: number; token: number }, value: unknown): JobResult {
  try {
    return { ...ref, outcome: 'done', resultText: encodeJson(value, 'result', data.maxPayloadBytes) };
  } catch (error) {
    return { ...ref, outcome: 'failed', error: { ...serializeError(error), retryable: false } };
  }
}

async function runJob(job: ThreadJob, stream: boolean): Promise<JobResult> {
  const key = leaseKey(job.id, job.token);
  const controller = new AbortController();
  controllers.set(key, controller);
  const ref = { id: job.id, token: job.token };
  const early = earlyAborts.get(key);
  if (early !== undefined) earlyAborts.delete(key);
  let result: JobResult;
  try {
    const handler = (await loadHandlers()).get(job.name);
    if (early !== undefined) {
      // Aborted before it reached this thread: the handler never runs.
      result = { ...ref, outcome: 'failed', error: serializeError(abortError(job.id, early), 'ERR_ABORTED') };
    } else if (handler === undefined) {
      const error: SerializedError = {
        name: 'UnknownHandler',
        code: 'ERR_UNKNOWN_HANDLER',
        message: `the handlers module exports no function named "${job.name}"`,
        retryable: false,
      };
      result = { ...ref, outcome: 'failed', error };
    } else {
      let log: Logger | undefined;
      const ctx: JobHandlerContext = {
        jobId: job.id,
        name: job.name,
        attempt: job.attempt,
        leaseToken: job.token,
        signal: controller.signal,
        get log() {
          return (log ??= logger.child({ jobId: job.id, job: job.name, attempt: job.attempt }));
        },
        progress: (value: unknown) => {
          report({ t: 'progress', ...ref, value: JSON.parse(encodeJson(value, 'progress', data.maxPayloadBytes)) as unknown });
        },
        skip: (reason = 'skipped by handler') => {
          throw new SkipSignal(String(reason));
        },
        NonRetryableError,
      };
      const value: unknown = await handler(JSON.parse(job.payloadText), ctx);
      result = encodeResult(ref, value);
    }
  } catch (thrown) {
    if (thrown instanceof SkipSignal || (typeof thrown === 'object' && thrown !== null && SKIP in thrown)) {
      result = { ...ref, outcome: 'skipped', reason: (thrown as SkipSignal).reason };
    } else {
      result = { ...ref, outcome: 'failed', error: serializeError(thrown, 'ERR_HANDLER_FAILED') };
    }
  } finally {
    controllers.delete(key);
  }
  if (stream) report({ t: 'result', ...result });
  return result;
}

/** The Piscina task function. */
export default async function leaseholdTask(task: ThreadTask): Promise<RunTaskOutput | DescribeOutput> {
  if (task.kind === 'describe') return { handlers: [...(await loadHandlers()).keys()].sort() };
  await loadHandlers();
  // Every job of the task starts now: say so synchronously, before any handler runs, so that a
  // handler that blocks its thread cannot hide its start (its timeout counts from here).
  parentPort?.postMessage({ leasehold: data.poolId, events: task.jobs.map((j) => ({ t: 'started', id: j.id, token: j.token, threadId })) });
  // With one job, the task's own result is as early as any report: stream results only for more.
  const stream = task.jobs.length > 1;
  const results = await Promise.all(task.jobs.map((job) => runJob(job, stream)));
  // Results still in the outbox travel with the task's own result instead: one message fewer
  // when every job of the task ended in the same turn (short jobs, the common case).
  if (stream && outbox.length > 0) {
    const mine = new Set(task.jobs.map((j) => leaseKey(j.id, j.token)));
    outbox = outbox.filter((e) => e.t !== 'result' || !mine.has(leaseKey(e.id, e.token)));
  }
  flush();
  return { results };
}
