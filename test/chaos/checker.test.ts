/**
 * The chaos checker catches what it claims to catch: a clean run passes, and each invariant, broken
 * on purpose (forged history rows, a forged result, doctored ledgers, a corrupt file), is reported.
 */
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import type { LeasedJob } from '../../src/store/store.js';
import { tempDir } from '../helpers/temp.js';
import { checkRun, formatReport } from './checker.js';

interface Fixture {
  db: string;
  ledger: string;
  ids: { plain: number; expired: number; flaky: number; skipped: number };
  acknowledged: number[];
}

/**
 * A clean run, driven through the store: `plain` runs once; `expired` loses its first lease (its
 * holder died after 'B') and runs again; `flaky` fails once and is retried; `skipped` skips.
 */
async function cleanRun(dir: ReturnType<typeof tempDir>): Promise<Fixture> {
  const db = dir.file('c.db');
  const ledger = dir.file('ledger.log');
  writeFileSync(ledger, '');
  const clock = new ManualClock(Date.now());
  const store: SqliteStore = createSqliteStore({ path: db, clock });
  const mark = (phase: string, j: LeasedJob): void => appendFileSync(ledger, `${phase} ${j.id} ${j.token} ${j.attempt} 1\n`);
  const lease = async (name: string): Promise<LeasedJob> => {
    const [j] = await store.lease({ owner: `o-${name}`, limit: 1, ttlMs: 1_000, names: [name] });
    if (j === undefined) throw new Error(`nothing to lease for ${name}`);
    return j;
  };
  const [plain, expired, flaky, skipped] = (await store.enqueueMany(['plain', 'expired', 'flaky', 'skipped'].map((name) => ({ name, retry: 'FAST' as const })))).map((r) => r.id) as [number, number, number, number];

  let j = await lease('plain');
  await store.start([j]);
  mark('B', j);
  mark('A', j);
  await store.complete([{ id: j.id, token: j.token, result: { token: j.token } }]);

  j = await lease('expired');
  await store.start([j]);
  mark('B', j); // ... and its holder dies
  clock.advance(5_000);
  expect((await store.recoverExpired()).map((r) => r.id)).toEqual([expired]);
  j = await lease('expired');
  await store.start([j]);
  mark('B', j);
  mark('A', j);
  await store.complete([{ id: j.id, token: j.token, result: { token: j.token } }]);

  j = await lease('flaky');
  await store.start([j]);
  mark('B', j);
  mark('F', j);
  await store.fail([{ id: j.id, token: j.token, error: { name: 'Error', message: 'once', retryable: true } }]);
  clock.advance(5_000);
  j = await lease('flaky');
  await store.start([j]);
  mark('B', j);
  mark('A', j);
  await store.complete([{ id: j.id, token: j.token, result: { token: j.token } }]);

  j = await lease('skipped');
  await store.start([j]);
  mark('B', j);
  mark('S', j);
  await store.skip([{ id: j.id, token: j.token, reason: 'no' }]);
  await store.close();
  return { db, ledger, ids: { plain, expired, flaky, skipped }, acknowledged: [plain, expired, flaky, skipped] };
}

/** Runs `sql` on the fixture's database (raw: the history table has no guard). */
function forge(db: string, sql: string, ...params: unknown[]): void {
  const store = createSqliteStore({ path: db });
  store.database.prepare(sql).run(...params);
  void store.close();
}

