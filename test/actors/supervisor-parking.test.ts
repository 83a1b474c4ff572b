/**
 * Jobs parked in threads: when jobs are short, a thread task carries more jobs than the slots it
 * fills, and they wait in the thread for a lane. These tests make the supervisor park (a warm-up
 * of no-op jobs sets a high completion rate), hold the lanes with jobs that wait for a file, and
 * check what parked jobs must never do: run beyond `concurrency`, run after a pause, a stop or a
 * cancel took them back, or count an attempt they never made.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { nextRate, prefetchTarget, rampingUp, rateWindowEnds, type Supervisor } from '../../actors/supervisor.actor.js';
import { testSupervisor } from '../helpers/supervisor.js';
import { until } from '../helpers/until.js';

/** `until`, asking every 5 ms: these tests look for short-lived states (jobs parked, recalled). */
const untilSoon = (what: string, check: () => boolean | Promise<boolean>): Promise<void> => until(what, check, { everyMs: 5 });

/** Options that make parking happen as soon as the completion rate is high. */
const parking = { threads: 1, concurrency: 2, prefetch: 64, maxAckDelayMs: 100 } as const;

/** Drains no-op jobs for long enough that the supervisor measures a high completion rate. */
async function warmUp(supervisor: Supervisor): Promise<void> {
  const until = Date.now() + 400;
  while (Date.now() < until) {
    await supervisor.enqueueMany(Array.from({ length: 500 }, () => ({ name: 'noop' })));
    await supervisor.drain();
  }
}

/** Ids of the jobs that started, from a `logged`/`waitForFile` log. */
const startedIn = (log: string): number[] =>
  existsSync(log)
    ? readFileSync(log, 'utf8')
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('start'))
        .map((l) => Number(l.split(' ')[1]))
    : [];

/** Two jobs hold both lanes until `gate` exists; `n` logged jobs queue behind them. */
async function holdLanes(supervisor: Supervisor, gate: string, log: string, n: number): Promise<{ held: number[]; behind: number[] }> {
  const jobs = await supervisor.enqueueMany([
    { name: 'waitForFile', payload: { path: gate } },
    { name: 'waitForFile', payload: { path: gate } },
    ...Array.from({ length: n }, () => ({ name: 'logged', payload: { log, ms: 0 } })),
  ]);
  const ids = jobs.map((j) => j.id);
  await untilSoon('jobs parked behind the held lanes', () => supervisor.status().inFlight.filter((j) => j.parked).length === n);
  return { held: ids.slice(0, 2), behind: ids.slice(2) };
}

