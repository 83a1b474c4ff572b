/**
 * A model-based test of SqliteStore: random sequences of enqueue (single, batch, same-tick
 * group commit with a refused item), lease, heartbeat, start, complete, skip, fail, release,
 * settle (start + complete + fail + release + lease in one transaction), cancel, retry, clock
 * advance, recoverExpired and crash (workers forget their leases; optionally the store is closed
 * and reopened on the same file, or its connection is abandoned and a second one takes over),
 * run against a real store on a file and against a small model.
 *
 * The model tracks each job's state, attempts, lease token, lease owner and expiry, run_at,
 * dependencies and history. Wherever the next state depends on the job machine's guards (FAIL,
 * LEASE_EXPIRED, RETRY, ENQUEUE, DEP_FAILED, ...) the model asks the machine itself
 * (`jobLifecycle.next`) with the model's own context: the point is to test the store's SQL
 * against the machine, not to write the machine twice.
 *
 * After every command: every row's state, attempts, token, owner, expiry, run_at, escalation
 * link, history length (and pending dependencies of blocked jobs) equals the model's; every job
 * the command touched has exactly the model's history, which is a chain (each `from` is the
 * previous `to`) ending in the current state with nothing but RETRY after an entry into a
 * terminal state; terminal rows did not change unless retried; every fenced outcome (ok/state,
 * or ERR_LEASE_LOST / ERR_INVALID_TRANSITION / ERR_JOB_NOT_FOUND) is the model's; `lease()`
 * returns exactly the due jobs in priority, run_at, id order, each one the model holds queued
 * (so two live leases never overlap).
 *
 * Runs: `LEASEHOLD_MODEL_RUNS` (default 1,000), up to 20 commands each (10 on average).
 * `LEASEHOLD_MODEL_STATS=1` prints which machine transitions and outcomes the runs reached;
 * `LEASEHOLD_MODEL_FLAGS` chooses which inputs of the (fixed) bugs M1/M2 are generated (end of file).
 */
import fc from 'fast-check';
import { rmSync } from 'node:fs';
import type { Statement } from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import type { JobInput } from '../../src/config.js';
import { LeaseholdError } from '../../src/errors.js';
import { jobLifecycle } from '../../src/job-lifecycle.js';
import { RetryPolicies, retryDelayMs, type RetryPolicy } from '../../src/policies/retry-policy.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import type { EnqueuedJob, JobDetail, LeaseRef, LeasedJob, Outcome } from '../../src/store/store.js';
import { LEASED_STATES, TERMINAL_STATES, type JobEvent, type JobEventType, type JobState } from '../../machines/job.machine.js';
import { tempDir } from '../helpers/temp.js';
import { runs } from './support.js';

const RUNS = runs(1_000, 'LEASEHOLD_MODEL_RUNS');
const MAX_COMMANDS = 20;
const START = 1_700_000_000_000;
/** The store's default policy (short delays, few attempts, so that runs reach every state). */
const STORE_RETRY: RetryPolicy = Object.freeze({ kind: 'linear', baseMs: 200, maxMs: 1_000, jitter: 0.25, maxAttempts: 3 });
const RANDOM = (): number => 0.37;
const WORKERS = ['w1', 'w2', 'w3'] as const;
const QUEUES = ['q1', 'q2'] as const;
const NAMES = ['work', 'other'] as const;
const KEYS = ['k1', 'k2', 'k3'] as const;
const PRIORITY_NAMES = ['critical', 'high', 'normal', 'low'] as const;
const POLICIES: ReadonlyArray<JobInput['retry']> = [
  undefined,
  'NO_RETRY',
  'FAST',
  { kind: 'immediate', maxAttempts: 2 },
  { kind: 'exponential', baseMs: 50, maxMs: 1_000, jitter: 0, maxAttempts: 4 },
  { base: 'FAST', kind: 'fibonacci', jitter: 0.5 },
];
const FAILED_STATES: readonly JobState[] = ['error', 'cancelled', 'skipped', 'escalated'];

function policyOf(input: JobInput['retry']): RetryPolicy {
  if (input === undefined) return STORE_RETRY;
  if (typeof input === 'string') return RetryPolicies[input];
  const { base, ...fields } = input;
  return { ...(base === undefined ? STORE_RETRY : RetryPolicies[base]), ...fields } as RetryPolicy;
}

// ---------------------------------------------------------------------------------------------
// Coverage (printed with LEASEHOLD_MODEL_STATS=1): which machine transitions and outcomes the runs reached

const coverage = new Map<string, number>();
const count = (what: string): void => {
  coverage.set(what, (coverage.get(what) ?? 0) + 1);
};

// ---------------------------------------------------------------------------------------------
// The model

interface HistoryItem {
  readonly event: JobEventType;
  readonly from: JobState | null;
  readonly to: JobState;
  readonly attempt: number;
  readonly leaseToken: number;
  readonly owner: string | null;
  readonly at: number;
}

interface MJob {
  readonly id: number;
  readonly name: string;
  readonly queue: string;
  readonly priority: number;
  readonly key: string | null;
  readonly maxAttempts: number;
  readonly policy: RetryPolicy;
  readonly escalateAfter: number | null;
  readonly onDepFailure: 'cancel' | 'skip';
  /** Resolved dependencies (escalations followed), distinct. */
  readonly deps: Set<number>;
  state: JobState;
  attempts: number;
  runAt: number;
  token: number;
  owner: string | null;
  expiresAt: number | null;
  escalatedTo: number | null;
  readonly history: HistoryItem[];
}

/** What the model lets through: the two bugs below are left out of the main property. */
interface Flags {
  /** Enqueue may name both an escalated job and its successor (bug M1). */
  readonly aliasedDeps: boolean;
  /** One fenced batch may carry two refs of the same job (bug M2). */
  readonly duplicateIdsInBatch: boolean;
}

class Model {
  readonly jobs = new Map<number, MJob>();
  readonly workers = new Map<string, LeaseRef[]>(WORKERS.map((w) => [w, []]));
  lastId = 0;
  now = START;
  /** Jobs changed by the current command. */
  readonly dirty = new Set<number>();
  /** Jobs the current command may move out of a terminal state (RETRY). */
  readonly retried = new Set<number>();
  constructor(readonly flags: Flags) {}

  ids(): number[] {
    return [...this.jobs.keys()];
  }

  job(id: number): MJob {
    const j = this.jobs.get(id);
    if (j === undefined) throw new Error(`model: no job ${id}`);
    return j;
  }

