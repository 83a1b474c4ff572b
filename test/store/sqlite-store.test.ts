import { existsSync } from 'node:fs';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import { MIGRATIONS, SCHEMA_VERSION } from '../../src/store/sqlite/schema.js';
import { jobLifecycle } from '../../src/job-lifecycle.js';
import { JOB_EVENT_TYPES, JOB_STATES } from '../../machines/job.machine.js';
import { tempDir } from '../helpers/temp.js';
import { jobIn, runStoreContract } from './contract.js';

runStoreContract('SqliteStore', async ({ clock, random, retry, escalate }) => {
  const dir = tempDir();
  const path = dir.file('jobs.db');
  const store = createSqliteStore({ path, clock, ...(random ? { random } : {}), ...(retry ? { retry: retry } : {}), ...(escalate ? { escalate: escalate as never } : {}) });
  return {
    store,
    clock,
    reopen: async () => createSqliteStore({ path, clock }),
    cleanup: async () => {
      await store.close();
      dir[Symbol.dispose]();
    },
  };
});

describe('SqliteStore specifics', () => {
  it('uses WAL, the chosen synchronous mode and a busy timeout', async () => {
    using dir = tempDir();
    for (const [mode, code] of [['FULL', 2], ['NORMAL', 1]] as const) {
      await using store = createSqliteStore({ path: dir.file(`${mode}.db`), synchronous: mode, busyTimeoutMs: 1234 });
      expect(store.database.pragma('journal_mode', { simple: true })).toBe('wal');
      expect(store.database.pragma('synchronous', { simple: true })).toBe(code);
      expect(store.database.pragma('busy_timeout', { simple: true })).toBe(1234);
      expect(store.database.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    }
    await using dflt = createSqliteStore({ path: dir.file('default.db') });
    expect(dflt.synchronous).toBe('FULL');
  });

  it('under FULL, commits leases, starts and heartbeats without fsync and everything callers are told is final with it', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('full.db') });
    const sync = () => store.database.pragma('synchronous', { simple: true });
    expect(sync()).toBe(2);
    const job = await store.enqueue({ name: 'a' });
    expect(sync()).toBe(2);
    const [leased] = await store.lease({ owner: 'o', limit: 1, ttlMs: 1_000 });
    expect(leased?.id).toBe(job.id);
    expect(sync()).toBe(1);
    const ref = { id: job.id, token: leased?.token ?? -1 };
    await store.settle({ start: [ref], progress: [{ ...ref, progress: 1 }] });
    await store.heartbeat([ref], 1_000);
    expect(sync()).toBe(1);
    await store.settle({ complete: [{ ...ref, result: null }] });
    expect(sync()).toBe(2);
    await using normal = createSqliteStore({ path: dir.file('normal.db'), synchronous: 'NORMAL' });
    await normal.enqueue({ name: 'a' });
    await normal.lease({ owner: 'o', limit: 1, ttlMs: 1_000 });
    expect(normal.database.pragma('synchronous', { simple: true })).toBe(1);
  });

  it('enqueueMany writes plain jobs by the chunk, keyed and dependent ones between them, all in input order', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('many.db'), retry: { byName: { c: 'FAST' } }, clock: new ManualClock(1_000_000) });
    const dep = await store.enqueue({ name: 'a' });
    const inputs = Array.from({ length: 300 }, (_, i) =>
      i === 70
        ? { name: 'b', key: 'k70', payload: { i } }
        : i === 200
          ? { name: 'b', dependsOn: [dep.id], payload: { i } }
          : { name: 'c', queue: i % 2 === 0 ? 'even' : 'odd', priority: 'high' as const, delayMs: i, timeoutMs: 1_000 + i, payload: { i } },
    );
    const out = await store.enqueueMany(inputs);
    expect(out).toHaveLength(300);
    for (let i = 0; i < out.length; i++) {
      const job = out[i];
      if (job === undefined) throw new Error('missing');
      if (i > 0) expect(job.id).toBeGreaterThan(out[i - 1]?.id ?? Infinity);
      const detail = await store.get(job.id);
      expect(detail?.payload).toEqual({ i });
      expect(detail?.state).toBe(i === 200 ? 'blocked' : 'queued');
      expect(job.state).toBe(detail?.state);
      expect(detail?.history.map((h) => h.event)).toEqual(['ENQUEUE']);
      if (i !== 70 && i !== 200) {
        expect(detail).toMatchObject({ name: 'c', queue: i % 2 === 0 ? 'even' : 'odd', priority: 'high', timeoutMs: 1_000 + i, maxAttempts: 3, key: null });
        expect(detail?.runAt).toBe(1_000_000 + i);
      }
    }
    expect((await store.stats()).byState.queued).toBe(300);
  });

  it('refuses a database with a newer schema version, without touching it', () => {
    using dir = tempDir();
    const path = dir.file('future.db');
    const raw = new Database(path);
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expect(() => createSqliteStore({ path })).toThrow(expect.objectContaining({ code: 'ERR_SCHEMA_TOO_NEW' }));
    const again = new Database(path);
    expect(again.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION + 1);
    expect(again.prepare("SELECT count(*) FROM sqlite_master WHERE name = 'jobs'").pluck().get()).toBe(0);
    again.close();
  });

  it('refuses a file that is not a database, with a typed error, and does not overwrite it', async () => {
    using dir = tempDir();
    const path = dir.file('garbage.db');
    const { writeFileSync, readFileSync } = await import('node:fs');
    writeFileSync(path, 'this is not a database at all'.repeat(200));
    expect(() => createSqliteStore({ path })).toThrow(expect.objectContaining({ code: 'ERR_STORE_CORRUPT' }));
    expect(readFileSync(path, 'utf8').startsWith('this is not a database')).toBe(true);
  });

  it('reopens an existing database without re-running migrations', async () => {
    using dir = tempDir();
    const path = dir.file('jobs.db');
    const first = createSqliteStore({ path });
    const { id } = await first.enqueue({ name: 'work', payload: 7 });
    await first.close();
    await using second = createSqliteStore({ path });
    expect((await second.get(id))?.payload).toBe(7);
    expect(existsSync(path)).toBe(true);
  });

  it('the database itself refuses every (from, event, to) the machine does not allow', async () => {
    using dir = tempDir();
    const clock = new ManualClock();
    await using store: SqliteStore = createSqliteStore({ path: dir.file('jobs.db'), clock });
    const allowed = new Set(jobLifecycle.triples().map(([f, e, t]) => `${f} ${e} ${t}`));
    const db = store.database;
    const ids = new Map<string, number>();
    for (const s of JOB_STATES) ids.set(s, (await jobIn(store, s)).id);
    let accepted = 0;
    let refused = 0;
    for (const from of JOB_STATES) {
      for (const event of JOB_EVENT_TYPES) {
        for (const to of JOB_STATES) {
          if (from === to) continue; // not a state change: stores never SET state to itself
          const id = ids.get(from) as number;
          const attempt = () => db.transaction(() => {
            db.prepare('UPDATE jobs SET state = ?, last_event = ?, events = events + 1 WHERE id = ?').run(to, event, id);
            throw new Error('rollback');
          })();
          let ok: boolean;
          try {
            attempt();
            ok = true;
          } catch (error) {
            ok = (error as Error).message === 'rollback';
            if (!ok) expect((error as { code?: string }).code).toBe('SQLITE_CONSTRAINT_TRIGGER');
          }
          expect(ok, `${from} ${event} ${to}`).toBe(allowed.has(`${from} ${event} ${to}`));
          if (ok) accepted++;
          else refused++;
        }
      }
    }
    expect(accepted).toBe([...allowed].filter((t) => t.split(' ')[0] !== t.split(' ')[2]).length);
    expect(refused).toBeGreaterThan(800);
  });

  it('the database lets one write record two steps only as START then an event the machine allows after it, with both history entries', async () => {
    using dir = tempDir();
    const clock = new ManualClock();
    await using store: SqliteStore = createSqliteStore({ path: dir.file('jobs.db'), clock });
    const triples = jobLifecycle.triples();
    const allowed = new Set<string>();
    for (const [from, first, mid] of triples) {
      if (first !== 'START') continue;
      for (const [f, event, to] of triples) if (f === mid) allowed.add(`${from} ${event} ${to}`);
    }
    expect(allowed.has('leased SUCCEED done')).toBe(true);
    const db = store.database;
    const ids = new Map<string, number>();
    for (const s of JOB_STATES) ids.set(s, (await jobIn(store, s)).id);
    const history = db.prepare('SELECT seq, event, from_state, to_state FROM job_events WHERE job_id = ? ORDER BY seq');
    let accepted = 0;
    for (const from of JOB_STATES) {
      for (const event of JOB_EVENT_TYPES) {
        for (const to of JOB_STATES) {
          const id = ids.get(from) as number;
          let entries: unknown[] = [];
          const attempt = () => db.transaction(() => {
            db.prepare('UPDATE jobs SET state = ?, last_event = ?, events = events + 2 WHERE id = ?').run(to, event, id);
            entries = history.all(id).slice(-2);
            throw new Error('rollback');
          })();
          const ok = (() => {
            try {
              attempt();
              return true;
            } catch (error) {
              return (error as Error).message === 'rollback';
            }
          })();
          expect(ok, `${from} START+${event} ${to}`).toBe(allowed.has(`${from} ${event} ${to}`));
          if (!ok) continue;
          accepted++;
          const mid = triples.find(([f, e]) => f === from && e === 'START')?.[2];
          const seq = (db.prepare('SELECT events FROM jobs WHERE id = ?').pluck().get(id) as number) + 2;
          expect(entries).toEqual([
            { seq: seq - 1, event: 'START', from_state: from, to_state: mid },
            { seq, event, from_state: mid, to_state: to },
          ]);
        }
      }
    }
    expect(accepted).toBe(allowed.size);
    // Three steps in one write are never allowed.
    const leased = ids.get('leased') as number;
    expect(() => db.prepare("UPDATE jobs SET state = 'done', last_event = 'SUCCEED', events = events + 3 WHERE id = ?").run(leased)).toThrow(/ERR_INVALID_TRANSITION/);
  });

  it('settles a start and a result of the same lease in one write: outcomes and history as two writes give', async () => {
    using dir = tempDir();
    await using store: SqliteStore = createSqliteStore({ path: dir.file('jobs.db') });
    await store.enqueueMany([{ name: 'work' }, { name: 'work' }, { name: 'work' }, { name: 'work' }]);
    const [a, b, c, d] = await store.lease({ owner: 'o', limit: 4, ttlMs: 60_000 });
    if (a === undefined || b === undefined || c === undefined || d === undefined) throw new Error('4 leases expected');
    // b's lease is lost before the settle; c reports progress between start and result; d only starts.
    await store.release([b]);
    store.database.exec(`CREATE TEMP TABLE writes (id INTEGER);
      CREATE TEMP TRIGGER count_writes AFTER UPDATE OF state ON main.jobs BEGIN INSERT INTO writes VALUES (NEW.id); END;`);
    const result = await store.settle({
      start: [a, b, c, d],
      progress: [{ ...c, progress: { half: true } }],
      complete: [
        { ...a, resultText: '"a"' },
        { ...b, resultText: '"b"' },
        { ...c, resultText: '"c"' },
      ],
    });
    expect(result.start.map((o) => [o.id, o.ok, o.state])).toEqual([
      [a.id, true, 'running'],
      [b.id, false, 'queued'],
      [c.id, true, 'running'],
      [d.id, true, 'running'],
    ]);
    expect(result.complete.map((o) => [o.id, o.ok, o.ok ? o.state : o.code])).toEqual([
      [a.id, true, 'done'],
      [b.id, false, 'ERR_LEASE_LOST'],
      [c.id, true, 'done'],
    ]);
    // a: START and SUCCEED in one write; c: two (progress between); d: START alone.
    const writes = store.database.prepare('SELECT id, count(*) AS n FROM writes GROUP BY id ORDER BY id').raw().all();
    expect(writes).toEqual([
      [a.id, 1],
      [c.id, 2],
      [d.id, 1],
    ]);
    const steps = async (id: number) => (await store.get(id))?.history.map((h) => `${h.event} ${h.from ?? ''}>${h.to}`);
    for (const id of [a.id, c.id]) expect(await steps(id)).toEqual(['ENQUEUE >queued', 'LEASE queued>leased', 'START leased>running', 'SUCCEED running>done']);
    expect(await steps(d.id)).toEqual(['ENQUEUE >queued', 'LEASE queued>leased', 'START leased>running']);
    expect(await store.get(a.id)).toMatchObject({ state: 'done', result: 'a' });
    expect(await store.get(c.id)).toMatchObject({ state: 'done', result: 'c', progress: { half: true } });
    const row = store.database.prepare('SELECT started_at, finished_at, lease_owner, lease_expires_at FROM jobs WHERE id = ?').get(a.id) as Record<string, unknown>;
    expect(row).toMatchObject({ lease_owner: null, lease_expires_at: null });
    expect(row['started_at']).toBe(row['finished_at']);
  });

  it('does not merge a start and a result when another item names the same job: its rejection reports the state after start', async () => {
    // Found by the store model property test (chaos run): a stale ref beside the live one saw "done".
    using dir = tempDir();
    await using store: SqliteStore = createSqliteStore({ path: dir.file('jobs.db') });
    await store.enqueue({ name: 'work' });
    const [live] = await store.lease({ owner: 'o', limit: 1, ttlMs: 60_000 });
    if (live === undefined) throw new Error('a lease expected');
    const stale = { id: live.id, token: live.token - 1 };
    const result = await store.settle({ start: [live, stale], complete: [{ ...live, resultText: '1' }] });
    expect(result.start).toEqual([
      { id: live.id, token: live.token, ok: true, state: 'running' },
      { id: live.id, token: stale.token, ok: false, code: 'ERR_LEASE_LOST', state: 'running' },
    ]);
    expect(result.complete).toEqual([{ id: live.id, token: live.token, ok: true, state: 'done' }]);
  });

  it('the database itself lets a job be created only by ENQUEUE, into the states the machine allows', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    const created = new Set(jobLifecycle.triples().filter(([, e]) => e === 'ENQUEUE').map(([, , to]) => to));
    expect([...created].sort()).toEqual(['blocked', 'queued']);
    const insert = store.database.prepare(
      "INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, last_event) VALUES ('q', 'n', ?, 2, 0, 0, 0, 1, 1, ?)",
    );
    for (const event of JOB_EVENT_TYPES) {
      for (const state of JOB_STATES) {
        const attempt = () => store.database.transaction(() => {
          insert.run(state, event);
          throw new Error('rollback');
        })();
        const allowed = event === 'ENQUEUE' && created.has(state);
        if (allowed) expect(attempt, `${event} → ${state}`).toThrow('rollback');
        else expect(attempt, `${event} → ${state}`).toThrow(/ERR_INVALID_TRANSITION/);
      }
    }
  });

  it('upgrades a version-1 database in place: its jobs kept, the new insert guard in force', async () => {
    using dir = tempDir();
    const path = dir.file('v1.db');
    const v1 = new Database(path);
    v1.pragma('journal_mode = WAL');
    v1.exec(MIGRATIONS[0]?.sql ?? '');
    v1.pragma('user_version = 1');
    // A job as version 1 stored it.
    v1.exec(`INSERT INTO job_transitions VALUES ('queued', 'ENQUEUE', 'queued');
             INSERT INTO policies (spec) VALUES ('{"kind":"immediate","baseMs":0,"maxMs":0,"jitter":0,"maxAttempts":1}');
             INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, last_event)
               VALUES ('default', 'work', 'queued', 2, 0, 0, 0, 1, 1, 'ENQUEUE');
             INSERT INTO job_payloads (job_id, payload) VALUES (1, '{"kept":true}');
             INSERT INTO queues (name) VALUES ('default');`);
    v1.close();
    await using store = createSqliteStore({ path });
    expect(store.database.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(await store.get(1)).toMatchObject({ state: 'queued', payload: { kept: true } });
    const [leased] = await store.lease({ owner: 'o', limit: 1, ttlMs: 1_000 });
    expect(leased?.id).toBe(1);
    const { id } = await store.enqueue({ name: 'work', payload: 2 });
    expect(id).toBe(2);
    expect(() =>
      store.database.prepare("INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, last_event) VALUES ('q', 'n', 'leased', 2, 0, 0, 0, 1, 1, 'LEASE')").run(),
    ).toThrow(/ERR_INVALID_TRANSITION/);
  });

  it('upgrades a version-2 database to 3 (jobs rebuilt): rows, history, ids and the AUTOINCREMENT high-water mark kept', async () => {
    using dir = tempDir();
    const path = dir.file('v2.db');
    const v2 = new Database(path);
    v2.pragma('journal_mode = WAL');
    for (const m of MIGRATIONS.slice(0, 2)) v2.exec(m.sql);
    v2.pragma('user_version = 2');
    v2.exec(`INSERT INTO job_transitions VALUES ('queued', 'ENQUEUE', 'queued'), ('queued', 'LEASE', 'leased'), ('leased', 'START', 'running'), ('running', 'SUCCEED', 'done');
             INSERT INTO policies (spec) VALUES ('{"kind":"immediate","baseMs":0,"maxMs":0,"jitter":0,"maxAttempts":1}');
             INSERT INTO queues (name) VALUES ('default');`);
    const insert = v2.prepare(
      "INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, last_event) VALUES ('default', 'work', 'queued', 2, 0, 0, 0, 1, 1, 'ENQUEUE')",
    );
    for (let i = 1; i <= 3; i++) {
      insert.run();
      v2.prepare('INSERT INTO job_payloads (job_id, payload) VALUES (?, ?)').run(i, JSON.stringify({ n: i }));
    }
    // Job 1 done through its three transitions (history written by version 1's trigger); job 3 pruned.
    for (const [state, event] of [['leased', 'LEASE'], ['running', 'START'], ['done', 'SUCCEED']]) {
      v2.prepare("UPDATE jobs SET state = ?, last_event = ?, events = events + 1, lease_owner = 'old', updated_at = 5 WHERE id = 1").run(state, event);
    }
    v2.exec('DELETE FROM jobs WHERE id = 3; DELETE FROM job_payloads WHERE job_id = 3;');
    v2.close();

    await using store = createSqliteStore({ path });
    const db = store.database;
    expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
    expect(await store.get(1)).toMatchObject({ state: 'done', payload: { n: 1 } });
    expect((await store.get(1))?.history.map((h) => `${h.from ?? ''}>${h.to}`)).toEqual(['>queued', 'queued>leased', 'leased>running', 'running>done']);
    // Ids never come back: the pruned job 3 was the highest.
    expect((await store.enqueue({ name: 'work' })).id).toBe(4);
    expect(db.prepare("SELECT name, seq FROM sqlite_sequence WHERE name LIKE 'jobs%'").all()).toEqual([{ name: 'jobs', seq: 4 }]);
    const objects = db.prepare("SELECT type, name FROM sqlite_schema WHERE tbl_name = 'jobs' AND sql IS NOT NULL ORDER BY type, name").all();
    expect(objects).toEqual([
      { type: 'index', name: 'jobs_blocked' },
      { type: 'index', name: 'jobs_due' },
      { type: 'index', name: 'jobs_escalated_from' },
      { type: 'index', name: 'jobs_key' },
      { type: 'index', name: 'jobs_leases' },
      { type: 'table', name: 'jobs' },
      { type: 'trigger', name: 'jobs_insert_guard' },
      { type: 'trigger', name: 'jobs_state_guard' },
      { type: 'trigger', name: 'jobs_state_history' },
      { type: 'trigger', name: 'jobs_state_history_after_start' },
    ]);
    // The rebuilt table still guards and records: job 2 runs to the end, history and all.
    const [leased] = await store.lease({ owner: 'o', limit: 1, ttlMs: 1_000 });
    expect(leased?.id).toBe(2);
    await store.settle({ start: [leased!], complete: [{ ...leased!, resultText: '7' }] });
    expect((await store.get(2))?.history.map((h) => h.event)).toEqual(['ENQUEUE', 'LEASE', 'START', 'SUCCEED']);
    expect(() => db.prepare("UPDATE jobs SET state = 'queued', last_event = 'RETRY', events = events + 1 WHERE id = 2").run()).toThrow(/ERR_INVALID_TRANSITION/);
    // And its state CHECK still refuses what is not a state (the guard triggers set aside).
    db.exec('DROP TRIGGER jobs_insert_guard');
    expect(() =>
      db.prepare("INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, last_event) VALUES ('q', 'n', 'bogus', 2, 0, 0, 0, 1, 1, 'ENQUEUE')").run(),
    ).toThrow(/CHECK constraint failed/);
  });

  it('keeps IN lists of more than two constants out of the jobs table checks and triggers', async () => {
    // SQLite evaluates such a list through a transient B-tree, rebuilt for every row inside a
    // trigger: in the history trigger and the state CHECK they cost ~30% of lease+start+complete.
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    const sqls = store.database.prepare("SELECT name, sql FROM sqlite_schema WHERE tbl_name = 'jobs' AND type IN ('table', 'trigger')").all() as Array<{ name: string; sql: string }>;
    expect(sqls.length).toBe(5);
    for (const { name, sql } of sqls) {
      const lists = [...sql.matchAll(/\bIN\s*\(([^()]*)\)/gi)].map((m) => m[1] ?? '').filter((list) => !/\bSELECT\b/i.test(list));
      expect(lists.filter((list) => list.split(',').length > 2), name).toEqual([]);
    }
  });

  it('the database refuses a state change that does not count its history entry', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    const { id } = await store.enqueue({ name: 'work' });
    expect(() => store.database.prepare("UPDATE jobs SET state = 'cancelled', last_event = 'CANCEL' WHERE id = ?").run(id)).toThrow(/ERR_INVALID_TRANSITION/);
    expect(() => store.database.prepare("INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, last_event) VALUES ('q', 'n', 'leased', 2, 0, 0, 0, 1, 1, 'ENQUEUE')").run()).toThrow(
      /ERR_INVALID_TRANSITION/,
    );
    expect((await store.get(id))?.state).toBe('queued');
  });

  it('the CHECK constraint on state lists exactly JOB_STATES', () => {
    using dir = tempDir();
    const store = createSqliteStore({ path: dir.file('jobs.db') });
    const sql = store.database.prepare("SELECT sql FROM sqlite_master WHERE name = 'jobs'").pluck().get() as string;
    const check = /state\s+TEXT\s+NOT NULL CHECK \(([^)]*)\)/.exec(sql)?.[1] ?? '';
    expect(check.split(/\s+OR\s+/).map((s) => s.trim().replace(/^state = '(.*)'$/, '$1'))).toEqual([...JOB_STATES]);
    void store.close();
  });

  it('maps a full database to ERR_STORE_FULL and writes nothing', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('full.db') });
    const pages = store.database.pragma('page_count', { simple: true }) as number;
    store.database.pragma(`max_page_count = ${pages + 2}`);
    const big = 'x'.repeat(200_000);
    await expect(store.enqueueMany([{ name: 'work', payload: big }, { name: 'work', payload: big }])).rejects.toMatchObject({ code: 'ERR_STORE_FULL' });
    store.database.pragma('max_page_count = 1073741823');
    expect((await store.stats()).total).toBe(0);
  });

  it('a job that fails inside a group of enqueues leaves no trace of the retry policy it interned', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    const retry = { kind: 'immediate', maxAttempts: 7 } as const;
    // The payload row is written after the policy is interned: make it fail for one job.
    store.database.exec(`CREATE TEMP TRIGGER boom BEFORE INSERT ON main.job_payloads WHEN NEW.payload = '"boom"' BEGIN SELECT RAISE(ABORT, 'boom'); END`);
    const [failed, ok] = await Promise.allSettled([store.enqueue({ name: 'work', payload: 'boom', retry }), store.enqueue({ name: 'work' })]);
    expect(failed.status).toBe('rejected');
    expect(ok.status).toBe('fulfilled');
    store.database.exec('DROP TRIGGER boom');
    // Before the fix the store cached the rolled-back policy's id, which the next policy interned
    // (the default one, of the job that went in) took over: this job ran under the default policy.
    const { id } = await store.enqueue({ name: 'work', retry });
    expect((await store.get(id))?.retry).toMatchObject(retry);
    const orphans = store.database.prepare('SELECT count(*) FROM jobs LEFT JOIN policies ON policies.id = jobs.policy WHERE policies.id IS NULL').pluck().get();
    expect(orphans).toBe(0);
  });

  it('enqueues made by separate callbacks of one event-loop turn share one transaction (group commit)', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    await store.enqueue({ name: 'warm' });
    // Three callbacks of one check phase, as requests of one poll phase would be: each enqueues
    // one job. Before, each callback's microtasks flushed its own transaction, so when the first
    // promise resolved the later callbacks had not even run.
    const seenAtFirst = await new Promise<number>((resolve, reject) => {
      setImmediate(() => {
        store
          .enqueue({ name: 'a' })
          .then(() => resolve(store.database.prepare('SELECT count(*) FROM jobs').pluck().get() as number), reject);
      });
      setImmediate(() => void store.enqueue({ name: 'b' }));
      setImmediate(() => void store.enqueue({ name: 'c' }));
    });
    expect(seenAtFirst).toBe(4);
    // A lone caller awaiting each enqueue in turn still gets each one committed before the next.
    for (let i = 0; i < 3; i++) {
      const { id } = await store.enqueue({ name: 'seq', payload: i });
      expect((await store.get(id))?.state).toBe('queued');
    }
    expect((await store.stats()).total).toBe(7);
  });

  it('a settle takes the single enqueues still waiting into its transaction, before its lease', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    store.database.exec(`CREATE TEMP TRIGGER boom BEFORE INSERT ON main.job_payloads WHEN NEW.payload = '"boom"' BEGIN SELECT RAISE(ABORT, 'boom'); END`);
    // Not awaited: both wait for the end of this turn. The settle runs first and takes them; one
    // fails alone (its savepoint), the other is inserted and leased in the same commit. Before,
    // the settle leased nothing and the jobs went in by their own transaction afterwards.
    const first = store.enqueue({ name: 'work', payload: 1 });
    const bad = store.enqueue({ name: 'work', payload: 'boom' });
    const settled = await store.settle({ lease: { owner: 'me', limit: 5, ttlMs: 60_000 } });
    const { id } = await first;
    await expect(bad).rejects.toThrow('boom');
    expect(settled.leased.map((j) => j.id)).toEqual([id]);
    expect((await store.stats()).total).toBe(1);
  });

  it('a settle that fails gives its waiting enqueues back: they commit by themselves', async () => {
    using dir = tempDir();
    await using store = createSqliteStore({ path: dir.file('jobs.db') });
    store.database.exec(`CREATE TEMP TRIGGER nolease BEFORE UPDATE OF state ON main.jobs WHEN NEW.state = 'leased' BEGIN SELECT RAISE(ABORT, 'no lease'); END`);
    await store.enqueue({ name: 'work' });
    const waiting = store.enqueue({ name: 'work', payload: 2 });
    await expect(store.settle({ lease: { owner: 'me', limit: 5, ttlMs: 60_000 } })).rejects.toThrow('no lease');
    const { id } = await waiting;
    expect((await store.get(id))?.state).toBe('queued');
    expect((await store.stats()).total).toBe(2);
  });
});