describe('chaos checker', () => {
  it('passes a clean run and counts it', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    const report = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: f.acknowledged, kills: 1, staleRejected: 0 });
    expect(report.violations).toEqual([]);
    expect(report.counts).toMatchObject({ jobs: 4, acknowledged: 4, executions: 6, duplicates: 1, maxExecutions: 2, droppedResults: 0, lost: 0, leases: 6, leaseExpired: 1, failures: 1 });
    expect(report.counts.byState).toEqual({ done: 3, skipped: 1 });
    expect(formatReport('clean', report)).toContain('| duplicates | 1 |');
  });

  it('I1: an acknowledged id that does not exist, and a job left unfinished', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    const store = createSqliteStore({ path: f.db });
    const { id: left } = await store.enqueue({ name: 'neverRun' });
    await store.close();
    const report = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: [...f.acknowledged, left, 999_999] });
    expect(report.byInvariant).toEqual({ I1: 2 });
    expect(report.counts.lost).toBe(2);
  });

  it('I2: a second terminal transition in a history', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    forge(f.db, "INSERT INTO job_events (job_id, seq, at, event, from_state, to_state, attempt, lease_token, owner) VALUES (?, 99, 0, 'SUCCEED', 'done', 'done', 1, 1, 'x')", f.ids.plain);
    const report = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: f.acknowledged });
    expect(report.byInvariant.I2).toBeGreaterThanOrEqual(1);
    expect(report.violations.some((v) => v.invariant === 'I2' && v.message.includes('2 terminal transitions'))).toBe(true);
  });

  it('I3: an acknowledgement by a stale token, a result from another token, an ack of an execution that never finished', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    forge(f.db, "UPDATE job_events SET lease_token = lease_token - 1 WHERE job_id = ? AND event = 'SUCCEED'", f.ids.expired);
    forge(f.db, 'UPDATE jobs SET result = \'{"token":1}\' WHERE id = ?', f.ids.flaky);
    // The plain job's execution never reached 'after'.
    writeFileSync(f.ledger, readFileSync(f.ledger, 'utf8').replace(new RegExp(`^A ${f.ids.plain} .*\\n`, 'm'), ''));
    const report = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: f.acknowledged });
    const i3 = report.violations.filter((v) => v.invariant === 'I3');
    expect([...new Set(i3.map((v) => v.jobId))].sort()).toEqual([f.ids.plain, f.ids.expired, f.ids.flaky].sort());
    // The forged SUCCEED token, and the two results that no longer match their SUCCEED's token.
    expect(report.counts.staleWritesInHistory).toBe(3);
  });

  it('I4: a second lease while the first has not ended', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    forge(f.db, "DELETE FROM job_events WHERE job_id = ? AND event = 'LEASE_EXPIRED'", f.ids.expired);
    const report = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: f.acknowledged });
    expect(report.violations.some((v) => v.invariant === 'I4' && v.jobId === f.ids.expired && v.message.includes('had not ended'))).toBe(true);
  });

  it('I5: a token executed twice, an execution with a token never granted, more executions than attempts', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    appendFileSync(f.ledger, `B ${f.ids.plain} 1 1 1\nB ${f.ids.skipped} 7 1 1\n`);
    const report = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: f.acknowledged });
    const i5 = report.violations.filter((v) => v.invariant === 'I5').map((v) => v.message);
    expect(i5.some((m) => m.includes('token 1 executed 2 times'))).toBe(true);
    expect(i5.some((m) => m.includes('never leased with'))).toBe(true);
    expect(i5.some((m) => m.includes('more than 1 + 0 returns to the queue'))).toBe(true);
  });

  it('I6: a corrupt database; LEDGER: malformed lines', async () => {
    using dir = tempDir();
    const f = await cleanRun(dir);
    appendFileSync(f.ledger, 'garbage\n');
    const ledgerOnly = await checkRun({ dbPath: f.db, ledgerPath: f.ledger, acknowledged: f.acknowledged });
    expect(ledgerOnly.byInvariant).toEqual({ LEDGER: 1 });

    const store = createSqliteStore({ path: f.db });
    await store.enqueueMany(Array.from({ length: 2_000 }, (_, i) => ({ name: 'pad', payload: { i, pad: 'x'.repeat(200) } })));
    store.database.pragma('wal_checkpoint(TRUNCATE)');
    await store.close();
    const bytes = readFileSync(f.db);
    for (let i = 8 * 4096; i < 12 * 4096; i++) bytes[i] = (i * 7) & 0xff;
    writeFileSync(f.db, bytes);
    const report = await checkRun({ dbPath: f.db, acknowledged: f.acknowledged, requireAllTerminal: false });
    expect(report.ok).toBe(false);
    expect(report.byInvariant.I6).toBe(1);
  });
});
