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
import { LeaseMap } from '../src/store/lease-map.js';
import { leaseKey } from '../src/store/store.js';
import {
  abortChannelName,
  type AbortNotice,
  type RecallNotice,
  type RunTask,
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

// Reports: batched per tick, posted on parentPort. Parked jobs whose lane freed start in the same
// tick, after the report that carries the results that freed their lanes.
let outbox: ThreadEvent[] = [];
let tickScheduled = false;
/** Task runs with a free lane and a parked job. */
const refills = new Set<TaskRun>();
function schedule(): void {
  if (tickScheduled) return;
  tickScheduled = true;
  setImmediate(tick);
}
function report(event: ThreadEvent): void {
  outbox.push(event);
  schedule();
}
function flush(): void {
  if (outbox.length === 0) return;
  const events = outbox;
  outbox = [];
  parentPort?.postMessage({ leasehold: data.poolId, events });
}
function tick(): void {
  tickScheduled = false;
  const starting: Array<readonly [TaskRun, ThreadJob]> = [];
  for (const run of refills) for (const job of run.take()) starting.push([run, job]);
  refills.clear();
  // Say that they start, synchronously, before any of their handlers runs: a handler that blocks
  // its thread cannot hide its start (its timeout counts from here).
  for (const [, job] of starting) outbox.push({ t: 'started', id: job.id, token: job.token, threadId });
  flush();
  for (const [run, job] of starting) run.launch(job);
}

// Aborts and recalls: by (id, token), from the supervisor's broadcast channel. The supervisor
// broadcasts to every thread, and an abort can arrive before the job's task does (the task still
// queued in Piscina): such aborts are kept, bounded, so that the job never starts. Keys hold the
// lease token, which is never reused, so a kept abort can only ever match the lease it was meant for.
const running = new LeaseMap<RunningJob>();
/** Jobs waiting in this thread for a lane of their task, by lease. */
const parked = new LeaseMap<TaskRun>();
const earlyNotices = new Map<string, AbortNotice['reason']>();
const MAX_EARLY_NOTICES = 10_000;
const abortError = (id: number, reason: string): DOMException => new DOMException(`job ${id}: ${reason}`, 'AbortError');
/** The result of a job that never ran: recalled, or aborted before it started. */
function unstarted({ id, token }: { id: number; token: number }, notice: AbortNotice['reason'] | 'recall'): JobResult {
  if (notice === 'recall') return { id, token, outcome: 'recalled' };
  return { id, token, outcome: 'failed', error: serializeError(abortError(id, notice), 'ERR_ABORTED') };
}

/**
 * A running job's abort signal, made when the handler first reads `ctx.signal`: most handlers
 * never do, and an `AbortController` costs its thread a few µs and garbage to collect (the most
 * of any one function in a CPU profile of a thread running no-op jobs; dropping it took a worker
 * thread's CPU in a 50,000-job drain from 280–340 to 210–290 ms).
 * An abort that comes first is kept, and the signal is made already aborted with its reason.
 */
class RunningJob {
  #controller: AbortController | undefined;
  #reason: DOMException | undefined;

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#reason !== undefined) this.#controller.abort(this.#reason);
    }
    return this.#controller.signal;
  }

  abort(reason: DOMException): void {
    if (this.#controller !== undefined) this.#controller.abort(reason);
    else this.#reason ??= reason;
  }
}

