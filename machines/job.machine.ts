/**
 * The job lifecycle: the single authority for every change of a job's `state`.
 *
 * Stores do not hand-write state changes. They ask the compiled form of this machine
 * (`src/compiled-machine.ts`) which state an event leads to from a row's current state and
 * context, and the database itself refuses any `(from, event, to)` triple this machine does not
 * contain (a trigger over a table generated from it). Tests check the compiled form against
 * XState's own `transition()` for every state, event and guard outcome.
 *
 * Guards and context updates are plain functions exported below ({@link jobGuards},
 * {@link jobUpdates}); the machine refers to them by name, and the compiled table calls the very
 * same functions, so there is no second copy of the rules.
 *
 * A job is created by `ENQUEUE`: every job starts in the initial state, `queued`, and the
 * `ENQUEUE` event either keeps it there or, when it waits for other jobs (`hasPendingDeps`),
 * moves it to `blocked`. Stores record that step as the first entry of the job's history.
 */
import { assign, setup } from 'xstate';

/**
 * Every state a job can be in, as persisted in the `state` column. For each: who moves a job
 * into it, and who moves it out.
 */
export const JobStates = {
  /** Waiting to be leased; `run_at` may lie in the future (delay or retry backoff). In: `ENQUEUE`,
   *  `DEPS_DONE`, a retried `FAIL`, `LEASE_EXPIRED` with attempts left, `PAUSE`, `RETRY`.
   *  Out: `LEASE` by a supervisor's dispatch, `CANCEL`. */
  queued: 'queued',
  /** Waiting for the jobs it depends on. In: `ENQUEUE` or `RETRY` with unfinished dependencies.
   *  Out: `DEPS_DONE` when the last dependency is done, `DEP_FAILED`, `CANCEL`. */
  blocked: 'blocked',
  /** Claimed by a supervisor (`lease_owner`, `lease_token`, `lease_expires_at` set), not yet
   *  started. In: `LEASE`. Out: `START`, `FAIL`, `LEASE_EXPIRED` (recovery), `PAUSE`, `CANCEL`. */
  leased: 'leased',
  /** Its handler runs in a thread. In: `START`. Out: `SUCCEED`, `SKIP`, `FAIL`,
   *  `LEASE_EXPIRED` (recovery), `PAUSE` (graceful stop), `CANCEL`. */
  running: 'running',
  /** Terminal: the handler returned. In: `SUCCEED`. */
  done: 'done',
  /** Terminal: the handler chose to skip, or a dependency failed and the job asked to be
   *  skipped then. In: `SKIP`, `DEP_FAILED`. */
  skipped: 'skipped',
  /** Terminal until a manual `RETRY`: attempts exhausted, a non-retryable error, or a lease that
   *  expired on the last attempt. In: `FAIL`, `LEASE_EXPIRED`. Out: `RETRY`. */
  error: 'error',
  /** Terminal: handed over to another handler; a new job was enqueued with a link back.
   *  In: `FAIL` when the job's escalation rule applies. */
  escalated: 'escalated',
  /** Terminal until a manual `RETRY`: cancelled by an operator, or a dependency failed.
   *  In: `CANCEL`, `DEP_FAILED`. Out: `RETRY`. */
  cancelled: 'cancelled',
} as const;

/** A job state. */
export type JobState = (typeof JobStates)[keyof typeof JobStates];

/** The job states in a fixed order (for tables, CHECK constraints and diagrams). */
export const JOB_STATES: readonly JobState[] = Object.freeze(Object.values(JobStates));

/** States that end a job's run (`error` and `cancelled` may be left again by a manual `RETRY`). */
export const TERMINAL_STATES: readonly JobState[] = Object.freeze(['done', 'skipped', 'error', 'escalated', 'cancelled']);

/** States in which a supervisor holds the job's lease. */
export const LEASED_STATES: readonly JobState[] = Object.freeze(['leased', 'running']);

/** What a failed dependency does to the jobs waiting on it. */
export type DepFailureMode = 'cancel' | 'skip';

/** What the job machine's guards read. Stores build it from the job's row. */
export interface JobContext {
  /** Attempts started so far (each `LEASE` counts one; `PAUSE` gives it back). */
  readonly attempts: number;
  /** Attempts allowed in all, the first one included. */
  readonly maxAttempts: number;
  /** Escalate once this many attempts have failed (or when no retry is left); `null`: never. */
  readonly escalateAfter: number | null;
  /** Dependencies not yet `done`. */
  readonly pendingDeps: number;
  /** What a failed dependency does to this job. */
  readonly onDepFailure: DepFailureMode;
}

/** What a job is created with. Missing fields take the defaults of {@link initialJobContext}. */
export type JobInput = Partial<JobContext>;

/** The events of the job lifecycle. */
export type JobEvent =
  | { readonly type: 'ENQUEUE' }
  | { readonly type: 'DEPS_DONE' }
  | { readonly type: 'DEP_FAILED' }
  | { readonly type: 'LEASE' }
  | { readonly type: 'START' }
  | { readonly type: 'SUCCEED' }
  | { readonly type: 'SKIP' }
  | { readonly type: 'FAIL'; readonly retryable: boolean }
  | { readonly type: 'LEASE_EXPIRED' }
  | { readonly type: 'CANCEL' }
  | { readonly type: 'RETRY' }
  | { readonly type: 'PAUSE' };

/** A job event's name. */
export type JobEventType = JobEvent['type'];

