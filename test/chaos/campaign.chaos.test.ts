/**
 * The full kill -9 campaign (npm run test:chaos): 100,000 jobs, 3 supervisor processes on one
 * SQLite file; every 1–5 s a random process holding leases is SIGKILLed and restarted (100
 * kills), paused with SIGSTOP past its TTL and resumed (20 stalls), or restarted gracefully (20
 * restarts): about 8 minutes. Invariants I1–I6 (test/chaos/checker.ts); every kill's leases recovered,
 * and the work finished, within TTL + recovery interval + 2 s of the kill; duplicates per kill
 * reported. Seed: LEASEHOLD_CHAOS_SEED (default 42).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren, requireBuild } from './harness.js';
import { runCampaign } from './scenarios.js';

afterEach(killAllChildren);

const seed = Number(process.env.LEASEHOLD_CHAOS_SEED ?? 42);

describe('kill -9 campaign (full)', () => {
  it('100 kills, 20 stalls, 20 restarts over 100,000 jobs', async () => {
    requireBuild();
    const r = await runCampaign({
      jobs: 100_000,
      kills: 100,
      stalls: 20,
      restarts: 20,
      processes: 3,
      killEveryMs: [1_000, 5_000],
      ttlMs: 1_500,
      recoveryMs: 200,
      concurrency: 16,
      seed,
      jobMs: { min: 10, max: 50 },
      log: (line) => console.log(`campaign: ${line}`),
    });
    console.log(r.table);
    expect(r.report.violations).toEqual([]);
    // Escalated jobs add their successors to the 100_000 enqueued.
    expect(r.report.counts.jobs).toBeGreaterThanOrEqual(100_000);
    expect(r.report.counts).toMatchObject({ acknowledged: 100_000, lost: 0, staleWritesInHistory: 0, kills: 100 });
    expect(r.report.counts.leaseExpired).toBeGreaterThan(0);
    const late = r.kills.filter((k) => k.recoveredAfterMs !== null && k.recoveredAfterMs > r.boundMs);
    expect(late, 'kills whose leases were recovered later than TTL + recovery + 2 s').toEqual([]);
    expect(r.finishedAfterLastKillMs).toBeLessThanOrEqual(r.boundMs);
    // Every live supervisor ends idle: no slot leaked, nothing left in flight.
    expect(r.notQuiescent).toEqual([]);
  });
});
