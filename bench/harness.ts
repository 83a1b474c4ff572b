/**
 * The load harness: the scenarios `bench/*.bench.ts` are built from. Each returns plain numbers;
 * the callers pair them with a baseline measured in the same run.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Piscina } from 'piscina';
import { createSupervisor, type Supervisor } from '../actors/supervisor.actor.js';
import type { SupervisorOptions } from '../src/config.js';

/** The compiled bench handlers. */
export const benchHandlers = new URL('./handlers.js', import.meta.url);

/** Now, in epoch milliseconds with sub-millisecond precision (same clock as `stamp` in threads). */
export const preciseNow = (): number => performance.timeOrigin + performance.now();

/**
 * A scratch directory, removed by `remove()` or, at the latest, when the process exits normally
 * or through `process.exit()` (not when a signal kills it).
 */
export function scratch(prefix = 'leasehold-bench-'): { file: (name: string) => string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', remove);
  let n = 0;
  return {
    file: (name) => join(dir, `${n++}-${name}`),
    remove: () => {
      process.off('exit', remove);
      remove();
    },
  };
}

/**
 * A raw Piscina pool (no leasehold) on `threads` threads running a one-line task module, for
 * `use`; default pool options, or `tasksPerThread` running at once in each thread
 * (`concurrentTasksPerWorker`, as leasehold's pool sets it: concurrency / threads). Warmed up with
 * 200 tasks first; destroyed, with its scratch directory, afterwards.
 */
async function withRawPool<T>(task: string, threads: number, tasksPerThread: number | undefined, use: (pool: Piscina) => Promise<T>): Promise<T> {
  const dir = scratch();
  const file = dir.file('task.mjs');
  writeFileSync(file, `export default function () { ${task} }\n`);
  const pool = new Piscina({
    filename: file,
    minThreads: threads,
    maxThreads: threads,
    ...(tasksPerThread === undefined ? {} : { concurrentTasksPerWorker: tasksPerThread }),
  });
  try {
    await Promise.all(Array.from({ length: 200 }, () => pool.run(null)));
    return await use(pool);
  } finally {
    await pool.destroy();
    dir.remove();
  }
}

/** Raw Piscina: `count` no-op tasks with `inFlight` outstanding at a time (see `withRawPool`). Tasks/s. */
export function rawPiscina(count: number, inFlight: number, threads: number, tasksPerThread?: number): Promise<number> {
  return withRawPool('return null;', threads, tasksPerThread, async (pool) => {
    const start = performance.now();
    let issued = 0;
    await Promise.all(
      Array.from({ length: Math.min(inFlight, count) }, async () => {
        while (issued < count) {
          issued++;
          await pool.run(null);
        }
      }),
    );
    return count / ((performance.now() - start) / 1000);
  });
}

/**
 * The floor of enqueue→start for work run in worker threads: raw `piscina.run()` to the task's
 * first line, one task at a time, each posted after the previous one returned (as `idleLatency`
 * does with jobs), on an idle pool set as leasehold's is. The first `warmUp` are dropped.
 * Milliseconds.
 */
export function rawPiscinaLatency(samples: number, threads: number, tasksPerThread: number, warmUp: number): Promise<number[]> {
  return withRawPool('return performance.timeOrigin + performance.now();', threads, tasksPerThread, async (pool) => {
    const out: number[] = [];
    for (let i = 0; i < warmUp + samples; i++) {
      const postedAt = preciseNow();
      const startedAt = (await pool.run(null)) as number;
      if (i >= warmUp) out.push(startedAt - postedAt);
    }
    return out;
  });
}

/** A supervisor on a fresh SQLite file with the bench handlers. */
export function benchSupervisor(dir: ReturnType<typeof scratch>, options: Partial<SupervisorOptions> & { synchronous?: 'NORMAL' | 'FULL' } = {}): Supervisor {
  const { synchronous, ...rest } = options;
  return createSupervisor({
    store: { sqlite: dir.file('jobs.db'), synchronous: synchronous ?? 'NORMAL' },
    handlers: benchHandlers,
    logger: false,
    keepAlive: false,
    ...rest,
  });
}

/** Enqueues `count` no-op jobs (in batches), then times the supervisor draining them. Jobs/s. */
export async function drainRate(supervisor: Supervisor, count: number): Promise<number> {
  await supervisor.start();
  for (let i = 0; i < count; i += 10_000) {
    await supervisor.enqueueMany(Array.from({ length: Math.min(10_000, count - i) }, () => ({ name: 'noop' })));
  }
  const start = performance.now();
  await supervisor.drain();
  return count / ((performance.now() - start) / 1000);
}

/** Percentiles of a sample, in its unit. */
export function percentiles(samples: readonly number[], ps: readonly number[]): number[] {
  const sorted = [...samples].sort((a, b) => a - b);
  return ps.map((p) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] ?? Number.NaN);
}

/**
 * Enqueue→start latency on an idle supervisor: one job at a time, each enqueued after the
 * previous one finished. The handler returns its start time. Milliseconds.
 */
export async function idleLatency(supervisor: Supervisor, samples: number): Promise<number[]> {
  await supervisor.start();
  const out: number[] = [];
  for (let i = 0; i < samples; i++) {
    const enqueuedAt = preciseNow();
    const done = new Promise<number>((resolve) => {
      const off = supervisor.on('job.done', (e) => {
        off();
        resolve(e.result as number);
      });
    });
    await supervisor.enqueue({ name: 'stamp' });
    out.push((await done) - enqueuedAt);
  }
  return out;
}
