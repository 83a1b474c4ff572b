/**
 * The store contract suite: every store runs it (`runStoreContract`). It drives time with a
 * ManualClock and checks behaviour only through the Store interface.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/clock.js';
import { LeaseholdError } from '../../src/errors.js';
import { jobLifecycle } from '../../src/job-lifecycle.js';
import { JOB_EVENT_TYPES, JOB_STATES, LEASED_STATES, type JobEventType, type JobState } from '../../machines/job.machine.js';
import type { JobDetail, LeasedJob, Outcome, Store } from '../../src/store/store.js';
import type { JobInput } from '../../src/config.js';

export interface StoreHarness {
  readonly store: Store;
  readonly clock: ManualClock;
  /** Opens a second connection to the same database. */
  reopen?(): Promise<Store>;
  cleanup(): Promise<void>;
}

export type StoreFactory = (options: { clock: ManualClock; random?: () => number; retry?: unknown; escalate?: unknown }) => Promise<StoreHarness>;

const OWNER = 'test-owner';
const TTL = 30_000;

/** Builds a job in `state` and returns its id and (when it has a live lease) its lease. */
export async function jobIn(store: Store, state: JobState, extra: Partial<JobInput> = {}): Promise<{ id: number; lease?: LeasedJob; parent?: number }> {
  const leaseIt = async (id: number): Promise<LeasedJob> => {
    const leased = await store.lease({ owner: OWNER, limit: 100, ttlMs: TTL });
    const mine = leased.find((j) => j.id === id);
    if (mine === undefined) throw new Error(`could not lease job ${id}`);
    // Leave everything else as it was.
    const others = leased.filter((j) => j.id !== id);
    if (others.length > 0) await store.release(others);
    return mine;
  };
  switch (state) {
    case 'queued':
      return { id: (await store.enqueue({ name: 'work', ...extra })).id };
    case 'blocked': {
      const parent = (await store.enqueue({ name: 'parent' })).id;
      return { id: (await store.enqueue({ name: 'work', dependsOn: [parent], ...extra })).id, parent };
    }
    case 'leased': {
      const { id } = await store.enqueue({ name: 'work', ...extra });
      return { id, lease: await leaseIt(id) };
    }
    case 'running': {
      const { id } = await store.enqueue({ name: 'work', ...extra });
      const lease = await leaseIt(id);
      await store.start([lease]);
      return { id, lease };
    }
    case 'done':
    case 'skipped':
    case 'error':
    case 'escalated': {
      const input: Partial<JobInput> =
        state === 'error' ? { retry: 'NO_RETRY' } : state === 'escalated' ? { escalate: { after: 1, to: 'fallback' } } : {};
      const { id } = await store.enqueue({ name: 'work', ...input, ...extra });
      const lease = await leaseIt(id);
      await store.start([lease]);
      if (state === 'done') await store.complete([{ id, token: lease.token, result: { ok: true } }]);
      if (state === 'skipped') await store.skip([{ id, token: lease.token, reason: 'nothing to do' }]);
      if (state === 'error' || state === 'escalated') await store.fail([{ id, token: lease.token, error: { name: 'Error', message: 'boom', retryable: true } }]);
      return { id, lease };
    }
    case 'cancelled': {
      const { id } = await store.enqueue({ name: 'work', ...extra });
      await store.cancel(id);
      return { id };
    }
  }
}

async function must(store: Store, id: number): Promise<JobDetail> {
  const job = await store.get(id);
  if (job === undefined) throw new Error(`job ${id} is gone`);
  return job;
}

function contextOf(job: JobDetail) {
  return { attempts: job.attempts, maxAttempts: job.maxAttempts, escalateAfter: job.escalate?.after ?? null, pendingDeps: job.pendingDeps, onDepFailure: job.onDepFailure };
}

/** Applies one job-targeted event through the store's public operation for it. */
async function applyViaStore(store: Store, id: number, token: number, event: JobEventType): Promise<Outcome | JobState> {
  const ref = { id, token };
  switch (event) {
    case 'START':
      return (await store.start([ref]))[0] as Outcome;
    case 'SUCCEED':
      return (await store.complete([{ ...ref, result: 1 }]))[0] as Outcome;
    case 'SKIP':
      return (await store.skip([{ ...ref, reason: 'r' }]))[0] as Outcome;
    case 'FAIL':
      return (await store.fail([{ ...ref, error: { name: 'Error', message: 'x', retryable: true } }]))[0] as Outcome;
    case 'PAUSE':
      return (await store.release([ref]))[0] as Outcome;
    case 'CANCEL':
      return store.cancel(id);
    case 'RETRY':
      return store.retry(id);
    default:
      throw new Error(`${event} is not a job-targeted operation`);
  }
}

