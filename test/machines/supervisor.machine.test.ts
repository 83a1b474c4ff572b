/** The supervisor machine alone: stub logic, a ManualClock, no threads, no store. */
import { describe, expect, it } from 'vitest';
import { createActor, fromPromise } from 'xstate';
import { ManualClock } from '../../src/clock.js';
import { supervisorMachine, type PumpInput } from '../../machines/supervisor.machine.js';

function harness() {
  const clock = new ManualClock(0);
  const calls: string[] = [];
  const interrupted: number[] = [];
  let releaseStartup: () => void = () => undefined;
  const machine = supervisorMachine.provide({
    actors: {
      startup: fromPromise(() => new Promise<void>((r) => (releaseStartup = r))),
      pump: fromPromise<{ more: boolean }, PumpInput>(async ({ input }) => {
        calls.push(`pump:${input.lease ? 'lease' : 'ack-only'}`);
        return { more: false };
      }),
      heartbeat: fromPromise(async () => {
        calls.push('heartbeat');
      }),
      recover: fromPromise(async () => {
        calls.push('recover');
      }),
    },
    actions: {
      interruptInFlight: () => interrupted.push(clock.now()),
    },
  });
  const actor = createActor(machine, { input: { pollMs: 100, heartbeatMs: 1_000, recoveryMs: 5_000 }, clock }).start();
  const top = () => {
    const v = actor.getSnapshot().value;
    return typeof v === 'string' ? v : Object.keys(v)[0];
  };
  const settle = () => new Promise((r) => setTimeout(r, 0));
  return { clock, calls, interrupted, actor, top, settle, startup: () => releaseStartup() };
}

describe('supervisor machine', () => {
  it('starts, pumps at once, then on the poll delay of the injected clock, beats and recovers on theirs', async () => {
    const h = harness();
    expect(h.top()).toBe('starting');
    h.startup();
    await h.settle();
    expect(h.top()).toBe('running');
    // Jobs queued before start() are leased at once, not at the first poll.
    expect(h.calls).toEqual(['pump:lease']);
    h.clock.advance(99);
    await h.settle();
    expect(h.calls).toEqual(['pump:lease']);
    h.clock.advance(1);
    await h.settle();
    expect(h.calls).toEqual(['pump:lease', 'pump:lease']);
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
    expect(h.calls).toEqual(['pump:lease', 'pump:lease']);
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
    expect(h.calls).toEqual(['pump:lease', 'pump:ack-only']);
    h.actor.send({ type: 'IDLE' });
    expect(h.top()).toBe('paused');
    const before = h.calls.length;
    h.actor.send({ type: 'RESUME' });
    expect(h.top()).toBe('running');
    // What was enqueued during the pause is leased at once, without a WAKE or the poll.
    await h.settle();
    expect(h.calls.slice(before)).toEqual(['pump:lease']);
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
    expect(h.calls.filter((c) => c.startsWith('pump')).slice(1).every((c) => c === 'pump:ack-only')).toBe(true);
    expect(h.calls[0]).toBe('pump:lease');
    h.clock.advance(1);
    expect(h.interrupted).toEqual([2_500]);
    h.actor.send({ type: 'IDLE' });
    expect(h.top()).toBe('stopped');
    expect(h.actor.getSnapshot().status).toBe('done');
  });
});
