/**
 * Validation of everything that comes in: options, job input, lease requests, filters.
 *
 * One zod schema per input. `parseOrThrow` turns the first problem into one
 * {@link LeaseholdError} that names the field by its full path (`jobs[3].priority`,
 * `options.lease.ttlMs`) and the value seen, so the caller knows exactly what to fix. Objects are
 * strict: an unknown key is a typo until proven otherwise. Nothing is written before input has
 * passed its schema.
 */
import { z } from 'zod';
import type { Logger } from 'pino';
import type { Clock } from './clock.js';
import { LeaseholdError, describeValue, type ErrorCode } from './errors.js';
import { BackoffKinds, RetryPolicies, type RetryPolicy, type RetryPolicyName } from './policies/retry-policy.js';

// ---------------------------------------------------------------------------------------------
// Error formatting

type Issue = z.core.$ZodIssue;

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

function joinPath(root: string, path: readonly PropertyKey[]): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

const article = (noun: string): string => (/^[aeiou]/.test(noun) ? `an ${noun}` : `a ${noun}`);

function deepestUnionIssue(issue: Issue): Issue {
  if (issue.code !== 'invalid_union' || issue.errors.length === 0) return issue;
  // Prefer the branch that got furthest into the value: its issue (unwrapped, when it is itself
  // a union) has the longest path.
  let best: Issue | undefined;
  for (const branch of issue.errors) {
    for (const inner of branch) {
      const unwrapped = deepestUnionIssue(inner);
      if (best === undefined || unwrapped.path.length > best.path.length) best = unwrapped;
    }
  }
  if (best === undefined || best.path.length === 0) return issue;
  return { ...best, path: [...issue.path, ...best.path] };
}

function describeIssue(issue: Issue, value: unknown): string {
  if (value === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')) return 'is required';
  switch (issue.code) {
    case 'invalid_type':
      if (value === undefined) return 'is required';
      if (issue.expected === 'int') return 'must be an integer';
      return `must be ${article(issue.expected)}`;
    case 'too_small': {
      const min = String(issue.minimum);
      if (issue.origin === 'string') return `must be at least ${min} character${min === '1' ? '' : 's'} long`;
      if (issue.origin === 'array') return `must have at least ${min} item${min === '1' ? '' : 's'}`;
      return `must be ${issue.inclusive === false ? 'greater than' : 'at least'} ${min}`;
    }
    case 'too_big': {
      const max = String(issue.maximum);
      if (issue.origin === 'string') return `must be at most ${max} characters long`;
      if (issue.origin === 'array') return `must have at most ${max} items`;
      return `must be ${issue.inclusive === false ? 'less than' : 'at most'} ${max}`;
    }
    case 'invalid_value':
      return `must be ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'unrecognized_keys':
      return `has unknown key${issue.keys.length === 1 ? '' : 's'} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
    case 'invalid_union':
      return issue.message === 'Invalid input' ? 'is not any of the accepted forms' : issue.message;
    case 'invalid_key':
      return `has a key that is not accepted (${issue.issues[0]?.message ?? 'invalid key'})`;
    default:
      return issue.message;
  }
}

/**
 * Parses `input` with `schema`, or throws one {@link LeaseholdError} with `code` naming the first
 * offending field under `root` and the value seen.
 */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, root: string, code: ErrorCode = 'ERR_INVALID_OPTION'): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const issues = result.error.issues;
  const first = deepestUnionIssue(issues[0] as Issue);
  const value = first.code === 'unrecognized_keys' ? undefined : valueAt(input, first.path);
  const field = joinPath(root, first.path);
  const shown = first.code === 'unrecognized_keys' ? '' : ` (got ${describeValue(value)})`;
  const others = new Set(issues.map((i) => joinPath(root, i.path))).size - 1;
  const more = others > 0 ? ` [and ${others} more problem${others > 1 ? 's' : ''}]` : '';
  throw new LeaseholdError(code, `${field} ${describeIssue(first, value)}${shown}${more}`, {
    field,
    value: first.code === 'unrecognized_keys' ? first.keys : describeValue(value),
  });
}

// ---------------------------------------------------------------------------------------------
// Shared pieces

