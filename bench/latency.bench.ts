/**
 * Latency under load, open loop: jobs arrive on a timer at 20%, 50% and 80% of the capacity
 * measured at the start of the same run (not one after another: each `enqueue()` is called at its
 * time without waiting for the previous one, so a slow system gets a queue, as in production).
 * Reports enqueue→start and enqueue→done p50/p95/p99, and how far the sends fell behind.
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
    // Open loop: every tick (about 1 ms) sends however many jobs are due by the wall clock, each
    // `enqueue()` called without waiting for the previous one, as independent producers would: a
    // slow system gets a queue instead of slowing the arrivals. Each job's latency counts from its
    // own call. How far the sends fell behind the schedule (the timer and the process's own
    // load) is reported beside the figures.
    const total = Math.round(rate * seconds);
    const begin = preciseNow();
    const acknowledged: Array<Promise<void>> = [];
    let sent = 0;
    let maxLagMs = 0;
    while (sent < total) {
      const now = preciseNow();
      const due = Math.min(total, Math.floor(((now - begin) / 1000) * rate));
      if (due > sent) maxLagMs = Math.max(maxLagMs, now - (begin + (sent * 1000) / rate));
      for (; sent < due; sent++) {
        const at = preciseNow();
        acknowledged.push(supervisor.enqueue({ name: 'stamp' }).then(({ id }) => void enqueuedAt.set(id, at)));
      }
      await sleep(1);
    }
    await Promise.all(acknowledged);
    await supervisor.drain();
    await supervisor.stop();
    if (toStart.length !== total) throw new Error(`latency: ${toStart.length} samples for ${total} jobs`);
    const [s50, s95, s99] = percentiles(toStart, [50, 95, 99]);
    const [d50, d95, d99] = percentiles(toDone, [50, 95, 99]);
    const variant = `${Math.round(level * 100)}% of capacity (${Math.round(rate)} jobs/s)`;
    rows.push({ scenario: 'enqueue→start p50 / p95 / p99 (ms)', variant, unit: 'ms', value: s50 ?? Number.NaN, note: `${(s95 ?? 0).toFixed(2)} / ${(s99 ?? 0).toFixed(2)}; sends at most ${maxLagMs.toFixed(1)} ms behind schedule` });
    rows.push({ scenario: 'enqueue→done p50 / p95 / p99 (ms)', variant, unit: 'ms', value: d50 ?? Number.NaN, note: `${(d95 ?? 0).toFixed(2)} / ${(d99 ?? 0).toFixed(2)}` });
  }
  rows.unshift({ scenario: 'capacity (drain rate, concurrency 8)', variant: 'synchronous=NORMAL', unit: 'jobs/s', value: capacity });
} finally {
  dir.remove();
}
publish(quick ? 'latency-smoke' : 'latency', rows, { concurrency, threads, secondsPerLevel: seconds }, outDir);
