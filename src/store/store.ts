/**
 * The store contract: one async interface for every backend.
 *
 * `SqliteStore` implements it on one file; a PostgreSQL store will implement it unchanged for
 * several machines. The contract test suite (`test/store/contract.ts`) runs against every store.
 *
 * Fencing: the operations a lease holder performs (`start`, `heartbeat`, `complete`, `skip`,
 * `fail`, `release`) carry the job's `(id, token)`. They change a job only while that token is
 * the job's current token and the job is still `leased` or `running`; otherwise they change
 * nothing and report `ERR_LEASE_LOST` for that item. A live lease whose event the job machine
 * does not allow from the job's state (say, `complete` before `start`) reports
 * `ERR_INVALID_TRANSITION`. Batches are all applied in one transaction; one item's rejection
 * never affects the others.
 */
import type { SerializedError } from '../errors.js';
import type { JobEventType, JobState, DepFailureMode } from '../../machines/job.machine.js';
import type { RetryPolicy } from '../policies/retry-policy.js';
import type { JobInput, Priority } from '../config.js';

/** A job's id: a positive integer, never reused. */
export type JobId = number;

/** What `enqueue` reports for one job. */
export interface EnqueuedJob {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
  /** The job's state now: `queued`, or `blocked` when it waits for dependencies (or the existing job's state, for a duplicate). */
  readonly state: JobState;
  readonly key: string | null;
  /** True when a job with this `key` already existed: nothing was written and this is that job. */
  readonly duplicate: boolean;
}

/** What `lease` asks for. */
export interface LeaseRequest {
  /** Who takes the lease (a supervisor id). Recorded on the job and in its history. */
  readonly owner: string;
  /** At most this many jobs. */
  readonly limit: number;
  /** The lease lasts this long unless extended by `heartbeat`. */
  readonly ttlMs: number;
  /** Only jobs of this queue (or these queues). @defaultValue every queue */
  readonly queue?: string | readonly string[];
  /** Only jobs with these handler names. @defaultValue every name */
  readonly names?: readonly string[];
}

/** A job handed to a lease holder. */
export interface LeasedJob {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
  readonly priority: Priority;
  /** The payload as stored JSON text (the supervisor parses it in the worker thread). */
  readonly payloadText: string;
  /** The lease token: pass it back with every fenced operation. */
  readonly token: number;
  readonly owner: string;
  readonly leaseExpiresAt: number;
  /** This attempt's number (1 for the first). */
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly escalateAfter: number | null;
  readonly onDepFailure: DepFailureMode;
  /** The job's own time limit, counted from start. */
  readonly timeoutMs: number | null;
  readonly runAt: number;
  readonly createdAt: number;
}

/** A reference to a lease: the job and the token of the lease. */
export interface LeaseRef {
  readonly id: JobId;
  readonly token: number;
}

/**
 * The key of one lease of one job, `"id:token"`: unique for ever, since a job's token grows with
 * every lease. For the rare paths (progress acks, aborts kept in threads); where leases are matched
 * per job, `LeaseMap` (`lease-map.ts`) does it without building a string.
 */
export function leaseKey(id: number, token: number): string {
  return `${id}:${token}`;
}

/** A successful `complete`. */
export interface CompleteItem extends LeaseRef {
  /** The handler's result: plain JSON data, or its JSON text if already encoded. */
  readonly result?: unknown;
  /** Set when `result` is already JSON text (the supervisor's threads encode results). */
  readonly resultText?: string;
}

/** A `skip`. */
export interface SkipItem extends LeaseRef {
  readonly reason?: string;
}

/** A failed attempt. */
export interface FailItem extends LeaseRef {
  readonly error: SerializedError;
}

/** A progress report of a running job (the latest is kept on the job). */
export interface ProgressItem extends LeaseRef {
  readonly progress: unknown;
}

/** Everything a supervisor settles in one transaction. */
export interface SettleBatch {
  readonly start?: readonly LeaseRef[];
  readonly progress?: readonly ProgressItem[];
  readonly complete?: readonly CompleteItem[];
  readonly skip?: readonly SkipItem[];
  readonly fail?: readonly FailItem[];
  /** Give leases back without counting the attempt (`PAUSE`): graceful stop, interrupted jobs. */
  readonly release?: readonly LeaseRef[];
  /** Then, in the same transaction, lease new jobs (a supervisor refills the slots just freed). */
  readonly lease?: LeaseRequest;
}