/** Text without control characters. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const NO_CONTROL_CHARS_RE = /^[^\u0000-\u001f\u007f]*$/;
const noControlChars = NO_CONTROL_CHARS_RE;

/** Text stored and given back exactly: no control characters, and well-formed UTF-16 (no lone surrogates, which SQLite cannot store as text). */
const storableText = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(noControlChars, { error: 'must not contain control characters' })
    .refine((v) => (v as string & { isWellFormed(): boolean }).isWellFormed(), { error: 'must be well-formed Unicode (no lone surrogates)' });

/** What a handler name looks like: a JavaScript identifier. */
export const HANDLER_NAME_RE = /^[A-Za-z_$][\w$]*$/;
/** The longest handler name. */
export const HANDLER_NAME_MAX = 128;
/** What a queue name looks like. */
export const QUEUE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;
/** The longest queue name. */
export const QUEUE_NAME_MAX = 100;
/** The longest idempotency key. */
export const KEY_MAX = 512;

/** A handler name: a JavaScript identifier, as exported by the handlers module. */
export const handlerNameSchema = z
  .string()
  .min(1)
  .max(HANDLER_NAME_MAX)
  .regex(HANDLER_NAME_RE, { error: 'must be a JavaScript identifier naming an exported handler (letters, digits, _ and $; not starting with a digit)' })
  .refine((v) => v !== '__proto__', { error: 'must not be __proto__' });

/** A queue name: letters, digits, and `_ . : -`, starting with a letter or digit. */
export const queueNameSchema = z
  .string()
  .min(1)
  .max(QUEUE_NAME_MAX)
  .regex(QUEUE_NAME_RE, { error: 'may contain only letters, digits and _ . : - (starting with a letter or digit)' });

/** Job priorities, most urgent first, with the number stored in the database (lower runs first). */
export const Priorities = { critical: 0, high: 1, normal: 2, low: 3 } as const;

/** A job priority. */
export type Priority = keyof typeof Priorities;

/** Priority names by stored number. */
export const PRIORITY_NAMES: readonly Priority[] = ['critical', 'high', 'normal', 'low'];

const prioritySchema = z.enum(['critical', 'high', 'normal', 'low']);

const DAY_MS = 86_400_000;

const retryPolicyFields = {
  kind: z.enum(BackoffKinds),
  baseMs: z.number().int().min(0).max(DAY_MS),
  maxMs: z.number().int().min(0).max(30 * DAY_MS),
  jitter: z.number().min(0).max(1),
  maxAttempts: z.number().int().min(1).max(1_000),
};

const policyNameSchema = z.enum(Object.keys(RetryPolicies) as [RetryPolicyName, ...RetryPolicyName[]]);

const policyFieldsShape = {
  /** The prebuilt policy the other fields override. @defaultValue the policy this one refines */
  base: policyNameSchema.optional(),
  kind: retryPolicyFields.kind.optional(),
  baseMs: retryPolicyFields.baseMs.optional(),
  maxMs: retryPolicyFields.maxMs.optional(),
  jitter: retryPolicyFields.jitter.optional(),
  maxAttempts: retryPolicyFields.maxAttempts.optional(),
};

const POLICY_FORMS = `must be ${Object.keys(RetryPolicies).join(', ')} or an object of policy fields`;

/** A retry policy: the name of a prebuilt one, or fields that override a base policy. */
export const retryPolicyInputSchema = z.union([policyNameSchema, z.strictObject(policyFieldsShape)], { error: POLICY_FORMS });

/** A retry policy as written by users. */
export type RetryPolicyInput = z.input<typeof retryPolicyInputSchema>;

/** Turns a policy input into a complete, frozen policy; object fields override `fallback` (or their `base`). */
export function resolveRetryPolicy(input: RetryPolicyInput | undefined, fallback: RetryPolicy = RetryPolicies.DEFAULT): RetryPolicy {
  if (input === undefined) return fallback;
  if (typeof input === 'string') return RetryPolicies[input];
  const { base, ...fields } = input;
  const start = base === undefined ? fallback : RetryPolicies[base];
  const out: Record<string, unknown> = { ...start };
  for (const [k, v] of Object.entries(fields)) if (v !== undefined) out[k] = v;
  return Object.freeze(out as unknown as RetryPolicy);
}

