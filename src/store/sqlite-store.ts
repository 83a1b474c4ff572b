/**
 * `SqliteStore`: the {@link Store} contract on one SQLite file, with better-sqlite3.
 *
 * Durability and concurrency: WAL journal; `synchronous` FULL by default (every enqueue and ack
 * survives power loss; commits of leases, starts, progress and heartbeats wait for the next synced
 * one, see `#write`) or NORMAL (it survives a process crash, not a power loss);
 * `busy_timeout` so that several processes can share the file; every write runs in a
 * `BEGIN IMMEDIATE` transaction (a deferred one would fail at once with SQLITE_BUSY_SNAPSHOT
 * when a read-then-write tries to upgrade).
 *
 * The job machine decides every state. The hot paths — `lease`, `start`, `complete`, `skip`,
 * `heartbeat` — are one set-based statement each over a JSON batch, with their from-states and
 * target taken from the compiled machine (`src/job-lifecycle.ts`). Guarded events — `FAIL`,
 * `LEASE_EXPIRED`, `CANCEL`, `RETRY`, `PAUSE`, `DEPS_DONE`, `DEP_FAILED` — read the row inside
 * the transaction, ask the compiled machine, and write through one generic UPDATE with the fence
 * repeated in its WHERE. Behind both, the database's own triggers refuse any state change the
 * machine does not contain and write its history entry in the same statement.
 *
 * Enqueue group commit: `enqueue()` calls made in the same turn of the event loop (up to its next
 * check phase: every timer, I/O callback and microtask in between) are written in one transaction
 * (one fsync under FULL), each in its own savepoint so one caller's failure touches no other.
 */
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import Database from 'better-sqlite3';
import type { Database as Db, Statement } from 'better-sqlite3';
import type { Logger } from 'pino';
import { systemClock, type Clock } from '../clock.js';
import {
  leaseRequestSchema,
  listFilterSchema,
  parseOrThrow,
  pruneOptionsSchema,
  retryManySchema,
  sqliteStoreOptionsSchema,
  type JobInput,
  type SqliteStoreOptions,
} from '../config.js';
import { LeaseholdError, serializeError, type SerializedError } from '../errors.js';
import { crashPoint } from '../faults.js';
import { encodeJson, MAX_PAYLOAD_BYTES_DEFAULT } from '../json.js';
import { invalidTransition, jobLifecycle, statesHandling, unconditionalTarget } from '../job-lifecycle.js';
import { resolveJobPolicies, type JobPolicies } from '../policies/job-policies.js';
import { retryDelayMs, type Random, type RetryPolicy } from '../policies/retry-policy.js';
import { JOB_STATES, LEASED_STATES, type JobContext, type JobEvent, type JobState } from '../../machines/job.machine.js';
import { prepareJob, prepareJobs, type NewJob } from './new-job.js';
import { MIGRATIONS, SCHEMA_VERSION } from './sqlite/schema.js';
import { priorityName, toHistory, toJobRecord, type EventRow, type JobRow } from './sqlite/rows.js';
import { CHECKPOINT_INTERVAL_MS, Checkpointer } from './sqlite/checkpointer.js';
import { LeaseMap } from './lease-map.js';
import type {
  CompleteItem,
  EnqueuedJob,
  FailItem,
  HeartbeatResult,
  JobDetail,
  JobId,
  JobPage,
  LeaseRef,
  LeaseRequest,
  LeasedJob,
  ListFilter,
  Outcome,
  PendingFilter,
  ProgressItem,
  PruneOptions,
  RecoveredJob,
  RetryMany,
  SettleBatch,
  SettleResult,
  SkipItem,
  Store,
  StoreStats,
} from './store.js';

/** Default of `busyTimeoutMs`. */
export const BUSY_TIMEOUT_MS_DEFAULT = 5_000;
/** Default of `synchronous`. */
export const SYNCHRONOUS_DEFAULT = 'FULL';
/** How many expired leases one `recoverExpired` call returns at most, by default. */
export const RECOVER_LIMIT_DEFAULT = 1_000;
/** How often a lease over every queue re-reads the queue registry. */
export const QUEUE_REGISTRY_REFRESH_MS = 1_000;
/** The most queues one lease statement names (SQLite's compound SELECT limit); more are leased in chunks. */
export const MAX_LEASE_QUEUES = 500;

/** Rows per multi-row INSERT of `enqueueMany` (13 bound values each, well under SQLite's 32,766). */
const INSERT_CHUNK = 64;
/** Write transactions after which the checkpoint thread starts (a store used for one command never starts it). */
const CHECKPOINT_THREAD_AFTER_WRITES = 50;

const sqlList = (values: readonly string[]): string => values.map((v) => `'${v.replace(/'/g, "''")}'`).join(', ');

/**
 * The due jobs of `queueCount` queues (`@q0`…) and `nameCount` handler names (`@n0`…): one
 * scan of `jobs_due` per queue, each already in lease order and stopping at `@limit` (the name
 * filter is answered from the index), merged and cut to `@limit`. Values are bound, never spliced.
 */
function candidatesSql(queueCount: number, nameCount: number, columns: string): string {
  const from = stateIn(statesHandling('LEASE'));
  const names = nameCount === 0 ? '' : `AND name IN (${Array.from({ length: nameCount }, (_, i) => `@n${i}`).join(', ')})`;
  const branch = (i: number, cols: string) =>
    `SELECT ${cols} FROM jobs INDEXED BY jobs_due
     WHERE ${from} AND queue = @q${i} AND run_at <= @now ${names}
     ORDER BY priority, run_at, id LIMIT @limit`;
  if (queueCount === 1) return branch(0, columns);
  return `SELECT ${columns} FROM (${Array.from({ length: queueCount }, (_, i) => `SELECT * FROM (${branch(i, 'id, priority, run_at')})`).join(' UNION ALL ')})
          ORDER BY priority, run_at, id LIMIT @limit`;
}

/**
 * The LEASE write. `attempts + 1` is the job machine's `countAttempt` update of LEASE; the store
 * contract tests check the row's attempts against the machine's context after every event.
 * It returns only what it changed, as raw rows: every RETURNING column is buffered by SQLite and
 * made into a JS value per row, and the rest of the job is read in one query with its payload
 * (`bench/store.bench.ts`: about a quarter of the lease's cost).
 */
function leaseUpdate(where: string): string {
  return `UPDATE jobs SET state = '${unconditionalTarget('queued', 'LEASE')}', last_event = 'LEASE', events = events + 1, attempts = attempts + 1,
                 lease_owner = @owner, lease_token = lease_token + 1, lease_expires_at = @expiresAt, updated_at = @now
          ${where}
          RETURNING id, lease_token, attempts, name, queue, priority, max_attempts, escalate_after, on_dep_failure, timeout_ms, run_at, created_at,
                    (SELECT payload FROM job_payloads WHERE job_id = jobs.id)`;
}

/** `state = 'x'` for one state (so that partial indexes on `state = 'x'` apply), else `state IN (...)`. */
const stateIn = (states: readonly string[], column = 'state'): string =>
  states.length === 1 ? `${column} = ${sqlList(states)}` : `${column} IN (${sqlList(states)})`;

const LEASED_SQL = stateIn(LEASED_STATES);

/** What SUCCEED writes besides the state. */
const COMPLETE_SETS = 'result = r.extra, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL';

/** A prepared, fenced, unconditional transition over a JSON batch. */
interface FencedBatch {
  readonly stmt: Statement;
  readonly event: JobEvent['type'];
  readonly to: JobState;
}

interface PendingEnqueue {
  readonly job: NewJob;
  readonly resolve: (job: EnqueuedJob) => void;
  readonly reject: (error: unknown) => void;
}

type GuardRow = Pick<JobRow, 'id' | 'state' | 'lease_token' | 'lease_owner' | 'attempts' | 'max_attempts' | 'escalate_after' | 'pending_deps' | 'on_dep_failure' | 'events'> & {
  escalated_to: number | null;
};

type FailRow = GuardRow & Pick<JobRow, 'escalate_to' | 'policy' | 'name' | 'queue' | 'priority' | 'timeout_ms'>;

/** A validated lease request. */
type ParsedLeaseRequest = { readonly owner: string; readonly limit: number; readonly ttlMs: number; readonly queue?: string | readonly string[] | undefined; readonly names?: readonly string[] | undefined };

/**
 * What the LEASE write returns, as a raw row: what the lease changed, then the rest of the job
 * with its payload (one statement: reading them in a second one cost a statement per pump).
 */
type LeaseRow = [
  id: number,
  token: number,
  attempts: number,
  name: string,
  queue: string,
  priority: number,
  maxAttempts: number,
  escalateAfter: number | null,
  onDepFailure: JobRow['on_dep_failure'],
  timeoutMs: number | null,
  runAt: number,
  createdAt: number,
  payload: string | null,
];

