/**
 * Store benchmark (tinybench): enqueue (single, batch of 1000) and lease+complete in batches of
 * 1, 10 and 100, each beside the raw better-sqlite3 ceiling measured in the same run on the same
 * disk: one INSERT per transaction, and one claim `UPDATE … RETURNING` plus one ack `UPDATE` per
 * batch, on a minimal table without history, triggers or fencing (under FULL, the claim commits
 * without fsync and the ack with it, as leasehold's own lease and ack do).
 *
 * lease+complete also stands beside a second raw figure, "raw + history": the same table doing
 * what the job lifecycle requires at the least — three state changes per job (claim, start, ack)
 * with one history row each, written by a trigger in the same transaction — and nothing else (no
 * guard, no fencing, no attempts, no policy). It is the floor that per-transition history sets.
 *
 * Every task runs in `--rounds` rounds (3 by default); rows give medians (see below).
 *
 *   npm run bench:store            # full run (about three minutes)
 *   npm run bench:store -- --quick # smoke run
 */
import Database from 'better-sqlite3';
import { Bench } from 'tinybench';
import { createSqliteStore, type SqliteStore } from '../src/store/sqlite-store.js';
import type { LeasedJob } from '../src/store/store.js';
import { benchArgs, OUT_FLAG, publish, QUICK_FLAG, roundsArg, roundsFlag, roundsRow, type BenchRow } from './report.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

type Sync = 'NORMAL' | 'FULL';

const args = benchArgs({ usage: 'npm run bench:store -- [flags]', flags: { quick: QUICK_FLAG, out: OUT_FLAG, rounds: roundsFlag(3) } });
const quick = args.has('quick');
const outDir = args.text('out');
const TIME_MS = quick ? 60 : 700;
const dir = mkdtempSync(join(tmpdir(), 'leasehold-bench-'));
let files = 0;
const file = () => join(dir, `b${files++}.db`);

/** The raw ceiling: a minimal queue table on better-sqlite3; `history`: with a start and a history row per state change. */
function rawQueue(sync: Sync, history = false) {
  const db = new Database(file());
  db.pragma('journal_mode = WAL');
  db.pragma(`synchronous = ${sync}`);
  db.exec(`CREATE TABLE q (id INTEGER PRIMARY KEY, state INTEGER NOT NULL, run_at INTEGER NOT NULL, owner TEXT, token INTEGER NOT NULL DEFAULT 0, payload TEXT NOT NULL, events INTEGER NOT NULL DEFAULT 0);
           CREATE INDEX q_due ON q (run_at, id) WHERE state = 0;`);
  if (history) {
    db.exec(`CREATE TABLE h (job_id INTEGER NOT NULL, seq INTEGER NOT NULL, at INTEGER NOT NULL, from_state INTEGER NOT NULL, to_state INTEGER NOT NULL, token INTEGER NOT NULL, owner TEXT,
                             PRIMARY KEY (job_id, seq)) WITHOUT ROWID;
             CREATE TRIGGER q_history AFTER UPDATE OF state ON q BEGIN
               INSERT INTO h VALUES (NEW.id, NEW.events, unixepoch('subsec') * 1000, OLD.state, NEW.state, NEW.token, NEW.owner);
             END;`);
  }
  const insert = db.prepare('INSERT INTO q (state, run_at, payload) VALUES (0, ?, ?)');
  const claim = db.prepare(
    `UPDATE q SET state = 1, owner = ?, token = token + 1, events = events + 1 WHERE id IN (SELECT id FROM q WHERE state = 0 AND run_at <= ? ORDER BY run_at, id LIMIT ?) RETURNING id, token, payload`,
  );
  const start = db.prepare('UPDATE q SET state = 3, events = events + 1 WHERE id IN (SELECT value ->> 0 FROM json_each(?)) AND state = 1');
  const ack = db.prepare(`UPDATE q SET state = 2, events = events + 1 WHERE id IN (SELECT value ->> 0 FROM json_each(?)) AND state = ${history ? 3 : 1}`);
  const insertOne = db.transaction((p: string) => insert.run(Date.now(), p));
  const insertMany = db.transaction((n: number, p: string) => {
    for (let i = 0; i < n; i++) insert.run(Date.now(), p);
  });
  // Under FULL, leasehold commits a lease without waiting for the disk and an ack with it (see
  // SqliteStore#write): the ceiling does the same, so that the ratio compares like with like.
  const syncFor = (durable: boolean): void => {
    if (sync === 'FULL') db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
  };
  const claimOnly = db.transaction((n: number) => claim.all('raw', Date.now(), n) as Array<{ id: number; token: number }>);
  const ackOnly = db.transaction((rows: Array<{ id: number; token: number }>) => {
    const items = JSON.stringify(rows.map((r) => [r.id, r.token]));
    if (history) start.run(items);
    ack.run(items);
  });
  const claimTx = (n: number): Array<{ id: number; token: number }> => {
    syncFor(false);
    return claimOnly(n);
  };
  const ackTx = (rows: Array<{ id: number; token: number }>): void => {
    syncFor(true);
    ackOnly(rows);
  };
  return { db, insertOne, insertMany, claimTx, ackTx };
}