describe('the prefetch target', () => {
  const base = { rate: 25_000, ackWindowMs: 5, pumpMs: 0, concurrency: 8, prefetch: 1_024 };
  it('feeds the slots for twice an ack window and a pump at the recent completion rate', () => {
    expect(prefetchTarget(base)).toBe(250);
    // Before the fix a 5 ms pump did not count: 250, and threads ran dry while it ran.
    expect(prefetchTarget({ ...base, pumpMs: 5 })).toBe(500);
    expect(prefetchTarget({ ...base, ackWindowMs: 0, pumpMs: 1.5 })).toBe(125);
  });
  it('is at least concurrency and at most prefetch (0 turns prefetching off)', () => {
    expect(prefetchTarget({ ...base, rate: 0, pumpMs: 3 })).toBe(8);
    expect(prefetchTarget({ ...base, pumpMs: 50 })).toBe(1_024);
    expect(prefetchTarget({ ...base, prefetch: 0 })).toBe(0);
  });
  it('follows a rising completion rate at once and a falling one smoothly', () => {
    // Before the fix a rise was smoothed too: a burst of short jobs spent most of its time ramping up.
    expect(nextRate(0, 4_000)).toBe(4_000);
    expect(nextRate(4_000, 20_000)).toBe(20_000);
    expect(nextRate(20_000, 10_000)).toBe(17_000);
    expect(nextRate(17_000, 0)).toBeCloseTo(11_900);
  });
  it('a ramp-up of short jobs shows after 5 ms, anything else after the 50 ms window', () => {
    const w = { elapsedMs: 5, completions: 40, concurrency: 8, rate: 1_000, rampingUp: true };
    // Before the fix every window was 50 ms: a burst spent its first ~100 ms at 16 jobs a pump.
    expect(rateWindowEnds(w)).toBe(true);
    expect(rateWindowEnds({ ...w, elapsedMs: 4.9 })).toBe(false);
    // No more jobs ended than there are slots: longer jobs, ending together; wait for the window.
    expect(rateWindowEnds({ ...w, completions: 8 })).toBe(false);
    // Not a ramp-up (40 in 5 ms is 8,000/s, not more than twice 4,000/s): steady-state blips of
    // batched results, and falls, are measured over whole windows.
    expect(rateWindowEnds({ ...w, rate: 3_999 })).toBe(true);
    expect(rateWindowEnds({ ...w, rate: 4_000 })).toBe(false);
    expect(rateWindowEnds({ ...w, rate: 8_000 })).toBe(false);
    expect(rateWindowEnds({ ...w, rate: 8_000, elapsedMs: 50 })).toBe(true);
    expect(rateWindowEnds({ ...w, completions: 0, elapsedMs: 50 })).toBe(true);
    // In steady state a short window of results handled in a burst read 2-3 times the true rate:
    // only a ramp-up may use short windows.
    expect(rateWindowEnds({ ...w, rampingUp: false })).toBe(false);
    expect(rateWindowEnds({ ...w, rampingUp: false, elapsedMs: 50 })).toBe(true);
  });
  it('ramps up while the rate at least doubles, or from (nearly) idle', () => {
    expect(rampingUp(0, 1_500, 8)).toBe(true);
    expect(rampingUp(7_600, 25_800, 8)).toBe(true);
    expect(rampingUp(25_800, 40_000, 8)).toBe(false);
    expect(rampingUp(40_000, 39_000, 8)).toBe(false);
    // Fewer than 8 completions a 50 ms window (160/s): as good as idle, the next burst ramps up.
    expect(rampingUp(200, 159, 8)).toBe(true);
    expect(rampingUp(200, 161, 8)).toBe(false);
  });
});

