/** Contention, full size (npm run test:chaos): 4 processes × 25,000 claims on one SQLite file. */
import { afterEach, describe, it } from 'vitest';
import { killAllChildren, requireBuild } from './harness.js';
import { runContention } from './scenarios.js';
import { contentionExpectations } from './contention-expectations.js';

afterEach(killAllChildren);

describe('contention (full)', () => {
  it('4 processes × 25,000 claims: no double claim, no unhandled SQLITE_BUSY', async () => {
    requireBuild();
    const r = await runContention(4, 25_000, 17);
    console.log(r.table);
    contentionExpectations(100_000, r);
  }, 900_000);
});
