/**
 * The SQLite schema, as numbered migrations.
 *
 * `PRAGMA user_version` holds the number of migrations applied. Opening a database runs the
 * missing ones, each in its own transaction, and refuses a database whose version is higher
 * than {@link SCHEMA_VERSION} (written by a newer leasehold): an older binary must not touch a
 * schema it does not know.
 *
 * Shaped for the hot path (measured in `bench/store.bench.ts`): every state change rewrites the
 * job's row, the entries of partial indexes whose WHERE mentions `state`, and appends one
 * history row, so
 * - the `jobs` row is narrow: payloads live in `job_payloads` (written once; a large payload is
 *   never rewritten by a state change) and retry policies are interned in `policies`;
 * - history is a `WITHOUT ROWID` table clustered by `(job_id, seq)`: one B-tree per entry, and
 *   a job's history is contiguous on disk; `jobs.events` counts the entries;
 * - the only indexes a state change touches are the partial `jobs_due` (while queued),
 *   `jobs_leases` (while leased or running) and `jobs_blocked`. Operator reads that filter by a
 *   finished state (`list`, `stats`) scan the table instead of costing every job an index write;
 * - no CHECK or trigger of `jobs` holds an IN list of more than two constants (SQLite evaluates
 *   one through a transient B-tree, inside a trigger once per row), and its guard triggers run
 *   after the write.
 *
 * The job machine guards the `state` column inside the database too: `job_transitions` holds
 * every `(from, event, to)` triple the machine allows (rewritten from the compiled machine when a
 * store opens, if it differs), and triggers refuse any insert or state update that is not such a
 * triple or that does not count its history entry, and write that entry in the same statement.
 * One write may also record a START and the event after it (`events + 2`, both steps checked,
 * both entries written): see version 4.
 */

// Pieces of the schema that a later migration restates (version 3 rebuilds `jobs`): written once.

const JOBS_TABLE_V1 = `CREATE TABLE jobs (
  id               INTEGER PRIMARY KEY AUTOINCREMENT,
  queue            TEXT    NOT NULL,
  name             TEXT    NOT NULL,
  key              TEXT,
  state            TEXT    NOT NULL CHECK (state IN ('queued','blocked','leased','running','done','skipped','error','escalated','cancelled')),
  priority         INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 3),
  run_at           INTEGER NOT NULL,
  created_at       INTEGER NOT NULL,
  updated_at       INTEGER NOT NULL,
  started_at       INTEGER,
  finished_at      INTEGER,
  attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
  policy           INTEGER NOT NULL,
  timeout_ms       INTEGER,
  pending_deps     INTEGER NOT NULL DEFAULT 0 CHECK (pending_deps >= 0),
  on_dep_failure   TEXT    NOT NULL DEFAULT 'cancel' CHECK (on_dep_failure IN ('cancel','skip')),
  escalate_after   INTEGER,
  escalate_to      TEXT,
  escalated_from   INTEGER,
  escalated_to     INTEGER,
  lease_owner      TEXT,
  lease_token      INTEGER NOT NULL DEFAULT 0,
  lease_expires_at INTEGER,
  last_event       TEXT    NOT NULL,
  last_error       TEXT,
  result           TEXT,
  skip_reason      TEXT,
  progress         TEXT,
  events           INTEGER NOT NULL DEFAULT 0
);
`;

const JOBS_INDEXES = `CREATE UNIQUE INDEX jobs_key ON jobs (key) WHERE key IS NOT NULL;
CREATE INDEX jobs_due ON jobs (queue, priority, run_at, id, name) WHERE state = 'queued';
CREATE INDEX jobs_leases ON jobs (lease_expires_at) WHERE state IN ('leased','running');
CREATE INDEX jobs_blocked ON jobs (queue) WHERE state = 'blocked';
CREATE INDEX jobs_escalated_from ON jobs (escalated_from) WHERE escalated_from IS NOT NULL;

`;

const STATE_GUARD = `CREATE TRIGGER jobs_state_guard BEFORE UPDATE OF state ON jobs
WHEN NEW.events <> OLD.events + 1
  OR NOT EXISTS (SELECT 1 FROM job_transitions WHERE from_state = OLD.state AND event = NEW.last_event AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'ERR_INVALID_TRANSITION'); END;

`;

const HISTORY_V1 = `CREATE TRIGGER jobs_state_history AFTER UPDATE OF state ON jobs
BEGIN
  INSERT INTO job_events (job_id, seq, at, event, from_state, to_state, attempt, lease_token, owner, error)
  VALUES (NEW.id, NEW.events, NEW.updated_at, NEW.last_event, OLD.state, NEW.state, NEW.attempts, NEW.lease_token,
          COALESCE(NEW.lease_owner, OLD.lease_owner),
          CASE WHEN NEW.last_event IN ('FAIL', 'LEASE_EXPIRED', 'DEP_FAILED') THEN NEW.last_error END);
END;
`;

