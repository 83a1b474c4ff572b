import { describe, expect, it } from 'vitest';
import { jobInputSchema, leaseRequestSchema, listFilterSchema, parseOrThrow, pruneOptionsSchema, retryConfigSchema, retryManySchema } from '../src/config.js';
import { LeaseholdError } from '../src/errors.js';
import { encodeJson } from '../src/json.js';
import { createSqliteStore } from '../src/store/sqlite-store.js';

function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof LeaseholdError) return `${error.code}: ${error.message}`;
    throw error;
  }
  throw new Error('expected an error');
}

const job = (input: unknown) => messageOf(() => parseOrThrow(jobInputSchema, input, 'job', 'ERR_INVALID_JOB'));

describe('job input validation messages', () => {
  it.each([
    [{}, 'ERR_INVALID_JOB: job.name is required (got undefined)'],
    [{ name: '' }, 'ERR_INVALID_JOB: job.name must be at least 1 character long (got "")'],
    [{ name: 'a'.repeat(129) }, `ERR_INVALID_JOB: job.name must be at most 128 characters long (got "${'a'.repeat(77)}...")`],
    [{ name: '9lives' }, 'ERR_INVALID_JOB: job.name must be a JavaScript identifier naming an exported handler (letters, digits, _ and $; not starting with a digit) (got "9lives")'],
    [{ name: "x'; DROP TABLE jobs; --" }, `ERR_INVALID_JOB: job.name must be a JavaScript identifier naming an exported handler (letters, digits, _ and $; not starting with a digit) (got "x'; DROP TABLE jobs; --")`],
    [{ name: 42 }, 'ERR_INVALID_JOB: job.name must be a string (got 42)'],
    [{ name: 'w', queue: 'a b' }, 'ERR_INVALID_JOB: job.queue may contain only letters, digits and _ . : - (starting with a letter or digit) (got "a b")'],
    [{ name: 'w', queue: '' }, 'ERR_INVALID_JOB: job.queue must be at least 1 character long (got "")'],
    [{ name: 'w', priority: 'urgent' }, 'ERR_INVALID_JOB: job.priority must be one of "critical", "high", "normal", "low" (got "urgent")'],
    [{ name: 'w', delayMs: -1 }, 'ERR_INVALID_JOB: job.delayMs must be at least 0 (got -1)'],
    [{ name: 'w', delayMs: 1.5 }, 'ERR_INVALID_JOB: job.delayMs must be an integer (got 1.5)'],
    [{ name: 'w', delayMs: 'soon' }, 'ERR_INVALID_JOB: job.delayMs must be a number (got "soon")'],
    [{ name: 'w', delayMs: 1, runAt: 5 }, 'ERR_INVALID_JOB: job.runAt must not be set together with delayMs (got 5)'],
    [{ name: 'w', runAt: new Date(Number.NaN) }, 'ERR_INVALID_JOB: job.runAt must be a valid Date or a whole number of epoch milliseconds, not before 1970 (got a Date (invalid))'],
    [{ name: 'w', runAt: '2030-01-01' }, 'ERR_INVALID_JOB: job.runAt must be a valid Date or a whole number of epoch milliseconds, not before 1970 (got "2030-01-01")'],
    [{ name: 'w', key: '' }, 'ERR_INVALID_JOB: job.key must be at least 1 character long (got "")'],
    [{ name: 'w', key: 'a\nb' }, 'ERR_INVALID_JOB: job.key must not contain control characters (got "a\\nb")'],
    [{ name: 'w', key: 'k'.repeat(513) }, `ERR_INVALID_JOB: job.key must be at most 512 characters long (got "${'k'.repeat(77)}...")`],
    [{ name: 'w', retry: 'SOMETIMES' }, 'ERR_INVALID_JOB: job.retry must be DEFAULT, FAST, SLOW, NO_RETRY or an object of policy fields (got "SOMETIMES")'],
    [{ name: 'w', retry: { jitter: 2 } }, 'ERR_INVALID_JOB: job.retry.jitter must be at most 1 (got 2)'],
    [{ name: 'w', retry: { maxAttempts: 0 } }, 'ERR_INVALID_JOB: job.retry.maxAttempts must be at least 1 (got 0)'],
    [{ name: 'w', retry: { kind: 'quadratic' } }, 'ERR_INVALID_JOB: job.retry.kind must be one of "immediate", "linear", "exponential", "fibonacci" (got "quadratic")'],
    [{ name: 'w', retry: { baseMs: 10, tries: 3 } }, 'ERR_INVALID_JOB: job.retry has unknown key "tries"'],
    [{ name: 'w', timeoutMs: 0 }, 'ERR_INVALID_JOB: job.timeoutMs must be at least 1 (got 0)'],
    [{ name: 'w', dependsOn: [1, -2] }, 'ERR_INVALID_JOB: job.dependsOn[1] must be at least 1 (got -2)'],
    [{ name: 'w', dependsOn: 3 }, 'ERR_INVALID_JOB: job.dependsOn must be an array (got 3)'],
    [{ name: 'w', onDepFailure: 'ignore' }, 'ERR_INVALID_JOB: job.onDepFailure must be one of "cancel", "skip" (got "ignore")'],
    [{ name: 'w', escalate: { after: 0, to: 'b' } }, 'ERR_INVALID_JOB: job.escalate.after must be at least 1 (got 0)'],
    [{ name: 'w', escalate: { after: 1 } }, 'ERR_INVALID_JOB: job.escalate.to is required (got undefined)'],
    [{ name: 'w', prio: 'high' }, 'ERR_INVALID_JOB: job has unknown key "prio"'],
    ['sendEmail', 'ERR_INVALID_JOB: job must be an object (got "sendEmail")'],
  ])('%j', (input, message) => {
    expect(job(input)).toBe(message);
  });

  it('accepts a complete, valid job', () => {
    expect(() =>
      parseOrThrow(jobInputSchema, { name: 'w', payload: { a: 1 }, queue: 'q:1', priority: 'high', delayMs: 0, key: 'k', retry: 'FAST', timeoutMs: 5, dependsOn: [1], onDepFailure: 'skip', escalate: { after: 2, to: 'other' } }, 'job'),
    ).not.toThrow();
    expect(() => parseOrThrow(jobInputSchema, { name: 'w', escalate: null, runAt: new Date() }, 'job')).not.toThrow();
  });
});

