/**
 * The Piscina pool, seen as leasehold needs it: run a batch of jobs in one thread, hear what
 * threads report, abort one job, terminate one thread.
 *
 * A task carries several jobs so that small jobs do not each pay a thread message: one per slot
 * it fills (its lanes), and possibly more that wait in the thread for a lane (parked). A task's promise rejects only when its thread died: the thread entry catches
 * everything a handler can throw. The rejection is classified here (`ERR_OUT_OF_MEMORY` for
 * `resourceLimits`, `ERR_WORKER_LOST` otherwise).
 */
import { randomUUID } from 'node:crypto';
import { BroadcastChannel } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { Piscina } from 'piscina';
import { compiledModuleUrl } from '../src/compiled-module.js';
import type { SerializedError } from '../src/errors.js';
import {
  abortChannelName,
  isThreadReport,
  type AbortNotice,
  type DescribeOutput,
  type RecallNotice,
  type RunTaskOutput,
  type ThreadData,
  type ThreadEvent,
  type ThreadJob,
  type ThreadTask,
} from './thread-protocol.js';

/** Options of a {@link ThreadPool}. */
export interface ThreadPoolOptions {
  readonly handlersUrl: string;
  readonly threads: number;
  readonly concurrentTasksPerWorker: number;
  readonly maxOldGenerationSizeMb?: number | undefined;
  readonly logLevel: string;
  readonly maxPayloadBytes: number;
}

/**
 * The compiled thread entry. Threads load JavaScript only (on Node 20, loader hooks do not
 * reach worker threads), so when this module runs from TypeScript sources (tests), the entry is
 * taken from the build in `dist/`.
 */
export function threadEntryUrl(): URL {
  return compiledModuleUrl(import.meta.url, './thread-entry.js', '../dist/actors/thread-entry.js');
}

/** A thread-level failure, as the jobs of the dead thread will record it. */
export function classifyThreadFailure(error: unknown): SerializedError {
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ERR_WORKER_OUT_OF_MEMORY') {
    return { name: 'OutOfMemory', code: 'ERR_OUT_OF_MEMORY', message: `the worker thread ran out of memory (resourceLimits): ${message}`, retryable: true };
  }
  return { name: 'WorkerLost', code: 'ERR_WORKER_LOST', message: `the worker thread died: ${message}`, retryable: true };
}

/** See the module comment. */
export class ThreadPool {
  readonly poolId = randomUUID();
  readonly #pool: Piscina;
  readonly #abort: BroadcastChannel;

  /**
   * @param onReport - called with the events of each report a thread posts.
   * @param onIdleThreadError - a thread died with no task running (nothing to fail; logged).
   */
  constructor(options: ThreadPoolOptions, onReport: (events: readonly ThreadEvent[]) => void, onIdleThreadError: (error: unknown) => void) {
    const data: ThreadData = {
      handlersUrl: options.handlersUrl,
      poolId: this.poolId,
      logLevel: options.logLevel,
      maxPayloadBytes: options.maxPayloadBytes,
    };
    this.#pool = new Piscina({
      filename: threadEntryUrl().href,
      minThreads: options.threads,
      maxThreads: options.threads,
      concurrentTasksPerWorker: options.concurrentTasksPerWorker,
      idleTimeout: 0,
      // Piscina's own wait/run histograms: a cost on every task that nothing here reads.
      recordTiming: false,
      // Piscina's default ('sync') parks an idle thread in Atomics.wait, its event loop stopped:
      // abort notices for jobs not yet started wait for the next task, and every task costs the
      // main thread a futex wake besides the message. Plain messages: +6% drained/s at c8.
      atomics: 'disabled',
      workerData: data,
      ...(options.maxOldGenerationSizeMb === undefined ? {} : { resourceLimits: { maxOldGenerationSizeMb: options.maxOldGenerationSizeMb } }),
    });
    this.#pool.on('message', (message: unknown) => {
      if (isThreadReport(message, this.poolId)) onReport(message.events);
    });
    this.#pool.on('error', onIdleThreadError);
    this.#abort = new BroadcastChannel(abortChannelName(this.poolId));
    (this.#abort as unknown as { unref?: () => void }).unref?.();
  }

  /** Runs jobs in one thread, at most `lanes` at once, in order; rejects only if that thread died. */
  run(jobs: readonly ThreadJob[], lanes: number): Promise<RunTaskOutput> {
    const task: ThreadTask = { kind: 'run', jobs, lanes };
    return this.#pool.run(task) as Promise<RunTaskOutput>;
  }

  /** The handler names the handlers module exports. */
  async describe(): Promise<string[]> {
    const task: ThreadTask = { kind: 'describe' };
    return [...((await this.#pool.run(task)) as DescribeOutput).handlers];
  }

  /** Asks the thread running a job to abort its handler's signal. */
  abort(notice: Omit<AbortNotice, 't'>): void {
    this.#abort.postMessage({ t: 'abort', ...notice } satisfies AbortNotice);
  }

  /** Asks threads to give back these jobs if they are still parked (a `recalled` result each); started ones run on. */
  recall(refs: RecallNotice['refs']): void {
    if (refs.length > 0) this.#abort.postMessage({ t: 'recall', refs } satisfies RecallNotice);
  }

  /** Terminates one thread (its tasks reject; the pool starts a replacement). */
  async terminateThread(threadId: number): Promise<boolean> {
    const worker = this.#pool.threads.find((w) => w.threadId === threadId);
    if (worker === undefined) return false;
    await worker.terminate();
    return true;
  }

  /** Thread ids alive now. */
  get threadIds(): number[] {
    return this.#pool.threads.map((w) => w.threadId);
  }

  /** Terminates every thread. */
  async destroy(): Promise<void> {
    this.#abort.close();
    await this.#pool.destroy();
  }
}

/** A handlers module reference as a file: URL string (relative paths resolve against `cwd`). */
export function handlersUrlOf(handlers: string | URL, cwd: string): string {
  if (handlers instanceof URL) return handlers.href;
  if (/^[a-z][a-z0-9+.-]*:/i.test(handlers) && !/^[a-z]:[\\/]/i.test(handlers)) return handlers;
  return pathToFileURL(handlers.startsWith('/') ? handlers : `${cwd}/${handlers}`).href;
}
