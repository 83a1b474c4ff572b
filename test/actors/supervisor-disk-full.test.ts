/** A full database: enqueue fails with ERR_STORE_FULL, in-flight acks are retried, nothing is lost. */
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { createSupervisor } from '../../actors/supervisor.actor.js';
import { createSqliteStore } from '../../src/store/sqlite-store.js';
import { handlersUrl } from '../helpers/supervisor.js';
import { tempDir } from '../helpers/temp.js';

describe('disk full', () => {
  it('fails enqueue with ERR_STORE_FULL, keeps acks until space returns, and then finishes everything', async () => {
    using dir = tempDir();
    const store = createSqliteStore({ path: dir.file('full.db'), synchronous: 'NORMAL' });
    const jobs = await store.enqueueMany(Array.from({ length: 300 }, (_, i) => ({ name: 'sleepFor', payload: { ms: 2 + (i % 5) } })));
    const supervisor = createSupervisor({ store, handlers: handlersUrl, threads: 2, concurrency: 8, logger: false, pollMs: 20 });
    let done = 0;
    supervisor.on('job.done', () => done++);
    await supervisor.start();
    while (done < 30) await sleep(5);
    // Fill it: no page may be added any more.
    const pages = store.database.pragma('page_count', { simple: true }) as number;
    store.database.pragma(`max_page_count = ${pages}`);
    await expect(store.enqueueMany(Array.from({ length: 500 }, () => ({ name: 'echo', payload: 'x'.repeat(2_000) })))).rejects.toMatchObject({ code: 'ERR_STORE_FULL' });
    await sleep(300);
    const whileFull = (await store.stats()).byState;
    // Space returns: processing resumes and nothing acknowledged was lost.
    store.database.pragma('max_page_count = 1073741823');
    await supervisor.drain();
    await supervisor.stop();
    const stats = await store.stats();
    expect(stats.byState.done).toBe(300);
    expect(stats.total).toBe(300);
    expect(whileFull.done).toBeLessThan(300);
    for (const { id } of jobs.slice(0, 20)) {
      const job = await store.get(id);
      expect(job?.history.filter((h) => h.to === 'done')).toHaveLength(1);
    }
    expect(store.database.pragma('integrity_check', { simple: true })).toBe('ok');
    await store.close();
  });
});