function onNotice(ref: { id: number; token: number }, notice: AbortNotice['reason'] | 'recall'): void {
  const job = running.get(ref.id, ref.token);
  if (job !== undefined) {
    // Running: an abort fires its signal; a recall comes too late and changes nothing.
    if (notice !== 'recall') job.abort(abortError(ref.id, notice));
    return;
  }
  const run = parked.get(ref.id, ref.token);
  if (run !== undefined) {
    parked.delete(ref.id, ref.token);
    run.finish(unstarted(ref, notice));
    return;
  }
  // An abort is final for its lease: kept, in case the job's task has not arrived yet. A recall is
  // not kept: every thread hears it, and a job recalled to the buffer is sent again under the same
  // lease, so a kept recall could send it back again from whichever thread it lands on next. A
  // recall that finds nothing parked here changes nothing (a job whose task is still queued in
  // Piscina then runs, as one that had started would).
  if (notice === 'recall') return;
  earlyNotices.set(leaseKey(ref.id, ref.token), notice);
  if (earlyNotices.size > MAX_EARLY_NOTICES) earlyNotices.delete(earlyNotices.keys().next().value as string);
}
/** The abort kept for this lease, if one came before its task (and forgets it). */
function takeEarlyNotice(ref: { id: number; token: number }): AbortNotice['reason'] | undefined {
  if (earlyNotices.size === 0) return undefined;
  const key = leaseKey(ref.id, ref.token);
  const notice = earlyNotices.get(key);
  earlyNotices.delete(key);
  return notice;
}
const abortChannel = new BroadcastChannel(abortChannelName(data.poolId));
abortChannel.onmessage = (message: unknown) => {
  const notice = (message as { data?: AbortNotice | RecallNotice }).data;
  if (notice?.t === 'abort') onNotice(notice, notice.reason);
  else if (notice?.t === 'recall') for (const ref of notice.refs) onNotice(ref, 'recall');
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

async function runJob(job: ThreadJob): Promise<JobResult> {
  const abort = new RunningJob();
  running.set(job.id, job.token, abort);
  const ref = { id: job.id, token: job.token };
  try {
    const handler = (await loadHandlers()).get(job.name);
    if (handler === undefined) {
      const error: SerializedError = {
        name: 'UnknownHandler',
        code: 'ERR_UNKNOWN_HANDLER',
        message: `the handlers module exports no function named "${job.name}"`,
        retryable: false,
      };
      return { ...ref, outcome: 'failed', error };
    }
    let log: Logger | undefined;
    const ctx: JobHandlerContext = {
      jobId: job.id,
      name: job.name,
      attempt: job.attempt,
      leaseToken: job.token,
      get signal() {
        return abort.signal;
      },
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
    return encodeResult(ref, value);
  } catch (thrown) {
    if (thrown instanceof SkipSignal || (typeof thrown === 'object' && thrown !== null && SKIP in thrown)) {
      return { ...ref, outcome: 'skipped', reason: (thrown as SkipSignal).reason };
    }
    return { ...ref, outcome: 'failed', error: serializeError(thrown, 'ERR_HANDLER_FAILED') };
  } finally {
    running.delete(job.id, job.token);
  }
}

/**
 * One {@link RunTask} in this thread: its jobs run in order, at most `lanes` at once; the others
 * wait in {@link parked} until a lane frees (or a recall or an abort takes them out).
 */
class TaskRun {
  readonly #results: JobResult[] = [];
  readonly #queue: ThreadJob[] = [];
  #head = 0;
  #free: number;
  #left: number;
  /** Results are reported as they come (more than one job), and repeated in the task's output. */
  readonly #stream: boolean;
  readonly #jobs: readonly ThreadJob[];
  readonly done: Promise<RunTaskOutput>;
  #resolve: (output: RunTaskOutput) => void = () => undefined;

  constructor(task: RunTask) {
    this.#left = task.jobs.length;
    this.#free = Math.max(1, task.lanes);
    this.#stream = task.jobs.length > 1;
    this.#jobs = task.jobs;
    this.done = new Promise((resolve) => (this.#resolve = resolve));
    for (const job of task.jobs) {
      const early = takeEarlyNotice(job);
      if (early !== undefined) {
        // Aborted before it reached this thread: it never starts.
        this.finish(unstarted(job, early));
        continue;
      }
      this.#queue.push(job);
      parked.set(job.id, job.token, this);
    }
    if (this.#queue.length > 0) refills.add(this);
  }

  /** Takes the parked jobs that free lanes can start now (all of them leave {@link parked}). */
  take(): ThreadJob[] {
    const out: ThreadJob[] = [];
    while (this.#free > 0 && this.#head < this.#queue.length) {
      const job = this.#queue[this.#head++] as ThreadJob;
      if (parked.get(job.id, job.token) !== this) continue; // recalled or aborted while parked
      parked.delete(job.id, job.token);
      this.#free--;
      out.push(job);
    }
    return out;
  }

  launch(job: ThreadJob): void {
    void runJob(job).then((result) => {
      this.#free++;
      if (this.#head < this.#queue.length) {
        refills.add(this);
        schedule();
      }
      this.finish(result);
    });
  }

  finish(result: JobResult): void {
    // A recalled job goes back to the supervisor's buffer and may be sent again under the same
    // lease: its `recalled` must arrive exactly once, so it is reported and never repeated in the
    // task's output (a late copy would recall the job from wherever it went next).
    const recalled = result.outcome === 'recalled';
    if (!recalled) this.#results.push(result);
    if (this.#stream || recalled) report({ t: 'result', ...result });
    if (--this.#left > 0) return;
    // Results still in the outbox travel with the task's own result instead: one message fewer
    // when every job of the task ended in the same turn (short jobs, the common case).
    if (this.#stream && outbox.length > 0) {
      const mine = LeaseMap.of(this.#jobs.map((j) => [j.id, j.token] as const));
      outbox = outbox.filter((e) => e.t !== 'result' || e.outcome === 'recalled' || !mine.has(e.id, e.token));
    }
    flush();
    this.#resolve({ results: this.#results });
  }
}

/** The Piscina task function. */
export default async function leaseholdTask(task: ThreadTask): Promise<RunTaskOutput | DescribeOutput> {
  if (task.kind === 'describe') return { handlers: [...(await loadHandlers()).keys()].sort() };
  await loadHandlers();
  const run = new TaskRun(task);
  // The first lanes start now, in this turn (see `tick`).
  tick();
  return run.done;
}
