import { existsSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/temp.js';

const fixture = new URL('../../dist/test/fixtures/enqueue-race.worker.js', import.meta.url);

describe('SqliteStore across connections', () => {
  it('enqueue is idempotent on key when two connections race on one file', async () => {
    expect(existsSync(fixture), 'run `npm run build` first (npm test does)').toBe(true);
    using dir = tempDir();
    const path = dir.file('race.db');
    createSqliteStore({ path }).database.close();
    const steps = new SharedArrayBuffer(8);
    const keys = 400;
    const run = (me: number) =>
      new Promise<Array<{ key: string; id: number; duplicate: boolean }>>((resolve, reject) => {
        const w = new Worker(fixture, { workerData: { path, keys, steps, me } });
        w.once('message', resolve);
        w.once('error', reject);
      });
    // Both connections go for every key at the same step (lockstep), so each key is contended.
    const [a, b] = await Promise.all([run(0), run(1)]);
    await using store = createSqliteStore({ path });
    expect((await store.stats()).total).toBe(keys);
    for (let i = 0; i < keys; i++) {
      const ra = a[i];
      const rb = b[i];
      expect(ra?.id).toBe(rb?.id);
      // Exactly one of the two created it; the other was told it is a duplicate of that job.
      expect([ra?.duplicate, rb?.duplicate].filter((d) => d === false)).toHaveLength(1);
    }
  });
});
