/** The supervisor machine alone: stub logic, a ManualClock, no threads, no store. */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import { ManualClock } from '../../src/clock.js';
import { supervisorMachine, type PumpInput } from '../../machines/supervisor.machine.js';

/**
 * `manual`: pumps end only when the test sends their `PUMPED` / `PUMP_FAILED`; otherwise each ends
 * at once (a microtask later) with nothing more to do.
 */
function harness(options: { manual?: boolean } = {}) {
  const clock = new ManualClock(0);
  const calls: string[] = [];
  const errors: unknown[] = [];
  const interrupted: number[] = [];
  let releaseStartup: () => void = () => undefined;
  const machine = supervisorMachine.provide({
    actors: {
      startup: fromPromise(() => new Promise<void>((r) => (releaseStartup = r))),
      heartbeat: fromPromise(async () => {
        calls.push('heartbeat');
      }),
      recover: fromPromise(async () => {
        calls.push('recover');
      }),
    },
    actions: {
      pump: ({ context, self }, params: PumpInput) => {
        calls.push(`pump:${params.lease ? 'lease' : 'ack-only'}#${context.pumpSeq}`);
        const seq = context.pumpSeq;
        if (options.manual !== true) queueMicrotask(() => self.send({ type: 'PUMPED', seq, more: false }));
      },
      interruptInFlight: () => interrupted.push(clock.now()),
      reportError: ({ event }) => errors.push((event as { error?: unknown }).error),
    },
  });
  const actor = createActor(machine, { input: { pollMs: 100, heartbeatMs: 1_000, recoveryMs: 5_000 }, clock }).start();
  const top = () => {
    const v = actor.getSnapshot().value;
    return typeof v === 'string' ? v : Object.keys(v)[0];
  };
  const dispatch = () => (actor.getSnapshot().value as Record<string, Record<string, string>>)[top() as string]?.['dispatch'];
  const pumps = () => calls.filter((c) => c.startsWith('pump')).map((c) => c.slice('pump:'.length));
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { clock, calls, errors, interrupted, actor, top, dispatch, pumps, settle, startup: () => releaseStartup() };
}

describe('supervisor machine', () => {
  it('starts, pumps at once, then on the poll delay of the injected clock, beats and recovers on theirs', async () => {
    const h = harness();
    expect(h.top()).toBe('starting');
    h.startup();
    await h.settle();
    expect(h.top()).toBe('running');
    // Jobs queued before start() are leased at once, not at the first poll.
    expect(h.pumps()).toEqual(['lease#1']);
    h.clock.advance(99);
    await h.settle();
    expect(h.pumps()).toEqual(['lease#1']);
    h.clock.advance(1);
    await h.settle();
    expect(h.pumps()).toEqual(['lease#1', 'lease#2']);
    h.clock.advance(900);
    await h.settle();
    expect(h.calls.filter((c) => c === 'heartbeat')).toHaveLength(1);
    // Each beat's invocation is async, so the next timer is armed only once it resolves: step.
    for (let i = 0; i < 4; i++) {
      h.clock.advance(1_000);
      await h.settle();
    }
    expect(h.calls.filter((c) => c === 'recover')).toHaveLength(1);
    expect(h.calls.filter((c) => c === 'heartbeat')).toHaveLength(5);
    h.actor.stop();
  });

  it('WAKE pumps at once, without waiting for the poll', async () => {
    const h = harness();
    h.startup();
    await h.settle();
    h.actor.send({ type: 'WAKE' });
    await h.settle();
    expect(h.pumps()).toEqual(['lease#1', 'lease#2']);
    h.actor.stop();
  });

  it('pause stops leasing (pumps only ack), IDLE makes it paused, RESUME leases again', async () => {
    const h = harness();
    h.startup();
    await h.settle();
    h.actor.send({ type: 'PAUSE' });
    expect(h.top()).toBe('pausing');
    h.actor.send({ type: 'WAKE' });
    await h.settle();
    expect(h.pumps()).toEqual(['lease#1', 'ack-only#2']);
    h.actor.send({ type: 'IDLE' });
    expect(h.top()).toBe('paused');
    const before = h.calls.length;
    h.actor.send({ type: 'RESUME' });
    expect(h.top()).toBe('running');
    // What was enqueued during the pause is leased at once, without a WAKE or the poll.
    await h.settle();
    expect(h.calls.slice(before)).toEqual(['pump:lease#3']);
    h.actor.stop();
  });

  it('STOP drains: keeps acking and beating, interrupts after graceMs, stops on IDLE', async () => {
    const h = harness();
    h.startup();
    await h.settle();
    h.actor.send({ type: 'STOP', graceMs: 2_500 });
    expect(h.top()).toBe('draining');
    h.clock.advance(2_499);
    await h.settle();
    expect(h.interrupted).toEqual([]);
    expect(h.calls).toContain('heartbeat');
    // Only the pump on entering running leased; every pump since then only acked.
    expect(h.pumps().slice(1).every((c) => c.startsWith('ack-only'))).toBe(true);
    expect(h.pumps()[0]).toBe('lease#1');
    h.clock.advance(1);
    expect(h.interrupted).toEqual([2_500]);
    h.actor.send({ type: 'IDLE' });
    expect(h.top()).toBe('stopped');
    expect(h.actor.getSnapshot().status).toBe('done');
  });

  it('a WAKE during a pump, or a pump that reports more to do, pumps again at once; otherwise it waits', async () => {
    const h = harness({ manual: true });
    h.startup();
    await h.settle();
    expect(h.dispatch()).toBe('pumping');
    h.actor.send({ type: 'WAKE' });
    h.actor.send({ type: 'PUMPED', seq: 1, more: false });
    expect(h.pumps()).toEqual(['lease#1', 'lease#2']);
    h.actor.send({ type: 'PUMPED', seq: 2, more: true });
    expect(h.pumps()).toEqual(['lease#1', 'lease#2', 'lease#3']);
    h.actor.send({ type: 'PUMPED', seq: 3, more: false });
    expect(h.dispatch()).toBe('waiting');
    expect(h.pumps()).toHaveLength(3);
    h.actor.stop();
  });

  it('the report of a pump begun before a pause ends nothing; a failed one is still reported', async () => {
    const h = harness({ manual: true });
    h.startup();
    await h.settle();
    // Pump 1 (leasing) is running when PAUSE comes; pausing's pump 2 (acks only) begins on a WAKE.
    h.actor.send({ type: 'PAUSE' });
    h.actor.send({ type: 'WAKE' });
    expect(h.pumps()).toEqual(['lease#1', 'ack-only#2']);
    // Without the pump's number, pump 1's report would end pump 2, and a WAKE meanwhile would be lost.
    h.actor.send({ type: 'PUMPED', seq: 1, more: false });
    expect(h.dispatch()).toBe('pumping');
    h.actor.send({ type: 'PUMP_FAILED', seq: 1, error: new Error('old') });
    expect(h.dispatch()).toBe('pumping');
    expect(h.errors).toEqual([new Error('old')]);
    h.actor.send({ type: 'WAKE' });
    h.actor.send({ type: 'PUMP_FAILED', seq: 2, error: new Error('disk full') });
    // A failed pump waits for the poll (or the next WAKE), even with a WAKE pending: pumping again
    // at once would spin on a lasting fault (a full disk).
    expect(h.errors).toEqual([new Error('old'), new Error('disk full')]);
    expect(h.dispatch()).toBe('waiting');
    h.clock.advance(100);
    expect(h.pumps()).toEqual(['lease#1', 'ack-only#2', 'ack-only#3']);
    h.actor.stop();
  });
});