/**
 * A record keyed by handler names. A key `__proto__` (an own key, as `JSON.parse` makes it)
 * would not survive as data: parsed, it would become the record's prototype and vanish. Refused.
 */
const withoutProtoKey = <T>() =>
  z.custom<T>((input) => !(input !== null && typeof input === 'object' && Object.hasOwn(input, '__proto__')), { error: 'must not have the key "__proto__"' });

/**
 * Retry configuration: the default policy (a prebuilt name, or policy fields), and in the object
 * form optionally `byName`, a policy per handler name.
 *
 * @example
 * { base: 'DEFAULT', maxAttempts: 8, byName: { sendEmail: 'FAST', crawl: { base: 'SLOW', maxAttempts: 3 } } }
 */
export const retryConfigSchema = z.union(
  [
    policyNameSchema,
    z.strictObject({
      ...policyFieldsShape,
      /** Policies by handler name; object forms refine the default policy. */
      byName: withoutProtoKey<Record<string, RetryPolicyInput>>().pipe(z.record(handlerNameSchema, retryPolicyInputSchema)).optional(),
    }),
  ],
  { error: POLICY_FORMS },
);

/** Retry configuration as written by users. */
export type RetryConfigInput = z.input<typeof retryConfigSchema>;

/** Retry configuration after validation. */
export type RetryConfig = z.output<typeof retryConfigSchema>;

/** An escalation rule: after `after` failed attempts (or when no retry is left), hand the job to handler `to`. */
export const escalationRuleSchema = z.strictObject({
  after: z.number().int().min(1).max(1_000),
  to: handlerNameSchema,
});

/** An escalation rule. */
export type EscalationRule = z.output<typeof escalationRuleSchema>;

const clockSchema = z.custom<Clock>(
  (v) =>
    v !== null &&
    typeof v === 'object' &&
    typeof (v as Record<string, unknown>).now === 'function' &&
    typeof (v as Record<string, unknown>).setTimeout === 'function' &&
    typeof (v as Record<string, unknown>).clearTimeout === 'function',
  { error: 'must be a Clock (an object with now(), setTimeout() and clearTimeout())' },
);

const randomSchema = z.custom<() => number>((v) => typeof v === 'function', { error: 'must be a function returning a number in [0, 1)' });

// ---------------------------------------------------------------------------------------------
// Job input

/** The largest delay accepted: ten years. */
export const MAX_DELAY_MS = 3_650 * DAY_MS;

/** What `enqueue` accepts for one job. */
export const jobInputSchema = z
  .strictObject({
    /** The handler that runs the job: a named export of the handlers module. */
    name: handlerNameSchema,
    /** Plain JSON data handed to the handler. Checked by `encodeJson`. */
    payload: z.unknown().optional(),
    queue: queueNameSchema.optional(),
    priority: prioritySchema.optional(),
    delayMs: z.number().int().min(0).max(MAX_DELAY_MS).optional(),
    runAt: z
      .union([z.date().min(new Date(0)), z.number().int().min(0)], { error: 'must be a valid Date or a whole number of epoch milliseconds, not before 1970' })
      .optional(),
    key: storableText(KEY_MAX).optional(),
    retry: retryPolicyInputSchema.optional(),
    timeoutMs: z.number().int().min(1).max(7 * DAY_MS).optional(),
    dependsOn: z.array(z.number().int().min(1)).max(1_000).optional(),
    onDepFailure: z.enum(['cancel', 'skip']).optional(),
    escalate: escalationRuleSchema.nullable().optional(),
  })
  .refine((j) => !(j.delayMs !== undefined && j.runAt !== undefined), {
    error: 'must not be set together with delayMs',
    path: ['runAt'],
  });

/** One job to enqueue. */
export type JobInput = z.input<typeof jobInputSchema>;

/** A validated job input. */
export type ParsedJobInput = z.output<typeof jobInputSchema>;

// ---------------------------------------------------------------------------------------------
// Store options

