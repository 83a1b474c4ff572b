/**
 * Stale leases, full size (npm run test:chaos): 10 SIGSTOP/SIGCONT runs with varied job counts,
 * hold times, TTLs and pause moments; and 10,000 completion-vs-recovery races at the store level.
 */
import { afterEach, describe, it } from 'vitest';
import { killAllChildren, requireBuild, seeded } from './harness.js';
import { runRaces, runStaleLease } from './scenarios.js';
import { raceExpectations, staleLeaseExpectations } from './stale-expectations.js';

afterEach(killAllChildren);

describe('stale leases (full)', () => {
  for (let seed = 1; seed <= 10; seed++) {
    const random = seeded(seed * 104_729);
    const jobs = random.int(2, 8);
    const holdMs = random.int(200, 800);
    const ttlMs = random.pick([1_000, 1_500, 2_000]);
    it(`SIGSTOP past the TTL: ${jobs} jobs held ${holdMs} ms, TTL ${ttlMs} ms (seed ${seed})`, async () => {
      requireBuild();
      const r = await runStaleLease({ jobs, holdMs, ttlMs, seed });
      console.log(r.table);
      staleLeaseExpectations(jobs, r);
    }, 120_000);
  }

  it('10,000 completion-vs-recovery races: 0 overwrites', async () => {
    requireBuild();
    const r = await runRaces(10_000, 2_024);
    console.log(r.table);
    raceExpectations(10_000, r);
  }, 600_000);
});
