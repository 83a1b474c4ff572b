/**
 * CPU-bound scaling: jobs that hash for about 1 ms, on 1..N threads (N = CPUs), beside the ideal
 * line (one thread's rate × threads) measured in the same run.
 *
 *   npm run bench:scaling [-- --quick]
 */
import { availableParallelism } from 'node:os';
import { benchSupervisor, scratch } from './harness.js';
import { benchArgs, OUT_FLAG, publish, QUICK_FLAG, type BenchRow } from './report.js';

const args = benchArgs({ usage: 'npm run bench:scaling -- [flags]', flags: { quick: QUICK_FLAG, out: OUT_FLAG } });
const quick = args.has('quick');
const outDir = args.text('out');
const cpus = availableParallelism();
const jobs = quick ? 200 : 3_000;
const dir = scratch();
const rows: BenchRow[] = [];

try {
  let single = 0;
  for (let threads = 1; threads <= cpus; threads++) {
    const supervisor = benchSupervisor(dir, { threads, concurrency: threads * 2 });
    await supervisor.start();
    await supervisor.enqueueMany(Array.from({ length: jobs }, () => ({ name: 'cpu', payload: { ms: 1 } })));
    const start = performance.now();
    await supervisor.drain();
    const rate = jobs / ((performance.now() - start) / 1000);
    await supervisor.stop();
    if (threads === 1) single = rate;
    rows.push({ scenario: `CPU-bound 1 ms jobs, ${threads} thread${threads > 1 ? 's' : ''}`, variant: `${cpus} CPUs`, unit: 'jobs/s', value: rate, baselineName: 'ideal: 1 thread × threads', baseline: single * threads, ratio: rate / (single * threads) });
  }
} finally {
  dir.remove();
}
publish(quick ? 'scaling-smoke' : 'scaling', rows, { cpus, jobs }, outDir);