describe('jobs parked in threads', () => {
  it('short jobs are parked in threads, and never more than concurrency run at once', async () => {
    await using t = testSupervisor({ ...parking, concurrency: 3 });
    await warmUp(t.supervisor);
    const log = t.dir.file('runs.log');
    writeFileSync(log, '');
    let maxParked = 0;
    const timer = setInterval(() => (maxParked = Math.max(maxParked, t.supervisor.status().inFlight.filter((j) => j.parked).length)), 1);
    await t.supervisor.enqueueMany(Array.from({ length: 300 }, () => ({ name: 'logged', payload: { log, ms: 1 } })));
    await t.supervisor.drain();
    clearInterval(timer);
    expect(maxParked).toBeGreaterThan(0);
    const running = new Set<string>();
    let peak = 0;
    for (const line of readFileSync(log, 'utf8').trim().split('\n')) {
      const [kind, id] = line.split(' ');
      if (kind === 'start') running.add(id as string);
      else running.delete(id as string);
      peak = Math.max(peak, running.size);
    }
    expect(peak).toBeLessThanOrEqual(3);
    expect((await t.supervisor.stats()).byState.done).toBeGreaterThanOrEqual(300);
  });

  it('a parked job holds no slot; status shows each slot with the job it runs', async () => {
    await using t = testSupervisor(parking);
    await warmUp(t.supervisor);
    const gate = t.dir.file('gate');
    const { held, behind } = await holdLanes(t.supervisor, gate, t.dir.file('runs.log'), 10);
    const status = t.supervisor.status();
    expect(status.workers.map((w) => [w.state, w.jobId]).sort()).toEqual(held.map((id) => ['busy', id]).sort());
    const parked = status.inFlight.filter((j) => j.parked);
    expect(parked.map((j) => j.id).sort((a, b) => a - b)).toEqual(behind);
    expect(parked.every((j) => j.slot === null && j.state === 'leased' && j.startedAt === null)).toBe(true);
    writeFileSync(gate, '');
    await t.supervisor.drain();
    expect(t.supervisor.status().workers.every((w) => w.state === 'idle' && w.jobId === null)).toBe(true);
  });

  it('pause gives parked jobs back uncounted; they never start; resume runs them', async () => {
    await using t = testSupervisor(parking);
    await warmUp(t.supervisor);
    const gate = t.dir.file('gate');
    const log = t.dir.file('runs.log');
    const { held, behind } = await holdLanes(t.supervisor, gate, log, 10);
    const paused = t.supervisor.pause();
    const store = t.inspect();
    // The parked jobs come back before the held ones end.
    await untilSoon('parked jobs given back', async () => (await store.get(behind[9] as number))?.state === 'queued');
    for (const id of behind) {
      const job = await store.get(id);
      expect(job?.state).toBe('queued');
      expect(job?.attempts).toBe(0);
    }
    expect(startedIn(log)).toEqual([]);
    writeFileSync(gate, '');
    await paused;
    expect(t.supervisor.status().inFlight).toEqual([]);
    for (const id of held) expect((await store.get(id))?.state).toBe('done');
    await t.supervisor.resume();
    await t.supervisor.drain();
    expect(startedIn(log).sort((a, b) => a - b)).toEqual(behind);
    for (const id of behind) expect((await store.get(id))?.attempts).toBe(1);
  });

  it('cancelling a parked job: it never starts, and the jobs parked beside it still run', async () => {
    await using t = testSupervisor(parking);
    await warmUp(t.supervisor);
    const gate = t.dir.file('gate');
    const log = t.dir.file('runs.log');
    const { behind } = await holdLanes(t.supervisor, gate, log, 5);
    const cancelled: Array<{ id: number; aborted: boolean }> = [];
    t.supervisor.on('job.cancelled', (e) => cancelled.push(e));
    const victim = behind[2] as number;
    expect(await t.supervisor.cancel(victim)).toBe('cancelled');
    expect(cancelled).toEqual([{ id: victim, aborted: true }]);
    await untilSoon('the cancelled job leaves the thread', () => !t.supervisor.status().inFlight.some((j) => j.id === victim));
    writeFileSync(gate, '');
    await t.supervisor.drain();
    expect(startedIn(log).sort((a, b) => a - b)).toEqual(behind.filter((id) => id !== victim));
    const store = t.inspect();
    expect((await store.get(victim))?.state).toBe('cancelled');
    expect((await store.get(victim))?.history.map((h) => h.event)).toEqual(['ENQUEUE', 'LEASE', 'CANCEL']);
  });

  it('stop gives parked jobs back uncounted', async () => {
    await using t = testSupervisor(parking);
    await warmUp(t.supervisor);
    const gate = t.dir.file('gate');
    const log = t.dir.file('runs.log');
    const { held, behind } = await holdLanes(t.supervisor, gate, log, 10);
    await t.supervisor.stop({ graceMs: 50 });
    expect(startedIn(log)).toEqual([]);
    const store = t.inspect();
    for (const id of [...held, ...behind]) {
      const job = await store.get(id);
      expect(job?.state).toBe('queued');
      expect(job?.attempts).toBe(0);
    }
  });

  it('jobs parked behind lanes that stall come back to the buffer, keep their leases, and run once', async () => {
    // A 5 ms ack window: a task none of whose jobs ended for 50 ms has stalled.
    await using t = testSupervisor({ ...parking, maxAckDelayMs: 5 });
    await warmUp(t.supervisor);
    const gate = t.dir.file('gate');
    const log = t.dir.file('runs.log');
    const jobs = await t.supervisor.enqueueMany([
      { name: 'waitForFile', payload: { path: gate } },
      { name: 'waitForFile', payload: { path: gate } },
      ...Array.from({ length: 10 }, () => ({ name: 'logged', payload: { log, ms: 0 } })),
    ]);
    const behind = jobs.slice(2).map((j) => j.id);
    let sawParked = false;
    await untilSoon('parked jobs recalled to the buffer', () => {
      const inFlight = t.supervisor.status().inFlight;
      sawParked ||= inFlight.some((j) => j.parked);
      const waiting = inFlight.filter((j) => behind.includes(j.id));
      return sawParked && waiting.length === behind.length && waiting.every((j) => !j.parked && j.slot === null && j.state === 'leased');
    });
    expect(startedIn(log)).toEqual([]);
    writeFileSync(gate, '');
    await t.supervisor.drain();
    expect(startedIn(log).sort((a, b) => a - b)).toEqual(behind);
    const store = t.inspect();
    for (const id of behind) expect((await store.get(id))?.history.map((h) => h.event)).toEqual(['ENQUEUE', 'LEASE', 'START', 'SUCCEED']);
  });

  it('a recalled job sent again is not recalled a second time by a late copy of its first recall', async () => {
    await using t = testSupervisor({ ...parking, maxAckDelayMs: 5 });
    await warmUp(t.supervisor);
    const [gateA, gateB, gateC] = [t.dir.file('a'), t.dir.file('b'), t.dir.file('c')];
    const log = t.dir.file('runs.log');
    const jobs = await t.supervisor.enqueueMany([
      { name: 'waitForFile', payload: { path: gateA } },
      { name: 'waitForFile', payload: { path: gateB } },
      { name: 'waitForFile', payload: { path: gateC, log } },
      ...Array.from({ length: 5 }, () => ({ name: 'logged', payload: { log, ms: 0 } })),
    ]);
    const behind = jobs.slice(2).map((j) => j.id);
    const held = behind[0] as number;
    let sawParked = false;
    await untilSoon('parked jobs recalled to the buffer', () => {
      const inFlight = t.supervisor.status().inFlight;
      sawParked ||= inFlight.some((j) => j.parked);
      return sawParked && inFlight.filter((j) => behind.includes(j.id)).every((j) => !j.parked && j.slot === null);
    });
    // One lane frees: the recalled jobs go out again, the first of them held by its gate.
    writeFileSync(gateA, '');
    await untilSoon('the recalled job running again', () => startedIn(log).includes(held));
    // The first task ends now, while they are out again: its output must not recall them twice.
    writeFileSync(gateB, '');
    await untilSoon('the first task ended', async () => (await t.inspect().get(jobs[1]?.id as number))?.state === 'done');
    await sleep(50);
    writeFileSync(gateC, '');
    await t.supervisor.drain();
    expect(startedIn(log).sort((a, b) => a - b)).toEqual(behind);
  });

  it('a thread that dies gives its parked jobs back uncounted; they run on the new thread', async () => {
    await using t = testSupervisor({ ...parking, retry: { kind: 'immediate', maxAttempts: 3 } });
    await warmUp(t.supervisor);
    const gate = t.dir.file('gate');
    const log = t.dir.file('runs.log');
    const jobs = await t.supervisor.enqueueMany([
      { name: 'exitThread', payload: { code: 1, afterMs: 300 } },
      { name: 'waitForFile', payload: { path: gate } },
      ...Array.from({ length: 10 }, () => ({ name: 'logged', payload: { log, ms: 0 } })),
    ]);
    const [exiting, held, ...behind] = jobs.map((j) => j.id) as [number, number, ...number[]];
    const crashed: Array<number | null> = [];
    t.supervisor.on('worker.crashed', (e) => crashed.push(e.jobId));
    await untilSoon('jobs parked behind the held lanes', () => t.supervisor.status().inFlight.filter((j) => j.parked).length === 10);
    await untilSoon('the thread died', () => crashed.length >= 2);
    expect(crashed.sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([exiting, held]);
    writeFileSync(gate, '');
    // The exiting job is retried and kills its thread each time: wait for it to run out of attempts.
    await t.supervisor.drain();
    const store = t.inspect();
    expect((await store.get(exiting))?.state).toBe('error');
    expect((await store.get(held))?.state).toBe('done');
    // Each parked job ran exactly once, on its first counted attempt.
    expect(startedIn(log).sort((a, b) => a - b)).toEqual(behind);
    for (const id of behind) {
      const job = await store.get(id);
      expect(job?.state).toBe('done');
      expect(job?.attempts).toBe(1);
      expect(job?.history.map((h) => h.event)).toEqual(['ENQUEUE', 'LEASE', 'PAUSE', 'LEASE', 'START', 'SUCCEED']);
    }
  });
});