  pendingDeps(job: MJob): number {
    let n = 0;
    for (const d of job.deps) if (this.job(d).state !== 'done') n++;
    return n;
  }

  live(ref: LeaseRef): boolean {
    const j = this.jobs.get(ref.id);
    return j !== undefined && j.token === ref.token && LEASED_STATES.includes(j.state);
  }

  /** Applies `event` through the job machine; `undefined` when the machine does not allow it. */
  transition(job: MJob, event: JobEvent, effects: { runAt?: number; lease?: { owner: string; expiresAt: number } } = {}): JobState | undefined {
    const context = { attempts: job.attempts, maxAttempts: job.maxAttempts, escalateAfter: job.escalateAfter, pendingDeps: this.pendingDeps(job), onDepFailure: job.onDepFailure };
    const step = jobLifecycle.next(job.state, context, event);
    if (step === undefined) return undefined;
    const from = job.state;
    const ownerBefore = job.owner;
    job.state = step.state;
    job.attempts = step.context.attempts;
    if (effects.lease !== undefined) {
      job.token += 1;
      job.owner = effects.lease.owner;
      job.expiresAt = effects.lease.expiresAt;
    } else if (!LEASED_STATES.includes(step.state)) {
      job.owner = null;
      job.expiresAt = null;
    }
    if (effects.runAt !== undefined) job.runAt = effects.runAt;
    job.history.push({ event: event.type, from, to: step.state, attempt: job.attempts, leaseToken: job.token, owner: job.owner ?? ownerBefore, at: this.now });
    this.dirty.add(job.id);
    count(`${from} ${event.type} ${step.state}`);
    return step.state;
  }

  /** Blocked dependents of jobs that ended without being done: DEP_FAILED, transitively. */
  failDependents(ids: Iterable<number>): void {
    let frontier = new Set(ids);
    while (frontier.size > 0) {
      const next = new Set<number>();
      const wave = [...this.jobs.values()].filter((j) => j.state === 'blocked' && [...j.deps].some((d) => frontier.has(d)));
      for (const j of wave) {
        this.transition(j, { type: 'DEP_FAILED' });
        next.add(j.id);
      }
      frontier = next;
    }
  }

  /** Blocked dependents of done jobs with nothing left to wait for: DEPS_DONE. */
  releaseDependents(ids: Iterable<number>): void {
    const done = new Set(ids);
    for (const j of this.jobs.values()) {
      if (j.state === 'blocked' && [...j.deps].some((d) => done.has(d)) && this.pendingDeps(j) === 0) this.transition(j, { type: 'DEPS_DONE' });
    }
  }

  /** Follows escalations: a dependency handed over is its successor's job now. */
  resolve(id: number): number {
    let j = this.job(id);
    while (j.state === 'escalated' && j.escalatedTo !== null) j = this.job(j.escalatedTo);
    return j.id;
  }

  /** Creates a job as ENQUEUE does (state by the machine, DEP_FAILED at once if a dependency failed). */
  create(id: number, spec: { name: string; queue: string; priority: number; key: string | null; policy: RetryPolicy; escalateAfter: number | null; onDepFailure: 'cancel' | 'skip'; runAt: number; deps: readonly number[] }): MJob {
    expect(id, 'job ids grow').toBeGreaterThan(this.lastId);
    this.lastId = id;
    const job: MJob = {
      id,
      name: spec.name,
      queue: spec.queue,
      priority: spec.priority,
      key: spec.key,
      maxAttempts: spec.policy.maxAttempts,
      policy: spec.policy,
      escalateAfter: spec.escalateAfter,
      onDepFailure: spec.onDepFailure,
      deps: new Set(spec.deps),
      state: 'queued',
      attempts: 0,
      runAt: spec.runAt,
      token: 0,
      owner: null,
      expiresAt: null,
      escalatedTo: null,
      history: [],
    };
    this.jobs.set(id, job);
    const context = { attempts: 0, maxAttempts: job.maxAttempts, escalateAfter: job.escalateAfter, pendingDeps: this.pendingDeps(job), onDepFailure: job.onDepFailure };
    const created = jobLifecycle.next(jobLifecycle.initialState, context, { type: 'ENQUEUE' });
    if (created === undefined) throw new Error('machine: ENQUEUE not handled');
    job.state = created.state;
    job.history.push({ event: 'ENQUEUE', from: null, to: created.state, attempt: 0, leaseToken: 0, owner: null, at: this.now });
    this.dirty.add(id);
    if ([...job.deps].some((d) => FAILED_STATES.includes(this.job(d).state))) this.transition(job, { type: 'DEP_FAILED' });
    return job;
  }

