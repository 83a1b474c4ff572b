import { existsSync } from 'node:fs';
import { createSupervisor, type Supervisor } from '../../actors/supervisor.actor.js';
import type { SupervisorOptions } from '../../src/config.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from './temp.js';

/** The compiled test handlers (built by `npm test`'s pretest). */
export const handlersUrl = new URL('../../dist/test/fixtures/handlers.js', import.meta.url);

/** A supervisor on a fresh SQLite file with the fixture handlers; everything is cleaned up on dispose. */
export function testSupervisor(options: Partial<SupervisorOptions> = {}): {
  supervisor: Supervisor;
  dir: ReturnType<typeof tempDir>;
  path: string;
  /** A second connection to the same file, for checking what the store holds. */
  inspect: () => SqliteStore;
} & AsyncDisposable {
  if (!existsSync(handlersUrl)) throw new Error('run `npm run build` first (npm test does)');
  const dir = tempDir();
  const path = dir.file('jobs.db');
  const supervisor = createSupervisor({
    store: { sqlite: path, synchronous: 'NORMAL' },
    handlers: handlersUrl,
    threads: 2,
    concurrency: 8,
    logger: false,
    ...options,
  });
  const opened: SqliteStore[] = [];
  return {
    supervisor,
    dir,
    path,
    inspect: () => {
      const s = createSqliteStore({ path });
      opened.push(s);
      return s;
    },
    async [Symbol.asyncDispose]() {
      await supervisor.stop({ graceMs: 0 });
      for (const s of opened) await s.close();
      dir[Symbol.dispose]();
    },
  };
}
