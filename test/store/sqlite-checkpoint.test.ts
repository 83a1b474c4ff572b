import { existsSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import { CHECKPOINT_BACKSTOP_PAGES, Checkpointer } from '../../src/store/sqlite/checkpointer.js';
import { tempDir } from '../helpers/temp.js';
import { until } from '../helpers/until.js';

const autocheckpoint = (store: SqliteStore): number => store.database.pragma('wal_autocheckpoint', { simple: true }) as number;

/** Frames in the WAL not yet copied into the database file, without checkpointing (a read on another connection). */
function walFrames(path: string): number {
  const wal = `${path}-wal`;
  return existsSync(wal) ? Math.max(0, (statSync(wal).size - 32) / (4096 + 24)) : 0;
}

/** Jobs in the file, read on a connection of its own. */
function jobsInFile(path: string): unknown {
  const reader = new Database(path, { readonly: true });
  try {
    return reader.prepare('SELECT count(*) FROM jobs').pluck().get();
  } finally {
    reader.close();
  }
}

describe('SqliteStore checkpoints', () => {
  it('hands checkpoints to a thread after its first writes: the database file fills while the store only commits', async () => {
    using dir = tempDir();
    const path = dir.file('jobs.db');
    await using store = createSqliteStore({ path, synchronous: 'NORMAL' });
    expect(autocheckpoint(store)).toBe(1_000); // a store used for a command or two starts no thread
    const before = statSync(path).size;
    for (let i = 0; i < 60; i++) await store.enqueue({ name: 'work', payload: { i, pad: 'x'.repeat(500) } });
    // The thread runs: the store's own connection checkpoints only as a backstop.
    await until('the checkpoint thread to run', () => autocheckpoint(store) === CHECKPOINT_BACKSTOP_PAGES, { timeoutMs: 5_000 });
    // 60 small commits are far below SQLite's 1,000-page automatic checkpoint: only the thread
    // can have copied the jobs into the database file.
    expect(walFrames(path)).toBeLessThan(1_000);
    await until('the database file to fill', () => statSync(path).size > before, { timeoutMs: 5_000 });
    expect(jobsInFile(path)).toBe(60);
  });

  it('under a steady stream of commits the WAL starts over at the backstop instead of growing to it and beyond', async () => {
    using dir = tempDir();
    const path = dir.file('jobs.db');
    await using store = createSqliteStore({ path, synchronous: 'NORMAL' });
    for (let i = 0; i < 60; i++) await store.enqueue({ name: 'work' });
    await until('the checkpoint thread to run', () => autocheckpoint(store) === CHECKPOINT_BACKSTOP_PAGES, { timeoutMs: 5_000 });
    // Back-to-back commits, several pages each: the thread's passive checkpoints never catch up
    // with them, so only the store's own checkpoint at the backstop lets the WAL start over. The
    // file keeps its largest size, so its size is the most the WAL ever held. It can pass the
    // backstop by a few hundred frames: the store's checkpoint is skipped, and tried again at the
    // next commit, while the thread's holds the checkpoint lock. Before the fix the backstop was
    // 10,000 pages: the WAL grew to 10,004 frames here.
    for (let i = 0; i < 4_000; i++) await store.enqueue({ name: 'work', payload: { i, pad: 'x'.repeat(2_000) } });
    expect(walFrames(path)).toBeLessThan(2 * CHECKPOINT_BACKSTOP_PAGES);
    expect(walFrames(path)).toBeLessThan(5_000);
  });

  it("checkpoint: 'inline' starts no thread: SQLite's automatic checkpoint stays in force", async () => {
    using dir = tempDir();
    const path = dir.file('jobs.db');
    await using store = createSqliteStore({ path, checkpoint: 'inline' });
    const before = statSync(path).size;
    for (let i = 0; i < 60; i++) await store.enqueue({ name: 'work', payload: { i } });
    await sleep(300);
    expect(autocheckpoint(store)).toBe(1_000);
    expect(statSync(path).size).toBe(before);
  });

  it("close() ends the thread first: the store's connection is the last one, so the WAL is checkpointed and removed", async () => {
    using dir = tempDir();
    const path = dir.file('jobs.db');
    const store = createSqliteStore({ path, synchronous: 'NORMAL' });
    for (let i = 0; i < 60; i++) await store.enqueue({ name: 'work' });
    await until('the checkpoint thread to run', () => autocheckpoint(store) === CHECKPOINT_BACKSTOP_PAGES, { timeoutMs: 5_000 });
    await store.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
    expect(jobsInFile(path)).toBe(60);
  });

  it('a checkpoint thread that cannot run hands checkpoints back to the connection, with a warning', async () => {
    using dir = tempDir();
    const db = new Database(dir.file('jobs.db'));
    db.pragma('journal_mode = WAL');
    db.pragma(`wal_autocheckpoint = ${CHECKPOINT_BACKSTOP_PAGES}`);
    const warnings: unknown[] = [];
    const logger = { warn: (detail: unknown) => warnings.push(detail) } as never;
    // The thread's connection cannot open a file that does not exist: the thread fails at once.
    const checkpointer = new Checkpointer(db, { path: dir.file('missing.db'), intervalMs: 100, synchronous: 'NORMAL' }, logger);
    await until('a warning', () => warnings.length > 0, { timeoutMs: 5_000 });
    expect(db.pragma('wal_autocheckpoint', { simple: true })).toBe(1_000);
    await checkpointer.stop();
    db.close();
  });

  it('rejects an unknown checkpoint mode, naming the field and the value', () => {
    using dir = tempDir();
    expect(() => createSqliteStore({ path: dir.file('jobs.db'), checkpoint: 'sometimes' as never })).toThrow(/checkpoint.*sometimes|sometimes.*checkpoint/s);
  });
});
