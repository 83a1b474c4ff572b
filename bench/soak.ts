/**
 * Soak: one supervisor fed at a steady rate for a long time, watched for leaks and stuck work.
 *
 *   npm run soak -- --minutes 30            # the real run
 *   npm run soak -- --minutes 0.2           # a smoke check
 *   options: --rate <jobs/s> (200)  --fail <fraction> (0.01)  --out <dir>
 *
 * Jobs are no-ops, except a fraction (`--fail`) that always fail (FAST retry: three attempts, then
 * `error`). Every few seconds it samples the process's RSS (the worker threads included), the WAL
 * file's size, and the jobs still leased or running whose lease expired more than a recovery
 * interval ago (stuck: nothing gave them back). Finished jobs are pruned every 30 s, as a real
 * deployment would, so that the file does not grow without bound.
 *
 * Targets, each printed with its verdict:
 * - RSS growth after warm-up (the first 20% of the run) < 10% (median of the last quarter of the
 *   samples vs the first quarter);
 * - WAL bounded: checkpoints keep up (the largest WAL of the second half of the run is at most
 *   1.5 × that of the first half + 1 MiB);
 * - 0 stuck leases at any sample, and 0 jobs lost (every job enqueued ends `done` or `error`).
 * RSS and WAL verdicts are indicative only on runs under 5 minutes (warm-up noise dominates). The
 * exit code is 1 when an enforced target fails. Results: a table on stdout and
 * `bench/results/<date>-soak.json` (`soak-smoke` under one minute), via `publish()`.
 */
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { createSupervisor } from '../actors/supervisor.actor.js';
import { createSqliteStore } from '../src/store/sqlite-store.js';
import type { JobInput } from '../src/config.js';
import { scratch } from './harness.js';
import { benchArgs, OUT_FLAG, publish, type BenchRow } from './report.js';

const args = benchArgs({
  usage: 'npm run soak -- [flags]',
  flags: {
    minutes: { value: 'M', help: 'how long to run, in minutes (default 30)', number: { fallback: 30, min: 0 } },
    rate: { value: 'R', help: 'jobs enqueued per second (default 200)', number: { fallback: 200, min: 0 } },
    fail: { value: 'F', help: 'the fraction of jobs that always fail (default 0.01)', number: { fallback: 0.01, min: 0, max: 1 } },
    out: OUT_FLAG,
  },
});
const outDir = args.text('out');
const minutes = args.number('minutes');
const rate = args.number('rate');
const failRate = args.number('fail');
const durationMs = Math.round(minutes * 60_000);
const sampleMs = Math.min(5_000, Math.max(1_000, Math.round(durationMs / 100)));
const warmupMs = durationMs * 0.2;
const ttlMs = 5_000;
const recoveryMs = 2_000;
const pruneEveryMs = 30_000;
const MiB = 1_048_576;

interface Sample {
  /** Seconds since the start. */
  readonly t: number;
  readonly rssMiB: number;
  /** The main thread's JS heap in use. */
  readonly heapMiB: number;
  /** The main thread's JS heap as reserved from the system (in use or not): RSS follows this one. */
  readonly heapTotalMiB: number;
  readonly walMiB: number;
  readonly dbMiB: number;
  readonly enqueued: number;
  readonly done: number;
  readonly failed: number;
  readonly pending: number;
  /** Leased or running, with a lease expired more than a recovery interval ago. */
  readonly stuck: number;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : ((s[Math.floor((s.length - 1) / 2)] as number) + (s[Math.ceil((s.length - 1) / 2)] as number)) / 2;
};
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
const fileMiB = (path: string): number => (existsSync(path) ? statSync(path).size / MiB : 0);

