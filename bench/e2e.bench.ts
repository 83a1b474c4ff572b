/**
 * End-to-end throughput and idle latency, beside raw Piscina in the same run.
 *
 * - throughput: N no-op jobs enqueued, then drained, at concurrency 1, 8 and 64 on 2 threads,
 *   with synchronous NORMAL and FULL; baseline: N raw `piscina.run()` no-op tasks with as many in
 *   flight, default pool options, same threads.
 * - latency: enqueue→start on an idle supervisor, one job at a time (p50, p99).
 *
 *   npm run bench:e2e            # N = 50,000
 *   npm run bench:e2e -- --quick # smoke
 */
import { availableParallelism } from 'node:os';
import { benchSupervisor, drainRate, idleLatency, percentiles, rawPiscina, scratch } from './harness.js';
import { publish, type BenchRow } from './report.js';

const quick = process.argv.includes('--quick');
const outArg = process.argv.indexOf('--out');
const outDir = outArg > 0 ? process.argv[outArg + 1] : undefined;
const N = quick ? 1_000 : 50_000;
const threads = Math.min(2, availableParallelism());
const dir = scratch();
const rows: BenchRow[] = [];

try {
  for (const concurrency of [1, 8, 64]) {
    const raw = await rawPiscina(N, concurrency, Math.min(threads, concurrency));
    for (const synchronous of ['NORMAL', 'FULL'] as const) {
      const supervisor = benchSupervisor(dir, { synchronous, concurrency, threads: Math.min(threads, concurrency) });
      const rate = await drainRate(supervisor, N);
      await supervisor.stop();
      rows.push({
        scenario: `end-to-end, ${N.toLocaleString('en-US')} no-op jobs, concurrency ${concurrency}`,
        variant: `synchronous=${synchronous}`,
        unit: 'jobs/s',
        value: rate,
        baselineName: 'raw piscina.run()',
        baseline: raw,
        ratio: rate / raw,
      });
    }
  }
  for (const synchronous of ['NORMAL', 'FULL'] as const) {
    const supervisor = benchSupervisor(dir, { synchronous, concurrency: 8, threads });
    await idleLatency(supervisor, 20); // warm-up
    const samples = await idleLatency(supervisor, quick ? 50 : 500);
    await supervisor.stop();
    const [p50, p99] = percentiles(samples, [50, 99]);
    rows.push({ scenario: 'enqueue→start latency, idle supervisor, p50', variant: `synchronous=${synchronous}`, unit: 'ms', value: p50 ?? Number.NaN });
    rows.push({ scenario: 'enqueue→start latency, idle supervisor, p99', variant: `synchronous=${synchronous}`, unit: 'ms', value: p99 ?? Number.NaN });
  }
} finally {
  dir.remove();
}
publish(quick ? 'e2e-smoke' : 'e2e', rows, { jobs: N, threads }, outDir);
