import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createActor, transition } from 'xstate';
import { jobLifecycle } from '../../src/job-lifecycle.js';
import {
  JOB_EVENT_TYPES,
  JOB_STATES,
  TERMINAL_STATES,
  jobMachine,
  type JobContext,
  type JobEvent,
  type JobState,
} from '../../machines/job.machine.js';

const contextFor = (state: JobState) =>
  fc.record({
    attempts: fc.integer({ min: 0, max: 12 }),
    maxAttempts: fc.integer({ min: 1, max: 10 }),
    escalateAfter: fc.option(fc.integer({ min: 1, max: 10 }), { nil: null }),
    pendingDeps: state === 'blocked' || state === 'queued' || state === 'error' || state === 'cancelled' ? fc.integer({ min: 0, max: 3 }) : fc.constant(0),
    onDepFailure: fc.constantFrom('cancel' as const, 'skip' as const),
  });

/** Small contexts that reach every outcome of every guard of the job machine. */
function* contextGrid(state: JobState): Generator<JobContext> {
  const deps = state === 'blocked' || state === 'queued' || state === 'error' || state === 'cancelled' ? [0, 1, 2] : [0];
  for (let attempts = 0; attempts <= 4; attempts++)
    for (let maxAttempts = 1; maxAttempts <= 3; maxAttempts++)
      for (const escalateAfter of [null, 1, 2, 3])
        for (const pendingDeps of deps)
          for (const onDepFailure of ['cancel', 'skip'] as const) yield { attempts, maxAttempts, escalateAfter, pendingDeps, onDepFailure };
}

const eventOf = (type: (typeof JOB_EVENT_TYPES)[number], retryable: boolean): JobEvent =>
  type === 'FAIL' ? { type, retryable } : ({ type });

describe('job machine', () => {
  it('has exactly the states of DESIGN.md, and JOB_STATES lists them', () => {
    expect(Object.keys(jobMachine.root.states).sort()).toEqual([...JOB_STATES].sort());
    expect(JOB_STATES).toEqual(['queued', 'blocked', 'leased', 'running', 'done', 'skipped', 'error', 'escalated', 'cancelled']);
  });

  it('tags exactly the terminal states', () => {
    for (const s of JOB_STATES) expect(jobLifecycle.hasTag(s, 'terminal')).toBe(TERMINAL_STATES.includes(s));
  });

  it('handles every event of DESIGN.md somewhere', () => {
    expect([...jobLifecycle.events].sort()).toEqual([...JOB_EVENT_TYPES].sort());
  });

  it('compiled table agrees with xstate.transition() for every state, event and guard outcome', () => {
    for (const state of JOB_STATES) {
      fc.assert(
        fc.property(contextFor(state), fc.constantFrom(...JOB_EVENT_TYPES), fc.boolean(), (context: JobContext, type, retryable) => {
          const event = eventOf(type, retryable);
          const snapshot = jobMachine.resolveState({ value: state, context });
          const compiled = jobLifecycle.next(state, context, event);
          if (!snapshot.can(event)) {
            expect(compiled).toBeUndefined();
            return;
          }
          const [after] = transition(jobMachine, snapshot, event);
          expect(compiled).toBeDefined();
          expect(compiled?.state).toBe(after.value);
          expect(compiled?.context).toEqual(after.context);
        }),
        { numRuns: 300 },
      );
    }
  });

  it('creates jobs like an XState actor does: ENQUEUE keeps them queued, or blocked when dependencies are pending', () => {
    for (const pendingDeps of [0, 1, 3]) {
      const actor = createActor(jobMachine, { input: { pendingDeps, maxAttempts: 3 } }).start();
      expect(actor.getSnapshot().value).toBe(jobLifecycle.initialState);
      actor.send({ type: 'ENQUEUE' });
      const compiled = jobLifecycle.next('queued', actor.getSnapshot().context, { type: 'ENQUEUE' });
      expect(compiled?.state).toBe(actor.getSnapshot().value);
      expect(compiled?.state).toBe(pendingDeps > 0 ? 'blocked' : 'queued');
      actor.stop();
    }
  });

  it('lists the same (from, event, to) triples that XState reaches', () => {
    // Every guard outcome, exhaustively (random samples could miss a rare combination, and did:
    // one run in a few hundred found 27 of the 28 triples): attempts below, at and above
    // maxAttempts and escalateAfter, dependencies none / last one / several, both failure modes.
    const seen = new Set<string>();
    for (const state of JOB_STATES) {
      for (const context of contextGrid(state)) {
        for (const type of JOB_EVENT_TYPES) {
          for (const retryable of [true, false]) {
            const event = eventOf(type, retryable);
            const snapshot = jobMachine.resolveState({ value: state, context });
            if (!snapshot.can(event)) continue;
            const [after] = transition(jobMachine, snapshot, event);
            seen.add(`${state} ${type} ${String(after.value)}`);
          }
        }
      }
    }
    const triples = new Set(jobLifecycle.triples().map(([f, e, t]) => `${f} ${e} ${t}`));
    expect([...seen].sort()).toEqual([...triples].sort());
  });

  it('guards FAIL: escalate, then retry, then error', () => {
    const base: JobContext = { attempts: 1, maxAttempts: 3, escalateAfter: null, pendingDeps: 0, onDepFailure: 'cancel' };
    const fail = (ctx: Partial<JobContext>, retryable = true) => jobLifecycle.next('running', { ...base, ...ctx }, { type: 'FAIL', retryable })?.state;
    expect(fail({})).toBe('queued');
    expect(fail({ attempts: 3 })).toBe('error');
    expect(fail({}, false)).toBe('error');
    expect(fail({ escalateAfter: 2 })).toBe('queued');
    expect(fail({ escalateAfter: 2, attempts: 2 })).toBe('escalated');
    expect(fail({ escalateAfter: 5, attempts: 3 })).toBe('escalated');
    expect(fail({ escalateAfter: 5 }, false)).toBe('escalated');
  });
});