/** The outcome of one fenced item. */
export type Outcome =
  | {
      readonly id: JobId;
      readonly token: number;
      readonly ok: true;
      /** The job's state after the operation. */
      readonly state: JobState;
      /** For a failure retried later: when the next attempt is due. */
      readonly runAt?: number;
      /** For an escalated failure: the new job's id. */
      readonly escalatedTo?: JobId;
    }
  | {
      readonly id: JobId;
      readonly token: number;
      readonly ok: false;
      readonly code: 'ERR_LEASE_LOST' | 'ERR_INVALID_TRANSITION' | 'ERR_JOB_NOT_FOUND';
      /** The job's state once this kind of operation of the batch is applied (when the job exists). */
      readonly state?: JobState;
    };

/** The outcomes of a settled batch, by kind, in the order given. */
export interface SettleResult {
  readonly start: readonly Outcome[];
  readonly progress: readonly Outcome[];
  readonly complete: readonly Outcome[];
  readonly skip: readonly Outcome[];
  readonly fail: readonly Outcome[];
  readonly release: readonly Outcome[];
  /** The jobs leased by `lease`, if asked. */
  readonly leased: readonly LeasedJob[];
}

/** What `heartbeat` reports. */
export interface HeartbeatResult {
  /** The new expiry of every extended lease. */
  readonly expiresAt: number;
  /** The leases that could not be extended: their holder must stop and drop its result. */
  readonly lost: readonly LeaseRef[];
}

/** One expired lease that `recoverExpired` gave back. */
export interface RecoveredJob {
  readonly id: JobId;
  readonly token: number;
  /** Whose lease it was. */
  readonly owner: string;
  /** `queued` (attempts left) or `error`. */
  readonly state: JobState;
}

/** One entry of a job's history: one state change. */
export interface JobHistoryEntry {
  readonly at: number;
  readonly event: JobEventType;
  /** `null` for the `ENQUEUE` that created the job. */
  readonly from: JobState | null;
  readonly to: JobState;
  /** The job's attempt count after the change. */
  readonly attempt: number;
  readonly leaseToken: number;
  readonly owner: string | null;
  readonly error: SerializedError | null;
}

/** A job as stored. */
export interface JobRecord {
  readonly id: JobId;
  readonly name: string;
  readonly queue: string;
  readonly state: JobState;
  readonly priority: Priority;
  readonly payload: unknown;
  readonly key: string | null;
  readonly runAt: number;
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly startedAt: number | null;
  readonly finishedAt: number | null;
  readonly attempts: number;
  readonly maxAttempts: number;
  readonly retry: RetryPolicy;
  readonly timeoutMs: number | null;
  readonly dependsOn: readonly JobId[];
  readonly pendingDeps: number;
  readonly onDepFailure: DepFailureMode;
  readonly escalate: { readonly after: number; readonly to: string } | null;
  readonly escalatedFrom: JobId | null;
  readonly escalatedTo: JobId | null;
  readonly lease: { readonly owner: string; readonly token: number; readonly expiresAt: number } | null;
  readonly leaseToken: number;
  readonly lastError: SerializedError | null;
  /** The handler's result (`done`), or `undefined`. */
  readonly result: unknown;
  /** The skip reason (`skipped`), or `null`. */
  readonly skipReason: string | null;
  /** The latest progress the handler reported, or `undefined`. */
  readonly progress: unknown;
}

/** A job with its full history, oldest first, and its escalation chain. */
export interface JobDetail extends JobRecord {
  readonly history: readonly JobHistoryEntry[];
  /** Every job of its escalation chain, from the first to the last, this one included. */
  readonly chain: readonly JobId[];
}

/** Filters of `list`. */
export interface ListFilter {
  readonly state?: JobState | readonly JobState[];
  readonly queue?: string;
  readonly name?: string;
  /** @defaultValue 50 */
  readonly limit?: number;
  /** Continue after this id: the `nextCursor` of the previous page. */
  readonly cursor?: JobId;
  /** @defaultValue `'asc'` (oldest first) */
  readonly order?: 'asc' | 'desc';
}

/** One page of `list`. */
export interface JobPage {
  readonly jobs: readonly JobRecord[];
  /** Pass as `cursor` for the next page; `null` on the last page. */
  readonly nextCursor: JobId | null;
}