const dir = scratch('leasehold-soak-');
let exitCode = 0;
try {
  const db = dir.file('soak.db');
  const handlers = dir.file('handlers.mjs');
  writeFileSync(
    handlers,
    ['export function ok() { return null; }', "export function fail() { throw new Error('soak: this job always fails'); }", ''].join('\n'),
  );
  const supervisor = createSupervisor({
    store: { sqlite: db, synchronous: 'NORMAL' },
    handlers: pathToFileURL(handlers),
    threads: 2,
    concurrency: 8,
    lease: { ttlMs },
    recoveryMs,
    pollMs: 200,
    logger: false,
    keepAlive: false,
  });
  // The harness's own connection (counts, pruning) checkpoints inline: with the default thread,
  // its 50th write (pruning deletes 10,000 rows a write, so at ~300,000 jobs) started a second
  // checkpoint thread — a V8 isolate, ~7 MiB — which showed as a one-time RSS step of the
  // supervisor's. The supervisor's own store keeps its checkpoint thread.
  const inspector = createSqliteStore({ path: db, synchronous: 'NORMAL', checkpoint: 'inline' });
  await supervisor.start();
  const stuckLeases = inspector.database.prepare("SELECT count(*) FROM jobs WHERE state IN ('leased', 'running') AND lease_expires_at < ?").pluck();
  const counts = inspector.database.prepare('SELECT state, count(*) AS n FROM jobs GROUP BY state');

  let enqueued = 0;
  let pruned = 0;
  let done = 0;
  let failed = 0;
  supervisor.on('job.done', () => done++);
  supervisor.on('job.failed', () => failed++);
  const samples: Sample[] = [];
  const started = performance.now();
  const elapsed = (): number => performance.now() - started;

  const sample = (): Sample => {
    const byState = Object.fromEntries((counts.all() as Array<{ state: string; n: number }>).map((r) => [r.state, r.n]));
    const mem = process.memoryUsage();
    const s: Sample = {
      t: round(elapsed() / 1000),
      rssMiB: round(mem.rss / MiB),
      heapMiB: round(mem.heapUsed / MiB),
      heapTotalMiB: round(mem.heapTotal / MiB),
      walMiB: round(fileMiB(`${db}-wal`), 2),
      dbMiB: round(fileMiB(db), 2),
      enqueued,
      done,
      failed,
      pending: (byState.queued ?? 0) + (byState.leased ?? 0) + (byState.running ?? 0) + (byState.blocked ?? 0),
      stuck: stuckLeases.get(Date.now() - recoveryMs - 1_000) as number,
    };
    samples.push(s);
    return s;
  };

  console.log(`soak: ${minutes} min at ${rate} jobs/s, ${failRate * 100}% always failing; sampling every ${sampleMs / 1000} s; scratch ${db}`);
  let nextSample = sampleMs;
  let nextPrune = pruneEveryMs;
  while (elapsed() < durationMs) {
    const due = Math.floor((rate * elapsed()) / 1000);
    if (due > enqueued) {
      const jobs: JobInput[] = Array.from({ length: due - enqueued }, () => (Math.random() < failRate ? { name: 'fail', retry: 'FAST' } : { name: 'ok' }));
      await supervisor.enqueueMany(jobs);
      enqueued = due;
    }
    if (elapsed() >= nextSample) {
      nextSample += sampleMs;
      const s = sample();
      if (samples.length % Math.max(1, Math.round(60_000 / sampleMs)) === 0) {
        console.log(`  t=${s.t}s rss=${s.rssMiB} MiB heap=${s.heapMiB}/${s.heapTotalMiB} MiB wal=${s.walMiB} MiB done=${s.done} failed=${s.failed} pending=${s.pending} stuck=${s.stuck}`);
      }
    }
    if (elapsed() >= nextPrune) {
      nextPrune += pruneEveryMs;
      pruned += await inspector.prune({ olderThanMs: pruneEveryMs });
    }
    await sleep(50);
  }
  const feedEnd = elapsed();
  await Promise.race([supervisor.drain(), sleep(120_000).then(() => Promise.reject(new Error('soak: the supervisor did not drain within 120 s')))]);
  sample();
  await supervisor.stop();
  const final = Object.fromEntries((counts.all() as Array<{ state: string; n: number }>).map((r) => [r.state, r.n]));
  const walAtEnd = fileMiB(`${db}-wal`);
  await inspector.close();

  // Verdicts.
  const after = samples.filter((s) => s.t * 1000 >= warmupMs);
  const quarter = Math.max(1, Math.floor(after.length / 4));
  const rssStart = median(after.slice(0, quarter).map((s) => s.rssMiB));
  const rssEnd = median(after.slice(-quarter).map((s) => s.rssMiB));
  const rssGrowth = (rssEnd - rssStart) / rssStart;
  const half = Math.max(1, Math.floor(after.length / 2));
  const walFirst = Math.max(0, ...after.slice(0, half).map((s) => s.walMiB));
  const walSecond = Math.max(0, ...after.slice(half).map((s) => s.walMiB));
  const walMax = Math.max(0, ...samples.map((s) => s.walMiB));
  const stuckMax = Math.max(0, ...samples.map((s) => s.stuck));
  const terminal = (final.done ?? 0) + (final.error ?? 0);
  const lost = enqueued - pruned - terminal;
  const long = minutes >= 5;
  const verdicts = {
    rssGrowth: { value: round(rssGrowth * 100), target: '< 10%', ok: rssGrowth < 0.1, enforced: long },
    walBounded: { value: `${round(walSecond, 2)} MiB (2nd half) vs ${round(walFirst, 2)} MiB (1st half)`, target: '≤ 1.5 × first half + 1 MiB', ok: walSecond <= walFirst * 1.5 + 1, enforced: long },
    stuckLeases: { value: stuckMax, target: '0', ok: stuckMax === 0, enforced: true },
    lost: { value: lost, target: '0', ok: lost === 0, enforced: true },
  };
  for (const [name, v] of Object.entries(verdicts)) {
    const status = v.ok ? 'ok' : v.enforced ? 'FAILED' : 'missed (indicative only on runs under 5 minutes)';
    console.log(`target ${name}: ${String(v.value)} (target ${v.target}): ${status}`);
    if (!v.ok && v.enforced) exitCode = 1;
  }

  console.log('\n| t (s) | RSS (MiB) | heap used / total (MiB) | WAL (MiB) | db (MiB) | done | failed | pending | stuck |\n|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const every = Math.max(1, Math.ceil(samples.length / 20));
  for (const [i, s] of samples.entries()) {
    if (i % every === 0 || i === samples.length - 1) console.log(`| ${s.t} | ${s.rssMiB} | ${s.heapMiB} / ${s.heapTotalMiB} | ${s.walMiB} | ${s.dbMiB} | ${s.done} | ${s.failed} | ${s.pending} | ${s.stuck} |`);
  }

  const scenario = `soak, ${minutes} min at ${rate} jobs/s, ${failRate * 100}% failing`;
  const rows: BenchRow[] = [
    { scenario, variant: 'throughput', unit: 'jobs/s', value: (done + failed) / (feedEnd / 1000) },
    { scenario, variant: 'RSS after warm-up (median, first quarter)', unit: 'MiB', value: rssStart },
    { scenario, variant: 'RSS at the end (median, last quarter)', unit: 'MiB', value: rssEnd },
    { scenario, variant: 'RSS growth after warm-up', unit: '%', value: rssGrowth * 100, note: 'target < 10%' },
    { scenario, variant: 'WAL, largest seen', unit: 'MiB', value: walMax },
    { scenario, variant: 'WAL at the end', unit: 'MiB', value: walAtEnd },
    { scenario, variant: 'stuck leases (most at one sample)', unit: 'jobs', value: stuckMax, note: 'target 0' },
    { scenario, variant: 'lost', unit: 'jobs', value: lost, note: 'target 0' },
    { scenario, variant: 'enqueued / done / error / pruned', unit: 'jobs', value: enqueued, note: `${final.done ?? 0} done, ${final.error ?? 0} error, ${pruned} pruned` },
  ];
  publish(minutes < 1 ? 'soak-smoke' : 'soak', rows, { minutes, rate, failRate, sampleMs, warmupMs, ttlMs, recoveryMs, verdicts, final, enqueued, pruned, samples }, outDir);
} catch (error) {
  console.error(error);
  exitCode = 1;
} finally {
  dir.remove();
}
process.exit(exitCode);