/** The state the job machine gives a new job on ENQUEUE, with `pendingDeps` unfinished dependencies. */
function enqueuedState(job: NewJob, pendingDeps: number): JobState {
  const context: JobContext = { attempts: 0, maxAttempts: job.retry.maxAttempts, escalateAfter: job.escalateAfter, pendingDeps, onDepFailure: job.onDepFailure };
  const created = jobLifecycle.next(jobLifecycle.initialState, context, { type: 'ENQUEUE' });
  if (created === undefined) throw new Error('job machine: ENQUEUE is not handled in the initial state');
  return created.state;
}

function contextOf(row: GuardRow): JobContext {
  return {
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    escalateAfter: row.escalate_after,
    pendingDeps: row.pending_deps,
    onDepFailure: row.on_dep_failure,
  };
}

function emptyCounts(): Record<JobState, number> {
  return Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
}

/**
 * Opens (creating if needed) a SQLite job store.
 *
 * @example
 * const store = createSqliteStore({ path: './jobs.db' });
 * const { id } = await store.enqueue({ name: 'sendEmail', payload: { to: 'a@b.c' } });
 * const [job] = await store.lease({ owner: 'me', limit: 1, ttlMs: 30_000 });
 * await store.start([job]);
 * await store.complete([{ id: job.id, token: job.token, result: { sent: true } }]);
 */
export function createSqliteStore(options: SqliteStoreOptions): SqliteStore {
  return new SqliteStore(options);
}

/** The SQLite {@link Store}. Create it with {@link createSqliteStore}. */
export class SqliteStore implements Store {
  readonly description: string;
  /** The `synchronous` mode in force. */
  readonly synchronous: 'FULL' | 'NORMAL';
  /** Under FULL: whether the connection's `synchronous` is FULL right now (see `#write`). */
  #syncingEachCommit = true;
  #checkpointer: Checkpointer | undefined;
  /**
   * Write transactions committed, counted up to the checkpoint thread's start; set to the limit
   * at once when no thread is wanted (`checkpoint: 'inline'`, or a database without a WAL).
   */
  #writes = 0;
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #policies: JobPolicies;
  readonly #maxPayloadBytes: number;
  #closed = false;
  #connectionId: number | undefined;
  readonly #logger: Logger | undefined;
  #pending: PendingEnqueue[] = [];
  #flushScheduled = false;
  /** Interned policies: spec → id, and id → policy. Entries interned by an open transaction wait in #newPolicies until it commits. */
  readonly #policyIds = new Map<string, number>();
  readonly #policyById = new Map<number, RetryPolicy>();
  #newPolicies: Array<[string, number]> = [];
  #queues: string[] | undefined;
  #queuesReadAt = 0;

  readonly #s: ReturnType<SqliteStore['prepareStatements']>;
  readonly #candidateStatements = new Map<string, Statement>();
  readonly #insertChunkStatements = new Map<number, { jobs: Statement; payloads: Statement }>();
  readonly #start: FencedBatch;
  readonly #complete: FencedBatch;
  /** START and SUCCEED in one write, for jobs whose start and result are settled together. */
  readonly #startComplete: FencedBatch;
  readonly #skip: FencedBatch;

  constructor(options: SqliteStoreOptions) {
    const opts = parseOrThrow(sqliteStoreOptionsSchema, options, 'options');
    this.#clock = opts.clock ?? systemClock;
    this.#random = opts.random ?? Math.random;
    this.#policies = resolveJobPolicies(opts.retry, opts.escalate);
    this.#maxPayloadBytes = opts.maxPayloadBytes ?? MAX_PAYLOAD_BYTES_DEFAULT;
    this.synchronous = opts.synchronous ?? SYNCHRONOUS_DEFAULT;
    this.description = `sqlite:${opts.path}`;
    this.#logger = opts.logger;

    try {
      this.#db = new Database(opts.path);
    } catch (error) {
      const mapped = this.#mapError(error);
      if (mapped !== error) throw mapped;
      const message = error instanceof Error ? error.message : String(error);
      throw new LeaseholdError('ERR_INVALID_OPTION', `options.path cannot be opened as a database: ${message} (got ${JSON.stringify(opts.path)})`, {
        field: 'options.path',
        value: opts.path,
        cause: error,
      });
    }
    try {
      this.#db.pragma(`busy_timeout = ${opts.busyTimeoutMs ?? BUSY_TIMEOUT_MS_DEFAULT}`);
      const wal = this.#db.pragma('journal_mode = WAL', { simple: true }) === 'wal';
      this.#db.pragma(`synchronous = ${this.synchronous}`);
      if (!wal || opts.checkpoint === 'inline') this.#writes = CHECKPOINT_THREAD_AFTER_WRITES;
      // The hot statements' transient B-trees (`IN (subquery)`, `UPDATE … FROM`, RETURNING) stay
      // in memory: on a temp file each costs a pager of its own, most of an empty lease's time.
      this.#db.pragma('temp_store = MEMORY');
      this.#checkAfterCrash(opts.path, opts.integrityCheck ?? 'auto');
      this.#migrate(opts.path);
      this.#syncTransitions();
      this.#register();
      this.#s = this.prepareStatements();
    } catch (error) {
      this.#db.close();
      throw this.#mapError(error);
    }
    this.#start = this.#fencedBatch('START', 'started_at = @now');
    this.#complete = this.#fencedBatch('SUCCEED', COMPLETE_SETS);
    this.#startComplete = this.#fencedBatch('SUCCEED', `started_at = @now, ${COMPLETE_SETS}`, true);
    this.#skip = this.#fencedBatch('SKIP', 'skip_reason = r.extra, finished_at = @now, lease_owner = NULL, lease_expires_at = NULL');
  }

