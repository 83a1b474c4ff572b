/**
 * Latency under load, open loop: jobs arrive on a timer at 20%, 50% and 80% of the capacity
 * measured at the start of the same run (not one after another: a slow system gets a queue,
 * as in production). Reports enqueue→start and enqueue→done p50/p95/p99.
 *
 *   npm run bench:latency [-- --quick]
 */
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchSupervisor, drainRate, percentiles, preciseNow, scratch } from './harness.js';
import { benchArgs, OUT_FLAG, publish, QUICK_FLAG, type BenchRow } from './report.js';

const args = benchArgs({ usage: 'npm run bench:latency -- [flags]', flags: { quick: QUICK_FLAG, out: OUT_FLAG } });
const quick = args.has('quick');
const outDir = args.text('out');
const threads = Math.min(2, availableParallelism());
const concurrency = 8;
const seconds = quick ? 1 : 5;
const dir = scratch();
const rows: BenchRow[] = [];

try {
  const probe = benchSupervisor(dir, { concurrency, threads });
  const capacity = await drainRate(probe, quick ? 2_000 : 20_000);
  await probe.stop();

  for (const level of [0.2, 0.5, 0.8]) {
    const rate = capacity * level;
    const supervisor = benchSupervisor(dir, { concurrency, threads });
    await supervisor.start();
    const enqueuedAt = new Map<number, number>();
    const toStart: number[] = [];
    const toDone: number[] = [];
    supervisor.on('job.done', (e) => {
      const at = enqueuedAt.get(e.id);
      if (at === undefined) return;
      toStart.push((e.result as number) - at);
      toDone.push(preciseNow() - at);
    });
    // Open loop: every tick enqueue however many jobs are due by the wall clock.
    const total = Math.round(rate * seconds);
    const begin = preciseNow();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((preciseNow() - begin) / 1000) * rate));
      while (sent < due) {
        const at = preciseNow();
        const { id } = await supervisor.enqueue({ name: 'stamp' });
        enqueuedAt.set(id, at);
        sent++;
      }
      await sleep(1);
    }
    await supervisor.drain();
    await supervisor.stop();
    const [s50, s95, s99] = percentiles(toStart, [50, 95, 99]);
    const [d50, d95, d99] = percentiles(toDone, [50, 95, 99]);
    const variant = `${Math.round(level * 100)}% of capacity (${Math.round(rate)} jobs/s)`;
    rows.push({ scenario: 'enqueue→start p50 / p95 / p99 (ms)', variant, unit: 'ms', value: s50 ?? Number.NaN, note: `${(s95 ?? 0).toFixed(2)} / ${(s99 ?? 0).toFixed(2)}` });
    rows.push({ scenario: 'enqueue→done p50 / p95 / p99 (ms)', variant, unit: 'ms', value: d50 ?? Number.NaN, note: `${(d95 ?? 0).toFixed(2)} / ${(d99 ?? 0).toFixed(2)}` });
  }
  rows.unshift({ scenario: 'capacity (drain rate, concurrency 8)', variant: 'synchronous=NORMAL', unit: 'jobs/s', value: capacity });
} finally {
  dir.remove();
}
publish(quick ? 'latency-smoke' : 'latency', rows, { concurrency, threads, secondsPerLevel: seconds }, outDir);
