/**
 * End-to-end throughput and idle latency, beside raw Piscina in the same run.
 *
 * - throughput: N no-op jobs enqueued, then drained, at concurrency 1, 8 and 64 on 2 threads,
 *   with synchronous NORMAL and FULL; baseline: N raw `piscina.run()` no-op tasks with as many in
 *   flight, default pool options, same threads. A second baseline runs raw Piscina as leasehold's
 *   pool is set (concurrency / threads tasks at once in each thread, pipelined): with one task at
 *   a time per thread, raw Piscina waits a round trip per task, so this one is the higher ceiling.
 * - latency: enqueue→start on an idle supervisor, one job at a time (p50, p99); baseline: raw
 *   `piscina.run()` to the task's first line, one task at a time, on a pool set as leasehold's
 *   (the floor of any runtime whose handlers run in worker threads, on this machine, now).
 *
 * Every scenario runs `--rounds` times (3 by default), baseline and subjects interleaved within
 * each round; a row gives the median rate, the median of the per-round ratios and their range,
 * so that one noisy moment of this shared machine does not make the figure.
 *
 *   npm run bench:e2e                # N = 50,000, 3 rounds
 *   npm run bench:e2e -- --rounds 5
 *   npm run bench:e2e -- --quick     # smoke: N = 1,000, 1 round
 */
import { availableParallelism } from 'node:os';
import { benchSupervisor, drainRate, idleLatency, percentiles, rawPiscina, rawPiscinaLatency, scratch } from './harness.js';
import { benchArgs, OUT_FLAG, publish, QUICK_FLAG, roundsArg, roundsFlag, roundsRow, type BenchRow } from './report.js';

const args = benchArgs({ usage: 'npm run bench:e2e -- [flags]', flags: { quick: QUICK_FLAG, out: OUT_FLAG, rounds: roundsFlag(3) } });
const quick = args.has('quick');
const outDir = args.text('out');
const rounds = roundsArg(args, quick);
const N = quick ? 1_000 : 50_000;
const threads = Math.min(2, availableParallelism());
const dir = scratch();
const rows: BenchRow[] = [];

try {
  for (const concurrency of [1, 8, 64]) {
    const poolThreads = Math.min(threads, concurrency);
    const perThread = Math.ceil(concurrency / poolThreads);
    const raws: number[] = [];
    const pipelinedRaws: number[] = [];
    const rates = { NORMAL: [] as number[], FULL: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      raws.push(await rawPiscina(N, concurrency, poolThreads));
      pipelinedRaws.push(await rawPiscina(N, concurrency, poolThreads, perThread));
      for (const synchronous of ['NORMAL', 'FULL'] as const) {
        const supervisor = benchSupervisor(dir, { synchronous, concurrency, threads: poolThreads });
        rates[synchronous].push(await drainRate(supervisor, N));
        await supervisor.stop();
      }
    }
    const scenario = `end-to-end, ${N.toLocaleString('en-US')} no-op jobs, concurrency ${concurrency}`;
    for (const synchronous of ['NORMAL', 'FULL'] as const) {
      rows.push(roundsRow({ scenario, variant: `synchronous=${synchronous}`, unit: 'jobs/s', baselineName: 'raw piscina.run()' }, rates[synchronous], raws));
      rows.push(
        roundsRow(
          { scenario, variant: `synchronous=${synchronous}, vs pipelined raw`, unit: 'jobs/s', baselineName: `raw piscina.run(), ${perThread} at once per thread` },
          rates[synchronous],
          pipelinedRaws,
        ),
      );
    }
  }
  const latencySamples = quick ? 50 : 500;
  const latencyConcurrency = 8;
  const raw: number[] = [];
  const samples = { NORMAL: [] as number[], FULL: [] as number[] };
  for (let round = 0; round < rounds; round++) {
    raw.push(...(await rawPiscinaLatency(latencySamples, threads, Math.ceil(latencyConcurrency / threads), 20)));
    for (const synchronous of ['NORMAL', 'FULL'] as const) {
      const supervisor = benchSupervisor(dir, { synchronous, concurrency: latencyConcurrency, threads });
      await idleLatency(supervisor, 20); // warm-up
      samples[synchronous].push(...(await idleLatency(supervisor, latencySamples)));
      await supervisor.stop();
    }
  }
  const [raw50, raw99] = percentiles(raw, [50, 99]) as [number, number];
  const baselineName = 'raw piscina.run() → task start, one at a time';
  for (const synchronous of ['NORMAL', 'FULL'] as const) {
    const [p50, p99] = percentiles(samples[synchronous], [50, 99]) as [number, number];
    const note = `${samples[synchronous].length} samples from ${rounds} supervisor${rounds > 1 ? 's' : ''}, baseline ${raw.length} from ${rounds} pool${rounds > 1 ? 's' : ''}; ratio: leasehold ÷ baseline (lower is better)`;
    rows.push({ scenario: 'enqueue→start latency, idle supervisor, p50', variant: `synchronous=${synchronous}`, unit: 'ms', value: p50, baselineName, baseline: raw50, ratio: p50 / raw50, note });
    rows.push({ scenario: 'enqueue→start latency, idle supervisor, p99', variant: `synchronous=${synchronous}`, unit: 'ms', value: p99, baselineName, baseline: raw99, ratio: p99 / raw99, note });
  }
} finally {
  dir.remove();
}
publish(quick ? 'e2e-smoke' : 'e2e', rows, { jobs: N, threads, rounds }, outDir);
