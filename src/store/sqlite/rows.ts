/** Rows as SQLite returns them, and their mapping to the public records. */
import type { SerializedError } from '../../errors.js';
import { PRIORITY_NAMES, type Priority } from '../../config.js';
import { decodeJson } from '../../json.js';
import type { DepFailureMode, JobEventType, JobState } from '../../../machines/job.machine.js';
import type { RetryPolicy } from '../../policies/retry-policy.js';
import type { JobHistoryEntry, JobId, JobRecord } from '../store.js';

/** A `jobs` row. */
export interface JobRow {
  id: number;
  queue: string;
  name: string;
  key: string | null;
  state: JobState;
  priority: number;
  run_at: number;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  attempts: number;
  max_attempts: number;
  policy: number;
  timeout_ms: number | null;
  pending_deps: number;
  on_dep_failure: DepFailureMode;
  escalate_after: number | null;
  escalate_to: string | null;
  escalated_from: number | null;
  escalated_to: number | null;
  lease_owner: string | null;
  lease_token: number;
  lease_expires_at: number | null;
  last_event: JobEventType;
  last_error: string | null;
  result: string | null;
  skip_reason: string | null;
  progress: string | null;
  events: number;
}

/** A `job_events` row. */
export interface EventRow {
  seq: number;
  job_id: number;
  at: number;
  event: JobEventType;
  from_state: JobState;
  to_state: JobState;
  attempt: number;
  lease_token: number;
  owner: string | null;
  error: string | null;
}

/** The priority name of a stored priority number. */
export function priorityName(n: number): Priority {
  return PRIORITY_NAMES[n] ?? 'normal';
}

/** Maps a row, its payload text and its policy to a {@link JobRecord}. */
export function toJobRecord(row: JobRow, payloadText: string, retry: RetryPolicy, dependsOn: readonly JobId[]): JobRecord {
  return {
    id: row.id,
    name: row.name,
    queue: row.queue,
    state: row.state,
    priority: priorityName(row.priority),
    payload: JSON.parse(payloadText) as unknown,
    key: row.key,
    runAt: row.run_at,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
    attempts: row.attempts,
    maxAttempts: row.max_attempts,
    retry,
    timeoutMs: row.timeout_ms,
    dependsOn,
    pendingDeps: row.pending_deps,
    onDepFailure: row.on_dep_failure,
    escalate: row.escalate_after !== null && row.escalate_to !== null ? { after: row.escalate_after, to: row.escalate_to } : null,
    escalatedFrom: row.escalated_from,
    escalatedTo: row.escalated_to,
    lease:
      row.lease_owner !== null && row.lease_expires_at !== null
        ? { owner: row.lease_owner, token: row.lease_token, expiresAt: row.lease_expires_at }
        : null,
    leaseToken: row.lease_token,
    lastError: (decodeJson(row.last_error) as SerializedError | undefined) ?? null,
    result: decodeJson(row.result),
    skipReason: row.skip_reason,
    progress: decodeJson(row.progress),
  };
}

/**
 * The history of a job: the `ENQUEUE` that created it (rebuilt from the row: the first stored
 * change starts from the state the job was created in), then every stored change.
 */
export function toHistory(row: JobRow, events: readonly EventRow[]): JobHistoryEntry[] {
  const createdIn = events[0]?.from_state ?? row.state;
  const out: JobHistoryEntry[] = [
    { at: row.created_at, event: 'ENQUEUE', from: null, to: createdIn, attempt: 0, leaseToken: 0, owner: null, error: null },
  ];
  for (const e of events) {
    out.push({
      at: e.at,
      event: e.event,
      from: e.from_state,
      to: e.to_state,
      attempt: e.attempt,
      leaseToken: e.lease_token,
      owner: e.owner,
      error: (decodeJson(e.error) as SerializedError | undefined) ?? null,
    });
  }
  return out;
}