/** The SQLite `synchronous` modes leasehold supports. */
export const SynchronousModes = ['FULL', 'NORMAL'] as const;

/** Options shared by every store: policies, limits, time. */
export const storePolicyFields = {
  /** Retry policy for jobs that do not bring their own. @defaultValue `'DEFAULT'` */
  retry: retryConfigSchema.optional(),
  /** Escalation rules by handler name. */
  escalate: withoutProtoKey<Record<string, EscalationRule>>().pipe(z.record(handlerNameSchema, escalationRuleSchema)).optional(),
  /** The largest payload or result, in bytes of JSON text. @defaultValue 1 MiB */
  maxPayloadBytes: z.number().int().min(64).max(256 * 1_048_576).optional(),
  /** The clock. @defaultValue `systemClock` */
  clock: clockSchema.optional(),
  /** The random source for retry jitter. @defaultValue `Math.random` */
  random: randomSchema.optional(),
};

/** Options of {@link createSqliteStore}. */
export const sqliteStoreOptionsSchema = z.strictObject({
  /** The database file (created if missing), or `':memory:'`. */
  path: z
    .string()
    .min(1)
    .refine((v) => !v.includes('\u0000'), { error: 'must not contain a NUL character' }),
  /** `FULL`: every enqueue and every ack survives power loss (lease-only commits are synced with the next one). `NORMAL`: the last commits may be lost on power loss (not on a process crash). @defaultValue `'FULL'` */
  synchronous: z.enum(SynchronousModes).optional(),
  /** How long to wait for another connection's write lock before failing with `ERR_STORE_BUSY`. @defaultValue 5000 */
  busyTimeoutMs: z.number().int().min(0).max(600_000).optional(),
  /**
   * Where WAL checkpoints run. `thread`: in a worker thread with its own connection, every 100 ms,
   * started after the store's first 50 writes (the store's connection checkpoints by itself only
   * past 2,000 WAL pages, under a steady stream of writes, or if the thread fails). `inline`: SQLite's automatic checkpoint, inside
   * the commit that crosses 1,000 pages, on the caller's thread. @defaultValue `'thread'`
   */
  checkpoint: z.enum(['thread', 'inline']).optional(),
  /**
   * `auto`: run `PRAGMA quick_check` when opening a file that a crashed process had open (it
   * left its registration behind); `always`; `never`. A file that fails the check is refused.
   * @defaultValue `'auto'`
   */
  integrityCheck: z.enum(['auto', 'always', 'never']).optional(),
  /** A pino logger for the store's own notices (integrity checks at open). @defaultValue none */
  logger: z.custom<Logger>((v) => v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>).info === 'function', { error: 'must be a pino logger' }).optional(),
  ...storePolicyFields,
});

/** Options of {@link createSqliteStore}, as written by users. */
export type SqliteStoreOptions = z.input<typeof sqliteStoreOptionsSchema>;

// ---------------------------------------------------------------------------------------------
// Store requests

/** A lease request. */
export const leaseRequestSchema = z.strictObject({
  owner: storableText(200),
  limit: z.number().int().min(1).max(10_000),
  ttlMs: z.number().int().min(1).max(DAY_MS),
  queue: z.union([queueNameSchema, z.array(queueNameSchema).min(1).max(100)]).optional(),
  names: z.array(handlerNameSchema).max(1_000).optional(),
});

/** Filters of `list()`. */
export const listFilterSchema = z.strictObject({
  state: z.union([z.string(), z.array(z.string())]).optional(),
  queue: queueNameSchema.optional(),
  name: handlerNameSchema.optional(),
  /** Page size. @defaultValue 50 */
  limit: z.number().int().min(1).max(1_000).optional(),
  /** Continue after this job id (the `nextCursor` of the previous page). */
  cursor: z.number().int().min(0).optional(),
  /** @defaultValue `'asc'` */
  order: z.enum(['asc', 'desc']).optional(),
});

