/**
 * Errors with stable codes.
 *
 * Every error leasehold raises on purpose is a {@link LeaseholdError} whose `code` is one of
 * {@link ErrorCodes}. Callers branch on `code`, never on message text. Validation errors also
 * carry the offending `field` (a dotted path such as `jobs[3].priority`) and the `value` seen.
 *
 * Across the thread boundary errors travel as {@link SerializedError} (plain objects); nothing
 * checks `instanceof` after the crossing.
 */

/** The stable error codes. */
export const ErrorCodes = {
  /** An option passed to a factory or method is invalid. */
  INVALID_OPTION: 'ERR_INVALID_OPTION',
  /** A job's enqueue input is invalid (name, queue, priority, delay, key, ...). */
  INVALID_JOB: 'ERR_INVALID_JOB',
  /** A payload or result is not plain JSON data, or is too large or too deep. */
  INVALID_PAYLOAD: 'ERR_INVALID_PAYLOAD',
  /** The job machine does not allow this event from the job's current state. */
  INVALID_TRANSITION: 'ERR_INVALID_TRANSITION',
  /** The caller no longer holds the job's lease: its token is stale or the lease has ended. */
  LEASE_LOST: 'ERR_LEASE_LOST',
  /** The job's lease expired before its holder finished: recovery gave the job back. */
  LEASE_EXPIRED: 'ERR_LEASE_EXPIRED',
  /** A job this job depends on ended without being done. */
  DEPENDENCY_FAILED: 'ERR_DEPENDENCY_FAILED',
  /** No job has this id. */
  JOB_NOT_FOUND: 'ERR_JOB_NOT_FOUND',
  /** The database was written by a newer leasehold (its schema version is higher than ours). */
  SCHEMA_TOO_NEW: 'ERR_SCHEMA_TOO_NEW',
  /** The database file failed its integrity check; it is never written to. */
  STORE_CORRUPT: 'ERR_STORE_CORRUPT',
  /** The database is full (disk full or `max_page_count` reached). Nothing was written. */
  STORE_FULL: 'ERR_STORE_FULL',
  /** The database stayed locked by another connection past `busyTimeoutMs`. */
  STORE_BUSY: 'ERR_STORE_BUSY',
  /** The store was closed. */
  STORE_CLOSED: 'ERR_STORE_CLOSED',
  /** No handler is exported under the job's name. */
  UNKNOWN_HANDLER: 'ERR_UNKNOWN_HANDLER',
  /** The handler threw, or failed in some other way of its own. */
  HANDLER_FAILED: 'ERR_HANDLER_FAILED',
  /** The job ran longer than its `timeoutMs`. */
  JOB_TIMEOUT: 'ERR_JOB_TIMEOUT',
  /** The thread running the job died (`process.exit`, an uncaught error, a terminated thread). */
  WORKER_LOST: 'ERR_WORKER_LOST',
  /** The thread running the job exceeded its `resourceLimits`. */
  OUT_OF_MEMORY: 'ERR_OUT_OF_MEMORY',
  /** The supervisor is stopping or stopped and refuses new work. */
  SUPERVISOR_STOPPED: 'ERR_SUPERVISOR_STOPPED',
} as const;

/** One of the stable error codes. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/** Extra, structured detail of a {@link LeaseholdError}. */
export interface ErrorDetail {
  /** The dotted path of the offending input (`options.lease.ttlMs`, `jobs[2].payload.a`). */
  readonly field?: string;
  /** The offending value (shortened for display; never a live object graph). */
  readonly value?: unknown;
  /** The underlying cause. */
  readonly cause?: unknown;
}

/** The one error class leasehold throws on purpose. Branch on {@link LeaseholdError.code}. */
export class LeaseholdError extends Error {
  /** The stable code. */
  readonly code: ErrorCode;
  /** The offending input's path, for validation errors. */
  readonly field: string | undefined;
  /** The offending input's value, for validation errors. */
  readonly value: unknown;

  constructor(code: ErrorCode, message: string, detail: ErrorDetail = {}) {
    super(message, detail.cause === undefined ? undefined : { cause: detail.cause });
    this.name = 'LeaseholdError';
    this.code = code;
    this.field = detail.field;
    this.value = detail.value;
  }
}

/**
 * Throw this from a handler to fail the job without retrying it: the job goes straight to
 * `error` (or `escalated`, if an escalation rule applies).
 *
 * @example
 * export async function charge(payload, ctx) {
 *   if (!payload.card) throw new NonRetryableError('no card on file');
 * }
 */
export class NonRetryableError extends Error {
  /** Marks the error across module copies and the thread boundary. */
  readonly nonRetryable = true;
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'NonRetryableError';
  }
}

/** An error as it crosses the thread boundary and is stored in `last_error` and history. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  /** A stable code when there is one: a leasehold code, or the thrown error's own `code`. */
  readonly code?: string;
  readonly stack?: string;
  /** False when the failure must not be retried. */
  readonly retryable: boolean;
}

const MAX_STACK = 4_000;
const MAX_MESSAGE = 2_000;

/** Turns anything thrown into a {@link SerializedError}. */
export function serializeError(thrown: unknown, fallbackCode?: string): SerializedError {
  if (thrown instanceof Error) {
    const own = thrown as Error & { code?: unknown; nonRetryable?: unknown; retryable?: unknown };
    const code = typeof own.code === 'string' ? own.code : fallbackCode;
    const retryable = !(own.nonRetryable === true || own.retryable === false || thrown.name === 'NonRetryableError');
    return {
      name: thrown.name,
      message: thrown.message.slice(0, MAX_MESSAGE),
      ...(code === undefined ? {} : { code }),
      ...(thrown.stack === undefined ? {} : { stack: thrown.stack.slice(0, MAX_STACK) }),
      retryable,
    };
  }
  let message: string;
  try {
    message = typeof thrown === 'string' ? thrown : JSON.stringify(thrown) ?? String(thrown);
  } catch {
    message = String(thrown);
  }
  return { name: 'Error', message: message.slice(0, MAX_MESSAGE), ...(fallbackCode === undefined ? {} : { code: fallbackCode }), retryable: true };
}

/** Shortens a value for an error message: strings quoted and cut, objects summarised. */
export function describeValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 77)}...` : value);
  if (typeof value === 'bigint') return `${value}n`;
  if (typeof value === 'function') return 'a function';
  if (typeof value === 'symbol') return value.toString();
  if (value === undefined || value === null || typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Date) return `a Date (${Number.isNaN(value.getTime()) ? 'invalid' : value.toISOString()})`;
  const proto: unknown = Object.getPrototypeOf(value);
  const ctor = proto === null ? 'null-prototype object' : ((proto as { constructor?: { name?: string } }).constructor?.name ?? 'object');
  return ctor === 'Object' ? 'an object' : `a ${ctor}`;
}