describe('payload validation messages', () => {
  const payload = (value: unknown, max?: number) => messageOf(() => encodeJson(value, 'job.payload', max));
  const cyclic: Record<string, unknown> = { a: 1 };
  cyclic.self = cyclic;
  const deep: unknown[] = [];
  let cur = deep;
  for (let i = 0; i < 150; i++) {
    const next: unknown[] = [];
    cur.push(next);
    cur = next;
  }
  it.each([
    [{ n: 10n }, 'ERR_INVALID_PAYLOAD: job.payload.n must not be a BigInt: JSON has no BigInt (send it as a string) (got 10n)'],
    [cyclic, 'ERR_INVALID_PAYLOAD: job.payload.self is a cycle: the value contains itself (got an object)'],
    [{ f: () => 1 }, 'ERR_INVALID_PAYLOAD: job.payload.f must be JSON data (got a function)'],
    [[1, undefined], 'ERR_INVALID_PAYLOAD: job.payload[1] must not be undefined here: JSON would turn it into null (got undefined)'],
    // eslint-disable-next-line no-sparse-arrays -- a sparse array is the point
    [[1, , 3], 'ERR_INVALID_PAYLOAD: job.payload[1] is a hole in a sparse array: JSON would turn it into null (got undefined)'],
    [{ x: Number.NaN }, 'ERR_INVALID_PAYLOAD: job.payload.x must be a finite number: JSON has no NaN or Infinity (got NaN)'],
    [{ when: new Date(0) }, 'ERR_INVALID_PAYLOAD: job.payload.when must be plain JSON data (a plain object, array, string, number, boolean or null) (got a Date (1970-01-01T00:00:00.000Z))'],
    [new Map(), 'ERR_INVALID_PAYLOAD: job.payload must be plain JSON data (a plain object, array, string, number, boolean or null) (got a Map)'],
    [{ 'a-b': Symbol('s') }, 'ERR_INVALID_PAYLOAD: job.payload["a-b"] must be JSON data (got Symbol(s))'],
    [{ [Symbol('k')]: 1 }, 'ERR_INVALID_PAYLOAD: job.payload must not have symbol keys (got an object)'],
    [deep, 'ERR_INVALID_PAYLOAD: job.payload[0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0][0] nests deeper than 100 levels (got an array of 1)'],
  ])('%#', (value, message) => {
    expect(payload(value)).toBe(message);
  });

  it('limits size, before and after encoding', () => {
    expect(payload('x'.repeat(2_000), 1_000)).toBe(`ERR_INVALID_PAYLOAD: job.payload makes the data larger than the limit of 1000 bytes (got "${'x'.repeat(77)}...")`);
    expect(payload(Array.from({ length: 300 }, () => 1), 500)).toBe('ERR_INVALID_PAYLOAD: job.payload is 601 bytes of JSON, more than the limit of 500');
    // The string that crosses the limit is named, however deep it sits in objects and arrays.
    expect(payload({ a: 'x'.repeat(400), list: ['y', { 'big one': 'z'.repeat(700) }] }, 1_000)).toBe(
      `ERR_INVALID_PAYLOAD: job.payload.list[1]["big one"] makes the data larger than the limit of 1000 bytes (got "${'z'.repeat(77)}...")`,
    );
    expect(payload({ ok: [1, 2, { n: Number.POSITIVE_INFINITY }] })).toBe('ERR_INVALID_PAYLOAD: job.payload.ok[2].n must be a finite number: JSON has no NaN or Infinity (got Infinity)');
  });

  it('accepts plain data and drops undefined object properties', () => {
    expect(encodeJson({ a: undefined, b: [null, true, 'x', 1.5], c: Object.create(null) as object }, 'p')).toBe('{"b":[null,true,"x",1.5],"c":{}}');
    expect(encodeJson(undefined, 'p')).toBe('null');
    expect(JSON.parse(encodeJson(JSON.parse('{"__proto__":{"polluted":true}}'), 'p'))).toEqual(JSON.parse('{"__proto__":{"polluted":true}}'));
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('option validation messages', () => {
  it.each([
    [{}, 'ERR_INVALID_OPTION: options.path is required (got undefined)'],
    [{ path: 'x.db', synchronous: 'OFF' }, 'ERR_INVALID_OPTION: options.synchronous must be one of "FULL", "NORMAL" (got "OFF")'],
    [{ path: 'x.db', busyTimeoutMs: -5 }, 'ERR_INVALID_OPTION: options.busyTimeoutMs must be at least 0 (got -5)'],
    [{ path: 'x.db', maxPayloadBytes: 10 }, 'ERR_INVALID_OPTION: options.maxPayloadBytes must be at least 64 (got 10)'],
    [{ path: 'x.db', clock: { now: () => 1 } }, 'ERR_INVALID_OPTION: options.clock must be a Clock (an object with now(), setTimeout() and clearTimeout()) (got an object)'],
    [{ path: 'x.db', random: 0.5 }, 'ERR_INVALID_OPTION: options.random must be a function returning a number in [0, 1) (got 0.5)'],
    [{ path: 'x.db', escalate: { aider: { after: 2, to: 'co dex' } } }, 'ERR_INVALID_OPTION: options.escalate.aider.to must be a JavaScript identifier naming an exported handler (letters, digits, _ and $; not starting with a digit) (got "co dex")'],
    [{ path: 'x.db', retry: { byName: { work: { maxAttempts: -1 } } } }, 'ERR_INVALID_OPTION: options.retry.byName.work.maxAttempts must be at least 1 (got -1)'],
    [{ path: 'x.db', sync: 'FULL' }, 'ERR_INVALID_OPTION: options has unknown key "sync"'],
  ])('%j', (input, message) => {
    expect(messageOf(() => createSqliteStore(input as never))).toBe(message);
  });

  it.each([
    [leaseRequestSchema, { owner: '', limit: 1, ttlMs: 1 }, 'ERR_INVALID_OPTION: request.owner must be at least 1 character long (got "")'],
    [leaseRequestSchema, { owner: 'o', limit: 0, ttlMs: 1 }, 'ERR_INVALID_OPTION: request.limit must be at least 1 (got 0)'],
    [leaseRequestSchema, { owner: 'o', limit: 1, ttlMs: 0 }, 'ERR_INVALID_OPTION: request.ttlMs must be at least 1 (got 0)'],
    [leaseRequestSchema, { owner: 'o', limit: 1, ttlMs: 1, queue: ['ok', 'not ok'] }, 'ERR_INVALID_OPTION: request.queue[1] may contain only letters, digits and _ . : - (starting with a letter or digit) (got "not ok")'],
    [leaseRequestSchema, { owner: 'o', limit: 1, ttlMs: 1, names: ['a-b'] }, 'ERR_INVALID_OPTION: request.names[0] must be a JavaScript identifier naming an exported handler (letters, digits, _ and $; not starting with a digit) (got "a-b")'],
    [listFilterSchema, { limit: 5_000 }, 'ERR_INVALID_OPTION: request.limit must be at most 1000 (got 5000)'],
    [listFilterSchema, { order: 'up' }, 'ERR_INVALID_OPTION: request.order must be one of "asc", "desc" (got "up")'],
    [pruneOptionsSchema, {}, 'ERR_INVALID_OPTION: request.olderThanMs is required (got undefined)'],
    [pruneOptionsSchema, { olderThanMs: 1, states: ['running'] }, 'ERR_INVALID_OPTION: request.states[0] must be one of "done", "skipped", "error", "escalated", "cancelled" (got "running")'],
    [retryManySchema, { all: false }, 'ERR_INVALID_OPTION: request.all must be true (got false)'],
    [retryConfigSchema, { default: 'FAST' }, 'ERR_INVALID_OPTION: request has unknown key "default"'],
    [retryConfigSchema, { base: 'NOPE' }, 'ERR_INVALID_OPTION: request.base must be one of "DEFAULT", "FAST", "SLOW", "NO_RETRY" (got "NOPE")'],
    [retryConfigSchema, { byName: { work: 'NOPE' } }, 'ERR_INVALID_OPTION: request.byName.work must be DEFAULT, FAST, SLOW, NO_RETRY or an object of policy fields (got "NOPE")'],
    [retryConfigSchema, 7, 'ERR_INVALID_OPTION: request must be DEFAULT, FAST, SLOW, NO_RETRY or an object of policy fields (got 7)'],
  ])('%#', (schema, input, message) => {
    expect(messageOf(() => parseOrThrow(schema, input, 'request'))).toBe(message);
  });

  it('reports how many other problems there were', () => {
    expect(job({ name: 1, queue: 2 })).toBe('ERR_INVALID_JOB: job.name must be a string (got 1) [and 1 more problem]');
  });

  it('store operations validate their arguments', async () => {
    await using store = createSqliteStore({ path: ':memory:' });
    await expect(store.lease({ owner: 'o', limit: 0, ttlMs: 1 })).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', field: 'request.limit' });
    await expect(store.heartbeat([], 0)).rejects.toMatchObject({ code: 'ERR_INVALID_OPTION', field: 'ttlMs' });
    await expect(store.prune({ olderThanMs: -1 })).rejects.toMatchObject({ field: 'options.olderThanMs' });
    await expect(store.enqueueMany('nope' as never)).rejects.toMatchObject({ code: 'ERR_INVALID_JOB', field: 'jobs' });
    await expect(store.complete([{ id: 1, token: 1, result: { big: 1n } }])).rejects.toMatchObject({ code: 'ERR_INVALID_PAYLOAD', field: 'complete[0].result.big' });
  });
});

describe('enqueue fast path', () => {
  it('accepts only what the schema accepts, and reads it the same way', async () => {
    const fc = (await import('fast-check')).default;
    const { plainValidJob } = await import('../src/store/new-job.js');
    const text = fc.oneof(fc.string({ maxLength: 140 }), fc.constantFrom('', 'a', 'sendEmail', '9x', '$ok', 'a b', 'q:1', 'x'.repeat(129), 'k\n', 'high', 'urgent'));
    const value = fc.oneof(text, fc.integer({ min: -5, max: 2 ** 40 }), fc.double(), fc.constant(undefined), fc.constant(null), fc.boolean());
    const job = fc.record(
      { name: value, payload: fc.jsonValue(), queue: value, priority: value, key: value, delayMs: value, extra: value },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(job, (input) => {
        if (plainValidJob(input) === undefined) return;
        const parsed = jobInputSchema.safeParse(input);
        expect(parsed.success).toBe(true);
        if (parsed.success) expect(parsed.data).toEqual(input);
      }),
      { numRuns: 3_000 },
    );
  });
});

describe('supervisor option validation messages', () => {
  it.each([
    [{ handlers: 'h.js' }, 'ERR_INVALID_OPTION: options.store is required (got undefined)'],
    [{ store: { sqlite: 'x.db' } }, 'ERR_INVALID_OPTION: options.handlers is required (got undefined)'],
    [{ store: { mysql: 'x' }, handlers: 'h.js' }, 'ERR_INVALID_OPTION: options.store.sqlite is required (got undefined)'],
    [{ store: 'x.db', handlers: 'h.js' }, 'ERR_INVALID_OPTION: options.store must be { sqlite: path } or a Store (an object implementing the store contract) (got "x.db")'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', threads: 0 }, 'ERR_INVALID_OPTION: options.threads must be at least 1 (got 0)'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', threads: 4, concurrency: 2 }, 'ERR_INVALID_OPTION: options.concurrency must be at least options.threads (4), or threads sit idle (got 2)'],
    [
      { store: { sqlite: 'x.db' }, handlers: 'h.js', lease: { ttlMs: 1_000, heartbeatMs: 5_000 } },
      'ERR_INVALID_OPTION: options.lease.heartbeatMs must be less than options.lease.ttlMs (1000), or leases expire between heartbeats (got 5000)',
    ],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', lease: { ttl: 5 } }, 'ERR_INVALID_OPTION: options.lease has unknown key "ttl"'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', queues: ['a b'] }, 'ERR_INVALID_OPTION: options.queues[0] may contain only letters, digits and _ . : - (starting with a letter or digit) (got "a b")'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', logger: 'loud' }, 'ERR_INVALID_OPTION: options.logger must be false, { level }, or a pino logger (got "loud")'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', pollMs: 0 }, 'ERR_INVALID_OPTION: options.pollMs must be at least 1 (got 0)'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', maxAckDelayMs: -1 }, 'ERR_INVALID_OPTION: options.maxAckDelayMs must be at least 0 (got -1)'],
    [{ store: { sqlite: 'x.db' }, handlers: 'h.js', concurency: 8 }, 'ERR_INVALID_OPTION: options has unknown key "concurency"'],
  ])('%j', async (input, message) => {
    const { createSupervisor } = await import('../actors/supervisor.actor.js');
    expect(messageOf(() => createSupervisor(input as never))).toBe(message);
  });

  it('retry and escalate need a store the supervisor opens', async () => {
    const { createSupervisor } = await import('../actors/supervisor.actor.js');
    await using store = createSqliteStore({ path: ':memory:' });
    expect(messageOf(() => createSupervisor({ store, handlers: 'h.js', retry: 'FAST' }))).toBe(
      'ERR_INVALID_OPTION: options.retry can only be set with store: { sqlite }; configure the Store you pass instead (got "FAST")',
    );
  });
});
