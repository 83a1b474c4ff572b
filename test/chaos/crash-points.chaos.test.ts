/**
 * Every crash point × 20 seeds (npm run test:chaos): n (which hit of the point kills the
 * process), the number of jobs, their durations and the TTL vary with the seed. A supervisor
 * process dies at the point, a fresh one finishes the work, the invariants hold. A summary table
 * per point is printed at the end.
 */
import { afterAll, afterEach, describe, it } from 'vitest';
import { CrashPoints, type CrashPoint } from '../../src/faults.js';
import { killAllChildren, requireBuild, seeded } from './harness.js';
import { runCrashPoint } from './scenarios.js';
import { crashPointExpectations } from './crash-expectations.js';

afterEach(killAllChildren);

const SEEDS = 20;
/** The largest n per point: how many times the point is reliably reached in a run. */
const maxN: Record<CrashPoint, number> = {
  'after-lease-commit': 5,
  'after-handler-before-ack': 20,
  'inside-ack-transaction': 10,
  'during-heartbeat': 3,
  'between-recovery-read-and-write': 3,
};
const summary = new Map<CrashPoint, { runs: number; jobs: number; executions: number; duplicates: number; dropped: number; expired: number; violations: number }>();

afterAll(() => {
  const lines = ['| crash point | runs | jobs | executions | duplicates | dropped results | leases expired | violations |', '|---|---:|---:|---:|---:|---:|---:|---:|'];
  for (const [point, s] of summary) lines.push(`| ${point} | ${s.runs} | ${s.jobs} | ${s.executions} | ${s.duplicates} | ${s.dropped} | ${s.expired} | ${s.violations} |`);
  console.log(lines.join('\n'));
});

describe('crash points × 20 seeds', () => {
  for (const point of CrashPoints) {
    for (let seed = 1; seed <= SEEDS; seed++) {
      const random = seeded(seed * 7_919 + point.length);
      const n = random.int(1, maxN[point]);
      const ttlMs = random.pick([1_000, 1_500, 2_000]);
      // Enough work in flight for the point to be reached n times: heartbeats run only while jobs
      // are in flight (every TTL / 3; 4 slots), so those jobs last longer.
      const heartbeat = point === 'during-heartbeat';
      const jobs = heartbeat ? random.int(150, 250) : random.int(100, 300);
      const jobMs = heartbeat ? { min: 100, max: random.int(150, 300) } : { min: 0, max: random.int(5, 60) };
      it(`${point}:${n}, ${jobs} jobs, TTL ${ttlMs} ms (seed ${seed})`, async () => {
        requireBuild();
        const r = await runCrashPoint({ point, n, jobs, seed, ttlMs, jobMs });
        const s = summary.get(point) ?? { runs: 0, jobs: 0, executions: 0, duplicates: 0, dropped: 0, expired: 0, violations: 0 };
        summary.set(point, {
          runs: s.runs + 1,
          jobs: s.jobs + r.report.counts.jobs,
          executions: s.executions + r.report.counts.executions,
          duplicates: s.duplicates + r.report.counts.duplicates,
          dropped: s.dropped + r.report.counts.droppedResults,
          expired: s.expired + r.report.counts.leaseExpired,
          violations: s.violations + r.report.violationCount,
        });
        if (!r.report.ok) console.log(r.table);
        crashPointExpectations(point, n, r);
      }, 120_000);
    }
  }
});