/** Options of `prune()`. */
export const pruneOptionsSchema = z.strictObject({
  /** Delete jobs that finished at least this long ago. */
  olderThanMs: z.number().int().min(0),
  /** Which terminal states to prune. @defaultValue `['done', 'skipped']` */
  states: z.array(z.enum(['done', 'skipped', 'error', 'escalated', 'cancelled'])).min(1).optional(),
  /** Delete at most this many jobs in this call. @defaultValue unlimited */
  limit: z.number().int().min(1).optional(),
});

/** Selection of `retry()` for many jobs at once. */
export const retryManySchema = z.strictObject({
  all: z.literal(true),
  queue: queueNameSchema.optional(),
  name: handlerNameSchema.optional(),
  states: z.array(z.enum(['error', 'cancelled'])).min(1).optional(),
});

// ---------------------------------------------------------------------------------------------
// Supervisor options

/** Defaults of the supervisor's options. */
export const SUPERVISOR_DEFAULTS = Object.freeze({
  /** Lease time to live. */
  ttlMs: 30_000,
  /** How often leases of in-flight jobs are extended: a third of the TTL. */
  heartbeatFraction: 1 / 3,
  /** How often the store is polled for jobs enqueued by other processes. */
  pollMs: 1_000,
  /** How often expired leases of any owner are given back. */
  recoveryMs: 5_000,
  /** How long a timed-out handler gets to honour its abort signal before its thread is terminated. */
  timeoutGraceMs: 1_000,
  /** How long `stop()` lets running jobs finish before interrupting them. */
  stopGraceMs: 30_000,
  /** The most jobs that start from one thread message (jobs parked behind them come on top). */
  maxJobsPerTask: 16,
  /** How long acknowledgements may wait to be written together while every slot is busy and fed. */
  maxAckDelayMs: 5,
  /** The most jobs leased ahead of free slots (in the buffer or parked in threads). */
  maxPrefetch: 1_024,
});

/** Checked structurally here (the Store type lives above config in the import graph). */
const storeRefSchema = z.custom<object>(
  (v) =>
    v !== null &&
    typeof v === 'object' &&
    ['enqueue', 'enqueueMany', 'lease', 'settle', 'heartbeat', 'recoverExpired', 'pendingCount', 'stats', 'close'].every(
      (m) => typeof (v as Record<string, unknown>)[m] === 'function',
    ),
  { error: 'must be { sqlite: path } or a Store (an object implementing the store contract)' },
);

