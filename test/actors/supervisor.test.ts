import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { taskCount } from '../../actors/supervisor.actor.js';
import { testSupervisor } from '../helpers/supervisor.js';
import { until } from '../helpers/until.js';

describe('supervisor', () => {
  it('runs N jobs to completion with concurrency 8 on 2 threads', async () => {
    await using t = testSupervisor();
    const n = 500;
    await t.supervisor.enqueueMany(Array.from({ length: n }, (_, i) => ({ name: 'echo', payload: { i } })));
    const done: number[] = [];
    t.supervisor.on('job.done', (e) => done.push(e.id));
    await t.supervisor.drain();
    const stats = await t.supervisor.stats();
    expect(stats.byState.done).toBe(n);
    expect(stats.total).toBe(n);
    expect(new Set(done).size).toBe(n);
    const one = await t.inspect().get(done[0] as number);
    expect(one?.history.map((h) => h.event)).toEqual(['ENQUEUE', 'LEASE', 'START', 'SUCCEED']);
    expect(one?.result).toEqual(one?.payload);
  });

  it('leases at once what was queued before start() or during a pause, without waiting for the poll', async () => {
    // A poll far longer than the test: before the fix, entering `running` did not pump, so these
    // jobs waited for it (pollMs, 1 s by default) and this test timed out.
    await using t = testSupervisor({ pollMs: 600_000 });
    await t.supervisor.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ name: 'echo', payload: i })));
    let done = 0;
    t.supervisor.on('job.done', () => done++);
    await t.supervisor.start();
    await until('the backlog done after start()', () => done === 20, { timeoutMs: 10_000 });
    await t.supervisor.pause();
    await t.supervisor.enqueueMany(Array.from({ length: 20 }, (_, i) => ({ name: 'echo', payload: i })));
    await t.supervisor.enqueue({ name: 'echo', payload: 'one more' });
    expect(done).toBe(20);
    await t.supervisor.resume();
    await until('the jobs enqueued during the pause done after resume()', () => done === 41, { timeoutMs: 10_000 });
  });

  it('never runs one job on two workers at once, and never more than concurrency', async () => {
    await using t = testSupervisor({ concurrency: 4 });
    const log = t.dir.file('runs.log');
    writeFileSync(log, '');
    await t.supervisor.enqueueMany(Array.from({ length: 60 }, () => ({ name: 'logged', payload: { log, ms: 3 } })));
    await t.supervisor.drain();
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    const running = new Set<string>();
    let peak = 0;
    for (const line of lines) {
      const [kind, id] = line.split(' ');
      if (kind === 'start') {
        expect(running.has(id as string), `job ${id} started twice at once`).toBe(false);
        running.add(id as string);
        peak = Math.max(peak, running.size);
      } else running.delete(id as string);
    }
    expect(peak).toBeLessThanOrEqual(4);
    expect(lines.filter((l) => l.startsWith('start'))).toHaveLength(60);
  });

  it('drain() resolves exactly when nothing is left: it waits for retries', async () => {
    await using t = testSupervisor({ retry: { kind: 'immediate', maxAttempts: 3 } });
    await t.supervisor.enqueueMany([
      { name: 'failTimes', payload: { times: 2 } },
      { name: 'sleepFor', payload: { ms: 50 } },
      { name: 'fail' },
    ]);
    await t.supervisor.drain();
    const s = await t.supervisor.stats();
    expect(s.byState).toMatchObject({ queued: 0, leased: 0, running: 0, done: 2, error: 1 });
    expect(await t.inspect().pendingCount()).toBe(0);
  });

  it('emits typed events in order for a job', async () => {
    await using t = testSupervisor();
    const seen: string[] = [];
    for (const e of ['job.leased', 'job.started', 'job.progress', 'job.done', 'job.retrying', 'job.failed', 'job.skipped'] as const) {
      t.supervisor.on(e, (p) => seen.push(`${e}:${'id' in p ? p.id : ''}`));
    }
    const { id } = await t.supervisor.enqueue({ name: 'withProgress' });
    await t.supervisor.drain();
    expect(seen.filter((s) => s.endsWith(`:${id}`))).toEqual([
      `job.leased:${id}`,
      `job.started:${id}`,
      `job.progress:${id}`,
      `job.progress:${id}`,
      `job.progress:${id}`,
      `job.done:${id}`,
    ]);
    expect((await t.inspect().get(id))?.progress).toEqual({ pct: 90 });
  });

  it('sends a thread its share of the slots in one message, split across threads only past one share', () => {
    const c8 = { threads: 2, concurrency: 8, maxJobsPerTask: 16 };
    expect([1, 2, 3, 4, 5, 8].map((n) => taskCount(n, c8))).toEqual([1, 1, 1, 1, 2, 2]);
    const c64 = { threads: 2, concurrency: 64, maxJobsPerTask: 16 };
    expect([1, 16, 17, 32, 64].map((n) => taskCount(n, c64))).toEqual([1, 1, 2, 2, 4]);
    // One slot per thread: every job in its own message, as many as threads at once.
    expect([1, 2, 3].map((n) => taskCount(n, { threads: 2, concurrency: 2, maxJobsPerTask: 16 }))).toEqual([1, 2, 2]);
    expect(taskCount(5, { threads: 1, concurrency: 1, maxJobsPerTask: 4 })).toBe(2);
  });
});