const payload = { to: 'someone@example.com', n: 42 };
const payloadText = JSON.stringify(payload);
const rows: BenchRow[] = [];
const bench = new Bench({ time: TIME_MS, warmupTime: quick ? 10 : 100 });
const perOp = new Map<string, number>();

type Hook = () => void | Promise<void>;

function add(name: string, jobsPerOp: number, fn: () => unknown, hooks: { beforeEach?: Hook } = {}): void {
  perOp.set(name, jobsPerOp);
  const task: Hook = async () => {
    await fn();
  };
  bench.add(name, task, hooks.beforeEach ? { beforeEach: hooks.beforeEach } : {});
}

const stores: SqliteStore[] = [];
const raws: Array<ReturnType<typeof rawQueue>> = [];

for (const sync of ['NORMAL', 'FULL'] as const) {
  const store = createSqliteStore({ path: file(), synchronous: sync });
  const raw = rawQueue(sync);
  stores.push(store);
  raws.push(raw);
  add(`enqueue single ${sync}`, 1, () => store.enqueue({ name: 'sendEmail', payload }));
  add(`raw enqueue single ${sync}`, 1, () => raw.insertOne(payloadText));
  const batch = Array.from({ length: 1_000 }, (_, i) => ({ name: 'sendEmail', payload: { ...payload, i } }));
  add(`enqueueMany 1000 ${sync}`, 1_000, () => store.enqueueMany(batch));
  add(`raw enqueue 1000 ${sync}`, 1_000, () => raw.insertMany(1_000, payloadText));
}

for (const sync of ['NORMAL', 'FULL'] as const) {
  for (const size of [1, 10, 100]) {
    const store = createSqliteStore({ path: file(), synchronous: sync });
    stores.push(store);
    let storeLeft = 0;
    const refill = 20_000;
    add(
      `lease+complete x${size} ${sync}`,
      size,
      async () => {
        const jobs: LeasedJob[] = await store.lease({ owner: 'bench', limit: size, ttlMs: 30_000 });
        storeLeft -= jobs.length;
        await store.settle({ start: jobs, complete: jobs.map((j) => ({ id: j.id, token: j.token, resultText: 'null' })) });
      },
      {
        beforeEach: async () => {
          if (storeLeft < size) {
            await store.enqueueMany(Array.from({ length: refill }, () => ({ name: 'sendEmail', payload })));
            storeLeft += refill;
          }
        },
      },
    );
    for (const [name, history] of [[`raw claim+ack x${size} ${sync}`, false], [`raw+history claim+start+ack x${size} ${sync}`, true]] as const) {
      const raw = rawQueue(sync, history);
      raws.push(raw);
      let rawLeft = 0;
      add(
        name,
        size,
        () => {
          const got = raw.claimTx(size);
          rawLeft -= got.length;
          raw.ackTx(got);
        },
        {
          beforeEach: () => {
            if (rawLeft < size) {
              raw.insertMany(refill, payloadText);
              rawLeft += refill;
            }
          },
        },
      );
    }
  }
}

// Rounds: the whole set of tasks runs `rounds` times (subjects and ceilings interleaved within a
// round); a row gives the median of each, and the median of the per-round ratios with its range.
const rounds = roundsArg(args, quick);
const rates = new Map<string, number[]>();
for (let round = 0; round < rounds; round++) {
  if (round > 0) bench.reset();
  await bench.run();
  for (const name of perOp.keys()) {
    const task = bench.getTask(name);
    const r = task?.result;
    if (r === undefined || !('throughput' in r)) throw new Error(`${name}: ${r?.state ?? 'missing'}${r && 'error' in r ? `: ${String(r.error)}` : ''}`);
    rates.set(name, [...(rates.get(name) ?? []), r.throughput.mean * (perOp.get(name) ?? 1)]);
  }
}

for (const sync of ['NORMAL', 'FULL'] as const) {
  for (const [ours, raw, label] of [
    [`enqueue single ${sync}`, `raw enqueue single ${sync}`, 'enqueue (single, one transaction each)'],
    [`enqueueMany 1000 ${sync}`, `raw enqueue 1000 ${sync}`, 'enqueueMany (batch of 1000)'],
    [`lease+complete x1 ${sync}`, `raw claim+ack x1 ${sync}`, 'lease+complete, batch 1'],
    [`lease+complete x10 ${sync}`, `raw claim+ack x10 ${sync}`, 'lease+complete, batch 10'],
    [`lease+complete x100 ${sync}`, `raw claim+ack x100 ${sync}`, 'lease+complete, batch 100'],
  ] as const) {
    const compare = (baselineTask: string, variant: string, baselineName: string): void => {
      rows.push(roundsRow({ scenario: label, variant, unit: 'jobs/s', baselineName }, rates.get(ours) ?? [], rates.get(baselineTask) ?? []));
    };
    compare(raw, `synchronous=${sync}`, 'raw better-sqlite3');
    if (ours.startsWith('lease+complete')) {
      compare(raw.replace('raw claim+ack', 'raw+history claim+start+ack'), `synchronous=${sync}, vs raw + history`, 'raw better-sqlite3 + history rows');
    }
  }
}

for (const s of stores) await s.close();
for (const r of raws) r.db.close();
rmSync(dir, { recursive: true, force: true });
publish(quick ? 'store-smoke' : 'store', rows, { timeMsPerTask: TIME_MS, rounds }, outDir);