const INSERT_GUARD_V2 = `CREATE TRIGGER jobs_insert_guard BEFORE INSERT ON jobs
WHEN NEW.events <> 0
  OR NEW.last_event <> 'ENQUEUE'
  OR NOT EXISTS (SELECT 1 FROM job_transitions WHERE from_state = 'queued' AND event = 'ENQUEUE' AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'ERR_INVALID_TRANSITION'); END;
`;

/**
 * Version 3: the same `jobs` table, its state CHECK spelled as comparisons. SQLite evaluates an
 * IN list of more than two constants through a transient B-tree (built per statement, probed per
 * row); in the history trigger it was built again for every row. Both cost ~30% of the store's
 * lease+start+complete at batch 100 (measured: 28.7 → 20.2 µs per job).
 */
const STATE_CHECK_V1 = "CHECK (state IN ('queued','blocked','leased','running','done','skipped','error','escalated','cancelled'))";
const STATE_CHECK_V3 =
  "CHECK (state = 'queued' OR state = 'blocked' OR state = 'leased' OR state = 'running' OR state = 'done'\n" +
  "                                  OR state = 'skipped' OR state = 'error' OR state = 'escalated' OR state = 'cancelled')";
const JOBS_TABLE_V3 = replaceOnce(JOBS_TABLE_V1, STATE_CHECK_V1, STATE_CHECK_V3);

/** The history entry's error: only events that record one. */
const HISTORY_ERROR_V3 = "CASE WHEN NEW.last_event = 'FAIL' OR NEW.last_event = 'LEASE_EXPIRED' OR NEW.last_event = 'DEP_FAILED' THEN NEW.last_error END";
const HISTORY_V3 = replaceOnce(HISTORY_V1, "CASE WHEN NEW.last_event IN ('FAIL', 'LEASE_EXPIRED', 'DEP_FAILED') THEN NEW.last_error END", HISTORY_ERROR_V3);

/**
 * Version 3's guards run AFTER the write (RAISE still aborts the statement and undoes it): a
 * BEFORE trigger costs SQLite more per row (measured: enqueueMany +7%, lease+complete at batch 1
 * +8%).
 */
const STATE_GUARD_V3 = replaceOnce(STATE_GUARD, 'BEFORE UPDATE OF state ON jobs', 'AFTER UPDATE OF state ON jobs');
const INSERT_GUARD_V3 = replaceOnce(INSERT_GUARD_V2, 'BEFORE INSERT ON jobs', 'AFTER INSERT ON jobs');

/**
 * Version 4: one write may record a START and the event after it (a job that started and ended
 * between two store transactions: most short jobs). The row moves two steps, `events + 2`; the
 * guard checks both steps against `job_transitions` (the first must be START) and the history
 * trigger writes both entries, exactly as two writes would have. It saves the START write of
 * the row and its index entries (measured, A/B in one window: lease+start+complete at batch 90,
 * ~7% less time). The one-step history trigger now fires only for one step.
 */
const STATE_GUARD_V4 = `CREATE TRIGGER jobs_state_guard AFTER UPDATE OF state ON jobs
WHEN CASE NEW.events - OLD.events
  WHEN 1 THEN NOT EXISTS (SELECT 1 FROM job_transitions WHERE from_state = OLD.state AND event = NEW.last_event AND to_state = NEW.state)
  WHEN 2 THEN NOT EXISTS (SELECT 1 FROM job_transitions AS s JOIN job_transitions AS t ON t.from_state = s.to_state
                          WHERE s.from_state = OLD.state AND s.event = 'START' AND t.event = NEW.last_event AND t.to_state = NEW.state)
  ELSE 1 END
BEGIN SELECT RAISE(ABORT, 'ERR_INVALID_TRANSITION'); END;

`;

const HISTORY_V4 = `${replaceOnce(HISTORY_V3, 'AFTER UPDATE OF state ON jobs', 'AFTER UPDATE OF state ON jobs WHEN NEW.events = OLD.events + 1')}
CREATE TRIGGER jobs_state_history_after_start AFTER UPDATE OF state ON jobs WHEN NEW.events = OLD.events + 2
BEGIN
  INSERT INTO job_events (job_id, seq, at, event, from_state, to_state, attempt, lease_token, owner, error)
  SELECT NEW.id, NEW.events - 1, NEW.updated_at, 'START', OLD.state, to_state, NEW.attempts, NEW.lease_token, COALESCE(NEW.lease_owner, OLD.lease_owner), NULL
  FROM job_transitions WHERE from_state = OLD.state AND event = 'START';
  INSERT INTO job_events (job_id, seq, at, event, from_state, to_state, attempt, lease_token, owner, error)
  SELECT NEW.id, NEW.events, NEW.updated_at, NEW.last_event, to_state, NEW.state, NEW.attempts, NEW.lease_token, COALESCE(NEW.lease_owner, OLD.lease_owner), ${HISTORY_ERROR_V3}
  FROM job_transitions WHERE from_state = OLD.state AND event = 'START';
END;
`;

