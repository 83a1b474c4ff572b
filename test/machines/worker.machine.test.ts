import { describe, expect, it } from 'vitest';
import { transition } from 'xstate';
import { workerLifecycle } from '../../actors/worker.actor.js';
import { WorkerStates, workerMachine, type WorkerEvent } from '../../machines/worker.machine.js';

const events: WorkerEvent[] = [{ type: 'ASSIGN', jobId: 7 }, { type: 'NEXT', jobId: 8 }, { type: 'NEXT', jobId: null }, { type: 'RELEASE' }, { type: 'CRASH' }, { type: 'RECOVERED' }, { type: 'DRAIN' }];

describe('worker machine', () => {
  it('has the states of DESIGN.md', () => {
    expect(Object.keys(workerMachine.root.states)).toEqual([...WorkerStates]);
  });

  it('compiled table agrees with xstate.transition() for every state and event', () => {
    for (const state of WorkerStates) {
      for (const jobId of [null, 3]) {
        for (const event of events) {
          const snapshot = workerMachine.resolveState({ value: state, context: { slot: 1, jobId } });
          const compiled = workerLifecycle.next(state, { slot: 1, jobId }, event);
          if (!snapshot.can(event)) {
            expect(compiled, `${state} ${event.type}`).toBeUndefined();
            continue;
          }
          const [after] = transition(workerMachine, snapshot, event);
          expect(compiled?.state).toBe(after.value);
          expect(compiled?.context).toEqual(after.context);
        }
      }
    }
  });

  it('idle → busy → idle, busy → crashed → idle, draining → stopped', () => {
    const path = (from: (typeof WorkerStates)[number], ...evs: WorkerEvent[]) =>
      evs.reduce<{ s: string; c: { slot: number; jobId: number | null } }>(
        (acc, e) => {
          const step = workerLifecycle.next(acc.s as never, acc.c, e);
          if (step === undefined) throw new Error(`${acc.s} ${e.type}`);
          return { s: step.state, c: step.context };
        },
        { s: from, c: { slot: 0, jobId: null } },
      );
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'RELEASE' })).toEqual({ s: 'idle', c: { slot: 0, jobId: null } });
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'CRASH' })).toEqual({ s: 'crashed', c: { slot: 0, jobId: 1 } });
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'CRASH' }, { type: 'RECOVERED' }).s).toBe('idle');
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'DRAIN' }, { type: 'RELEASE' }).s).toBe('stopped');
    expect(path('idle', { type: 'DRAIN' }).s).toBe('stopped');
    // A slot held by a thread task with parked jobs: reserved between two of its jobs.
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'NEXT', jobId: null })).toEqual({ s: 'busy', c: { slot: 0, jobId: null } });
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'NEXT', jobId: null }, { type: 'NEXT', jobId: 2 })).toEqual({ s: 'busy', c: { slot: 0, jobId: 2 } });
    expect(path('idle', { type: 'ASSIGN', jobId: 1 }, { type: 'DRAIN' }, { type: 'NEXT', jobId: 2 }, { type: 'RELEASE' }).s).toBe('stopped');
    expect(() => path('idle', { type: 'NEXT', jobId: 2 })).toThrow('idle NEXT');
  });
});