  /** Workers forget refs they were told are no longer live leases. */
  forget(refs: readonly LeaseRef[]): void {
    for (const [worker, held] of this.workers) {
      this.workers.set(
        worker,
        held.filter((h) => !refs.some((r) => r.id === h.id && r.token === h.token)),
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The real side

interface Real {
  store: SqliteStore;
  readonly clock: ManualClock;
  readonly path: string;
  rows: Statement;
  /** Full rows at the previous check, by id. */
  previous: Map<number, Record<string, unknown>>;
  /** Connections of "dead" processes, closed at the end of the run. */
  readonly abandoned: SqliteStore[];
}

function open(path: string, clock: ManualClock): SqliteStore {
  return createSqliteStore({ path, clock, random: RANDOM, synchronous: 'NORMAL', retry: { ...STORE_RETRY } });
}

const ROWS_SQL = 'SELECT * FROM jobs ORDER BY id';

type Row = {
  id: number;
  state: JobState;
  attempts: number;
  lease_token: number;
  lease_owner: string | null;
  lease_expires_at: number | null;
  run_at: number;
  pending_deps: number;
  events: number;
  escalated_to: number | null;
} & Record<string, unknown>;

/** Compares every row with the model; full histories of the jobs the command touched. */
async function checkAll(m: Model, r: Real, everything = false): Promise<void> {
  const rows = r.rows.all() as Row[];
  expect(rows.map((row) => row.id), 'the same jobs exist').toEqual(m.ids().sort((a, b) => a - b));
  for (const row of rows) {
    const j = m.job(row.id);
    const leased = LEASED_STATES.includes(j.state);
    expect(
      {
        state: row.state,
        attempts: row.attempts,
        token: row.lease_token,
        owner: row.lease_owner,
        expiresAt: row.lease_expires_at,
        runAt: row.run_at,
        changes: row.events,
        escalatedTo: row.escalated_to,
        ...(j.state === 'blocked' ? { pendingDeps: row.pending_deps } : {}),
      },
      `job ${j.id}`,
    ).toEqual({
      state: j.state,
      attempts: j.attempts,
      token: j.token,
      owner: leased ? j.owner : null,
      expiresAt: leased ? j.expiresAt : null,
      runAt: j.runAt,
      changes: j.history.length - 1,
      escalatedTo: j.escalatedTo,
      ...(j.state === 'blocked' ? { pendingDeps: m.pendingDeps(j) } : {}),
    });
    // Terminal jobs never change, except by RETRY.
    const before = r.previous.get(row.id);
    if (before !== undefined && TERMINAL_STATES.includes(before.state as JobState) && !m.retried.has(row.id)) {
      expect(row, `terminal job ${row.id} (${String(before.state)}) changed without a RETRY`).toEqual(before);
    }
  }
  for (const id of everything ? m.ids() : m.dirty) await checkHistory(m, r, id);
  r.previous = new Map(rows.map((row) => [row.id, row]));
  m.dirty.clear();
  m.retried.clear();
  // No worker holds two live refs, and no two workers hold the same live lease.
  const live = [...m.workers.values()].flat().filter((ref) => m.live(ref));
  expect(new Set(live.map((ref) => ref.id)).size, 'one live lease per job').toBe(live.length);
}

async function checkHistory(m: Model, r: Real, id: number): Promise<void> {
  const j = m.job(id);
  const detail = (await r.store.get(id)) as JobDetail;
  const h = detail.history;
  // A chain from the creation to the current state.
  expect(h[0]?.from, `job ${id} history starts with its creation`).toBeNull();
  for (let i = 1; i < h.length; i++) expect(h[i]?.from, `job ${id} history[${i}].from`).toBe(h[i - 1]?.to);
  expect(h.at(-1)?.to, `job ${id} history ends in its state`).toBe(detail.state);
  // After an entry into a terminal state, only a RETRY out of it: one terminal entry per run.
  for (let i = 0; i + 1 < h.length; i++) {
    const to = h[i]?.to as JobState;
    if (TERMINAL_STATES.includes(to)) expect({ event: h[i + 1]?.event, from: h[i + 1]?.from }, `job ${id} left terminal ${to}`).toEqual({ event: 'RETRY', from: to });
  }
  expect(
    h.map((e) => ({ event: e.event, from: e.from, to: e.to, attempt: e.attempt, leaseToken: e.leaseToken, owner: e.owner, at: e.at })),
    `job ${id} history`,
  ).toEqual(j.history);
}

/** Checks one fenced outcome against the model's prediction for that ref. */
function expectOutcome(actual: Outcome | undefined, expected: Outcome, what: string): void {
  count(expected.ok ? 'outcome ok' : `outcome ${expected.code}`);
  expect(actual, what).toEqual(expected);
}

/** Why a fenced ref changes nothing, as the model sees it. */
function rejection(m: Model, ref: LeaseRef): Outcome {
  const j = m.jobs.get(ref.id);
  if (j === undefined) return { id: ref.id, token: ref.token, ok: false, code: 'ERR_JOB_NOT_FOUND' };
  return { id: ref.id, token: ref.token, ok: false, code: m.live(ref) ? 'ERR_INVALID_TRANSITION' : 'ERR_LEASE_LOST', state: j.state };
}

// ---------------------------------------------------------------------------------------------
// Commands

interface EnqueueSpec {
  readonly name: (typeof NAMES)[number];
  readonly queue: (typeof QUEUES)[number];
  readonly priority: number;
  readonly timing: { readonly delayMs: number } | { readonly pastMs: number } | null;
  readonly key: string | null;
  readonly policy: number;
  readonly escalateAfter: number | null;
  readonly depPicks: readonly number[];
  readonly onDepFailure: 'cancel' | 'skip';
}

const enqueueSpec: fc.Arbitrary<EnqueueSpec> = fc.record({
  name: fc.constantFrom(...NAMES),
  queue: fc.constantFrom(...QUEUES),
  priority: fc.integer({ min: 0, max: 3 }),
  timing: fc.oneof(
    { weight: 3, arbitrary: fc.constant(null) },
    { weight: 1, arbitrary: fc.record({ delayMs: fc.integer({ min: 0, max: 3_000 }) }) },
    { weight: 1, arbitrary: fc.record({ pastMs: fc.integer({ min: 0, max: 3_000 }) }) },
  ),
  key: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom(...KEYS) }),
  policy: fc.nat({ max: POLICIES.length - 1 }),
  escalateAfter: fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 3 }) }),
  depPicks: fc.oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }) }),
  onDepFailure: fc.constantFrom('cancel' as const, 'skip' as const),
});

const specText = (s: EnqueueSpec): string =>
  `{${s.name}@${s.queue} p${s.priority}${s.timing === null ? '' : 'delayMs' in s.timing ? ` +${s.timing.delayMs}` : ` -${s.timing.pastMs}`}${s.key === null ? '' : ` key ${s.key}`} policy ${s.policy}${s.escalateAfter === null ? '' : ` escalate@${s.escalateAfter}`}${s.depPicks.length > 0 ? ` deps[${s.depPicks.join(',')}] ${s.onDepFailure}` : ''}}`;

/** Turns a spec into store input (dependencies picked among existing jobs) and the model's view of it. */
function inputOf(m: Model, s: EnqueueSpec, index: number): { input: JobInput; requested: number[] } {
  const ids = m.ids();
  let requested = ids.length === 0 ? [] : s.depPicks.map((p) => ids[p % ids.length] as number);
  if (!m.flags.aliasedDeps) {
    // Leave out a second id that resolves to the same job as an earlier, different id (bug M1).
    const seen = new Map<number, number>();
    requested = requested.filter((id) => {
      const to = m.resolve(id);
      const first = seen.get(to);
      if (first !== undefined && first !== id) return false;
      seen.set(to, id);
      return true;
    });
  }
  const t = s.timing;
  const input: JobInput = {
    name: s.name,
    queue: s.queue,
    priority: PRIORITY_NAMES[s.priority],
    payload: { index, at: m.now },
    ...(t === null ? {} : 'delayMs' in t ? { delayMs: t.delayMs } : { runAt: m.now - t.pastMs }),
    ...(s.key === null ? {} : { key: s.key }),
    ...(POLICIES[s.policy] === undefined ? {} : { retry: POLICIES[s.policy] }),
    ...(s.escalateAfter === null ? {} : { escalate: { after: s.escalateAfter, to: 'fallback' } }),
    ...(requested.length === 0 ? {} : { dependsOn: requested, onDepFailure: s.onDepFailure }),
  };
  return { input, requested };
}

