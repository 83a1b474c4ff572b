/**
 * Contention (npm test, small): 4 processes lease and complete jobs on one SQLite file through
 * the store (a settle that completes and leases in one transaction, or separate lease / start /
 * complete transactions): 0 double claims, 0 unhandled errors (a raw SQLITE_BUSY, or an
 * ERR_STORE_BUSY that was not retried), every job leased once and done. Full size (4 × 25k):
 * contention.chaos.test.ts.
 */
import { afterEach, describe, it } from 'vitest';
import { killAllChildren, requireBuild } from './harness.js';
import { runContention } from './scenarios.js';
import { contentionExpectations } from './contention-expectations.js';

afterEach(killAllChildren);

describe('contention', () => {
  it('4 processes × 1,000 claims on one file: no double claim, no unhandled SQLITE_BUSY', async () => {
    requireBuild();
    const r = await runContention(4, 1_000, 5);
    console.log(r.table);
    contentionExpectations(4 * 1_000, r);
  }, 120_000);
});
