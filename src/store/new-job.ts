/**
 * From enqueue input to the values of a new row. Shared by every store so that validation,
 * defaults and policy resolution are identical whatever the backend. Pure apart from `now`.
 *
 * The common shape — a plain object with `name` and `payload`, perhaps `queue`, `priority`,
 * `key` or `delayMs` — is checked by a fast path built from the same patterns and limits as the
 * zod schema. The fast path only ever accepts; anything it does not recognise, valid or not, goes
 * through the schema, so errors are always the schema's. A property test keeps the two in step.
 */
import {
  HANDLER_NAME_MAX,
  HANDLER_NAME_RE,
  KEY_MAX,
  MAX_DELAY_MS,
  NO_CONTROL_CHARS_RE,
  Priorities,
  QUEUE_NAME_MAX,
  QUEUE_NAME_RE,
  jobInputSchema,
  parseOrThrow,
  type JobInput,
  type ParsedJobInput,
  type Priority,
} from '../config.js';
import { encodeJson } from '../json.js';
import { escalationFor, retryPolicyFor, type JobPolicies } from '../policies/job-policies.js';
import type { RetryPolicy } from '../policies/retry-policy.js';
import type { DepFailureMode } from '../../machines/job.machine.js';
import type { JobId } from './store.js';

/** The default queue name. */
export const DEFAULT_QUEUE = 'default';

/** The default priority. */
export const DEFAULT_PRIORITY: Priority = 'normal';

/** A validated job, ready to insert. */
export interface NewJob {
  readonly name: string;
  readonly queue: string;
  readonly payloadText: string;
  readonly key: string | null;
  readonly priority: number;
  readonly runAt: number;
  readonly retry: RetryPolicy;
  /** The policy as canonical JSON (stores intern it). */
  readonly retrySpec: string;
  readonly timeoutMs: number | null;
  readonly dependsOn: readonly JobId[];
  readonly onDepFailure: DepFailureMode;
  readonly escalateAfter: number | null;
  readonly escalateTo: string | null;
}

const FAST_KEYS = new Set(['name', 'payload', 'queue', 'priority', 'key', 'delayMs']);

/**
 * The common shape, checked by the schema's own patterns and limits: a fresh copy of the input
 * when it has that shape and passes, else `undefined` (the schema decides). Each field of the
 * input is read once, so a getter cannot show the check one value and the store another.
 */
export function plainValidJob(input: unknown): ParsedJobInput | undefined {
  if (input === null || typeof input !== 'object' || Object.getPrototypeOf(input) !== Object.prototype) return undefined;
  const source = input as Record<string, unknown>;
  const job: Record<string, unknown> = {};
  for (const k of Object.keys(source)) {
    if (!FAST_KEYS.has(k)) return undefined;
    const descriptor = Object.getOwnPropertyDescriptor(source, k);
    if (descriptor === undefined || !('value' in descriptor)) return undefined; // accessors go through the schema
    job[k] = descriptor.value;
  }
  const { name, queue, priority, key, delayMs } = job;
  if (typeof name !== 'string' || name.length < 1 || name.length > HANDLER_NAME_MAX || !HANDLER_NAME_RE.test(name) || name === '__proto__') return undefined;
  if (queue !== undefined && (typeof queue !== 'string' || queue.length < 1 || queue.length > QUEUE_NAME_MAX || !QUEUE_NAME_RE.test(queue))) return undefined;
  if (priority !== undefined && (typeof priority !== 'string' || !Object.hasOwn(Priorities, priority))) return undefined;
  if (key !== undefined && (typeof key !== 'string' || key.length < 1 || key.length > KEY_MAX || !NO_CONTROL_CHARS_RE.test(key) || !(key as string & { isWellFormed(): boolean }).isWellFormed())) {
    return undefined;
  }
  if (delayMs !== undefined && (typeof delayMs !== 'number' || !Number.isSafeInteger(delayMs) || delayMs < 0 || delayMs > MAX_DELAY_MS)) return undefined;
  return job as ParsedJobInput;
}

const specs = new WeakMap<RetryPolicy, string>();

/** The canonical JSON of a policy (cached per frozen policy object). */
export function policySpec(policy: RetryPolicy): string {
  let spec = specs.get(policy);
  if (spec === undefined) {
    spec = JSON.stringify({ kind: policy.kind, baseMs: policy.baseMs, maxMs: policy.maxMs, jitter: policy.jitter, maxAttempts: policy.maxAttempts });
    specs.set(policy, spec);
  }
  return spec;
}

/**
 * Validates one job input and resolves its defaults.
 *
 * @param field - how the job is named in errors: `job` or `jobs[3]`.
 * @throws LeaseholdError `ERR_INVALID_JOB` or `ERR_INVALID_PAYLOAD`, naming the field.
 */
export function prepareJob(input: JobInput, field: string, policies: JobPolicies, now: number, maxPayloadBytes: number): NewJob {
  const job: ParsedJobInput = plainValidJob(input) ?? parseOrThrow(jobInputSchema, input, field, 'ERR_INVALID_JOB');
  const payloadText = encodeJson(job.payload, `${field}.payload`, maxPayloadBytes);
  const retry = retryPolicyFor(policies, job.name, job.retry);
  const escalation = escalationFor(policies, job.name, job.escalate);
  const runAt = job.runAt !== undefined ? (job.runAt instanceof Date ? job.runAt.getTime() : job.runAt) : now + (job.delayMs ?? 0);
  return {
    name: job.name,
    queue: job.queue ?? DEFAULT_QUEUE,
    payloadText,
    key: job.key ?? null,
    priority: Priorities[job.priority ?? DEFAULT_PRIORITY],
    runAt,
    retry,
    retrySpec: policySpec(retry),
    timeoutMs: job.timeoutMs ?? null,
    // As given (duplicates included), so that an error names the index the caller wrote; the
    // store de-duplicates after resolving escalations.
    dependsOn: job.dependsOn ?? [],
    onDepFailure: job.onDepFailure ?? 'cancel',
    escalateAfter: escalation?.after ?? null,
    escalateTo: escalation?.to ?? null,
  };
}

/** Validates a whole batch before anything is written: the first bad job names its index (holes included). */
export function prepareJobs(inputs: readonly JobInput[], policies: JobPolicies, now: number, maxPayloadBytes: number): NewJob[] {
  const out: NewJob[] = [];
  for (let i = 0; i < inputs.length; i++) out.push(prepareJob(inputs[i] as JobInput, `jobs[${i}]`, policies, now, maxPayloadBytes));
  return out;
}