/** Every job event name, in a fixed order. */
export const JOB_EVENT_TYPES: readonly JobEventType[] = Object.freeze([
  'ENQUEUE',
  'DEPS_DONE',
  'DEP_FAILED',
  'LEASE',
  'START',
  'SUCCEED',
  'SKIP',
  'FAIL',
  'LEASE_EXPIRED',
  'CANCEL',
  'RETRY',
  'PAUSE',
]);

/** The context of a job created from `input`. */
export function initialJobContext(input: JobInput | undefined): JobContext {
  return {
    attempts: input?.attempts ?? 0,
    maxAttempts: input?.maxAttempts ?? 1,
    escalateAfter: input?.escalateAfter ?? null,
    pendingDeps: input?.pendingDeps ?? 0,
    onDepFailure: input?.onDepFailure ?? 'cancel',
  };
}

type GuardArgs = { readonly context: JobContext; readonly event: JobEvent };

function canRetry({ context, event }: GuardArgs): boolean {
  return event.type === 'FAIL' && event.retryable && context.attempts < context.maxAttempts;
}

/** The job machine's guards, by name. Pure. */
export const jobGuards = {
  /** A new (or manually retried) job still waits for dependencies. */
  hasPendingDeps: ({ context }: GuardArgs): boolean => context.pendingDeps > 0,
  /** A failed attempt is handed to the escalation handler: the rule exists and either enough
   *  attempts have failed or no retry is left. */
  shouldEscalate: (args: GuardArgs): boolean =>
    args.context.escalateAfter !== null && (args.context.attempts >= args.context.escalateAfter || !canRetry(args)),
  /** A failed attempt is retried: the error is retryable and attempts remain. */
  canRetry,
  /** A lease that expired is retried: attempts remain. */
  hasAttemptsLeft: ({ context }: GuardArgs): boolean => context.attempts < context.maxAttempts,
  /** The job asked to be skipped, not cancelled, when a dependency fails. */
  skipsOnDepFailure: ({ context }: GuardArgs): boolean => context.onDepFailure === 'skip',
} as const;

/** The job machine's context updates, by name. Pure: each returns the fields it changes. */
export const jobUpdates = {
  /** `LEASE` starts an attempt. */
  countAttempt: ({ context }: GuardArgs): Partial<JobContext> => ({ attempts: context.attempts + 1 }),
  /** `PAUSE` interrupts the attempt without counting it. */
  uncountAttempt: ({ context }: GuardArgs): Partial<JobContext> => ({ attempts: Math.max(0, context.attempts - 1) }),
  /** A manual `RETRY` gives the job a fresh set of attempts. */
  resetAttempts: (): Partial<JobContext> => ({ attempts: 0 }),
  /** `DEPS_DONE`: nothing left to wait for. */
  clearDeps: (): Partial<JobContext> => ({ pendingDeps: 0 }),
} as const;

const failTransitions = [
  { guard: 'shouldEscalate', target: 'escalated' },
  { guard: 'canRetry', target: 'queued' },
  { target: 'error' },
] as const;

const retryTransitions = [
  { guard: 'hasPendingDeps', target: 'blocked', actions: 'resetAttempts' },
  { target: 'queued', actions: 'resetAttempts' },
] as const;

const expiryTransitions = [{ guard: 'hasAttemptsLeft', target: 'queued' }, { target: 'error' }] as const;

/** The job lifecycle machine. Pure: no I/O, no timers. */
export const jobMachine = setup({
  types: {
    context: {} as JobContext,
    events: {} as JobEvent,
    input: {},
  },
  guards: jobGuards,
  actions: {
    countAttempt: assign(jobUpdates.countAttempt),
    uncountAttempt: assign(jobUpdates.uncountAttempt),
    resetAttempts: assign(jobUpdates.resetAttempts),
    clearDeps: assign(jobUpdates.clearDeps),
  },
}).createMachine({
  id: 'job',
  context: ({ input }) => initialJobContext(input),
  initial: 'queued',
  states: {
    queued: {
      on: {
        // Creation: a job that waits for other jobs moves on to `blocked`; any other stays.
        ENQUEUE: [{ guard: 'hasPendingDeps', target: 'blocked' }, { target: 'queued' }],
        LEASE: { target: 'leased', actions: 'countAttempt' },
        CANCEL: { target: 'cancelled' },
      },
    },
    blocked: {
      on: {
        DEPS_DONE: { target: 'queued', actions: 'clearDeps' },
        DEP_FAILED: [{ guard: 'skipsOnDepFailure', target: 'skipped' }, { target: 'cancelled' }],
        CANCEL: { target: 'cancelled' },
      },
    },
    leased: {
      on: {
        START: { target: 'running' },
        FAIL: failTransitions,
        LEASE_EXPIRED: expiryTransitions,
        PAUSE: { target: 'queued', actions: 'uncountAttempt' },
        CANCEL: { target: 'cancelled' },
      },
    },
    running: {
      on: {
        SUCCEED: { target: 'done' },
        SKIP: { target: 'skipped' },
        FAIL: failTransitions,
        LEASE_EXPIRED: expiryTransitions,
        PAUSE: { target: 'queued', actions: 'uncountAttempt' },
        CANCEL: { target: 'cancelled' },
      },
    },
    done: { type: 'final', tags: ['terminal'] },
    skipped: { type: 'final', tags: ['terminal'] },
    escalated: { type: 'final', tags: ['terminal'] },
    error: {
      tags: ['terminal'],
      on: { RETRY: retryTransitions },
    },
    cancelled: {
      tags: ['terminal'],
      on: { RETRY: retryTransitions },
    },
  },
});
