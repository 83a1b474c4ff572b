/**
 * Memory: the queue lives in SQLite, not in the supervisor's heap. RSS and heap of a running
 * supervisor with 10k queued jobs and with 1M queued jobs (the backlog grows 100×; RSS should
 * not), and with 10k jobs in flight.
 *
 *   npm run bench:memory [-- --quick]
 */
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { benchSupervisor, scratch } from './harness.js';
import { benchArgs, OUT_FLAG, publish, QUICK_FLAG, type BenchRow } from './report.js';

const args = benchArgs({ usage: 'npm run bench:memory -- [flags]', flags: { quick: QUICK_FLAG, out: OUT_FLAG } });
const quick = args.has('quick');
const outDir = args.text('out');
const small = quick ? 1_000 : 10_000;
const large = quick ? 20_000 : 1_000_000;
const inFlight = quick ? 500 : 10_000;
const dir = scratch();
const rows: BenchRow[] = [];
const mb = (n: number): number => n / 1_048_576;

async function settle(): Promise<{ rss: number; heap: number }> {
  for (let i = 0; i < 3; i++) {
    (globalThis as { gc?: () => void }).gc?.();
    await sleep(200);
  }
  const m = process.memoryUsage();
  return { rss: mb(m.rss), heap: mb(m.heapUsed) };
}

try {
  // A paused supervisor holding a backlog: its loops run (heartbeat, recovery, polls), nothing is leased.
  const supervisor = benchSupervisor(dir, { threads: 2, concurrency: 8, pollMs: 50 });
  await supervisor.start();
  await supervisor.pause();
  // In batches of 100: the store starts its checkpoint thread (a fixed ~9 MB) after its first 50
  // writes, and it must be running at both points, or the backlog's growth counts the thread.
  for (let i = 0; i < small; i += 100) await supervisor.enqueueMany(Array.from({ length: Math.min(100, small - i) }, () => ({ name: 'noop' })));
  const atSmall = await settle();
  for (let i = small; i < large; i += 10_000) await supervisor.enqueueMany(Array.from({ length: Math.min(10_000, large - i) }, () => ({ name: 'noop' })));
  const atLarge = await settle();
  await supervisor.stop({ graceMs: 0 });
  rows.push({ scenario: `RSS, ${small.toLocaleString('en-US')} queued`, variant: 'supervisor running, paused', unit: 'MB', value: atSmall.rss, note: `heap ${atSmall.heap.toFixed(1)} MB` });
  rows.push({
    scenario: `RSS, ${large.toLocaleString('en-US')} queued`,
    variant: 'supervisor running, paused',
    unit: 'MB',
    value: atLarge.rss,
    baselineName: `RSS at ${small.toLocaleString('en-US')}`,
    baseline: atSmall.rss,
    ratio: atLarge.rss / atSmall.rss,
    note: `heap ${atLarge.heap.toFixed(1)} MB; +${(atLarge.rss - atSmall.rss).toFixed(1)} MB (target ≤ +50 MB)`,
  });

  // In flight: jobs that hold their slot until a file appears.
  const gate = dir.file('gate');
  const busy = benchSupervisor(dir, { threads: 2, concurrency: inFlight, prefetch: 0, lease: { ttlMs: 120_000 } });
  await busy.start();
  await busy.enqueueMany(Array.from({ length: inFlight }, () => ({ name: 'hold', payload: { path: gate } })));
  while (busy.status().inFlight.length < inFlight) await sleep(100);
  const atFlight = await settle();
  writeFileSync(gate, '');
  await busy.drain();
  await busy.stop();
  rows.push({ scenario: `RSS, ${inFlight.toLocaleString('en-US')} jobs in flight`, variant: '2 threads', unit: 'MB', value: atFlight.rss, note: `heap ${atFlight.heap.toFixed(1)} MB` });
} finally {
  dir.remove();
}
publish(quick ? 'memory-smoke' : 'memory', rows, { small, large, inFlight }, outDir);
