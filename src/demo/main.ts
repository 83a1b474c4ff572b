/**
 * `npm start`: a real workload on the embedded default, `./leasehold.db`.
 *
 * Enqueues a mix of jobs — CPU-bound, I/O-waiting, flaky (retried), skipped, failing for good —
 * runs them on worker threads on every core, shows live progress (a bar in a terminal, periodic
 * lines otherwise) and ends with a summary: counts per outcome, jobs/s, and enqueue→done latency
 * percentiles. Environment: LEASEHOLD_DB (file), LEASEHOLD_DEMO_JOBS (count).
 */
import { availableParallelism } from 'node:os';
import cliProgress from 'cli-progress';
import { createSupervisor } from '../../actors/supervisor.actor.js';
import { systemClock } from '../clock.js';
import type { JobInput } from '../config.js';

const path = process.env.LEASEHOLD_DB ?? './leasehold.db';
const total = Number(process.env.LEASEHOLD_DEMO_JOBS ?? 3_000);
const threads = availableParallelism();
const tty = process.stdout.isTTY;

const supervisor = createSupervisor({
  store: { sqlite: path },
  handlers: new URL('./handlers.js', import.meta.url),
  threads,
  concurrency: threads * 8,
  retry: { base: 'FAST', jitter: 0.1, byName: { syncUpstream: { kind: 'exponential', baseMs: 20, maxMs: 200, maxAttempts: 4 } } },
  logger: { level: 'warn' },
});

function workload(n: number): JobInput[] {
  const stamp = systemClock.now();
  return Array.from({ length: n }, (_, i): JobInput => {
    const key = `demo-${stamp}-${i}`;
    switch (i % 10) {
      case 0:
      case 1:
      case 2:
        return { name: 'thumbnail', payload: { doc: `doc-${i}`, rounds: 2_000 }, key };
      case 3:
      case 4:
      case 5:
        return { name: 'fetchMetadata', payload: { ms: 5 + (i % 40) }, key, priority: i % 20 === 3 ? 'high' : 'normal' };
      case 6:
      case 7:
        return { name: 'syncUpstream', payload: { failures: i % 3 }, key };
      case 8:
        return { name: 'indexDocument', payload: { empty: i % 4 === 0 }, key, priority: 'low' };
      default:
        return i % 50 === 9 ? { name: 'legacyExport', key } : { name: 'thumbnail', payload: { doc: `doc-${i}`, rounds: 500 }, key };
    }
  });
}

const enqueuedAt = new Map<number, number>();
const latencies: number[] = [];
const counts = { done: 0, skipped: 0, error: 0, retried: 0 };
const finished = (): number => counts.done + counts.skipped + counts.error;

supervisor.on('job.done', (e) => {
  counts.done++;
  const at = enqueuedAt.get(e.id);
  if (at !== undefined) latencies.push(systemClock.now() - at);
});
supervisor.on('job.skipped', () => counts.skipped++);
supervisor.on('job.failed', () => counts.error++);
supervisor.on('job.retrying', () => counts.retried++);

await supervisor.start();
const started = systemClock.now();
const jobs = await supervisor.enqueueMany(workload(total));
for (const j of jobs) enqueuedAt.set(j.id, started);
console.log(`leasehold demo: ${total} jobs into ${path}, ${threads} threads, ${threads * 8} slots`);

const bar = tty
  ? new cliProgress.SingleBar(
      { format: ' {bar} {percentage}% | {value}/{total} | {rate} jobs/s | retries {retried} | in flight {inFlight}', hideCursor: true },
      cliProgress.Presets.shades_classic,
    )
  : undefined;
bar?.start(total, 0, { rate: 0, retried: 0, inFlight: 0 });
const ticker = setInterval(
  () => {
    const seconds = (systemClock.now() - started) / 1000;
    const rate = Math.round(finished() / Math.max(seconds, 0.001));
    const inFlight = supervisor.status().inFlight.length;
    if (bar) bar.update(finished(), { rate, retried: counts.retried, inFlight });
    else console.log(`${finished()}/${total} finished — done ${counts.done}, skipped ${counts.skipped}, error ${counts.error}, retries ${counts.retried}, ${rate} jobs/s`);
  },
  tty ? 100 : 1_000,
);

await supervisor.drain();
clearInterval(ticker);
bar?.update(finished(), { rate: Math.round(finished() / ((systemClock.now() - started) / 1000)), retried: counts.retried, inFlight: 0 });
bar?.stop();
const seconds = (systemClock.now() - started) / 1000;
await supervisor.stop();

latencies.sort((a, b) => a - b);
const pct = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))] ?? 0;
console.log(`\ndone ${counts.done}, skipped ${counts.skipped}, error ${counts.error} (retries along the way: ${counts.retried})`);
console.log(`${total} jobs in ${seconds.toFixed(2)} s: ${Math.round(total / seconds)} jobs/s`);
console.log(`enqueue→done latency: p50 ${pct(50)} ms, p99 ${pct(99)} ms (every job was enqueued at once, so this includes its wait in the queue)`);