function replaceOnce(text: string, from: string, to: string): string {
  const at = text.indexOf(from);
  if (at < 0 || text.includes(from, at + 1)) throw new Error(`schema: expected exactly one ${from}`);
  return text.slice(0, at) + to + text.slice(at + from.length);
}

/** One migration: its number and its SQL. */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/** The migrations, in order. Never edit a released migration: add a new one. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'jobs, payloads, policies, queues, dependencies, history, transition guard',
    sql: `
CREATE TABLE queues (
  name TEXT PRIMARY KEY
) WITHOUT ROWID;

-- Open connections, by process: a row left by a process that no longer runs means it did not
-- close the store (a crash), and the next open runs PRAGMA quick_check.
CREATE TABLE connections (
  id        INTEGER PRIMARY KEY,
  host      TEXT    NOT NULL,
  pid       INTEGER NOT NULL,
  opened_at INTEGER NOT NULL
);

CREATE TABLE policies (
  id   INTEGER PRIMARY KEY,
  spec TEXT NOT NULL UNIQUE
);

${JOBS_TABLE_V1}${JOBS_INDEXES}CREATE TABLE job_payloads (
  job_id  INTEGER PRIMARY KEY,
  payload TEXT NOT NULL
);

CREATE TABLE job_deps (
  job_id     INTEGER NOT NULL,
  depends_on INTEGER NOT NULL,
  PRIMARY KEY (depends_on, job_id)
) WITHOUT ROWID;
CREATE INDEX job_deps_job ON job_deps (job_id);

CREATE TABLE job_events (
  job_id      INTEGER NOT NULL,
  seq         INTEGER NOT NULL,
  at          INTEGER NOT NULL,
  event       TEXT    NOT NULL,
  from_state  TEXT    NOT NULL,
  to_state    TEXT    NOT NULL,
  attempt     INTEGER NOT NULL,
  lease_token INTEGER NOT NULL,
  owner       TEXT,
  error       TEXT,
  PRIMARY KEY (job_id, seq)
) WITHOUT ROWID;

CREATE TABLE job_transitions (
  from_state TEXT NOT NULL,
  event      TEXT NOT NULL,
  to_state   TEXT NOT NULL,
  PRIMARY KEY (from_state, event, to_state)
) WITHOUT ROWID;

CREATE TRIGGER jobs_insert_guard BEFORE INSERT ON jobs
WHEN NEW.events <> 0
  OR NOT EXISTS (SELECT 1 FROM job_transitions WHERE from_state = 'queued' AND event = NEW.last_event AND to_state = NEW.state)
BEGIN SELECT RAISE(ABORT, 'ERR_INVALID_TRANSITION'); END;

${STATE_GUARD}${HISTORY_V1}`,
  },
  {
    version: 2,
    description: 'insert guard: only ENQUEUE creates a job',
    // Version 1's guard let a row be inserted through any transition out of the initial state
    // (a job born `leased` by LEASE, or `cancelled` by CANCEL): only ENQUEUE creates a job.
    sql: `
DROP TRIGGER jobs_insert_guard;
${INSERT_GUARD_V2}`,
  },
  {
    version: 3,
    description: 'jobs rebuilt: no IN lists in its state CHECK and history trigger, guards after the write (speed)',
    // SQLite cannot alter a CHECK: the table is rebuilt (its rows, ids and AUTOINCREMENT
    // high-water mark kept; indexes and triggers are dropped with the old table and made again).
    sql: `
${JOBS_TABLE_V3.replace('CREATE TABLE jobs (', 'CREATE TABLE jobs_v3 (')}
INSERT INTO jobs_v3 SELECT * FROM jobs;
DELETE FROM sqlite_sequence WHERE name = 'jobs_v3';
INSERT INTO sqlite_sequence (name, seq) SELECT 'jobs_v3', seq FROM sqlite_sequence WHERE name = 'jobs';
DROP TABLE jobs;
ALTER TABLE jobs_v3 RENAME TO jobs;

${JOBS_INDEXES}${INSERT_GUARD_V3}
${STATE_GUARD_V3}${HISTORY_V3}`,
  },
  {
    version: 4,
    description: 'a START and the event after it in one write (events + 2): guard and history triggers (speed)',
    sql: `
DROP TRIGGER jobs_state_guard;
DROP TRIGGER jobs_state_history;
${STATE_GUARD_V4}${HISTORY_V4}`,
  },
];

/** The schema version this code writes. */
export const SCHEMA_VERSION = MIGRATIONS.length;
