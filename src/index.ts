/**
 * leasehold — a durable job runtime for Node.js.
 *
 * The public API, as an explicit list. Anything not exported here is internal.
 *
 * @packageDocumentation
 */

// The supervisor
export { createSupervisor, Supervisor } from '../actors/supervisor.actor.js';
export type { SupervisorEvents, SupervisorEventName, SupervisorStatus, StopOptions, PauseOptions } from '../actors/supervisor.actor.js';
export type { SupervisorOptions } from './config.js';
export { SUPERVISOR_DEFAULTS } from './config.js';
// Handlers (type-only: the thread entry itself runs in worker threads)
export type { JobHandler, JobHandlerContext } from '../actors/thread-entry.js';

// Stores
export { createSqliteStore, SqliteStore } from './store/sqlite-store.js';
export type {
  Store,
  JobId,
  EnqueuedJob,
  LeaseRequest,
  LeasedJob,
  LeaseRef,
  CompleteItem,
  SkipItem,
  FailItem,
  ProgressItem,
  SettleBatch,
  SettleResult,
  Outcome,
  HeartbeatResult,
  RecoveredJob,
  JobRecord,
  JobDetail,
  JobHistoryEntry,
  ListFilter,
  JobPage,
  StoreStats,
  StateCounts,
  PruneOptions,
  RetryMany,
  PendingFilter,
} from './store/store.js';

// Configuration and input
export type { JobInput, SqliteStoreOptions, Priority, RetryPolicyInput, RetryConfigInput, EscalationRule } from './config.js';
export { Priorities } from './config.js';
export type { JsonValue } from './json.js';

// Retry policies
export { RetryPolicies, DEFAULT, FAST, SLOW, NO_RETRY, retryDelayMs, delaySequence } from './policies/retry-policy.js';
export type { RetryPolicy, BackoffKind, RetryPolicyName } from './policies/retry-policy.js';

// Errors
export { LeaseholdError, NonRetryableError, ErrorCodes } from './errors.js';
export type { ErrorCode, SerializedError } from './errors.js';

// Time
export { systemClock, ManualClock } from './clock.js';
export type { Clock } from './clock.js';

// Machines
export { jobMachine, JobStates, JOB_STATES, TERMINAL_STATES } from '../machines/job.machine.js';
export type { JobState, JobEvent, JobEventType, JobContext } from '../machines/job.machine.js';
export { workerMachine, WorkerStates } from '../machines/worker.machine.js';
export type { WorkerState, WorkerEvent, WorkerContext } from '../machines/worker.machine.js';
export { supervisorMachine, SupervisorStates } from '../machines/supervisor.machine.js';
export type { SupervisorState } from '../machines/supervisor.machine.js';
export { jobLifecycle } from './job-lifecycle.js';
export { toMermaid } from './statecharts/mermaid.js';