/** Counts per state, zero-filled. */
export type StateCounts = Readonly<Record<JobState, number>>;

/** What `stats` reports. */
export interface StoreStats {
  readonly total: number;
  readonly byState: StateCounts;
  readonly byQueue: Readonly<Record<string, StateCounts>>;
  /** How long the oldest due `queued` job has waited past its `run_at`; `null` when none is due. */
  readonly oldestQueuedAgeMs: number | null;
}

/** Options of `prune`. */
export interface PruneOptions {
  readonly olderThanMs: number;
  /** @defaultValue `['done', 'skipped']` */
  readonly states?: ReadonlyArray<'done' | 'skipped' | 'error' | 'escalated' | 'cancelled'>;
  readonly limit?: number;
}

/** Selection for retrying many jobs. */
export interface RetryMany {
  readonly all: true;
  readonly queue?: string;
  readonly name?: string;
  /** @defaultValue `['error']` */
  readonly states?: ReadonlyArray<'error' | 'cancelled'>;
}

/** What a pending-work count covers. */
export interface PendingFilter {
  readonly queue?: string | readonly string[];
  readonly names?: readonly string[];
}

/** The store contract. Every method is async; every write is one transaction. */
export interface Store extends AsyncDisposable {
  /** A short name for logs: `sqlite:/path/to/file.db`. */
  readonly description: string;

  /** Enqueues one job. Idempotent on `key`. */
  enqueue(job: JobInput): Promise<EnqueuedJob>;
  /** Enqueues many jobs in one transaction: all or nothing. Idempotent on each `key`. */
  enqueueMany(jobs: readonly JobInput[]): Promise<EnqueuedJob[]>;

  /** Claims up to `limit` due jobs in one statement: by priority, then `run_at`, then enqueue order. */
  lease(request: LeaseRequest): Promise<LeasedJob[]>;
  /** Extends the leases whose token still matches; reports the others as lost. */
  heartbeat(refs: readonly LeaseRef[], ttlMs: number): Promise<HeartbeatResult>;
  /** Applies starts, progress, completions, skips, failures and releases, then an optional lease, in one transaction. */
  settle(batch: SettleBatch): Promise<SettleResult>;
  /** `START`: the handler began. */
  start(refs: readonly LeaseRef[]): Promise<Outcome[]>;
  /** `SUCCEED`: the handler returned. */
  complete(items: readonly CompleteItem[]): Promise<Outcome[]>;
  /** `SKIP`: the handler chose to skip. */
  skip(items: readonly SkipItem[]): Promise<Outcome[]>;
  /** `FAIL`: retried with backoff, escalated, or ended in `error`, by the job's policy. */
  fail(items: readonly FailItem[]): Promise<Outcome[]>;
  /** `PAUSE`: gives leases back to `queued` without counting the attempt. */
  release(refs: readonly LeaseRef[]): Promise<Outcome[]>;
  /** `LEASE_EXPIRED`: returns expired leases of any owner to `queued` (or `error` when out of attempts). */
  recoverExpired(limit?: number): Promise<RecoveredJob[]>;

  /** `CANCEL`: cancels a job that has not finished. Throws `ERR_INVALID_TRANSITION` otherwise. */
  cancel(id: JobId): Promise<JobState>;
  /** `RETRY`: re-queues one `error` or `cancelled` job with fresh attempts. */
  retry(id: JobId): Promise<JobState>;
  /** `RETRY` for every matching job; returns how many were re-queued. */
  retryMany(selection: RetryMany): Promise<number>;

  /** One job with its history, or `undefined`. */
  get(id: JobId): Promise<JobDetail | undefined>;
  /** A page of jobs. */
  list(filter?: ListFilter): Promise<JobPage>;
  /** Counts per state and per queue, and the age of the oldest due job. */
  stats(): Promise<StoreStats>;
  /** How many jobs are not finished (`queued`, `blocked`, `leased`, `running`) for this filter. */
  pendingCount(filter?: PendingFilter): Promise<number>;
  /** Deletes finished jobs older than `olderThanMs`, with their history; returns how many. */
  prune(options: PruneOptions): Promise<number>;

  /** Closes the store. Safe to call twice. */
  close(): Promise<void>;
}