/** Applies an accepted enqueue to the model and checks what the store reported. */
function applyEnqueue(m: Model, s: EnqueueSpec, requested: readonly number[], got: EnqueuedJob): void {
  const existing = s.key === null ? undefined : [...m.jobs.values()].find((j) => j.key === s.key);
  if (existing !== undefined) {
    expect(got, `key ${s.key} is a duplicate of job ${existing.id}`).toEqual({ id: existing.id, name: existing.name, queue: existing.queue, state: existing.state, key: s.key, duplicate: true });
    return;
  }
  const t = s.timing;
  const runAt = t === null ? m.now : 'delayMs' in t ? m.now + t.delayMs : m.now - t.pastMs;
  const job = m.create(got.id, {
    name: s.name,
    queue: s.queue,
    priority: s.priority,
    key: s.key,
    policy: policyOf(POLICIES[s.policy]),
    escalateAfter: s.escalateAfter,
    onDepFailure: requested.length === 0 ? 'cancel' : s.onDepFailure,
    runAt,
    deps: [...new Set(requested)].map((id) => m.resolve(id)),
  });
  expect(got).toEqual({ id: job.id, name: s.name, queue: s.queue, state: job.state, key: s.key, duplicate: false });
}

type Cmd = fc.AsyncCommand<Model, Real>;

class EnqueueCmd implements Cmd {
  constructor(readonly spec: EnqueueSpec) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const { input, requested } = inputOf(m, this.spec, m.lastId + 1);
    applyEnqueue(m, this.spec, requested, await r.store.enqueue(input));
    await checkAll(m, r);
  }
  toString(): string {
    return `enqueue ${specText(this.spec)}`;
  }
}

class EnqueueManyCmd implements Cmd {
  constructor(readonly specs: readonly EnqueueSpec[]) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    // Dependencies refer to jobs that exist before the batch.
    const prepared = this.specs.map((s, i) => inputOf(m, s, i));
    const got = await r.store.enqueueMany(prepared.map((p) => p.input));
    expect(got).toHaveLength(this.specs.length);
    this.specs.forEach((s, i) => applyEnqueue(m, s, (prepared[i] as { requested: number[] }).requested, got[i] as EnqueuedJob));
    await checkAll(m, r);
  }
  toString(): string {
    return `enqueueMany [${this.specs.map(specText).join(', ')}]`;
  }
}

