/**
 * The kill -9 campaign, small (npm test): 3 supervisor processes on one SQLite file, 5,000 jobs
 * fed over the campaign; every 1–2 s a random process holding leases is SIGKILLed and restarted
 * (5 kills), or paused with SIGSTOP past its TTL and resumed (2 stalls: a stale holder that must
 * change nothing), or stopped gracefully and restarted (2 restarts: leases given back uncounted).
 * Jobs: short work, flaky, skipping, escalated, timing out, and depending on earlier jobs. The
 * ledger-checked invariants I1–I6 must hold (test/chaos/checker.ts), every kill's leases must
 * be recovered, and the work must finish, within TTL + recovery interval + 2 s of the kill. The
 * full campaign (100k jobs, 100 kills) is campaign.chaos.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren, requireBuild } from './harness.js';
import { runCampaign } from './scenarios.js';

afterEach(killAllChildren);

describe('kill -9 campaign (small)', () => {
  it('5 kills, 2 stalls, 2 restarts over 5,000 jobs: nothing lost, one terminal transition each, no stale write; finished within TTL + recovery + 2 s', async () => {
    requireBuild();
    const r = await runCampaign({
      jobs: 5_000,
      kills: 5,
      stalls: 2,
      restarts: 2,
      processes: 3,
      killEveryMs: [1_000, 2_000],
      ttlMs: 1_500,
      recoveryMs: 200,
      concurrency: 16,
      seed: 1,
      jobMs: { min: 10, max: 50 },
    });
    console.log(r.table);
    expect(r.report.violations).toEqual([]);
    // Escalated jobs add their successors to the 5_000 enqueued.
    expect(r.report.counts.jobs).toBeGreaterThanOrEqual(5_000);
    expect(r.report.counts).toMatchObject({ acknowledged: 5_000, lost: 0, staleWritesInHistory: 0, kills: 5 });
    expect([r.stalls, r.restarts]).toEqual([2, 2]);
    // The kills hit work in flight, and what they left behind was recovered within the bound.
    expect(r.report.counts.leaseExpired).toBeGreaterThan(0);
    for (const k of r.kills) if (k.recoveredAfterMs !== null) expect(k.recoveredAfterMs, `recovery of ${k.owner}'s leases`).toBeLessThanOrEqual(r.boundMs);
    expect(r.finishedAfterLastKillMs).toBeLessThanOrEqual(r.boundMs);
    // Every live supervisor ends idle: no slot leaked, nothing left in flight.
    expect(r.notQuiescent).toEqual([]);
  }, 120_000);
});