const loggerSchema = z.union(
  [
    z.literal(false),
    z.strictObject({ level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']) }),
    z.custom<Logger>(
      (v) => v !== null && typeof v === 'object' && typeof (v as Record<string, unknown>).child === 'function' && typeof (v as Record<string, unknown>).info === 'function',
    ),
  ],
  { error: 'must be false, { level }, or a pino logger' },
);

/** Options of `createSupervisor`. */
export const supervisorOptionsSchema = z
  .strictObject({
    /** The store: `{ sqlite: path }` (opened and closed by the supervisor) or a Store you own. */
    store: z.union([
      z.strictObject({
        sqlite: z.string().min(1),
        synchronous: sqliteStoreOptionsSchema.shape.synchronous,
        busyTimeoutMs: sqliteStoreOptionsSchema.shape.busyTimeoutMs,
        checkpoint: sqliteStoreOptionsSchema.shape.checkpoint,
      }),
      storeRefSchema,
    ], { error: 'must be { sqlite: path } or a Store (an object implementing the store contract)' }),
    /** The handlers module (ESM JavaScript): a path (relative to the working directory) or a URL. */
    handlers: z.union([z.string().min(1), z.instanceof(URL)], { error: 'must be a path or a URL of the handlers module' }),
    /** Worker threads. @defaultValue the number of CPUs, at most `concurrency` */
    threads: z.number().int().min(1).max(256).optional(),
    /** Jobs in flight at once (execution slots). @defaultValue `threads × 2` */
    concurrency: z.number().int().min(1).max(10_000).optional(),
    /** Piscina tasks one thread runs at once. @defaultValue `ceil(concurrency / threads)` */
    concurrentTasksPerWorker: z.number().int().min(1).max(10_000).optional(),
    /** The most jobs that start from one thread message; when jobs are short, jobs parked behind them come on top. @defaultValue 16 */
    maxJobsPerTask: z.number().int().min(1).max(1_000).optional(),
    /**
     * The most jobs leased ahead of free slots, so that a slot that frees is refilled without a
     * store round trip. The buffer adapts: the recent completion rate over twice an ack window
     * and a pump, at least `concurrency` (when `prefetch` allows), at most `prefetch`. What it holds beyond
     * `concurrency` is parked in the threads, behind the running jobs, so that threads go on
     * while the main thread records what ended. Buffered and parked jobs hold leases (heartbeated)
     * and go back uncounted on pause or stop. 0 turns prefetching off.
     * @defaultValue 1024
     */
    prefetch: z.number().int().min(0).max(100_000).optional(),
    /** While every slot is busy and the prefetch buffer feeds them, acknowledgements wait up to this long to share one transaction (0: never wait). @defaultValue 5 */
    maxAckDelayMs: z.number().int().min(0).max(1_000).optional(),
    /** Only these queues. @defaultValue every queue */
    queues: z.array(queueNameSchema).min(1).max(500).optional(),
    lease: z
      .strictObject({
        /** @defaultValue 30000 */
        ttlMs: z.number().int().min(50).max(DAY_MS).optional(),
        /** @defaultValue a third of `ttlMs` */
        heartbeatMs: z.number().int().min(10).max(DAY_MS).optional(),
      })
      .optional(),
    /** @defaultValue 1000 */
    pollMs: z.number().int().min(1).max(DAY_MS).optional(),
    /** @defaultValue 5000 */
    recoveryMs: z.number().int().min(10).max(DAY_MS).optional(),
    /** How long an aborted handler (timed out, cancelled, lease lost, stopping) gets to honour its signal before its thread is terminated. @defaultValue 1000 */
    timeoutGraceMs: z.number().int().min(0).max(DAY_MS).optional(),
    /** Heap limit of each worker thread; a thread that exceeds it is replaced and its jobs fail with `ERR_OUT_OF_MEMORY`. */
    maxOldGenerationSizeMb: z.number().int().min(8).max(1_048_576).optional(),
    /** Retry policies (only with `store: { sqlite }`; a Store you pass carries its own). */
    retry: retryConfigSchema.optional(),
    /** Escalation rules by handler name (only with `store: { sqlite }`). */
    escalate: withoutProtoKey<Record<string, EscalationRule>>().pipe(z.record(handlerNameSchema, escalationRuleSchema)).optional(),
    maxPayloadBytes: z.number().int().min(64).max(256 * 1_048_576).optional(),
    /** A pino logger, `{ level }`, or `false` for none. @defaultValue `{ level: 'info' }` (or `LEASEHOLD_LOG_LEVEL`) */
    logger: loggerSchema.optional(),
    /** While running, keep the Node.js process alive (like a server) until `stop()`. @defaultValue true */
    keepAlive: z.boolean().optional(),
    /** This supervisor's lease owner id. @defaultValue `host:pid:random` */
    owner: storableText(200).optional(),
    clock: clockSchema.optional(),
  })
  .superRefine((o, ctx) => {
    const ttl = o.lease?.ttlMs ?? SUPERVISOR_DEFAULTS.ttlMs;
    if (o.lease?.heartbeatMs !== undefined && o.lease.heartbeatMs >= ttl) {
      ctx.addIssue({ code: 'custom', path: ['lease', 'heartbeatMs'], message: `must be less than options.lease.ttlMs (${ttl}), or leases expire between heartbeats` });
    }
    if (o.threads !== undefined && o.concurrency !== undefined && o.concurrency < o.threads) {
      ctx.addIssue({ code: 'custom', path: ['concurrency'], message: `must be at least options.threads (${o.threads}), or threads sit idle` });
    }
    if ((o.retry !== undefined || o.escalate !== undefined) && !(typeof o.store === 'object' && 'sqlite' in o.store)) {
      ctx.addIssue({ code: 'custom', path: [o.retry !== undefined ? 'retry' : 'escalate'], message: 'can only be set with store: { sqlite }; configure the Store you pass instead' });
    }
  });

/** Options of `createSupervisor`, as written by users. */
export type SupervisorOptions = z.input<typeof supervisorOptionsSchema>;