const TARGETED: readonly JobEventType[] = ['START', 'SUCCEED', 'SKIP', 'FAIL', 'PAUSE', 'CANCEL', 'RETRY'];

export function runStoreContract(name: string, factory: StoreFactory): void {
  describe(`store contract: ${name}`, () => {
    let harness: StoreHarness | undefined;
    const open = async (opts: Partial<Parameters<StoreFactory>[0]> = {}) => {
      harness = await factory({ clock: new ManualClock(), ...opts });
      return harness;
    };
    afterEach(async () => {
      await harness?.cleanup();
      harness = undefined;
    });

    describe('every (state, event) pair of the job machine', () => {
      for (const state of JOB_STATES) {
        for (const event of TARGETED) {
          it(`${state} × ${event}`, async () => {
            const { store } = await open();
            const { id, lease } = await jobIn(store, state);
            const before = await must(store, id);
            expect(before.state).toBe(state);
            const token = lease?.token ?? before.leaseToken;
            const expected = jobLifecycle.next(state, contextOf(before), event === 'FAIL' ? { type: 'FAIL', retryable: true } : ({ type: event }));
            let outcome: Outcome | JobState | LeaseholdError;
            try {
              outcome = await applyViaStore(store, id, token, event);
            } catch (error) {
              if (!(error instanceof LeaseholdError)) throw error;
              outcome = error;
            }
            const after = await must(store, id);
            if (expected !== undefined) {
              const state2 = typeof outcome === 'string' ? outcome : outcome instanceof LeaseholdError ? undefined : outcome.ok ? outcome.state : undefined;
              expect(state2, `${state} × ${event} must be accepted`).toBe(expected.state);
              expect(after.state).toBe(expected.state);
              expect(after.attempts).toBe(expected.context.attempts);
              expect(after.pendingDeps).toBe(expected.context.pendingDeps);
              expect(after.history.length).toBe(before.history.length + 1);
              expect(after.history.at(-1)).toMatchObject({ event, from: state, to: expected.state });
            } else {
              // Rejected with a typed error; nothing changed.
              if (outcome instanceof LeaseholdError) {
                expect(outcome.code).toBe('ERR_INVALID_TRANSITION');
              } else if (typeof outcome === 'string') {
                throw new Error(`${state} × ${event} must be rejected, but the store moved the job to ${outcome}`);
              } else {
                expect(outcome.ok).toBe(false);
                // A fenced event without a live lease is a lost lease; with one, an invalid transition.
                const code = LEASED_STATES.includes(state) ? 'ERR_INVALID_TRANSITION' : 'ERR_LEASE_LOST';
                if (!outcome.ok) expect(outcome.code).toBe(code);
              }
              expect(after.state).toBe(state);
              expect(after.attempts).toBe(before.attempts);
              expect(after.history).toEqual(before.history);
            }
          });
        }
      }

      it('LEASE moves exactly the due queued jobs', async () => {
        const { store } = await open();
        const ids = new Map<JobState, number>();
        for (const s of JOB_STATES) ids.set(s, (await jobIn(store, s)).id);
        const before = new Map<number, JobDetail>();
        for (const id of ids.values()) before.set(id, await must(store, id));
        const leased = await store.lease({ owner: 'other', limit: 1_000, ttlMs: TTL, names: ['work'] });
        expect(leased.map((j) => j.id)).toEqual([ids.get('queued')]);
        for (const [s, id] of ids) {
          const after = await must(store, id);
          expect(after.state).toBe(s === 'queued' ? 'leased' : s);
          if (s === 'queued') expect(after.attempts).toBe((before.get(id)?.attempts ?? 0) + 1);
        }
      });

      it('LEASE_EXPIRED moves exactly the expired leased and running jobs', async () => {
        const { store, clock } = await open();
        const ids = new Map<JobState, number>();
        for (const s of JOB_STATES) ids.set(s, (await jobIn(store, s)).id);
        clock.advance(TTL + 1);
        const recovered = await store.recoverExpired();
        expect(recovered.map((r) => r.id).sort((a, b) => a - b)).toEqual([ids.get('leased'), ids.get('running')].sort((a, b) => (a ?? 0) - (b ?? 0)));
        for (const [s, id] of ids) {
          const after = await must(store, id);
          expect(after.state).toBe(LEASED_STATES.includes(s) ? 'queued' : s);
          if (LEASED_STATES.includes(s)) expect(after.history.at(-1)).toMatchObject({ event: 'LEASE_EXPIRED', from: s, to: 'queued' });
        }
      });

      it('DEPS_DONE and DEP_FAILED reach exactly the blocked dependents', async () => {
        const { store } = await open();
        const a = await jobIn(store, 'blocked');
        const b = await jobIn(store, 'blocked', { onDepFailure: 'skip' });
        const c = await jobIn(store, 'blocked');
        // a's parent succeeds; b's parent fails (skip); c's parent is cancelled.
        const leased = await store.lease({ owner: OWNER, limit: 10, ttlMs: TTL, names: ['parent'] });
        const pa = leased.find((j) => j.id === a.parent) as LeasedJob;
        const pb = leased.find((j) => j.id === b.parent) as LeasedJob;
        await store.start([pa, pb]);
        await store.complete([{ id: pa.id, token: pa.token }]);
        await store.fail([{ id: pb.id, token: pb.token, error: { name: 'Error', message: 'no', retryable: false } }]);
        await store.release(leased.filter((j) => j.id !== pa.id && j.id !== pb.id));
        await store.cancel(c.parent as number);
        expect((await must(store, a.id)).history.at(-1)).toMatchObject({ event: 'DEPS_DONE', from: 'blocked', to: 'queued' });
        expect((await must(store, b.id)).history.at(-1)).toMatchObject({ event: 'DEP_FAILED', from: 'blocked', to: 'skipped' });
        expect((await must(store, c.id)).history.at(-1)).toMatchObject({ event: 'DEP_FAILED', from: 'blocked', to: 'cancelled' });
      });

      it('ENQUEUE creates queued jobs, and blocked ones when dependencies are pending', async () => {
        const { store } = await open();
        const p = await store.enqueue({ name: 'work' });
        expect(p.state).toBe('queued');
        const d = await store.enqueue({ name: 'work', dependsOn: [p.id] });
        expect(d.state).toBe('blocked');
        const detail = await must(store, d.id);
        expect(detail.history).toEqual([expect.objectContaining({ event: 'ENQUEUE', from: null, to: 'blocked' })]);
      });

      it('covers every event of the machine', () => {
        const covered = new Set<JobEventType>([...TARGETED, 'LEASE', 'LEASE_EXPIRED', 'DEPS_DONE', 'DEP_FAILED', 'ENQUEUE']);
        expect([...covered].sort()).toEqual([...JOB_EVENT_TYPES].sort());
      });
    });

    describe('enqueue', () => {
      it('is idempotent on key and says when it was a duplicate', async () => {
        const { store } = await open();
        const first = await store.enqueue({ name: 'work', key: 'k1', payload: { a: 1 } });
        const again = await store.enqueue({ name: 'work', key: 'k1', payload: { a: 2 } });
        expect(first.duplicate).toBe(false);
        expect(again).toEqual({ ...first, duplicate: true });
        expect((await must(store, first.id)).payload).toEqual({ a: 1 });
        expect((await store.stats()).total).toBe(1);
      });

      it('groups concurrent single enqueues without mixing their outcomes', async () => {
        const { store } = await open();
        const results = await Promise.allSettled([
          store.enqueue({ name: 'work', key: 'a' }),
          store.enqueue({ name: 'work', dependsOn: [999_999] }),
          store.enqueue({ name: 'work', key: 'a' }),
          store.enqueue({ name: 'work' }),
        ]);
        expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
        expect((results[1] as PromiseRejectedResult).reason).toMatchObject({ code: 'ERR_JOB_NOT_FOUND', field: 'job.dependsOn[0]' });
        expect((results[2] as PromiseFulfilledResult<{ duplicate: boolean }>).value.duplicate).toBe(true);
        expect((await store.stats()).total).toBe(2);
      });

      it('enqueueMany is all or nothing on a bad item', async () => {
        const { store } = await open();
        const good = Array.from({ length: 10 }, (_, i) => ({ name: 'work', payload: { i } }));
        await expect(store.enqueueMany([...good, { name: 'work', priority: 'urgent' as never }])).rejects.toMatchObject({
          code: 'ERR_INVALID_JOB',
          field: 'jobs[10].priority',
        });
        await expect(store.enqueueMany([...good, { name: 'work', dependsOn: [424242] }])).rejects.toMatchObject({
          code: 'ERR_JOB_NOT_FOUND',
          field: 'jobs[10].dependsOn[0]',
        });
        await expect(store.enqueueMany([...good, { name: 'work', payload: { n: 10n } }])).rejects.toMatchObject({
          code: 'ERR_INVALID_PAYLOAD',
          field: 'jobs[10].payload.n',
        });
        expect((await store.stats()).total).toBe(0);
        const ok = await store.enqueueMany(good);
        expect(ok).toHaveLength(10);
        expect((await store.stats()).byState.queued).toBe(10);
      });

      it('writes nothing for invalid input', async () => {
        const { store } = await open();
        await expect(store.enqueue({ name: '1bad' })).rejects.toBeInstanceOf(LeaseholdError);
        await expect(store.enqueue({ name: 'work', delayMs: -1 })).rejects.toMatchObject({ field: 'job.delayMs' });
        expect((await store.stats()).total).toBe(0);
      });

      it('round-trips payloads exactly', async () => {
        const { store } = await open();
        const payload = { s: 'héllo ☃', n: -0.5, big: 2 ** 53 - 1, arr: [1, 'two', null, { x: [] }], nested: { '__proto__': 1, 'a b': true } };
        const { id } = await store.enqueue({ name: 'work', payload: JSON.parse(JSON.stringify(payload)) as unknown });
        expect((await must(store, id)).payload).toEqual(JSON.parse(JSON.stringify(payload)));
      });
    });

    describe('lease', () => {
      it('orders by priority, then run_at, then enqueue order, and claims at most limit', async () => {
        const { store, clock } = await open();
        const low = await store.enqueue({ name: 'work', priority: 'low' });
        const n1 = await store.enqueue({ name: 'work' });
        const crit = await store.enqueue({ name: 'work', priority: 'critical' });
        const n2 = await store.enqueue({ name: 'work' });
        const early = await store.enqueue({ name: 'work', runAt: clock.now() - 10_000 });
        const high = await store.enqueue({ name: 'work', priority: 'high' });
        const later = await store.enqueue({ name: 'work', delayMs: 5_000 });
        const first = await store.lease({ owner: OWNER, limit: 3, ttlMs: TTL });
        expect(first.map((j) => j.id)).toEqual([crit.id, high.id, early.id]);
        const rest = await store.lease({ owner: OWNER, limit: 100, ttlMs: TTL });
        expect(rest.map((j) => j.id)).toEqual([n1.id, n2.id, low.id]);
        expect(await store.lease({ owner: OWNER, limit: 100, ttlMs: TTL })).toEqual([]);
        clock.advance(5_000);
        expect((await store.lease({ owner: OWNER, limit: 100, ttlMs: TTL })).map((j) => j.id)).toEqual([later.id]);
      });

      it('filters by queue and name, and hands out increasing tokens and attempt numbers', async () => {
        const { store, clock } = await open();
        await store.enqueue({ name: 'a', queue: 'q1' });
        await store.enqueue({ name: 'b', queue: 'q1' });
        const c = await store.enqueue({ name: 'a', queue: 'q2' });
        expect((await store.lease({ owner: OWNER, limit: 10, ttlMs: TTL, queue: 'q2' })).map((j) => j.id)).toEqual([c.id]);
        expect((await store.lease({ owner: OWNER, limit: 10, ttlMs: TTL, names: ['b'] })).map((j) => j.name)).toEqual(['b']);
        const [j1] = await store.lease({ owner: OWNER, limit: 10, ttlMs: 1_000, queue: ['q1', 'q2'] });
        expect(j1?.attempt).toBe(1);
        clock.advance(1_001);
        await store.recoverExpired();
        const [j2] = await store.lease({ owner: OWNER, limit: 10, ttlMs: 1_000 });
        expect(j2?.id).toBe(j1?.id);
        expect(j2?.token).toBeGreaterThan(j1?.token ?? 0);
        expect(j2?.attempt).toBe(2);
      });

      it('never hands out one job to two overlapping leases', async () => {
        const { store, clock } = await open();
        await store.enqueueMany(Array.from({ length: 200 }, (_, i) => ({ name: 'work', payload: i })));
        const live = new Map<number, number>();
        for (let round = 0; round < 60; round++) {
          const got = await store.lease({ owner: `o${round % 3}`, limit: 7, ttlMs: 2_000 });
          for (const j of got) {
            const holder = live.get(j.id);
            if (holder !== undefined) expect.fail(`job ${j.id} leased again while lease ${holder} was live`);
            live.set(j.id, j.token);
          }
          // Finish some, let others expire.
          const done = got.filter((_, i) => i % 2 === 0);
          await store.start(done);
          await store.complete(done.map((j) => ({ id: j.id, token: j.token })));
          for (const j of done) live.delete(j.id);
          clock.advance(700);
          for (const r of await store.recoverExpired()) live.delete(r.id);
        }
      });
    });

    describe('fencing', () => {
      it('a stale token changes nothing: heartbeat, start, complete, skip, fail and release report a lost lease', async () => {
        const { store, clock } = await open();
        const { id } = await store.enqueue({ name: 'work' });
        const [old] = await store.lease({ owner: 'first', limit: 1, ttlMs: 1_000 });
        if (old === undefined) throw new Error('no lease');
        await store.start([old]);
        clock.advance(1_001);
        await store.recoverExpired();
        const [fresh] = await store.lease({ owner: 'second', limit: 1, ttlMs: 10_000 });
        expect(fresh?.id).toBe(id);
        const before = await must(store, id);
        const stale = { id, token: old.token };
        expect((await store.heartbeat([stale], 5_000)).lost).toEqual([stale]);
        for (const outcome of [
          ...(await store.start([stale])),
          ...(await store.complete([{ ...stale, result: 'late' }])),
          ...(await store.skip([{ ...stale, reason: 'late' }])),
          ...(await store.fail([{ ...stale, error: { name: 'E', message: 'late', retryable: true } }])),
          ...(await store.release([stale])),
        ]) {
          expect(outcome).toMatchObject({ ok: false, code: 'ERR_LEASE_LOST' });
        }
        const after = await must(store, id);
        expect(after).toEqual(before);
        expect(after.lease).toMatchObject({ owner: 'second', token: fresh?.token });
      });

      it('a job given back to the queue (same token, no lease) rejects its old holder', async () => {
        const { store, clock } = await open();
        await store.enqueue({ name: 'work' });
        const [j] = await store.lease({ owner: 'first', limit: 1, ttlMs: 1_000 });
        if (j === undefined) throw new Error('no lease');
        clock.advance(1_001);
        await store.recoverExpired();
        expect(await store.complete([{ id: j.id, token: j.token }])).toEqual([expect.objectContaining({ ok: false, code: 'ERR_LEASE_LOST', state: 'queued' })]);
      });

      it('heartbeat extends only live leases and reports the rest as lost', async () => {
        const { store, clock } = await open();
        await store.enqueueMany([{ name: 'work' }, { name: 'work' }]);
        const [a, b] = await store.lease({ owner: OWNER, limit: 2, ttlMs: 1_000 });
        if (a === undefined || b === undefined) throw new Error('no lease');
        await store.cancel(b.id);
        clock.advance(900);
        const hb = await store.heartbeat([a, b, { id: 999, token: 1 }], 1_000);
        expect(hb.lost.map((r) => r.id)).toEqual([b.id, 999]);
        clock.advance(900);
        expect(await store.recoverExpired()).toEqual([]);
        expect((await must(store, a.id)).lease?.expiresAt).toBe(hb.expiresAt);
      });
    });

    describe('failures and retries', () => {
      it('retries with the policy backoff, then ends in error', async () => {
        const { store, clock } = await open({ random: () => 0 });
        const { id } = await store.enqueue({ name: 'work', retry: { kind: 'exponential', baseMs: 100, maxMs: 10_000, jitter: 0, maxAttempts: 4 } });
        const delays: number[] = [];
        for (let attempt = 1; attempt <= 4; attempt++) {
          const [j] = await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL });
          if (j === undefined) throw new Error(`attempt ${attempt}: nothing due`);
          expect(j.attempt).toBe(attempt);
          await store.start([j]);
          const [o] = await store.fail([{ id, token: j.token, error: { name: 'E', message: `fail ${attempt}`, retryable: true } }]);
          if (o?.ok && o.runAt !== undefined) {
            delays.push(o.runAt - clock.now());
            expect(await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL })).toEqual([]);
            clock.advance(o.runAt - clock.now());
          } else {
            expect(o).toMatchObject({ ok: true, state: 'error' });
          }
        }
        expect(delays).toEqual([100, 200, 400]);
        const job = await must(store, id);
        expect(job.state).toBe('error');
        expect(job.lastError).toMatchObject({ message: 'fail 4' });
        expect(job.history.filter((h) => h.event === 'FAIL').map((h) => h.error?.message)).toEqual(['fail 1', 'fail 2', 'fail 3', 'fail 4']);
      });

      it('a non-retryable error ends the job at once', async () => {
        const { store } = await open();
        const { id } = await store.enqueue({ name: 'work' });
        const [j] = await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL });
        await store.start([j as LeasedJob]);
        expect(await store.fail([{ id, token: (j as LeasedJob).token, error: { name: 'NonRetryableError', message: 'no', retryable: false } }])).toEqual([
          expect.objectContaining({ ok: true, state: 'error' }),
        ]);
      });

      it('escalates to another handler with the same payload and a queryable chain', async () => {
        const { store } = await open({ escalate: { aider: { after: 2, to: 'codex' } } });
        const { id } = await store.enqueue({ name: 'aider', payload: { task: 'fix' }, retry: { kind: 'immediate', maxAttempts: 5 } });
        let escalatedTo: number | undefined;
        for (let i = 0; i < 2; i++) {
          const [j] = await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL, names: ['aider'] });
          await store.start([j as LeasedJob]);
          const [o] = await store.fail([{ id, token: (j as LeasedJob).token, error: { name: 'E', message: 'no', retryable: true } }]);
          if (o?.ok === true) escalatedTo = o.escalatedTo;
        }
        const first = await must(store, id);
        expect(first.state).toBe('escalated');
        expect(first.escalatedTo).toBe(escalatedTo);
        const next = await must(store, escalatedTo as number);
        expect(next).toMatchObject({ name: 'codex', payload: { task: 'fix' }, state: 'queued', escalatedFrom: id });
        expect(next.chain).toEqual([id, escalatedTo]);
        expect(first.chain).toEqual([id, escalatedTo]);
      });

      it('manual retry re-queues error and cancelled jobs with fresh attempts', async () => {
        const { store } = await open();
        const e = await jobIn(store, 'error');
        const c = await jobIn(store, 'cancelled');
        expect(await store.retry(e.id)).toBe('queued');
        expect((await must(store, e.id)).attempts).toBe(0);
        await expect(store.retry(e.id)).rejects.toMatchObject({ code: 'ERR_INVALID_TRANSITION' });
        expect(await store.retryMany({ all: true, states: ['cancelled'] })).toBe(1);
        expect((await must(store, c.id)).state).toBe('queued');
        await expect(store.retry(12345)).rejects.toMatchObject({ code: 'ERR_JOB_NOT_FOUND' });
      });
    });

    describe('recovery', () => {
      it('returns expired leases of any owner, counting the attempt, and errors jobs out of attempts', async () => {
        const { store, clock } = await open();
        const keep = await store.enqueue({ name: 'work' });
        const last = await store.enqueue({ name: 'work', retry: 'NO_RETRY' });
        const [a, b] = await store.lease({ owner: 'dead-process', limit: 2, ttlMs: 5_000 });
        await store.start([a as LeasedJob]);
        clock.advance(4_999);
        expect(await store.recoverExpired()).toEqual([]);
        clock.advance(1);
        const recovered = await store.recoverExpired();
        expect(recovered).toEqual(
          expect.arrayContaining([
            { id: keep.id, token: (a as LeasedJob).token, owner: 'dead-process', state: 'queued' },
            { id: last.id, token: (b as LeasedJob).token, owner: 'dead-process', state: 'error' },
          ]),
        );
        const job = await must(store, keep.id);
        expect(job.attempts).toBe(1);
        expect(job.lease).toBeNull();
        expect(job.lastError).toMatchObject({ code: 'ERR_LEASE_EXPIRED' });
        expect(await store.recoverExpired()).toEqual([]);
      });
    });

    describe('history', () => {
      it('has one row per state change, chained from -> to, ending in the current state', async () => {
        const { store, clock } = await open();
        const { id } = await store.enqueue({ name: 'work', retry: { kind: 'immediate', maxAttempts: 3 } });
        let [j] = await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL });
        await store.start([j as LeasedJob]);
        await store.fail([{ id, token: (j as LeasedJob).token, error: { name: 'E', message: 'x', retryable: true } }]);
        clock.advance(10);
        [j] = await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL });
        await store.release([j as LeasedJob]);
        [j] = await store.lease({ owner: OWNER, limit: 1, ttlMs: TTL });
        await store.start([j as LeasedJob]);
        await store.complete([{ id, token: (j as LeasedJob).token, result: { n: 1 } }]);
        const job = await must(store, id);
        expect(job.history.map((h) => h.event)).toEqual(['ENQUEUE', 'LEASE', 'START', 'FAIL', 'LEASE', 'PAUSE', 'LEASE', 'START', 'SUCCEED']);
        for (let i = 1; i < job.history.length; i++) expect(job.history[i]?.from).toBe(job.history[i - 1]?.to);
        expect(job.history.at(-1)?.to).toBe(job.state);
        expect(job.history.map((h) => h.attempt)).toEqual([0, 1, 1, 1, 2, 1, 2, 2, 2]);
        expect(job).toMatchObject({ state: 'done', result: { n: 1 }, attempts: 2 });
      });
    });

    describe('reading', () => {
      it('lists with filters and keyset paging', async () => {
        const { store } = await open();
        await store.enqueueMany(Array.from({ length: 25 }, (_, i) => ({ name: i % 2 === 0 ? 'even' : 'odd', queue: i < 20 ? 'main' : 'side' })));
        const seen: number[] = [];
        let cursor: number | null | undefined;
        do {
          const page = await store.list({ limit: 10, ...(cursor === undefined || cursor === null ? {} : { cursor }) });
          seen.push(...page.jobs.map((j) => j.id));
          cursor = page.nextCursor;
        } while (cursor !== null);
        expect(seen).toHaveLength(25);
        expect(seen).toEqual([...seen].sort((a, b) => a - b));
        expect((await store.list({ name: 'even', queue: 'main' })).jobs).toHaveLength(10);
        expect((await store.list({ state: 'done' })).jobs).toHaveLength(0);
        expect((await store.list({ order: 'desc', limit: 1 })).jobs[0]?.id).toBe(Math.max(...seen));
        await expect(store.list({ state: 'finished' as JobState })).rejects.toMatchObject({ field: 'filter.state' });
      });

      it('counts per state and per queue, pending work, and the oldest due job', async () => {
        const { store, clock } = await open();
        await store.enqueueMany([{ name: 'work', queue: 'a' }, { name: 'work', queue: 'b' }, { name: 'other', queue: 'b', delayMs: 60_000 }]);
        clock.advance(1_500);
        await jobIn(store, 'done');
        const stats = await store.stats();
        expect(stats.total).toBe(4);
        expect(stats.byState).toMatchObject({ queued: 3, done: 1, running: 0 });
        expect(stats.byQueue.b).toMatchObject({ queued: 2 });
        expect(stats.oldestQueuedAgeMs).toBe(1_500);
        expect(await store.pendingCount()).toBe(3);
        expect(await store.pendingCount({ queue: 'a' })).toBe(1);
        expect(await store.pendingCount({ names: ['other'] })).toBe(1);
      });

      it('prunes finished jobs older than the cutoff, with their history', async () => {
        const { store, clock } = await open();
        const old = await jobIn(store, 'done');
        const err = await jobIn(store, 'error');
        clock.advance(60_000);
        const recent = await jobIn(store, 'done');
        expect(await store.prune({ olderThanMs: 30_000 })).toBe(1);
        expect(await store.get(old.id)).toBeUndefined();
        expect(await store.get(recent.id)).toBeDefined();
        expect(await store.get(err.id)).toBeDefined();
        expect(await store.prune({ olderThanMs: 0, states: ['error', 'done'] })).toBe(2);
      });
    });

    describe('lifecycle', () => {
      it('close is safe twice and later calls fail with ERR_STORE_CLOSED', async () => {
        const { store } = await open();
        await store.close();
        await store.close();
        await expect(store.stats()).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
        await expect(store.enqueue({ name: 'work' })).rejects.toMatchObject({ code: 'ERR_STORE_CLOSED' });
      });
    });
  });
}