/** Several `enqueue` calls in one tick (one group commit); `missing` gives one of them a dependency that does not exist. */
class EnqueueConcurrentCmd implements Cmd {
  constructor(
    readonly specs: readonly EnqueueSpec[],
    readonly missing: number | null,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const prepared = this.specs.map((s, i) => inputOf(m, s, i));
    const bad = this.missing === null ? -1 : this.missing % this.specs.length;
    const missingId = m.lastId + 1_000_000;
    const inputs = prepared.map((p, i) => (i === bad ? { ...p.input, dependsOn: [...(p.input.dependsOn ?? []), missingId] } : p.input));
    const settled = await Promise.allSettled(inputs.map((input) => r.store.enqueue(input)));
    settled.forEach((s, i) => {
      if (i === bad) {
        expect(s.status, 'the job with a missing dependency is refused').toBe('rejected');
        expect((s as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_JOB_NOT_FOUND', value: missingId });
        return;
      }
      if (s.status === 'rejected') throw s.reason;
      applyEnqueue(m, this.specs[i] as EnqueueSpec, (prepared[i] as { requested: number[] }).requested, s.value);
    });
    await checkAll(m, r);
  }
  toString(): string {
    return `enqueue×${this.specs.length} in one tick [${this.specs.map(specText).join(', ')}]${this.missing === null ? '' : ` (#${this.missing % this.specs.length} with a missing dependency)`}`;
  }
}

interface LeaseSpec {
  readonly worker: (typeof WORKERS)[number];
  readonly limit: number;
  readonly ttlMs: number;
  readonly queue: undefined | (typeof QUEUES)[number] | 'q3' | 'both';
  readonly names: undefined | 'work' | 'fallback';
}

function leaseRequest(spec: LeaseSpec): Parameters<SqliteStore['lease']>[0] {
  const { worker, limit, ttlMs, queue, names } = spec;
  return {
    owner: worker,
    limit,
    ttlMs,
    ...(queue === undefined ? {} : { queue: queue === 'both' ? ['q1', 'q2'] : queue }),
    ...(names === undefined ? {} : { names: [names] }),
  };
}

/** Checks what `lease` returned against the model's due jobs, and applies LEASE to them. */
function applyLease(m: Model, spec: LeaseSpec, got: readonly LeasedJob[]): void {
  const { worker, limit, ttlMs, queue, names } = spec;
  const queues = queue === undefined ? undefined : queue === 'both' ? ['q1', 'q2'] : [queue];
  const due = [...m.jobs.values()]
    .filter((j) => j.state === 'queued' && j.runAt <= m.now && (queues === undefined || queues.includes(j.queue)) && (names === undefined || j.name === names))
    .sort((a, b) => a.priority - b.priority || a.runAt - b.runAt || a.id - b.id)
    .slice(0, limit);
  expect(
    got.map((j) => j.id),
    'lease() returns exactly the due jobs, by priority, run_at, id',
  ).toEqual(due.map((j) => j.id));
  for (const [i, leased] of got.entries()) {
    const j = due[i] as MJob;
    expect(j.state, `job ${j.id} is leased while the model holds it ${j.state}`).toBe('queued');
    const previousToken = j.token;
    m.transition(j, { type: 'LEASE' }, { lease: { owner: worker, expiresAt: m.now + ttlMs } });
    expect(leased.token, 'a new lease has a new, higher token').toBeGreaterThan(previousToken);
    expect(leased).toMatchObject<Partial<LeasedJob>>({
      id: j.id,
      token: j.token,
      owner: worker,
      leaseExpiresAt: m.now + ttlMs,
      attempt: j.attempts,
      maxAttempts: j.maxAttempts,
      escalateAfter: j.escalateAfter,
      priority: PRIORITY_NAMES[j.priority] as (typeof PRIORITY_NAMES)[number],
      runAt: j.runAt,
      queue: j.queue,
      name: j.name,
    });
    m.workers.get(worker)?.push({ id: j.id, token: j.token });
  }
}

class LeaseCmd implements Cmd {
  constructor(readonly spec: LeaseSpec) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    applyLease(m, this.spec, await r.store.lease(leaseRequest(this.spec)));
    await checkAll(m, r);
  }
  toString(): string {
    const { worker, limit, ttlMs, queue, names } = this.spec;
    return `lease ${worker} limit ${limit} ttl ${ttlMs}${queue === undefined ? '' : ` queue ${queue}`}${names === undefined ? '' : ` names [${names}]`}`;
  }
}

/** Which refs a fenced command sends: some of those the workers hold (live or stale), and maybe one forged. */
interface RefSpec {
  readonly picks: readonly number[];
  /** A forged ref: a job, and its token shifted by `delta` (0: the current token); `missing`: an unknown id. */
  readonly forge: { readonly job: number; readonly delta: -1 | 0 | 1 } | 'missing' | null;
}

function refsOf(m: Model, s: RefSpec): LeaseRef[] {
  const held = [...m.workers.values()].flat();
  const out: LeaseRef[] = [];
  if (held.length > 0) for (const p of s.picks) out.push(held[p % held.length] as LeaseRef);
  if (s.forge === 'missing') out.push({ id: m.lastId + 1_000_000, token: 1 });
  else if (s.forge !== null && m.jobs.size > 0) {
    const ids = m.ids();
    const j = m.job(ids[s.forge.job % ids.length] as number);
    out.push({ id: j.id, token: Math.max(0, j.token + s.forge.delta) });
  }
  // The same ref twice is one ref; two refs of one job are left out unless asked for (bug M2).
  const unique = out.filter((ref, i) => out.findIndex((o) => o.id === ref.id && o.token === ref.token) === i);
  return m.flags.duplicateIdsInBatch ? unique : unique.filter((ref, i) => unique.findIndex((o) => o.id === ref.id) === i);
}

const refText = (s: RefSpec): string =>
  `refs[${s.picks.join(',')}]${s.forge === null ? '' : s.forge === 'missing' ? ' + unknown id' : ` + forged(job#${s.forge.job}, token${s.forge.delta >= 0 ? '+' : ''}${s.forge.delta})`}`;

class HeartbeatCmd implements Cmd {
  constructor(
    readonly refs: RefSpec,
    readonly ttlMs: number,
  ) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const refs = refsOf(m, this.refs);
    const lost = refs.filter((ref) => !m.live(ref));
    const result = await r.store.heartbeat(refs, this.ttlMs);
    expect(result, 'heartbeat extends the live leases and reports the others lost').toEqual({ expiresAt: m.now + this.ttlMs, lost });
    for (const ref of refs) {
      if (m.live(ref)) m.job(ref.id).expiresAt = m.now + this.ttlMs;
    }
    m.forget(lost);
    await checkAll(m, r);
  }
  toString(): string {
    return `heartbeat ${refText(this.refs)} ttl ${this.ttlMs}`;
  }
}

type FencedKind = 'start' | 'complete' | 'skip' | 'fail' | 'release';
const EVENT_OF: Record<FencedKind, JobEventType> = { start: 'START', complete: 'SUCCEED', skip: 'SKIP', fail: 'FAIL', release: 'PAUSE' };

/**
 * Applies one kind of fenced operation to the model, item by item, checking each outcome; returns
 * the jobs that ended (done/skipped/error) for the dependents' events that follow.
 */
function applyFenced(m: Model, kind: FencedKind, refs: readonly LeaseRef[], outcomes: readonly Outcome[], retryable: boolean): number[] {
  expect(outcomes, `${kind}: one outcome per item`).toHaveLength(refs.length);
  const event = EVENT_OF[kind];
  const ended: number[] = [];
  // A rejection reports the job's state after the whole batch: check those last.
  const rejected: Array<{ ref: LeaseRef; code: Outcome; actual: Outcome | undefined; what: string }> = [];
  for (const [i, ref] of refs.entries()) {
    const actual = outcomes[i];
    const j = m.jobs.get(ref.id);
    const what = `${kind} of job ${ref.id} with token ${ref.token}`;
    if (j === undefined || !m.live(ref) || !jobLifecycle.handles(j.state, event)) {
      rejected.push({ ref, code: rejection(m, ref), actual, what });
      continue;
    }
    if (kind !== 'fail') {
      const to = m.transition(j, { type: event } as JobEvent);
      expectOutcome(actual, { id: ref.id, token: ref.token, ok: true, state: to as JobState }, what);
      if (to === 'done' || to === 'skipped') ended.push(j.id);
      continue;
    }
    // FAIL: the machine decides (escalate, retry with backoff, or error).
    const attemptsBefore = j.attempts;
    const context = { attempts: j.attempts, maxAttempts: j.maxAttempts, escalateAfter: j.escalateAfter, pendingDeps: m.pendingDeps(j), onDepFailure: j.onDepFailure };
    const next = jobLifecycle.next(j.state, context, { type: 'FAIL', retryable });
    if (next === undefined) throw new Error(`machine: FAIL not handled in ${j.state}`);
    if (next.state === 'queued') {
      const runAt = m.now + retryDelayMs(j.policy, attemptsBefore, RANDOM);
      m.transition(j, { type: 'FAIL', retryable }, { runAt });
      expectOutcome(actual, { id: ref.id, token: ref.token, ok: true, state: 'queued', runAt }, what);
    } else if (next.state === 'escalated') {
      const successorId = (actual as { escalatedTo?: number } | undefined)?.escalatedTo;
      expect(successorId, `${what}: escalated to a new job`).toBeTypeOf('number');
      const successor = m.create(successorId as number, {
        name: 'fallback',
        queue: j.queue,
        priority: j.priority,
        key: null,
        policy: STORE_RETRY,
        escalateAfter: null,
        onDepFailure: 'cancel',
        runAt: m.now,
        deps: [],
      });
      // Dependents of the escalated job wait for its successor now.
      for (const d of m.jobs.values()) {
        if (d.deps.delete(j.id)) d.deps.add(successor.id);
      }
      j.escalatedTo = successor.id;
      m.transition(j, { type: 'FAIL', retryable });
      expectOutcome(actual, { id: ref.id, token: ref.token, ok: true, state: 'escalated', escalatedTo: successor.id }, what);
    } else {
      m.transition(j, { type: 'FAIL', retryable });
      expectOutcome(actual, { id: ref.id, token: ref.token, ok: true, state: next.state }, what);
      if (next.state === 'error') ended.push(j.id);
    }
  }
  for (const r of rejected) {
    const final = m.jobs.get(r.ref.id);
    const expected = !r.code.ok && r.code.state !== undefined && final !== undefined ? { ...r.code, state: final.state } : r.code;
    expectOutcome(r.actual, expected, r.what);
  }
  return ended;
}

class FencedCmd implements Cmd {
  constructor(
    readonly kind: FencedKind,
    readonly refs: RefSpec,
    readonly retryable: boolean,
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.jobs.size > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const refs = refsOf(m, this.refs);
    if (refs.length === 0) return;
    const error = { name: 'Error', message: `${this.kind} failed`, code: 'E_TEST', retryable: this.retryable };
    let outcomes: Outcome[];
    switch (this.kind) {
      case 'start':
        outcomes = await r.store.start(refs);
        break;
      case 'complete':
        outcomes = await r.store.complete(refs.map((ref) => ({ ...ref, result: { id: ref.id } })));
        break;
      case 'skip':
        outcomes = await r.store.skip(refs.map((ref) => ({ ...ref, reason: 'nothing to do' })));
        break;
      case 'fail':
        outcomes = await r.store.fail(refs.map((ref) => ({ ...ref, error })));
        break;
      case 'release':
        outcomes = await r.store.release(refs);
        break;
    }
    const ended = applyFenced(m, this.kind, refs, outcomes, this.retryable);
    if (this.kind === 'complete') m.releaseDependents(ended);
    if (this.kind === 'skip' || this.kind === 'fail') m.failDependents(ended);
    // A worker drops every ref it got an answer for, except leases it still holds.
    m.forget(refs.filter((ref) => !m.live(ref)));
    await checkAll(m, r);
  }
  toString(): string {
    return `${this.kind} ${refText(this.refs)}${this.kind === 'fail' ? (this.retryable ? ' retryable' : ' fatal') : ''}`;
  }
}

/** What a supervisor writes in one transaction: starts, completions, failures, releases, then a new lease. */
interface SettleSpec {
  readonly start: RefSpec | null;
  readonly complete: RefSpec | null;
  readonly fail: RefSpec | null;
  readonly retryable: boolean;
  readonly release: RefSpec | null;
  readonly lease: LeaseSpec | null;
}

class SettleCmd implements Cmd {
  constructor(readonly spec: SettleSpec) {}
  check(m: Readonly<Model>): boolean {
    return m.jobs.size > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const s = this.spec;
    // Every list is chosen from what the workers hold before the batch.
    const lists = { start: s.start === null ? [] : refsOf(m, s.start), complete: s.complete === null ? [] : refsOf(m, s.complete), fail: s.fail === null ? [] : refsOf(m, s.fail), release: s.release === null ? [] : refsOf(m, s.release) };
    const error = { name: 'Error', message: 'failed in a batch', retryable: s.retryable };
    const result = await r.store.settle({
      start: lists.start,
      complete: lists.complete.map((ref) => ({ ...ref, resultText: '{"batched":true}' })),
      fail: lists.fail.map((ref) => ({ ...ref, error })),
      release: lists.release,
      ...(s.lease === null ? {} : { lease: leaseRequest(s.lease) }),
    });
    // The store's order: start, complete, fail, release; then dependents; then the lease.
    applyFenced(m, 'start', lists.start, result.start, true);
    const done = applyFenced(m, 'complete', lists.complete, result.complete, true);
    const failed = applyFenced(m, 'fail', lists.fail, result.fail, s.retryable);
    applyFenced(m, 'release', lists.release, result.release, true);
    m.releaseDependents(done);
    m.failDependents(failed);
    if (s.lease !== null) applyLease(m, s.lease, result.leased);
    else expect(result.leased).toEqual([]);
    const all = [...lists.start, ...lists.complete, ...lists.fail, ...lists.release];
    m.forget(all.filter((ref) => !m.live(ref)));
    await checkAll(m, r);
  }
  toString(): string {
    const s = this.spec;
    const parts = [
      s.start === null ? '' : `start ${refText(s.start)}`,
      s.complete === null ? '' : `complete ${refText(s.complete)}`,
      s.fail === null ? '' : `fail ${refText(s.fail)}${s.retryable ? ' retryable' : ' fatal'}`,
      s.release === null ? '' : `release ${refText(s.release)}`,
      s.lease === null ? '' : `then ${new LeaseCmd(s.lease).toString()}`,
    ];
    return `settle {${parts.filter((p) => p !== '').join('; ')}}`;
  }
}

class OperatorCmd implements Cmd {
  constructor(
    readonly kind: 'cancel' | 'retry',
    readonly pick: number | 'missing',
  ) {}
  check(m: Readonly<Model>): boolean {
    return m.jobs.size > 0;
  }
  async run(m: Model, r: Real): Promise<void> {
    const ids = m.ids();
    const id = this.pick === 'missing' ? m.lastId + 1_000_000 : (ids[this.pick % ids.length] as number);
    const j = m.jobs.get(id);
    let result: JobState | LeaseholdError;
    try {
      result = this.kind === 'cancel' ? await r.store.cancel(id) : await r.store.retry(id);
    } catch (error) {
      if (!(error instanceof LeaseholdError)) throw error;
      result = error;
    }
    const event: JobEventType = this.kind === 'cancel' ? 'CANCEL' : 'RETRY';
    if (j === undefined) {
      expect(result).toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
    } else if (!jobLifecycle.handles(j.state, event)) {
      expect(result, `${event} of a ${j.state} job is refused`).toMatchObject({ code: 'ERR_INVALID_TRANSITION' });
    } else {
      if (event === 'RETRY') m.retried.add(j.id);
      const to = m.transition(j, { type: event }, event === 'RETRY' ? { runAt: m.now } : {});
      expect(result).toBe(to);
      if (event === 'CANCEL') m.failDependents([j.id]);
    }
    await checkAll(m, r);
  }
  toString(): string {
    return `${this.kind} ${this.pick === 'missing' ? 'an unknown id' : `job#${this.pick}`}`;
  }
}

class AdvanceCmd implements Cmd {
  constructor(readonly ms: number) {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    r.clock.advance(this.ms);
    m.now += this.ms;
    await checkAll(m, r);
  }
  toString(): string {
    return `advance ${this.ms} ms`;
  }
}

class RecoverCmd implements Cmd {
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    const expired = [...m.jobs.values()].filter((j) => LEASED_STATES.includes(j.state) && (j.expiresAt as number) <= m.now);
    const expected = expired.map((j) => {
      const owner = j.owner as string;
      const token = j.token;
      const state = m.transition(j, { type: 'LEASE_EXPIRED' }, { runAt: m.now }) as JobState;
      return { id: j.id, token, owner, state };
    });
    m.failDependents(expected.filter((e) => e.state !== 'queued').map((e) => e.id));
    const got = await r.store.recoverExpired();
    const byId = (a: { id: number }, b: { id: number }) => a.id - b.id;
    expect([...got].sort(byId), 'recoverExpired gives back exactly the expired leases').toEqual(expected.sort(byId));
    await checkAll(m, r);
  }
  toString(): string {
    return 'recoverExpired';
  }
}

/**
 * The workers' process dies: their in-memory leases are gone. `close`: the store is closed and
 * reopened on the same file. `abandon`: the old connection is left open and unused, as a dead
 * process's would be (closed only at the end of the run), and a new one takes over.
 */
class CrashCmd implements Cmd {
  constructor(readonly store: 'keep' | 'close' | 'abandon') {}
  check(): boolean {
    return true;
  }
  async run(m: Model, r: Real): Promise<void> {
    for (const w of WORKERS) m.workers.set(w, []);
    if (this.store !== 'keep') {
      if (this.store === 'close') await r.store.close();
      else r.abandoned.push(r.store);
      r.store = open(r.path, r.clock);
      r.rows = r.store.database.prepare(ROWS_SQL);
    }
    await checkAll(m, r, this.store !== 'keep');
  }
  toString(): string {
    return this.store === 'keep' ? 'crash (workers forget their leases)' : `crash (workers forget their leases; ${this.store} the store and open it again)`;
  }
}

// ---------------------------------------------------------------------------------------------
// Arbitraries

const worker = fc.constantFrom(...WORKERS);
const refSpec: fc.Arbitrary<RefSpec> = fc.record({
  picks: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
  forge: fc.oneof(
    { weight: 6, arbitrary: fc.constant(null) },
    { weight: 2, arbitrary: fc.record({ job: fc.nat(), delta: fc.constantFrom(-1 as const, 0 as const, 1 as const) }) },
    { weight: 1, arbitrary: fc.constant('missing' as const) },
  ),
});
/** Weighted: each arbitrary appears `weight` times in the list fc.commands picks from. */
const weighted = (weight: number, arb: fc.Arbitrary<Cmd>): Array<fc.Arbitrary<Cmd>> => Array.from({ length: weight }, () => arb);

const leaseSpec: fc.Arbitrary<LeaseSpec> = fc.record({
  worker,
  limit: fc.integer({ min: 1, max: 4 }),
  ttlMs: fc.integer({ min: 100, max: 5_000 }),
  queue: fc.constantFrom(undefined, undefined, undefined, 'q1' as const, 'q2' as const, 'q3' as const, 'both' as const),
  names: fc.constantFrom(undefined, undefined, undefined, undefined, 'work' as const, 'fallback' as const),
});
const leaseArb = leaseSpec.map((spec) => new LeaseCmd(spec));
const maybeRefs = fc.option(refSpec, { nil: null, freq: 2 });
const settleArb = fc
  .record({ start: maybeRefs, complete: maybeRefs, fail: maybeRefs, retryable: fc.boolean(), release: fc.option(refSpec, { nil: null, freq: 1 }), lease: fc.option(leaseSpec, { nil: null }) })
  .map((spec) => new SettleCmd(spec));
const jobPick = fc.oneof({ weight: 8, arbitrary: fc.nat() }, { weight: 1, arbitrary: fc.constant('missing' as const) });

const commands: Array<fc.Arbitrary<Cmd>> = [
  ...weighted(4, enqueueSpec.map((spec) => new EnqueueCmd(spec))),
  ...weighted(1, fc.array(enqueueSpec, { minLength: 1, maxLength: 3 }).map((specs) => new EnqueueManyCmd(specs))),
  ...weighted(1, fc.tuple(fc.array(enqueueSpec, { minLength: 2, maxLength: 3 }), fc.option(fc.nat(), { nil: null })).map(([specs, missing]) => new EnqueueConcurrentCmd(specs, missing))),
  ...weighted(4, leaseArb),
  ...weighted(1, fc.tuple(refSpec, fc.integer({ min: 100, max: 5_000 })).map(([refs, ttl]) => new HeartbeatCmd(refs, ttl))),
  ...weighted(4, refSpec.map((refs) => new FencedCmd('start', refs, true))),
  ...weighted(2, refSpec.map((refs) => new FencedCmd('complete', refs, true))),
  ...weighted(1, refSpec.map((refs) => new FencedCmd('skip', refs, true))),
  ...weighted(3, fc.tuple(refSpec, fc.boolean()).map(([refs, retryable]) => new FencedCmd('fail', refs, retryable))),
  ...weighted(1, refSpec.map((refs) => new FencedCmd('release', refs, true))),
  ...weighted(2, settleArb),
  ...weighted(1, jobPick.map((pick) => new OperatorCmd('cancel', pick))),
  ...weighted(2, jobPick.map((pick) => new OperatorCmd('retry', pick))),
  ...weighted(3, fc.integer({ min: 1, max: 6_000 }).map((ms) => new AdvanceCmd(ms))),
  ...weighted(3, fc.constant(new RecoverCmd())),
  ...weighted(1, fc.constantFrom('keep' as const, 'close' as const, 'abandon' as const).map((how) => new CrashCmd(how))),
];

// ---------------------------------------------------------------------------------------------
// Running

const dir = tempDir('leasehold-model-');
let runNumber = 0;
afterAll(() => {
  dir[Symbol.dispose]();
  if (process.env.LEASEHOLD_MODEL_STATS !== undefined) {
    const triples = jobLifecycle.triples().map(([f, e, t]) => `${f} ${e} ${t}`);
    const lines = [...coverage.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([k, n]) => `${String(n).padStart(8)}  ${k}`);
    // ENQUEUE is recorded as a creation; `error RETRY blocked` cannot happen in a store: a job
    // reaches `error` only after all its dependencies are done, and `done` is final.
    const missed = triples.filter((t) => !coverage.has(t) && !t.startsWith('queued ENQUEUE') && t !== 'error RETRY blocked');
    console.log(`${lines.join('\n')}\nmachine transitions never reached: ${missed.length === 0 ? 'none' : missed.join(', ')}`);
  }
});

/** Runs one command sequence against a fresh store file and a fresh model. */
async function runModel(cmds: Iterable<Cmd>, flags: Flags): Promise<void> {
  const path = dir.file(`run-${++runNumber}.db`);
  const clock = new ManualClock(START);
  const store = open(path, clock);
  const real: Real = { store, clock, path, rows: store.database.prepare(ROWS_SQL), previous: new Map(), abandoned: [] };
  const model = new Model(flags);
  try {
    await fc.asyncModelRun(() => ({ model, real }), cmds);
    await checkAll(model, real, true);
    // Counts agree too.
    const stats = await real.store.stats();
    const counts = Object.fromEntries([...new Set([...model.jobs.values()].map((j) => j.state))].map((s) => [s, [...model.jobs.values()].filter((j) => j.state === s).length]));
    for (const [state, n] of Object.entries(stats.byState)) expect(n, `stats().byState.${state}`).toBe(counts[state] ?? 0);
    expect(await real.store.pendingCount()).toBe([...model.jobs.values()].filter((j) => ['queued', 'blocked', 'leased', 'running'].includes(j.state)).length);
  } finally {
    await real.store.close();
    for (const old of real.abandoned) await old.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
  }
}

/**
 * Inputs that once exposed bugs M1 and M2 (below; both fixed): the main property generates them
 * too. `LEASEHOLD_MODEL_FLAGS` names the ones to generate (`none` for neither).
 */
const FLAG_NAMES = (process.env.LEASEHOLD_MODEL_FLAGS ?? 'aliasedDeps,duplicateIdsInBatch').split(',').map((f) => f.trim());
const MAIN: Flags = { aliasedDeps: FLAG_NAMES.includes('aliasedDeps'), duplicateIdsInBatch: FLAG_NAMES.includes('duplicateIdsInBatch') };

describe('SqliteStore against a model of the job machine', () => {
  it(
    'random command sequences keep the store and the model in step',
    async () => {
      await fc.assert(
        fc.asyncProperty(fc.commands(commands, { maxCommands: MAX_COMMANDS, size: 'max' }), async (cmds) => {
          await runModel(cmds, MAIN);
        }),
        { numRuns: RUNS },
      );
    },
    60_000 + RUNS * 100,
  );
});

// ---------------------------------------------------------------------------------------------
// Bugs the model found. Each `it.fails` replays fast-check's minimal counterexample.

const spec = (over: Partial<EnqueueSpec> = {}): EnqueueSpec => ({
  name: 'work',
  queue: 'q1',
  priority: 0,
  timing: null,
  key: null,
  policy: 0,
  escalateAfter: null,
  depPicks: [],
  onDepFailure: 'cancel',
  ...over,
});
const lease = (over: Partial<LeaseSpec> = {}): LeaseCmd => new LeaseCmd({ worker: 'w1', limit: 1, ttlMs: 100, queue: undefined, names: undefined, ...over });

describe('regressions: bugs the model found (fixed; each replays its minimal counterexample)', () => {
  /**
   * Bug M1 — a dependency named twice through an escalation is counted twice; the job never runs.
   * fast-check (LEASEHOLD_MODEL_FLAGS=aliasedDeps, seed 1721247257, after 674 runs, shrunk 38 times):
   *   [enqueue {work@q1 p0 key k1 policy 0 escalate@1}, lease w1 limit 1 ttl 100, fail refs[0] fatal,
   *    enqueue {work@q1 p0 policy 0 escalate@1 deps[1787518515,0] cancel}]
   * i.e. job 1 (escalate after 1) fails and is escalated to job 2; then
   * `enqueue({ name: 'work', dependsOn: [2, 1] })` creates job 3 with `pendingDeps: 2`, though it
   * has one dependency (job 1 resolves to job 2; `job_deps` holds one row). When job 2 is done,
   * `releaseDeps` subtracts 1: job 3 stays `blocked` with `pendingDeps: 1` forever.
   * Expected: `pendingDeps: 1`, and `queued` once job 2 is done.
   * Suspect: src/store/sqlite-store.ts `#insert`: it de-duplicates the requested ids (via
   * prepareJob) but not the resolved ones, and counts `unfinished` per resolved id.
   */
  it('bug M1: dependsOn naming an escalated job and its successor counts one dependency', async () => {
    await runModel(
      [
        new EnqueueCmd(spec({ escalateAfter: 1 })),
        lease(),
        new FencedCmd('fail', { picks: [0], forge: null }, false),
        new EnqueueCmd(spec({ depPicks: [1, 0] })),
        lease({ names: 'fallback' }),
        new FencedCmd('start', { picks: [0], forge: null }, true),
        new FencedCmd('complete', { picks: [0], forge: null }, true),
      ],
      { aliasedDeps: true, duplicateIdsInBatch: false },
    );
  });

  /**
   * Bug M2 — a batch holding a stale and a live ref of the same job misreports both.
   * fast-check (LEASEHOLD_MODEL_FLAGS=duplicateIdsInBatch, seed -237160993, after 116 runs, shrunk 12 times):
   *   [enqueue {work@q1 p0 policy 0}, lease w1 limit 1 ttl 100, heartbeat refs[0] + forged(job#0, token-1) ttl 100]
   * i.e. `heartbeat([{ id: 1, token: 1 }, { id: 1, token: 0 }], 100)` with token 1 live returns
   * `lost: []`: the stale token 0 is not reported lost.
   * Suspect: src/store/sqlite-store.ts `heartbeat` — `lost: refs.filter((r) => !kept.has(r.id))`
   * matches on the id only.
   */
  it('bug M2: heartbeat reports a stale ref lost even when the batch also holds the live one', async () => {
    await runModel([new EnqueueCmd(spec()), lease(), new HeartbeatCmd({ picks: [0], forge: { job: 0, delta: -1 } }, 100)], { aliasedDeps: false, duplicateIdsInBatch: true });
  });

  /**
   * Bug M2b — the same for start/complete/skip: with a worker holding the stale ref of a job's
   * expired lease and the live ref of its new lease, `start([stale, live])` answers
   * `[{ token: stale, ok: true, state: 'running' }, { token: live, ok: false, code: 'ERR_INVALID_TRANSITION' }]`:
   * the stale holder is told it started the job, the live holder that it may not.
   * Expected: `[{ stale: ok: false, ERR_LEASE_LOST }, { live: ok: true, running }]`.
   * Suspect: src/store/sqlite-store.ts `#runFenced` — `changed.delete(it.id)` attributes the
   * changed row to the first item with that id, whatever its token.
   */
  it('bug M2b: start with a stale and a live ref of one job answers each by its token', async () => {
    await runModel(
      [new EnqueueCmd(spec()), lease(), new AdvanceCmd(101), new RecoverCmd(), lease(), new FencedCmd('start', { picks: [0, 1], forge: null }, true)],
      { aliasedDeps: false, duplicateIdsInBatch: true },
    );
  });
});
