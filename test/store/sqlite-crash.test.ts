/** Unclean shutdown detection and corrupt files: real processes killed with SIGKILL, real files. */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createSqliteStore } from '../../src/store/sqlite-store.js';
import { tempDir } from '../helpers/temp.js';

const storeModule = new URL('../../dist/src/store/sqlite-store.js', import.meta.url).href;

function logger() {
  const lines: Array<{ level: string; obj: Record<string, unknown>; msg: string }> = [];
  const log = (level: string) => (obj: Record<string, unknown>, msg: string) => lines.push({ level, obj, msg });
  return { lines, pino: { info: log('info'), error: log('error'), warn: log('warn'), debug: log('debug'), child: () => undefined } as never };
}

/** Opens the store in a child process, enqueues, and kills itself with SIGKILL while open. */
function crashWhileOpen(path: string): void {
  const script = `
    const { createSqliteStore } = await import(${JSON.stringify(storeModule)});
    const store = createSqliteStore({ path: ${JSON.stringify(path)} });
    await store.enqueueMany(Array.from({ length: 50 }, (_, i) => ({ name: 'work', payload: i })));
    await store.lease({ owner: 'doomed', limit: 10, ttlMs: 60000 });
    process.kill(process.pid, 'SIGKILL');`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
  expect(r.signal).toBe('SIGKILL');
}

describe('SqliteStore after a crash', () => {
  it('notices that a process died with the file open, runs quick_check, logs it, and loses nothing committed', async () => {
    using dir = tempDir();
    const path = dir.file('crashed.db');
    crashWhileOpen(path);
    const log = logger();
    await using store = createSqliteStore({ path, logger: log.pino });
    const check = log.lines.find((l) => l.msg.includes('quick_check'));
    expect(check?.level).toBe('info');
    expect(check?.obj.quickCheck).toEqual(['ok']);
    expect((await store.stats()).total).toBe(50);
    expect((await store.stats()).byState.leased).toBe(10);
    // The dead process's registration is gone: the next open does not check again.
    await store.close();
    const quiet = logger();
    await using again = createSqliteStore({ path, logger: quiet.pino });
    expect(quiet.lines.filter((l) => l.msg.includes('quick_check'))).toEqual([]);
    expect((await again.stats()).total).toBe(50);
  });

  it('refuses a corrupt file with ERR_STORE_CORRUPT and never writes to it', async () => {
    using dir = tempDir();
    const path = dir.file('corrupt.db');
    {
      const store = createSqliteStore({ path, synchronous: 'FULL' });
      await store.enqueueMany(Array.from({ length: 2_000 }, (_, i) => ({ name: 'work', payload: { i, pad: 'x'.repeat(200) } })));
      store.database.pragma('wal_checkpoint(TRUNCATE)');
      await store.close();
    }
    // Scribble over the middle of the file (not the header): b-tree pages become garbage.
    const bytes = readFileSync(path);
    for (let i = 8 * 4096; i < 12 * 4096; i++) bytes[i] = (i * 7) & 0xff;
    writeFileSync(path, bytes);
    const before = createHash('sha256').update(readFileSync(path)).digest('hex');
    expect(() => createSqliteStore({ path, integrityCheck: 'always' })).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }));
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(before);
  });

  it('integrityCheck: never skips the check', () => {
    using dir = tempDir();
    const path = dir.file('n.db');
    crashWhileOpen(path);
    const log = logger();
    const store = createSqliteStore({ path, integrityCheck: 'never', logger: log.pino });
    expect(log.lines).toEqual([]);
    void store.close();
  });
});
