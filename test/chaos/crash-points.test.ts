/**
 * Every named crash point (src/faults.ts) once (npm test): a supervisor process with
 * LEASEHOLD_CRASH_AT=<point>:<n> dies there (SIGKILL), a fresh supervisor finishes the work, and
 * the ledger-checked invariants hold. `between-recovery-read-and-write` first has a process die
 * holding leases, so that the victim's recovery meets expired leases. 20 seeds per point with
 * other n and timings: crash-points.chaos.test.ts.
 */
import { afterEach, describe, it } from 'vitest';
import { CrashPoints } from '../../src/faults.js';
import { killAllChildren, requireBuild } from './harness.js';
import { runCrashPoint } from './scenarios.js';
import { crashPointExpectations } from './crash-expectations.js';

afterEach(killAllChildren);

describe('crash points', () => {
  for (const point of CrashPoints) {
    it(`${point}: the process dies there; a fresh supervisor finishes; nothing lost, nothing twice`, async () => {
      requireBuild();
      const n = point === 'between-recovery-read-and-write' ? 1 : 2;
      const r = await runCrashPoint({ point, n, jobs: 150, seed: 7, ttlMs: 1_000, jobMs: point === 'during-heartbeat' ? { min: 20, max: 120 } : { min: 2, max: 30 } });
      console.log(r.table);
      crashPointExpectations(point, n, r);
    }, 60_000);
  }
});