  /** Prepares every fixed statement once. (Public only so its return type can name the set.) */
  private prepareStatements() {
    const db = this.#db;
    return {
      begin: db.prepare('BEGIN IMMEDIATE'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
      savepoint: db.prepare('SAVEPOINT item'),
      releaseSavepoint: db.prepare('RELEASE item'),
      rollbackSavepoint: db.prepare('ROLLBACK TO item'),
      insertJob: db.prepare(
        `INSERT INTO jobs (queue, name, key, state, priority, run_at, created_at, updated_at, max_attempts, policy,
                           timeout_ms, pending_deps, on_dep_failure, escalate_after, escalate_to, escalated_from, last_event)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ENQUEUE')
         ON CONFLICT (key) WHERE key IS NOT NULL DO NOTHING`,
      ),
      insertPayload: db.prepare('INSERT INTO job_payloads (job_id, payload) VALUES (?, ?)'),
      registerQueue: db.prepare('INSERT OR IGNORE INTO queues (name) VALUES (?)'),
      allQueues: db.prepare('SELECT name FROM queues ORDER BY name').pluck(),
      internPolicy: db.prepare('INSERT INTO policies (spec) VALUES (?) ON CONFLICT (spec) DO UPDATE SET spec = spec RETURNING id').pluck(),
      policyById: db.prepare('SELECT spec FROM policies WHERE id = ?').pluck(),
      jobByKey: db.prepare('SELECT id, name, queue, state, key FROM jobs WHERE key = ?'),
      insertDep: db.prepare('INSERT OR IGNORE INTO job_deps (job_id, depends_on) VALUES (?, ?)'),
      anyDeps: db.prepare('SELECT 1 FROM job_deps LIMIT 1').pluck(),
      guardRow: db.prepare(
        `SELECT id, state, lease_token, lease_owner, attempts, max_attempts, escalate_after, pending_deps, on_dep_failure, events, escalated_to
         FROM jobs WHERE id = ?`,
      ),
      failRow: db.prepare(
        `SELECT id, state, lease_token, lease_owner, attempts, max_attempts, escalate_after, pending_deps, on_dep_failure, events, escalated_to,
                escalate_to, policy, name, queue, priority, timeout_ms
         FROM jobs WHERE id = ?`,
      ),
      fullRow: db.prepare('SELECT * FROM jobs WHERE id = ?'),
      payloadOf: db.prepare('SELECT payload FROM job_payloads WHERE job_id = ?').pluck(),
      eventsOf: db.prepare('SELECT * FROM job_events WHERE job_id = ? ORDER BY seq'),
      depsOf: db.prepare('SELECT depends_on FROM job_deps WHERE job_id = ? ORDER BY depends_on').pluck(),
      classify: db.prepare('SELECT state, lease_token FROM jobs WHERE id = ?'),
      heartbeat: db
        .prepare(
          `UPDATE jobs SET lease_expires_at = @expiresAt
           FROM (SELECT value ->> 0 AS id, value ->> 1 AS token FROM json_each(@refs)) AS r
           WHERE jobs.id = r.id AND jobs.lease_token = r.token AND jobs.${LEASED_SQL}
           RETURNING jobs.id, jobs.lease_token`,
        )
        .raw(),
      leaseByIds: db.prepare(leaseUpdate(`WHERE id IN (SELECT value FROM json_each(@ids)) AND ${stateIn(statesHandling('LEASE'))}`)).raw(),
      progress: db
        .prepare(
          `UPDATE jobs SET progress = r.progress
           FROM (SELECT value ->> 0 AS id, value ->> 1 AS token, value ->> 2 AS progress FROM json_each(@items)) AS r
           WHERE jobs.id = r.id AND jobs.lease_token = r.token AND jobs.${LEASED_SQL}
           RETURNING jobs.id, jobs.lease_token, jobs.state`,
        )
        .raw(),
      // The one generic guarded write: every guarded event goes through here, fenced on the state
      // and token read in the same transaction.
      setState: db.prepare(
        `UPDATE jobs SET state = @to, last_event = @event, events = events + 1, updated_at = @now,
                attempts = @attempts, pending_deps = @pendingDeps,
                run_at = COALESCE(@runAt, run_at), last_error = COALESCE(@error, last_error),
                finished_at = @finishedAt, escalated_to = COALESCE(@escalatedTo, escalated_to),
                lease_owner = CASE WHEN @keepLease THEN lease_owner END,
                lease_expires_at = CASE WHEN @keepLease THEN lease_expires_at END,
                result = CASE WHEN @clearOutcome THEN NULL ELSE result END,
                skip_reason = CASE WHEN @clearOutcome THEN NULL ELSE skip_reason END
         WHERE id = @id AND state = @from AND lease_token = @token`,
      ),
      expired: db.prepare(
        `SELECT id, state, lease_token, lease_owner, attempts, max_attempts, escalate_after, pending_deps, on_dep_failure, events, escalated_to, lease_expires_at
         FROM jobs INDEXED BY jobs_leases WHERE ${LEASED_SQL} AND lease_expires_at <= ? ORDER BY lease_expires_at LIMIT ?`,
      ),
      recoverRow: db.prepare(
        `UPDATE jobs SET state = @to, last_event = 'LEASE_EXPIRED', events = events + 1, updated_at = @now, attempts = @attempts,
                last_error = @error, run_at = @now, finished_at = @finishedAt, lease_owner = NULL, lease_expires_at = NULL
         WHERE id = @id AND state = @from AND lease_token = @token AND lease_expires_at <= @now`,
      ),
      releaseDeps: db.prepare(
        `UPDATE jobs SET pending_deps = pending_deps - (
             SELECT count(*) FROM job_deps d WHERE d.job_id = jobs.id AND d.depends_on IN (SELECT value FROM json_each(@ids)))
         WHERE id IN (SELECT job_id FROM job_deps WHERE depends_on IN (SELECT value FROM json_each(@ids))) AND state = 'blocked'
         RETURNING id, pending_deps`,
      ),
      blockedDependents: db
        .prepare(
          `SELECT j.id FROM job_deps d JOIN jobs j ON j.id = d.job_id
           WHERE d.depends_on IN (SELECT value FROM json_each(?)) AND j.state = 'blocked'`,
        )
        .pluck(),
      repointDeps: db.prepare('UPDATE OR IGNORE job_deps SET depends_on = @to WHERE depends_on = @from'),
      danglingDeps: db.prepare('SELECT job_id FROM job_deps WHERE depends_on = ?').pluck(),
      dropDeps: db.prepare('DELETE FROM job_deps WHERE depends_on = ?'),
      decrementPending: db.prepare('UPDATE jobs SET pending_deps = max(pending_deps - 1, 0) WHERE id = ?'),
      countUnfinishedDeps: db
        .prepare(`SELECT count(*) FROM job_deps d JOIN jobs j ON j.id = d.depends_on WHERE d.job_id = ? AND j.state <> 'done'`)
        .pluck(),
      escalatedFrom: db.prepare('SELECT escalated_from FROM jobs WHERE id = ?').pluck(),
      escalatedTo: db.prepare('SELECT escalated_to FROM jobs WHERE id = ?').pluck(),
      pendingCount: db
        .prepare(
          `SELECT (SELECT count(*) FROM jobs INDEXED BY jobs_due WHERE state = 'queued'
                     AND (@queues IS NULL OR queue IN (SELECT value FROM json_each(@queues)))
                     AND (@names IS NULL OR name IN (SELECT value FROM json_each(@names))))
                + (SELECT count(*) FROM jobs INDEXED BY jobs_blocked WHERE state = 'blocked'
                     AND (@queues IS NULL OR queue IN (SELECT value FROM json_each(@queues)))
                     AND (@names IS NULL OR name IN (SELECT value FROM json_each(@names))))
                + (SELECT count(*) FROM jobs INDEXED BY jobs_leases WHERE ${LEASED_SQL}
                     AND (@queues IS NULL OR queue IN (SELECT value FROM json_each(@queues)))
                     AND (@names IS NULL OR name IN (SELECT value FROM json_each(@names))))`,
        )
        .pluck(),
      stateCounts: db.prepare('SELECT state, queue, count(*) AS n FROM jobs GROUP BY state, queue'),
      oldestDue: db.prepare("SELECT min(run_at) FROM jobs INDEXED BY jobs_due WHERE state = 'queued' AND queue = ? AND priority = ? AND run_at <= ?").pluck(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // Opening

  #migrate(path: string): void {
    const db = this.#db;
    const readVersion = (): number => db.pragma('user_version', { simple: true }) as number;
    const found = readVersion();
    if (found > SCHEMA_VERSION) {
      throw new LeaseholdError(
        'ERR_SCHEMA_TOO_NEW',
        `${path} has schema version ${found}, newer than ${SCHEMA_VERSION}, the newest this leasehold knows: upgrade leasehold to open it`,
        { field: 'path', value: path },
      );
    }
    for (const migration of MIGRATIONS) {
      db.transaction(() => {
        // Re-read inside the write lock: another process may have migrated meanwhile.
        if (readVersion() >= migration.version) return;
        db.exec(migration.sql);
        db.pragma(`user_version = ${migration.version}`);
      }).immediate();
    }
  }

  /**
   * Before touching the schema: if a process that had this file open died without closing it (or
   * `integrityCheck: 'always'`), run `PRAGMA quick_check`, log the result, and refuse the file if
   * it is not ok. Best effort: a dead process's pid reused by a live one hides its crash.
   */
  #checkAfterCrash(path: string, mode: 'auto' | 'always' | 'never'): void {
    if (mode === 'never') return;
    const db = this.#db;
    const hasRegistry = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'connections'").get() !== undefined;
    const host = hostname();
    const dead = hasRegistry
      ? (db.prepare('SELECT id, pid FROM connections WHERE host = ?').all(host) as Array<{ id: number; pid: number }>).filter((c) => !processAlive(c.pid))
      : [];
    if (dead.length === 0 && mode !== 'always') return;
    const started = performance.now();
    const result = (db.pragma('quick_check') as Array<{ quick_check: string }>).map((r) => r.quick_check);
    const ok = result.length === 1 && result[0] === 'ok';
    this.#logger?.[ok ? 'info' : 'error'](
      { path, crashedPids: dead.map((d) => d.pid), quickCheck: result.slice(0, 10), ms: Math.round(performance.now() - started) },
      dead.length > 0 ? 'the database was left open by a process that died: quick_check ran' : 'quick_check ran',
    );
    if (!ok) {
      throw new LeaseholdError('ERR_STORE_CORRUPT', `${path} failed its integrity check (${result.slice(0, 3).join('; ')}); it was not modified`, { field: 'path', value: path });
    }
    if (dead.length > 0) {
      db.transaction(() => {
        for (const d of dead) db.prepare('DELETE FROM connections WHERE id = ?').run(d.id);
      }).immediate();
    }
  }

  /** Records this connection, so that a crash can be noticed by the next open. */
  #register(): void {
    this.#connectionId = Number(
      this.#db.prepare('INSERT INTO connections (host, pid, opened_at) VALUES (?, ?, ?)').run(hostname(), process.pid, this.#clock.now()).lastInsertRowid,
    );
  }

  /** Writes the machine's transition triples into `job_transitions`, if they differ. */
  #syncTransitions(): void {
    const db = this.#db;
    const wanted = jobLifecycle.triples().map(([f, e, t]) => `${f} ${e} ${t}`).sort();
    const read = (): string[] =>
      (db.prepare('SELECT from_state, event, to_state FROM job_transitions').all() as Array<{ from_state: string; event: string; to_state: string }>)
        .map((r) => `${r.from_state} ${r.event} ${r.to_state}`)
        .sort();
    if (read().join('\n') === wanted.join('\n')) return;
    db.transaction(() => {
      db.exec('DELETE FROM job_transitions');
      const insert = db.prepare('INSERT INTO job_transitions (from_state, event, to_state) VALUES (?, ?, ?)');
      for (const [f, e, t] of jobLifecycle.triples()) insert.run(f, e, t);
    }).immediate();
  }

  /**
   * The fenced write of `event` over a JSON batch of `[id, token, extra]`. With `afterStart`, the
   * write records a START and then `event` (schema version 4: `events + 2`, both history entries):
   * it applies to the states START leaves to a state that handles `event`.
   */
  #fencedBatch(event: JobEvent['type'], extraSets: string, afterStart = false): FencedBatch {
    const from = afterStart ? statesHandling('START').filter((s) => jobLifecycle.handles(unconditionalTarget(s, 'START'), event)) : statesHandling(event);
    const targets = new Set(from.map((s) => unconditionalTarget(afterStart ? unconditionalTarget(s, 'START') : s, event)));
    if (targets.size !== 1) throw new Error(`job machine: ${afterStart ? 'START then ' : ''}${event} does not lead to one state`);
    const to = [...targets][0] as JobState;
    const stmt = this.#db.prepare(
      `UPDATE jobs SET state = '${to}', last_event = '${event}', events = events + ${afterStart ? 2 : 1}, updated_at = @now, ${extraSets}
       FROM (SELECT value ->> 0 AS id, value ->> 1 AS token, value ->> 2 AS extra FROM json_each(@items)) AS r
       WHERE jobs.id = r.id AND jobs.lease_token = r.token AND ${stateIn(from, 'jobs.state')}
       RETURNING jobs.id, jobs.lease_token`,
    );
    return { stmt: stmt.raw(), event, to };
  }

  // -------------------------------------------------------------------------------------------
  // Plumbing

  #check(): void {
    if (this.#closed) throw new LeaseholdError('ERR_STORE_CLOSED', `${this.description} is closed`);
  }

  #mapError(error: unknown): unknown {
    if (error instanceof LeaseholdError) return error;
    const code = (error as { code?: unknown }).code;
    const message = error instanceof Error ? error.message : String(error);
    if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error;
    if (code === 'SQLITE_FULL') {
      return new LeaseholdError('ERR_STORE_FULL', `${this.description}: the database or disk is full; nothing was written`, { cause: error });
    }
    if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
      return new LeaseholdError('ERR_STORE_BUSY', `${this.description}: the database stayed locked (${code}); nothing was written`, { cause: error });
    }
    if (code === 'SQLITE_CANTOPEN') {
      return new LeaseholdError('ERR_INVALID_OPTION', `${this.description}: the database file cannot be opened (${message})`, { field: 'options.path', cause: error });
    }
    if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
      return new LeaseholdError('ERR_STORE_CORRUPT', `${this.description}: the database file is corrupt or not a database (${message})`, { cause: error });
    }
    if (code === 'SQLITE_CONSTRAINT_TRIGGER' && message.includes('ERR_INVALID_TRANSITION')) {
      return new LeaseholdError('ERR_INVALID_TRANSITION', `${this.description}: the job machine does not allow this state change`, { cause: error });
    }
    return error;
  }

  /**
   * Runs `fn` in one `BEGIN IMMEDIATE` transaction, mapping SQLite errors to typed ones.
   *
   * `durable: false` (leases, starts, progress, heartbeats) commits without waiting for the disk
   * even under FULL: losing such a commit to a power cut only un-does a lease or a start (the job
   * is leased again: at-least-once), and the next durable commit syncs the WAL with it. What
   * callers are told is final — enqueues, results, failures, cancels — always waits for the disk.
   */
  #write<T>(fn: () => T, durable = true): T {
    this.#check();
    const s = this.#s;
    try {
      if (this.synchronous === 'FULL' && this.#syncingEachCommit !== durable) {
        // Not a prepared statement: SQLite applies this pragma when it is compiled.
        this.#db.pragma(`synchronous = ${durable ? 'FULL' : 'NORMAL'}`);
        this.#syncingEachCommit = durable;
      }
      s.begin.run();
    } catch (error) {
      throw this.#mapError(error);
    }
    try {
      const result = fn();
      s.commit.run();
      for (const [spec, id] of this.#newPolicies) this.#policyIds.set(spec, id);
      this.#newPolicies = [];
      if (this.#writes < CHECKPOINT_THREAD_AFTER_WRITES && ++this.#writes === CHECKPOINT_THREAD_AFTER_WRITES) this.#startCheckpointer();
      return result;
    } catch (error) {
      this.#newPolicies = [];
      if (this.#db.inTransaction) s.rollback.run();
      throw this.#mapError(error);
    }
  }

  /**
   * Hands WAL checkpoints to a thread (`Checkpointer`): their fsyncs then never stall a commit on
   * this thread. Called once, by the write that reaches CHECKPOINT_THREAD_AFTER_WRITES, so that a
   * store opened for one command does not pay for a thread.
   */
  #startCheckpointer(): void {
    try {
      this.#checkpointer = new Checkpointer(this.#db, { path: resolve(this.#db.name), intervalMs: CHECKPOINT_INTERVAL_MS, synchronous: this.synchronous }, this.#logger);
    } catch (error) {
      this.#logger?.warn({ error: error instanceof Error ? error.message : String(error) }, 'the checkpoint thread could not start; checkpoints run in commits');
    }
  }

  #read<T>(fn: () => T): T {
    this.#check();
    try {
      return fn();
    } catch (error) {
      throw this.#mapError(error);
    }
  }

  /**
   * Every queue name in the registry, read at most once a second (other processes may add
   * queues; this connection's own enqueues refresh it at once).
   */
  #knownQueues(): string[] {
    const now = this.#clock.now();
    if (this.#queues === undefined || now - this.#queuesReadAt >= QUEUE_REGISTRY_REFRESH_MS) {
      this.#queues = this.#s.allQueues.all() as string[];
      this.#queuesReadAt = now;
    }
    return this.#queues;
  }

  /** The id of an interned policy (inside a write transaction). */
  #policyId(spec: string): number {
    const known = this.#policyIds.get(spec);
    if (known !== undefined) return known;
    const id = this.#s.internPolicy.get(spec) as number;
    this.#newPolicies.push([spec, id]);
    return id;
  }

  #policy(id: number): RetryPolicy {
    let policy = this.#policyById.get(id);
    if (policy === undefined) {
      policy = Object.freeze(JSON.parse(this.#s.policyById.get(id) as string) as RetryPolicy);
      this.#policyById.set(id, policy);
    }
    return policy;
  }

  // -------------------------------------------------------------------------------------------
  // Enqueue

  async enqueue(job: JobInput): Promise<EnqueuedJob> {
    this.#check();
    const prepared = prepareJob(job, 'job', this.#policies, this.#clock.now(), this.#maxPayloadBytes);
    return new Promise<EnqueuedJob>((resolve, reject) => {
      this.#pending.push({ job: prepared, resolve, reject });
      this.#scheduleFlush();
    });
  }

  /**
   * Single enqueues wait for the end of this turn of the event loop, not of this callback:
   * callers running in separate callbacks of one turn (requests of one poll phase, timers due
   * together) share the transaction. It costs a lone caller ~1 µs. A `settle` that runs first
   * takes them into its own transaction.
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flushEnqueues());
  }

  #flushEnqueues(): void {
    this.#flushScheduled = false;
    const batch = this.#pending;
    this.#pending = [];
    if (batch.length === 0) return;
    let settled: Array<() => void>;
    try {
      settled = this.#write(() => this.#insertPending(batch, this.#clock.now(), batch.length > 1));
    } catch (error) {
      for (const item of batch) item.reject(error);
      return;
    }
    for (const done of settled) done();
  }

  /**
   * Inserts waiting single enqueues inside the open write transaction; returns what settles their
   * promises, to call once it commits. With `isolate`, each caller's job gets a savepoint: one
   * job's failure (a bad dependency, say) rolls back only that job and rejects only its caller.
   */
  #insertPending(batch: readonly PendingEnqueue[], now: number, isolate: boolean): Array<() => void> {
    const settled: Array<() => void> = [];
    const s = this.#s;
    const insert = (item: PendingEnqueue): (() => void) => {
      this.#registerQueues([item.job]);
      const result = this.#insert(item.job, 'job', now, null);
      return () => item.resolve(result);
    };
    for (const item of batch) {
      if (!isolate) {
        settled.push(insert(item));
        continue;
      }
      s.savepoint.run();
      const interned = this.#newPolicies.length;
      try {
        const done = insert(item);
        s.releaseSavepoint.run();
        settled.push(done);
      } catch (error) {
        s.rollbackSavepoint.run();
        s.releaseSavepoint.run();
        // A policy interned in the savepoint is gone with it (its id may go to the next one).
        this.#newPolicies.length = interned;
        const mapped = this.#mapError(error);
        settled.push(() => item.reject(mapped));
      }
    }
    return settled;
  }

  async enqueueMany(jobs: readonly JobInput[]): Promise<EnqueuedJob[]> {
    this.#check();
    if (!Array.isArray(jobs)) throw new LeaseholdError('ERR_INVALID_JOB', `jobs must be an array (got ${typeof jobs})`, { field: 'jobs', value: typeof jobs });
    const prepared = prepareJobs(jobs, this.#policies, this.#clock.now(), this.#maxPayloadBytes);
    return this.#write(() => {
      const now = this.#clock.now();
      this.#registerQueues(prepared);
      const out = new Array<EnqueuedJob>(prepared.length);
      // Jobs without a key or dependencies (the common bulk load) go in multi-row INSERTs of up to
      // INSERT_CHUNK rows, in input order; the others one by one, in input order too.
      let run: number[] = [];
      const flushRun = (): void => {
        for (let start = 0; start < run.length; start += INSERT_CHUNK) this.#insertChunk(run.slice(start, start + INSERT_CHUNK), prepared, now, out);
        run = [];
      };
      for (let i = 0; i < prepared.length; i++) {
        const job = prepared[i] as NewJob;
        if (job.key === null && job.dependsOn.length === 0) {
          run.push(i);
          continue;
        }
        flushRun();
        out[i] = this.#insert(job, `jobs[${i}]`, now, null);
      }
      flushRun();
      return out;
    });
  }

  /**
   * Inserts up to INSERT_CHUNK plain jobs (no key, no dependencies) with two statements, one for
   * the rows and one for the payloads. The ids are consecutive: AUTOINCREMENT numbers the rows of
   * one statement in order, and this connection holds the write lock.
   */
  #insertChunk(indexes: readonly number[], prepared: readonly NewJob[], now: number, out: EnqueuedJob[]): void {
    const rows: unknown[] = [];
    const states: JobState[] = [];
    for (const i of indexes) {
      const job = prepared[i] as NewJob;
      const state = enqueuedState(job, 0);
      states.push(state);
      rows.push(job.queue, job.name, state, job.priority, job.runAt, now, now, job.retry.maxAttempts, this.#policyId(job.retrySpec), job.timeoutMs, job.onDepFailure, job.escalateAfter, job.escalateTo);
    }
    const statements = this.#chunkStatements(indexes.length);
    const last = Number(statements.jobs.run(rows).lastInsertRowid);
    const first = last - indexes.length + 1;
    const payloads: unknown[] = [];
    indexes.forEach((i, k) => {
      const job = prepared[i] as NewJob;
      payloads.push(first + k, job.payloadText);
      out[i] = { id: first + k, name: job.name, queue: job.queue, state: states[k] as JobState, key: null, duplicate: false };
    });
    statements.payloads.run(payloads);
  }

  /** The two multi-row INSERTs of `#insertChunk` for `rows` rows, prepared on first use. */
  #chunkStatements(rows: number): { jobs: Statement; payloads: Statement } {
    let statements = this.#insertChunkStatements.get(rows);
    if (statements === undefined) {
      statements = {
        jobs: this.#db.prepare(
          `INSERT INTO jobs (queue, name, state, priority, run_at, created_at, updated_at, max_attempts, policy, timeout_ms, on_dep_failure, escalate_after, escalate_to, last_event)
           VALUES ${Array.from({ length: rows }, () => "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ENQUEUE')").join(', ')}`,
        ),
        payloads: this.#db.prepare(`INSERT INTO job_payloads (job_id, payload) VALUES ${Array.from({ length: rows }, () => '(?, ?)').join(', ')}`),
      };
      this.#insertChunkStatements.set(rows, statements);
    }
    return statements;
  }

  #registerQueues(jobs: readonly NewJob[]): void {
    let last: string | undefined;
    for (const job of jobs) {
      if (job.queue === last) continue;
      last = job.queue;
      if (this.#s.registerQueue.run(job.queue).changes > 0) this.#queues = undefined;
    }
  }

  /** Inserts one validated job (inside a transaction). */
  #insert(job: NewJob, field: string, now: number, escalatedFrom: JobId | null): EnqueuedJob {
    const s = this.#s;
    let unfinished = 0;
    let failedDep: JobId | null = null;
    const deps = new Set<JobId>();
    for (let i = 0; i < job.dependsOn.length; i++) {
      // Follow escalations: a dependency handed over to another handler is that handler's job now.
      const requested = job.dependsOn[i] as number;
      let id = requested;
      let row = s.guardRow.get(id) as GuardRow | undefined;
      for (let hops = 0; row?.state === 'escalated' && row.escalated_to !== null && hops < 100; hops++) {
        id = row.escalated_to;
        row = s.guardRow.get(id) as GuardRow | undefined;
      }
      if (row === undefined) {
        throw new LeaseholdError('ERR_JOB_NOT_FOUND', `${field}.dependsOn[${i}] names job ${requested}, which does not exist`, {
          field: `${field}.dependsOn[${i}]`,
          value: requested,
        });
      }
      // A job named twice (directly, or once through an escalation) is one dependency.
      if (deps.has(id)) continue;
      deps.add(id);
      if (row.state !== 'done') unfinished++;
      if (row.state === 'error' || row.state === 'cancelled' || row.state === 'skipped' || row.state === 'escalated') failedDep ??= id;
    }
    const created = enqueuedState(job, unfinished);
    const info = s.insertJob.run(
      job.queue,
      job.name,
      job.key,
      created,
      job.priority,
      job.runAt,
      now,
      now,
      job.retry.maxAttempts,
      this.#policyId(job.retrySpec),
      job.timeoutMs,
      unfinished,
      job.onDepFailure,
      job.escalateAfter,
      job.escalateTo,
      escalatedFrom,
    );
    if (info.changes === 0) {
      const existing = s.jobByKey.get(job.key) as Pick<JobRow, 'id' | 'name' | 'queue' | 'state' | 'key'>;
      return { ...existing, duplicate: true };
    }
    const id = Number(info.lastInsertRowid);
    s.insertPayload.run(id, job.payloadText);
    for (const dep of deps) s.insertDep.run(id, dep);
    let state = created;
    if (failedDep !== null) {
      state = this.#applyGuarded(id, 'DEP_FAILED', now, { error: dependencyError(failedDep) });
      this.#failDependents([id], now);
    }
    return { id, name: job.name, queue: job.queue, state, key: job.key, duplicate: false };
  }

  // -------------------------------------------------------------------------------------------
  // Lease and heartbeat

  async lease(request: LeaseRequest): Promise<LeasedJob[]> {
    const req = parseOrThrow(leaseRequestSchema, request, 'request');
    return this.#write(() => this.#leaseInTransaction(req), false);
  }

  /**
   * Reads the best due candidates, then leases exactly those by id, in the caller's write
   * transaction (nothing can lease them in between). Two statements, not one `UPDATE … WHERE id
   * IN (SELECT … LIMIT n)`: SQLite runs that form with a fixed cost of ~70 µs per call, even when
   * nothing is due (measured: leasing one job 110 → 38 µs, an empty lease 77 → 10 µs, a lease of
   * 100 jobs 4.5 → 4.1 µs per job). More queues than one statement can name are read in chunks
   * and the best `limit` of them all kept.
   */
  #leaseInTransaction(req: ParsedLeaseRequest): LeasedJob[] {
    const queues = req.queue === undefined ? this.#knownQueues() : typeof req.queue === 'string' ? [req.queue] : [...new Set(req.queue)];
    if (queues.length === 0) return [];
    const names = req.names === undefined ? [] : [...new Set(req.names)];
    if (req.names !== undefined && names.length === 0) return [];
    const now = this.#clock.now();
    let ids: number[];
    if (queues.length <= MAX_LEASE_QUEUES) {
      ids = this.#candidateStatement(queues.length, names.length, false).all(this.#candidateParams(queues, names, now, req.limit)) as number[];
    } else {
      const candidates: Array<[id: number, priority: number, runAt: number]> = [];
      for (let start = 0; start < queues.length; start += MAX_LEASE_QUEUES) {
        const chunk = queues.slice(start, start + MAX_LEASE_QUEUES);
        candidates.push(...(this.#candidateStatement(chunk.length, names.length, true).all(this.#candidateParams(chunk, names, now, req.limit)) as typeof candidates));
      }
      candidates.sort((a, b) => a[1] - b[1] || a[2] - b[2] || a[0] - b[0]);
      ids = candidates.slice(0, req.limit).map((c) => c[0]);
    }
    if (ids.length === 0) return [];
    const expiresAt = now + req.ttlMs;
    const rows = this.#s.leaseByIds.all({ owner: req.owner, now, expiresAt, ids: JSON.stringify(ids) }) as LeaseRow[];
    return this.#leasedJobs(rows, req.owner, expiresAt);
  }

  #candidateParams(queues: readonly string[], names: readonly string[], now: number, limit: number): Record<string, unknown> {
    const params: Record<string, unknown> = { now, limit };
    queues.forEach((q, i) => (params[`q${i}`] = q));
    names.forEach((n, i) => (params[`n${i}`] = n));
    return params;
  }

  /** The leased jobs, in lease order (priority, then `run_at`, then id), from what the LEASE write returned. */
  #leasedJobs(rows: LeaseRow[], owner: string, leaseExpiresAt: number): LeasedJob[] {
    rows.sort((a, b) => a[5] - b[5] || a[10] - b[10] || a[0] - b[0]);
    return rows.map(([id, token, attempt, name, queue, priority, maxAttempts, escalateAfter, onDepFailure, timeoutMs, runAt, createdAt, payload]) => ({
      id,
      name,
      queue,
      priority: priorityName(priority),
      payloadText: payload ?? 'null',
      token,
      owner,
      leaseExpiresAt,
      attempt,
      maxAttempts,
      escalateAfter,
      onDepFailure,
      timeoutMs,
      runAt,
      createdAt,
    }));
  }

  /**
   * The candidate query for `queueCount` queues and `nameCount` handler names (see
   * `candidatesSql`), prepared once per shape: ids only (plucked), or raw `[id, priority, run_at]`
   * rows when chunks of queues must be merged.
   */
  #candidateStatement(queueCount: number, nameCount: number, withOrder: boolean): Statement {
    const cacheKey = `${queueCount}:${nameCount}:${withOrder ? 'ordered' : 'ids'}`;
    let stmt = this.#candidateStatements.get(cacheKey);
    if (stmt === undefined) {
      stmt = withOrder ? this.#db.prepare(candidatesSql(queueCount, nameCount, 'id, priority, run_at')).raw() : this.#db.prepare(candidatesSql(queueCount, nameCount, 'id')).pluck();
      this.#candidateStatements.set(cacheKey, stmt);
    }
    return stmt;
  }

  async heartbeat(refs: readonly LeaseRef[], ttlMs: number): Promise<HeartbeatResult> {
    if (!Number.isInteger(ttlMs) || ttlMs < 1) {
      throw new LeaseholdError('ERR_INVALID_OPTION', `ttlMs must be a positive integer (got ${String(ttlMs)})`, { field: 'ttlMs', value: ttlMs });
    }
    return this.#write(() => {
      const expiresAt = this.#clock.now() + ttlMs;
      if (refs.length === 0) return { expiresAt, lost: [] };
      const rows = this.#s.heartbeat.all({ expiresAt, refs: JSON.stringify(refs.map((r) => [r.id, r.token])) }) as Array<[number, number]>;
      const kept = LeaseMap.of(rows);
      crashPoint('during-heartbeat');
      return { expiresAt, lost: refs.filter((r) => !kept.has(r.id, r.token)) };
    }, false);
  }

  // -------------------------------------------------------------------------------------------
  // Settling

  async settle(batch: SettleBatch): Promise<SettleResult> {
    // Encode results before the transaction: a bad result is the caller's error, and nothing is written.
    const completeTexts = (batch.complete ?? []).map((item, i) =>
      item.resultText !== undefined ? this.#checkResultText(item.resultText, i) : encodeJson(item.result, `complete[${i}].result`, this.#maxPayloadBytes),
    );
    const progressTexts = (batch.progress ?? []).map((item, i) => encodeJson(item.progress, `progress[${i}].progress`, this.#maxPayloadBytes));
    const leaseRequest = batch.lease === undefined ? undefined : parseOrThrow(leaseRequestSchema, batch.lease, 'batch.lease');
    // Single enqueues still waiting for their transaction join this one, before the lease: on an
    // idle supervisor a new job is then inserted and leased in one commit, not two.
    const enqueues = this.#pending;
    this.#pending = [];
    let enqueued: Array<() => void> = [];
    const acked = (batch.complete?.length ?? 0) + (batch.skip?.length ?? 0) + (batch.fail?.length ?? 0) + (batch.release?.length ?? 0);
    let result: SettleResult;
    try {
      result = this.#write(() => {
        const now = this.#clock.now();
        if (enqueues.length > 0) enqueued = this.#insertPending(enqueues, now, true);
        return this.#settleInTransaction(batch, now, completeTexts, progressTexts, leaseRequest);
      }, acked + enqueues.length > 0);
    } catch (error) {
      // Nothing was written: the enqueues go back in front, for their own transaction.
      if (enqueues.length > 0) {
        this.#pending = [...enqueues, ...this.#pending];
        this.#scheduleFlush();
      }
      throw error;
    }
    for (const done of enqueued) done();
    return result;
  }

  #settleInTransaction(
    batch: SettleBatch,
    now: number,
    completeTexts: readonly string[],
    progressTexts: readonly string[],
    leaseRequest: ParsedLeaseRequest | undefined,
  ): SettleResult {
    // Each kind in turn; its rejections report the job's state once that kind is applied.
    const completeText = (_: CompleteItem, i: number): string => completeTexts[i] ?? 'null';
    // Jobs started and finished since the last settle: START and SUCCEED in one write each.
    const together = this.#fencedWrite(this.#startComplete, this.#startedAndCompleted(batch, completeText), now);
    const start = this.#finalState(this.#runFenced(this.#start, batch.start ?? [], () => null, now, together));
    const progress = this.#finalState(this.#applyProgress(batch.progress ?? [], progressTexts));
    const complete = this.#finalState(this.#runFenced(this.#complete, batch.complete ?? [], completeText, now, together));
    const skip = this.#finalState(this.#runFenced(this.#skip, batch.skip ?? [], (item) => item.reason ?? null, now));
    const fail = this.#finalState((batch.fail ?? []).map((item) => this.#failOne(item, now)));
    const release = this.#finalState((batch.release ?? []).map((ref) => this.#release(ref, now)));
    const answered = { start, progress, complete, skip, fail, release };
    if (complete.length > 0) this.#releaseDependents(complete.filter((o) => o.ok).map((o) => o.id), now);
    if (skip.length + fail.length > 0) {
      const failedTerminal = [...skip, ...fail].filter((o) => o.ok && (o.state === 'skipped' || o.state === 'error')).map((o) => o.id);
      this.#failDependents(failedTerminal, now);
    }
    const leased = leaseRequest === undefined ? [] : this.#leaseInTransaction(leaseRequest);
    if (complete.length + skip.length + fail.length > 0) crashPoint('inside-ack-transaction');
    return { ...answered, leased };
  }

  #checkResultText(text: string, i: number): string {
    const bytes = Buffer.byteLength(text, 'utf8');
    if (bytes > this.#maxPayloadBytes) {
      throw new LeaseholdError('ERR_INVALID_PAYLOAD', `complete[${i}].result is ${bytes} bytes of JSON, more than the limit of ${this.#maxPayloadBytes}`, {
        field: `complete[${i}].result`,
        value: `${bytes} bytes`,
      });
    }
    return text;
  }

  async start(refs: readonly LeaseRef[]): Promise<Outcome[]> {
    return [...(await this.settle({ start: refs })).start];
  }

  async complete(items: readonly CompleteItem[]): Promise<Outcome[]> {
    return [...(await this.settle({ complete: items })).complete];
  }

  async skip(items: readonly SkipItem[]): Promise<Outcome[]> {
    return [...(await this.settle({ skip: items })).skip];
  }

  async fail(items: readonly FailItem[]): Promise<Outcome[]> {
    return [...(await this.settle({ fail: items })).fail];
  }

  async release(refs: readonly LeaseRef[]): Promise<Outcome[]> {
    return [...(await this.settle({ release: refs })).release];
  }

  /**
   * Runs a fenced batch statement; items it did not change are classified. Items whose lease is
   * in `done` were already written (by `#startComplete`): they are answered, not written again.
   */
  #runFenced<T extends LeaseRef>(batch: FencedBatch, items: readonly T[], extra: (item: T, i: number) => string | null, now: number, done?: LeaseMap<true>): Outcome[] {
    if (items.length === 0) return [];
    const todo: unknown[] = [];
    items.forEach((it, i) => {
      if (done === undefined || !done.has(it.id, it.token)) todo.push([it.id, it.token, extra(it, i)]);
    });
    const changed = this.#fencedWrite(batch, todo, now);
    return items.map((it) => {
      // Each changed row answers the one item with its (id, token), once.
      if (changed.delete(it.id, it.token) || done?.has(it.id, it.token) === true) return { id: it.id, token: it.token, ok: true, state: batch.to };
      return this.#rejection(it);
    });
  }

  /** Runs a fenced batch statement over `[id, token, extra]` rows: the leases it changed. */
  #fencedWrite(batch: FencedBatch, rows: readonly unknown[], now: number): LeaseMap<true> {
    if (rows.length === 0) return new LeaseMap();
    return LeaseMap.of(batch.stmt.all({ now, items: JSON.stringify(rows) }) as Array<[number, number]>);
  }

  /**
   * The `[id, token, result]` rows of the complete items whose lease is also started in this
   * batch: only jobs named by exactly those two items, so that no other item of the batch
   * (progress between the two, a second ref of the job) can tell one write from two.
   */
  #startedAndCompleted(batch: SettleBatch, text: (item: CompleteItem, i: number) => string): unknown[] {
    const starts = batch.start ?? [];
    const completes = batch.complete ?? [];
    if (starts.length === 0 || completes.length === 0) return [];
    const mentions = new Map<number, number>();
    for (const list of [starts, batch.progress ?? [], completes, batch.skip ?? [], batch.fail ?? [], batch.release ?? []]) {
      for (const ref of list) mentions.set(ref.id, (mentions.get(ref.id) ?? 0) + 1);
    }
    const started = new Map<number, number>();
    for (const ref of starts) if (mentions.get(ref.id) === 2) started.set(ref.id, ref.token);
    const rows: unknown[] = [];
    completes.forEach((item, i) => {
      if (started.get(item.id) === item.token) rows.push([item.id, item.token, text(item, i)]);
    });
    return rows;
  }

  #applyProgress(items: readonly ProgressItem[], texts: readonly string[]): Outcome[] {
    if (items.length === 0) return [];
    const rows = this.#s.progress.all({ items: JSON.stringify(items.map((it, i) => [it.id, it.token, texts[i]])) }) as Array<[number, number, JobState]>;
    const changed = new LeaseMap<JobState>();
    for (const [id, token, state] of rows) changed.set(id, token, state);
    return items.map((it) => {
      const state = changed.get(it.id, it.token);
      return state === undefined ? this.#rejection(it) : { id: it.id, token: it.token, ok: true, state };
    });
  }

  /** Rejections report the job's state once their kind of operation is applied (another item may have moved it). */
  #finalState(outcomes: Outcome[]): Outcome[] {
    return outcomes.map((o) => {
      if (o.ok || o.state === undefined) return o;
      const row = this.#s.classify.get(o.id) as { state: JobState } | undefined;
      return row === undefined || row.state === o.state ? o : { ...o, state: row.state };
    });
  }

  /** Why a fenced item changed nothing. */
  #rejection(ref: LeaseRef): Outcome {
    const row = this.#s.classify.get(ref.id) as { state: JobState; lease_token: number } | undefined;
    if (row === undefined) return { id: ref.id, token: ref.token, ok: false, code: 'ERR_JOB_NOT_FOUND' };
    const live = row.lease_token === ref.token && LEASED_STATES.includes(row.state);
    return { id: ref.id, token: ref.token, ok: false, code: live ? 'ERR_INVALID_TRANSITION' : 'ERR_LEASE_LOST', state: row.state };
  }

  #failOne(item: FailItem, now: number): Outcome {
    const row = this.#s.failRow.get(item.id) as FailRow | undefined;
    if (row === undefined || row.lease_token !== item.token || !LEASED_STATES.includes(row.state)) return this.#rejection(item);
    const error = normalizeError(item.error);
    const step = jobLifecycle.next(row.state, contextOf(row), { type: 'FAIL', retryable: error.retryable });
    if (step === undefined) return this.#rejection(item);
    let runAt: number | undefined;
    let escalatedTo: number | undefined;
    if (step.state === 'queued') {
      runAt = now + retryDelayMs(this.#policy(row.policy), row.attempts, this.#random);
    } else if (step.state === 'escalated') {
      escalatedTo = this.#escalate(row, now);
    }
    this.#writeStep(row, step.state, step.context, 'FAIL', now, {
      error: JSON.stringify(error),
      ...(runAt === undefined ? {} : { runAt }),
      ...(escalatedTo === undefined ? {} : { escalatedTo }),
    });
    return {
      id: item.id,
      token: item.token,
      ok: true,
      state: step.state,
      ...(runAt === undefined ? {} : { runAt }),
      ...(escalatedTo === undefined ? {} : { escalatedTo }),
    };
  }

  /** Enqueues the escalation job of `row` (same payload, queue and priority; linked back) and re-points its dependents. */
  #escalate(row: FailRow, now: number): JobId {
    const s = this.#s;
    const to = row.escalate_to;
    if (to === null) throw new Error(`job ${row.id}: escalation without a target handler`);
    const field = `escalation of job ${row.id}`;
    const next = prepareJob(
      { name: to, queue: row.queue, priority: priorityName(row.priority), ...(row.timeout_ms === null ? {} : { timeoutMs: row.timeout_ms }) },
      field,
      this.#policies,
      now,
      this.#maxPayloadBytes,
    );
    const payloadText = (s.payloadOf.get(row.id) as string | undefined) ?? 'null';
    const created = this.#insert({ ...next, payloadText }, field, now, row.id);
    // Dependents of the escalated job now wait for its successor.
    s.repointDeps.run({ from: row.id, to: created.id });
    const dangling = s.danglingDeps.all(row.id) as number[];
    if (dangling.length > 0) {
      // Those that already depended on the successor too: one dependency fewer to wait for.
      s.dropDeps.run(row.id);
      for (const dependent of dangling) s.decrementPending.run(dependent);
    }
    return created.id;
  }

  /** `PAUSE`: gives a lease back without counting the attempt. */
  #release(ref: LeaseRef, now: number): Outcome {
    const row = this.#s.guardRow.get(ref.id) as GuardRow | undefined;
    if (row === undefined || row.lease_token !== ref.token || !LEASED_STATES.includes(row.state)) return this.#rejection(ref);
    const step = jobLifecycle.next(row.state, contextOf(row), { type: 'PAUSE' });
    if (step === undefined) return this.#rejection(ref);
    // The job was due when it was leased; it stays due, keeping its place by run_at.
    this.#writeStep(row, step.state, step.context, 'PAUSE', now, {});
    return { id: ref.id, token: ref.token, ok: true, state: step.state };
  }

  /** Applies an unfenced, guarded event to one job inside a transaction; throws if the machine refuses. */
  #applyGuarded(id: JobId, type: 'CANCEL' | 'RETRY' | 'DEP_FAILED' | 'DEPS_DONE', now: number, extra: { error?: SerializedError; pendingDeps?: number } = {}): JobState {
    const row = this.#s.guardRow.get(id) as GuardRow | undefined;
    if (row === undefined) throw new LeaseholdError('ERR_JOB_NOT_FOUND', `job ${id} does not exist`, { field: 'id', value: id });
    const context = extra.pendingDeps === undefined ? contextOf(row) : { ...contextOf(row), pendingDeps: extra.pendingDeps };
    const step = jobLifecycle.next(row.state, context, { type });
    if (step === undefined) throw invalidTransition(id, row.state, type);
    this.#writeStep(row, step.state, step.context, type, now, {
      ...(extra.error === undefined ? {} : { error: JSON.stringify(extra.error) }),
      ...(type === 'RETRY' ? { runAt: now, clearOutcome: true } : {}),
    });
    return step.state;
  }

  #writeStep(
    row: GuardRow,
    to: JobState,
    context: JobContext,
    event: JobEvent['type'],
    now: number,
    extra: { error?: string; runAt?: number; escalatedTo?: number; clearOutcome?: boolean },
  ): void {
    const info = this.#s.setState.run({
      id: row.id,
      from: row.state,
      token: row.lease_token,
      to,
      event,
      now,
      attempts: context.attempts,
      pendingDeps: context.pendingDeps,
      runAt: extra.runAt ?? null,
      error: extra.error ?? null,
      finishedAt: jobLifecycle.hasTag(to, 'terminal') ? now : null,
      escalatedTo: extra.escalatedTo ?? null,
      keepLease: LEASED_STATES.includes(to) ? 1 : 0,
      clearOutcome: extra.clearOutcome === true ? 1 : 0,
    });
    if (info.changes !== 1) throw new Error(`job ${row.id}: state changed under a write lock`);
  }

  // -------------------------------------------------------------------------------------------
  // Dependencies

  /** `done` jobs: their blocked dependents with nothing left to wait for get `DEPS_DONE`. */
  #releaseDependents(doneIds: readonly JobId[], now: number): void {
    if (doneIds.length === 0 || this.#s.anyDeps.get() === undefined) return;
    const rows = this.#s.releaseDeps.all({ ids: JSON.stringify(doneIds) }) as Array<{ id: number; pending_deps: number }>;
    for (const r of rows) if (r.pending_deps <= 0) this.#applyGuarded(r.id, 'DEPS_DONE', now);
  }

  /** Jobs that ended without being done: their blocked dependents get `DEP_FAILED`, transitively. */
  #failDependents(failedIds: readonly JobId[], now: number): void {
    if (failedIds.length === 0 || this.#s.anyDeps.get() === undefined) return;
    let frontier = [...failedIds];
    while (frontier.length > 0) {
      const dependents = this.#s.blockedDependents.all(JSON.stringify(frontier)) as number[];
      const cause = frontier[0] as number;
      frontier = [];
      for (const id of new Set(dependents)) {
        this.#applyGuarded(id, 'DEP_FAILED', now, { error: dependencyError(cause) });
        frontier.push(id);
      }
    }
  }

  // -------------------------------------------------------------------------------------------
  // Recovery

  async recoverExpired(limit: number = RECOVER_LIMIT_DEFAULT): Promise<RecoveredJob[]> {
    return this.#write(() => {
      const now = this.#clock.now();
      const rows = this.#s.expired.all(now, limit) as Array<GuardRow & { lease_expires_at: number }>;
      if (rows.length > 0) crashPoint('between-recovery-read-and-write');
      const out: RecoveredJob[] = [];
      const errored: JobId[] = [];
      for (const row of rows) {
        const step = jobLifecycle.next(row.state, contextOf(row), { type: 'LEASE_EXPIRED' });
        if (step === undefined) continue;
        const owner = row.lease_owner ?? 'unknown';
        const error: SerializedError = {
          name: 'LeaseExpired',
          code: 'ERR_LEASE_EXPIRED',
          message: `the lease of ${owner} (token ${row.lease_token}) expired at ${new Date(row.lease_expires_at).toISOString()} on attempt ${row.attempts}`,
          retryable: true,
        };
        const info = this.#s.recoverRow.run({
          id: row.id,
          from: row.state,
          token: row.lease_token,
          to: step.state,
          attempts: step.context.attempts,
          error: JSON.stringify(error),
          finishedAt: jobLifecycle.hasTag(step.state, 'terminal') ? now : null,
          now,
        });
        if (info.changes !== 1) continue;
        out.push({ id: row.id, token: row.lease_token, owner, state: step.state });
        if (step.state !== 'queued') errored.push(row.id);
      }
      this.#failDependents(errored, now);
      return out;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Operators: cancel and retry

  async cancel(id: JobId): Promise<JobState> {
    return this.#write(() => {
      const now = this.#clock.now();
      const state = this.#applyGuarded(id, 'CANCEL', now);
      this.#failDependents([id], now);
      return state;
    });
  }

  async retry(id: JobId): Promise<JobState> {
    return this.#write(() => this.#retryOne(id, this.#clock.now()));
  }

  #retryOne(id: JobId, now: number): JobState {
    const pendingDeps = this.#s.countUnfinishedDeps.get(id) as number;
    return this.#applyGuarded(id, 'RETRY', now, { pendingDeps });
  }

  async retryMany(selection: RetryMany): Promise<number> {
    const sel = parseOrThrow(retryManySchema, selection, 'selection');
    const states = sel.states ?? ['error'];
    return this.#write(() => {
      const now = this.#clock.now();
      const ids = this.#db
        .prepare(
          `SELECT id FROM jobs WHERE state IN (SELECT value FROM json_each(@states))
           AND (@queue IS NULL OR queue = @queue) AND (@name IS NULL OR name = @name) ORDER BY id`,
        )
        .pluck()
        .all({ states: JSON.stringify(states), queue: sel.queue ?? null, name: sel.name ?? null }) as number[];
      for (const id of ids) this.#retryOne(id, now);
      return ids.length;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Reading

  #record(row: JobRow): ReturnType<typeof toJobRecord> {
    const s = this.#s;
    return toJobRecord(row, (s.payloadOf.get(row.id) as string | undefined) ?? 'null', this.#policy(row.policy), s.depsOf.all(row.id) as number[]);
  }

  async get(id: JobId): Promise<JobDetail | undefined> {
    return this.#read(() => {
      const row = this.#s.fullRow.get(id) as JobRow | undefined;
      if (row === undefined) return undefined;
      const events = this.#s.eventsOf.all(id) as EventRow[];
      return { ...this.#record(row), history: toHistory(row, events), chain: this.#chain(row) };
    });
  }

  #chain(row: JobRow): JobId[] {
    const back: JobId[] = [];
    let from = row.escalated_from;
    for (let hops = 0; from !== null && hops < 1_000; hops++) {
      back.unshift(from);
      from = (this.#s.escalatedFrom.get(from) as number | null | undefined) ?? null;
    }
    const forward: JobId[] = [];
    let to = row.escalated_to;
    for (let hops = 0; to !== null && hops < 1_000; hops++) {
      forward.push(to);
      to = (this.#s.escalatedTo.get(to) as number | null | undefined) ?? null;
    }
    return [...back, row.id, ...forward];
  }

  async list(filter: ListFilter = {}): Promise<JobPage> {
    const f = parseOrThrow(listFilterSchema, filter, 'filter');
    const states = f.state === undefined ? null : typeof f.state === 'string' ? [f.state] : f.state;
    states?.forEach((s, i) => {
      if (!JOB_STATES.includes(s as JobState)) {
        throw new LeaseholdError('ERR_INVALID_OPTION', `filter.state${typeof f.state === 'string' ? '' : `[${i}]`} must be one of ${JOB_STATES.join(', ')} (got ${JSON.stringify(s)})`, {
          field: 'filter.state',
          value: s,
        });
      }
    });
    const limit = f.limit ?? 50;
    const desc = f.order === 'desc';
    return this.#read(() => {
      const rows = this.#db
        .prepare(
          `SELECT * FROM jobs
           WHERE (@states IS NULL OR state IN (SELECT value FROM json_each(@states)))
             AND (@queue IS NULL OR queue = @queue) AND (@name IS NULL OR name = @name)
             AND (@cursor IS NULL OR id ${desc ? '<' : '>'} @cursor)
           ORDER BY id ${desc ? 'DESC' : 'ASC'} LIMIT @limit`,
        )
        .all({ states: states === null ? null : JSON.stringify(states), queue: f.queue ?? null, name: f.name ?? null, cursor: f.cursor ?? null, limit: limit + 1 }) as JobRow[];
      const more = rows.length > limit;
      const page = more ? rows.slice(0, limit) : rows;
      return { jobs: page.map((r) => this.#record(r)), nextCursor: more ? (page[page.length - 1]?.id ?? null) : null };
    });
  }

  async stats(): Promise<StoreStats> {
    return this.#read(() => {
      const now = this.#clock.now();
      const rows = this.#s.stateCounts.all() as Array<{ state: JobState; queue: string; n: number }>;
      const byState = emptyCounts();
      // No prototype: a queue may be called 'constructor' or 'toString'.
      const byQueue = Object.create(null) as Record<string, Record<JobState, number>>;
      let total = 0;
      for (const r of rows) {
        byState[r.state] += r.n;
        (byQueue[r.queue] ??= emptyCounts())[r.state] += r.n;
        total += r.n;
      }
      let oldest: number | null = null;
      for (const queue of this.#s.allQueues.all() as string[]) {
        for (let priority = 0; priority < 4; priority++) {
          const due = this.#s.oldestDue.get(queue, priority, now) as number | null;
          if (due !== null && (oldest === null || due < oldest)) oldest = due;
        }
      }
      return { total, byState, byQueue, oldestQueuedAgeMs: oldest === null ? null : now - oldest };
    });
  }

  async pendingCount(filter: PendingFilter = {}): Promise<number> {
    const queues = filter.queue === undefined ? null : typeof filter.queue === 'string' ? [filter.queue] : filter.queue;
    return this.#read(
      () =>
        this.#s.pendingCount.get({
          queues: queues === null ? null : JSON.stringify(queues),
          names: filter.names === undefined ? null : JSON.stringify(filter.names),
        }) as number,
    );
  }

  async prune(options: PruneOptions): Promise<number> {
    const opts = parseOrThrow(pruneOptionsSchema, options, 'options');
    const states = JSON.stringify(opts.states ?? ['done', 'skipped']);
    const chunk = 10_000;
    let total = 0;
    for (;;) {
      const want = opts.limit === undefined ? chunk : Math.min(chunk, opts.limit - total);
      if (want <= 0) break;
      const deleted = this.#write(() => {
        const cutoff = this.#clock.now() - opts.olderThanMs;
        const ids = this.#db
          .prepare(
            `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs WHERE state IN (SELECT value FROM json_each(@states))
             AND finished_at <= @cutoff LIMIT @limit) RETURNING id`,
          )
          .pluck()
          .all({ states, cutoff, limit: want }) as number[];
        if (ids.length > 0) {
          const json = JSON.stringify(ids);
          this.#db.prepare('DELETE FROM job_payloads WHERE job_id IN (SELECT value FROM json_each(?))').run(json);
          this.#db.prepare('DELETE FROM job_events WHERE job_id IN (SELECT value FROM json_each(?))').run(json);
          this.#db.prepare('DELETE FROM job_deps WHERE job_id IN (SELECT value FROM json_each(?)) OR depends_on IN (SELECT value FROM json_each(?))').run(json, json);
        }
        return ids.length;
      });
      total += deleted;
      if (deleted < want) break;
    }
    return total;
  }

  // -------------------------------------------------------------------------------------------
  // Lifecycle

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#flushEnqueues();
    this.#closed = true;
    try {
      if (this.#connectionId !== undefined) this.#db.prepare('DELETE FROM connections WHERE id = ?').run(this.#connectionId);
    } catch {
      // A full or locked database must not stop us closing; the next open cleans up.
    }
    // The checkpoint thread's connection closes first: the last connection to close checkpoints
    // the WAL and removes it.
    await this.#checkpointer?.stop();
    this.#db.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  /** The underlying better-sqlite3 connection, for tests and tooling. Do not write jobs through it. */
  get database(): Db {
    return this.#db;
  }
}

/** True unless the process `pid` certainly does not exist. */
function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function dependencyError(dep: JobId): SerializedError {
  return { name: 'DependencyFailed', code: 'ERR_DEPENDENCY_FAILED', message: `dependency ${dep} ended without being done`, retryable: false };
}

/** Accepts a {@link SerializedError} or anything thrown. */
function normalizeError(error: unknown): SerializedError {
  if (error !== null && typeof error === 'object' && typeof (error as SerializedError).message === 'string' && typeof (error as SerializedError).retryable === 'boolean') {
    const e = error as SerializedError;
    return {
      name: typeof e.name === 'string' ? e.name : 'Error',
      message: e.message,
      retryable: e.retryable,
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
      ...(typeof e.stack === 'string' ? { stack: e.stack } : {}),
    };
  }
  return serializeError(error);
}
