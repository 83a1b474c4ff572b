/**
 * The chaos scenarios, parameterised by size. `*.test.ts` (npm test) run them small,
 * `*.chaos.test.ts` (npm run test:chaos) full size. Each returns the checker's report and what it
 * measured; the tests assert.
 */
import Database from 'better-sqlite3';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import type { CrashPoint } from '../../src/faults.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite-store.js';
import type { JobInput } from '../../src/config.js';
import type { ClaimerSummary } from '../fixtures/chaos/claimer.js';
import type { RaceTally } from '../fixtures/chaos/race.worker.js';
import type { WorkerProcessConfig } from '../fixtures/chaos/worker-process.js';
import { tempDir } from '../helpers/temp.js';
import { checkRun, formatReport, type CheckReport } from './checker.js';
import { Child, CHAOS_RETRY, childEnv, claimerScript, jobMix, killAllChildren, raceWorker, seeded, spawnSupervisor, supervisorConfig, type Exit, type SupervisorProbe } from './harness.js';
import { until } from '../helpers/until.js';

type Log = (line: string) => void;

async function enqueueAll(store: SqliteStore, jobs: readonly JobInput[]): Promise<number[]> {
  const ids: number[] = [];
  for (let i = 0; i < jobs.length; i += 5_000) ids.push(...(await store.enqueueMany(jobs.slice(i, i + 5_000))).map((r) => r.id));
  return ids;
}

/** Kills whatever child process a scenario left running (it failed midway), then removes its directory. */
async function cleanup(dir: ReturnType<typeof tempDir>): Promise<void> {
  await killAllChildren();
  dir[Symbol.dispose]();
}

/** Stops supervisor processes gracefully (SIGTERM), SIGKILL after `graceMs`. */
async function stopAll(children: readonly Child[], graceMs = 15_000): Promise<void> {
  await Promise.all(
    children.map(async (c) => {
      c.kill('SIGTERM');
      await c.exitWithin(graceMs, 'stop on SIGTERM').catch(() => c.killNow());
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// kill -9 campaign

export interface CampaignOptions {
  readonly jobs: number;
  readonly kills: number;
  readonly processes: number;
  /** Something happens to a random process every [min, max] ms: a kill, a stall or a restart. */
  readonly killEveryMs: readonly [number, number];
  /** Stalls among the events: a lease holder SIGSTOPped past its TTL, then resumed (SIGCONT). @defaultValue 0 */
  readonly stalls?: number;
  /** Graceful restarts among the events: SIGTERM (leases given back uncounted), then a new process. @defaultValue 0 */
  readonly restarts?: number;
  readonly ttlMs: number;
  readonly recoveryMs: number;
  readonly concurrency: number;
  readonly seed: number;
  /** Job side-effect durations (ms). */
  readonly jobMs?: { readonly min: number; readonly max: number };
  readonly log?: Log;
}

export interface KillRecord {
  readonly owner: string;
  readonly pid: number;
  readonly at: number;
  /** How many of its leases expired and were given back by another process's recovery. */
  leases: number;
  /** When the last of them was given back, ms after the kill (null: it held none). */
  recoveredAfterMs: number | null;
}

export interface CampaignResult {
  readonly report: CheckReport;
  readonly kills: readonly KillRecord[];
  readonly stalls: number;
  readonly restarts: number;
  /** From the last kill until nothing was pending any more. */
  readonly finishedAfterLastKillMs: number;
  /** Live supervisors that still had busy slots or jobs in flight once nothing was pending (must be empty). */
  readonly notQuiescent: ReadonlyArray<{ owner: string; status: SupervisorProbe }>;
  /** TTL + recovery interval + 2 s. */
  readonly boundMs: number;
  readonly durationMs: number;
  readonly table: string;
}

/**
 * Several supervisor processes on one file; the test process enqueues the jobs over the kill
 * window (recording every id it gets back); a random process is SIGKILLed every
 * `killEveryMs` and restarted at once. After the last kill, the work must finish within TTL +
 * recovery interval + 2 s; then everything is checked.
 */
export async function runCampaign(o: CampaignOptions): Promise<CampaignResult> {
  const log = o.log ?? (() => undefined);
  const random = seeded(o.seed);
  const dir = tempDir('leasehold-chaos-');
  const started = Date.now();
  try {
    const db = dir.file('chaos.db');
    const ledger = dir.file('ledger.log');
    writeFileSync(ledger, '');
    const store = createSqliteStore({ path: db, synchronous: 'NORMAL' });
    let generation = 0;
    const config = (slot: number): WorkerProcessConfig =>
      // A small prefetch spreads the work over the processes (one that polls first cannot take a whole batch).
      supervisorConfig(db, { ttlMs: o.ttlMs, recoveryMs: o.recoveryMs, concurrency: o.concurrency, prefetch: 4, owner: `p${slot}-g${++generation}` });
    const everyone: Child[] = [];
    const spawnSlot = (slot: number): Child => {
      const cfg = config(slot);
      const child = spawnSupervisor(cfg);
      child.owner = cfg.owner;
      everyone.push(child);
      return child;
    };
    const live = Array.from({ length: o.processes }, (_, slot) => spawnSlot(slot));
    await Promise.all(live.map((c) => c.ready()));

    // The events, shuffled; the last one is a kill (the liveness bound is measured from it).
    const events: Array<'kill' | 'stall' | 'restart'> = [
      ...Array.from({ length: o.kills - 1 }, () => 'kill' as const),
      ...Array.from({ length: o.stalls ?? 0 }, () => 'stall' as const),
      ...Array.from({ length: o.restarts ?? 0 }, () => 'restart' as const),
    ];
    for (let i = events.length - 1; i > 0; i--) {
      const j = random.int(0, i);
      [events[i], events[j]] = [events[j] as 'kill', events[i] as 'kill'];
    }
    events.push('kill');
    const intervals = events.map(() => random.int(o.killEveryMs[0], o.killEveryMs[1]));
    // A stall lasts past the TTL, long enough for the others to recover the stalled leases.
    const stallMs = events.map((e) => (e === 'stall' ? o.ttlMs + random.int(500, 1_500) : 0));
    const window = [...intervals, ...stallMs].reduce((a, b) => a + b, 0);
    // Feed over the planned window, so that work is under way at every event; the feed rate stays
    // well under what the processes can do, so the backlog stays small. A tail is held back and
    // enqueued just before the last kill (events take longer than planned: respawns, stalls), so
    // that the last kill, which the liveness bound is measured from, hits work in flight too.
    const tail = Math.min(o.jobs, Math.max(100, Math.ceil(o.jobs * 0.01)));
    const paced = o.jobs - tail;
    const acknowledged: number[] = [];
    const feedStart = Date.now();
    const feedRandom = seeded(o.seed + 1);
    const feeder = (async () => {
      let fed = 0;
      while (fed < paced) {
        const due = Math.min(paced, Math.ceil((paced * (Date.now() - feedStart + 100)) / window));
        if (due > fed) {
          // Dependencies on recent jobs: most are still running, some already finished.
          const batch = jobMix(due - fed, ledger, feedRandom, o.jobMs, acknowledged.slice(-500));
          acknowledged.push(...(await enqueueAll(store, batch)));
          fed = due;
        }
        await sleep(20);
      }
    })();
    // Awaited after the events; a failure before then must not count as unhandled.
    feeder.catch(() => undefined);

    const holdersOf = store.database.prepare("SELECT DISTINCT lease_owner FROM jobs WHERE state IN ('leased', 'running')").pluck();
    const kills: KillRecord[] = [];
    let stalls = 0;
    let restarts = 0;
    for (const [e, event] of events.entries()) {
      await sleep(intervals[e] as number);
      if (e === events.length - 1) {
        await feeder;
        acknowledged.push(...(await enqueueAll(store, jobMix(tail, ledger, feedRandom, o.jobMs, acknowledged.slice(-500)))));
        await until('a process to lease the last jobs', () => (holdersOf.all() as string[]).length > 0, { timeoutMs: 10_000, everyMs: 10 }).catch(() => undefined);
        await sleep(random.int(0, 200));
      }
      // A random process among those holding leases right now (else among the running ones: one
      // restarted a moment ago may still be starting), so that every event disturbs work.
      const holders = new Set(holdersOf.all() as string[]);
      const running = live.map((c, i) => ({ c, i })).filter(({ c }) => c.messages.some((m) => m.ready === true));
      const holding = running.filter(({ c }) => c.owner !== undefined && holders.has(c.owner));
      const slot = holding.length > 0 ? random.pick(holding).i : running.length > 0 ? random.pick(running).i : random.int(0, live.length - 1);
      const victim = live[slot] as Child;
      if (event === 'kill') {
        const at = Date.now();
        await victim.killNow();
        kills.push({ owner: victim.owner ?? '?', pid: victim.pid, at, leases: 0, recoveredAfterMs: null });
        live[slot] = spawnSlot(slot);
      } else if (event === 'restart') {
        victim.kill('SIGTERM');
        await victim.exitWithin(15_000, 'stop gracefully on SIGTERM');
        restarts++;
        live[slot] = spawnSlot(slot);
      } else {
        // Paused past its TTL: the others recover its leases; resumed, it must change nothing.
        await pauseOutsideTransaction(victim, db);
        await sleep(stallMs[e] as number);
        victim.kill('SIGCONT');
        stalls++;
      }
      if ((e + 1) % 10 === 0) log(`${e + 1}/${events.length} events (${kills.length} kills, ${stalls} stalls, ${restarts} restarts), ${acknowledged.length} jobs enqueued`);
    }
    const lastKill = (kills[kills.length - 1] as KillRecord).at;
    await feeder;
    await until('every job to finish', async () => (await store.pendingCount()) === 0, { timeoutMs: 120_000 });
    const finishedAfterLastKillMs = Date.now() - lastKill;
    // Quiescence: with nothing pending, every live supervisor has idle slots and nothing in flight.
    const notQuiescent: Array<{ owner: string; status: SupervisorProbe }> = [];
    for (const c of live) {
      await c.ready();
      const status = await c.quiescent();
      if (status.busy.length > 0 || status.inFlight.length > 0) notQuiescent.push({ owner: c.owner ?? '?', status });
    }

    // Per kill: when its leases were given back (LEASE_EXPIRED entries carry the dead owner).
    const expiries = store.database.prepare("SELECT count(*) AS n, max(at) AS last FROM job_events WHERE event = 'LEASE_EXPIRED' AND owner = ?");
    for (const k of kills) {
      const { n, last } = expiries.get(k.owner) as { n: number; last: number | null };
      k.leases = n;
      k.recoveredAfterMs = last === null ? null : last - k.at;
    }
    await store.close();
    await stopAll(live);
    const staleRejected = everyone.reduce((n, c) => n + c.leaseLost.length, 0);
    const report = await checkRun({ dbPath: db, ledgerPath: ledger, acknowledged, kills: kills.length, staleRejected, killedOwners: kills.map((k) => k.owner) });
    const boundMs = o.ttlMs + o.recoveryMs + 2_000;
    const recovered = kills.map((k) => k.recoveredAfterMs).filter((ms): ms is number => ms !== null);
    const durationMs = Date.now() - started;
    const table = formatReport(`kill -9 campaign: ${o.jobs.toLocaleString('en-US')} jobs, ${o.processes} processes, ${kills.length} kills, ${stalls} stalls, ${restarts} restarts (seed ${o.seed})`, report, {
      'leases lost per kill': kills.map((k) => k.leases).join(' '),
      'leases recovered after a kill, max ms': recovered.length === 0 ? '—' : Math.max(...recovered),
      'finished after the last kill, ms (bound)': `${finishedAfterLastKillMs} (${boundMs})`,
      'supervisors not quiescent at the end': notQuiescent.length,
      'run time, s': (durationMs / 1000).toFixed(1),
    });
    return { report, kills, stalls, restarts, finishedAfterLastKillMs, notQuiescent, boundMs, durationMs, table };
  } finally {
    await cleanup(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// Crash points

export interface CrashPointOptions {
  readonly point: CrashPoint;
  /** Die the n-th time the point is reached. */
  readonly n: number;
  readonly jobs: number;
  readonly seed: number;
  readonly ttlMs: number;
  readonly jobMs: { readonly min: number; readonly max: number };
}

export interface CrashPointResult {
  readonly report: CheckReport;
  readonly victim: Exit;
  readonly table: string;
}

/**
 * A supervisor process with `LEASEHOLD_CRASH_AT=<point>:<n>` runs the jobs until it dies there;
 * then a fresh supervisor finishes the work, and everything is checked. For
 * `between-recovery-read-and-write`, the victim serves the default queue only, and once it runs,
 * `n` processes die one after the other holding leases of a `ghost` queue (each right after its
 * first lease commits), so that their leases expire apart and the victim's recovery (every
 * 100 ms) meets them in `n` separate passes.
 */
export async function runCrashPoint(o: CrashPointOptions): Promise<CrashPointResult> {
  const random = seeded(o.seed);
  const dir = tempDir('leasehold-crash-');
  const recovery = o.point === 'between-recovery-read-and-write';
  try {
    const db = dir.file('crash.db');
    const ledger = dir.file('ledger.log');
    writeFileSync(ledger, '');
    const store = createSqliteStore({ path: db, synchronous: 'NORMAL' });
    const jobs = jobMix(o.jobs, ledger, random, o.jobMs);
    if (recovery) jobs.push(...Array.from({ length: 20 * o.n }, (): JobInput => ({ name: 'work', queue: 'ghost', payload: { ledger, ms: 1 }, retry: CHAOS_RETRY })));
    const acknowledged = await enqueueAll(store, jobs);
    await store.close();
    const base = supervisorConfig(db, { ttlMs: o.ttlMs, recoveryMs: 200, concurrency: 4, threads: 1 });
    let kills = 0;
    const victim = spawnSupervisor({ ...base, owner: 'victim', recoveryMs: 100, ...(recovery ? { queues: ['default'] } : {}) }, `${o.point}:${o.n}`);
    if (recovery) {
      await victim.ready();
      for (let k = 0; k < o.n; k++) {
        const dead = spawnSupervisor({ ...base, owner: `dead-${k}`, queues: ['ghost'] }, 'after-lease-commit:1');
        const exit = await dead.exitWithin(30_000, 'die after its first lease');
        if (exit.signal !== 'SIGKILL') throw new Error(`dead-${k} exited ${JSON.stringify(exit)}, not by its crash point; stderr: ${dead.stderr}`);
        kills++;
        // The victim must meet each dead owner's leases in a pass of its own: before the next one
        // dies, wait until this one's are recovered (a loaded machine can delay the victim's
        // recovery timer past two expiries, and one pass would then meet both).
        if (k < o.n - 1) await leasesRecovered(db, `dead-${k}`, 30_000);
        await sleep(random.int(150, 400));
      }
    }
    const exit = await victim.exitWithin(60_000, `reach ${o.point}:${o.n}`);
    if (exit.signal === 'SIGKILL') kills++;
    const fresh = spawnSupervisor({ ...base, owner: 'fresh', mode: 'drain', recoveryMs: 100, concurrency: 8 });
    const freshExit = await fresh.exitWithin(60_000, 'drain');
    if (freshExit.code !== 0) throw new Error(`the fresh supervisor exited ${JSON.stringify(freshExit)}; stderr: ${fresh.stderr}`);
    const killedOwners = ['victim', ...Array.from({ length: recovery ? o.n : 0 }, (_, k) => `dead-${k}`)];
    const report = await checkRun({ dbPath: db, ledgerPath: ledger, acknowledged, kills, staleRejected: victim.leaseLost.length + fresh.leaseLost.length, killedOwners });
    const table = formatReport(`crash point ${o.point}:${o.n} (seed ${o.seed})`, report, { 'victim exit': JSON.stringify(exit) });
    return { report, victim: exit, table };
  } finally {
    await cleanup(dir);
  }
}

/** Waits until no job of `db` is leased by `owner` (its leases expired and were recovered). */
async function leasesRecovered(db: string, owner: string, withinMs: number): Promise<void> {
  const reader = new Database(db, { readonly: true });
  try {
    const held = reader.prepare('SELECT count(*) FROM jobs WHERE lease_owner = ?').pluck();
    const deadline = Date.now() + withinMs;
    while ((held.get(owner) as number) > 0) {
      if (Date.now() > deadline) throw new Error(`the leases of ${owner} were not recovered within ${withinMs} ms`);
      await sleep(50);
    }
  } finally {
    reader.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Stale lease: SIGSTOP past the TTL

export interface StaleLeaseOptions {
  readonly jobs: number;
  readonly holdMs: number;
  readonly ttlMs: number;
  readonly seed: number;
}

export interface StaleLeaseResult {
  readonly report: CheckReport;
  readonly leaseLost: ReadonlyArray<{ id: number; token: number; during: string }>;
  /** Per job: the owner of every history entry, in order. */
  readonly owners: ReadonlyMap<number, readonly string[]>;
  /** History entries by the paused owner written after the other owner leased the job (must be empty). */
  readonly lateWrites: readonly string[];
  readonly terminalOwners: readonly string[];
  /** The resumed holder's status once everything settled (must be idle). */
  readonly pausedStatus: SupervisorProbe;
  readonly table: string;
}

/** SIGSTOPs `child` at a moment it holds no write lock on `db` (else resumes it and tries again). */
async function pauseOutsideTransaction(child: Child, db: string): Promise<void> {
  const probe = createSqliteStore({ path: db, busyTimeoutMs: 200, integrityCheck: 'never' });
  try {
    for (let tries = 0; ; tries++) {
      child.kill('SIGSTOP');
      try {
        probe.database.exec('BEGIN IMMEDIATE');
        probe.database.exec('ROLLBACK');
        return;
      } catch (error) {
        if (tries > 50) throw error;
        child.kill('SIGCONT');
        await sleep(10);
      }
    }
  } finally {
    await probe.close();
  }
}

/**
 * Supervisor process P leases `jobs` `hold` jobs (odd ones throw on attempt 1) and is paused
 * with SIGSTOP while they run; another supervisor recovers the expired leases, runs the jobs and
 * drains; then P is resumed (SIGCONT). P's heartbeat, completions and failures must change
 * nothing (`job.lease_lost` for every job); each job's history shows one terminal transition, by
 * the other owner.
 */
export async function runStaleLease(o: StaleLeaseOptions): Promise<StaleLeaseResult> {
  const random = seeded(o.seed);
  const dir = tempDir('leasehold-stale-');
  try {
    const db = dir.file('stale.db');
    const ledger = dir.file('ledger.log');
    writeFileSync(ledger, '');
    // The jobs hold until this file exists, written once P is paused: a job that ended before the
    // pause landed (a slow machine) would leave P nothing to lose.
    const releaseFile = dir.file('released');
    const store = createSqliteStore({ path: db, synchronous: 'NORMAL' });
    const acknowledged = await enqueueAll(
      store,
      Array.from({ length: o.jobs }, (_, i) => ({ name: 'hold', payload: { ledger, holdMs: o.holdMs, releaseFile, ...(i % 2 === 1 ? { throwOnAttempt: 1 } : {}) }, retry: CHAOS_RETRY })),
    );
    const base = supervisorConfig(db, { ttlMs: o.ttlMs, concurrency: o.jobs, threads: 1 });
    const paused = spawnSupervisor({ ...base, owner: 'paused', reportStarted: true, recoveryMs: 200 });
    await paused.waitFor(() => paused.started.size === o.jobs, 30_000, `all ${o.jobs} jobs started`);
    await sleep(random.int(0, Math.floor(o.holdMs / 2)));
    await pauseOutsideTransaction(paused, db);
    writeFileSync(releaseFile, '');
    try {
      const other = spawnSupervisor({ ...base, owner: 'other', mode: 'drain', recoveryMs: 100 });
      const otherExit = await other.exitWithin(60_000, 'drain');
      if (otherExit.code !== 0) throw new Error(`the other supervisor exited ${JSON.stringify(otherExit)}; stderr: ${other.stderr}`);
      if ((await store.stats()).byState.done !== o.jobs) throw new Error('the other supervisor drained, but not every job is done');
    } finally {
      paused.kill('SIGCONT');
    }
    await paused.waitFor(() => new Set(paused.leaseLost.map((l) => l.id)).size === o.jobs, 30_000, 'job.lease_lost for every job').catch(async (error: unknown) => {
      // Say which jobs P did not give up, and what their histories hold.
      const missing = acknowledged.filter((id) => !paused.leaseLost.some((l) => l.id === id));
      const histories = await Promise.all(missing.map(async (id) => `job ${id}: ${((await store.get(id))?.history ?? []).map((h) => `${h.event}:${h.owner ?? '-'}`).join(' ')}`));
      throw new Error(`${error instanceof Error ? error.message : String(error)}; no job.lease_lost for ${histories.join('; ')}`);
    });
    // Give it time to do anything else it would (wrongly) do, over a heartbeat and a recovery pass;
    // then it must hold nothing: its slots idle, no job in flight.
    await sleep(Math.max(300, o.ttlMs / 2));
    const pausedStatus = await paused.quiescent();
    await stopAll([paused]);

    const owners = new Map<number, string[]>();
    const lateWrites: string[] = [];
    const terminalOwners: string[] = [];
    for (const id of acknowledged) {
      const job = await store.get(id);
      const history = job?.history ?? [];
      owners.set(id, history.map((h) => `${h.event}:${h.owner ?? '-'}`));
      const otherLease = history.findIndex((h) => h.event === 'LEASE' && h.owner === 'other');
      history.forEach((h, i) => {
        if (otherLease >= 0 && i > otherLease && h.owner === 'paused') lateWrites.push(`job ${id}: ${h.event} by the paused owner after the other's lease`);
      });
      for (const h of history) if (['done', 'skipped', 'error', 'escalated', 'cancelled'].includes(h.to)) terminalOwners.push(h.owner ?? '-');
    }
    await store.close();
    const report = await checkRun({ dbPath: db, ledgerPath: ledger, acknowledged, staleRejected: paused.leaseLost.length });
    const during = paused.leaseLost.reduce<Record<string, number>>((m, l) => ({ ...m, [l.during]: (m[l.during] ?? 0) + 1 }), {});
    const table = formatReport(`stale lease: SIGSTOP past the TTL, ${o.jobs} jobs (seed ${o.seed})`, report, { 'job.lease_lost by path': JSON.stringify(during), 'late writes by the paused owner': lateWrites.length });
    return { report, leaseLost: paused.leaseLost, owners, lateWrites, terminalOwners, pausedStatus, table };
  } finally {
    await cleanup(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// The same job leased again by the supervisor whose lost lease still runs it

export interface ReleasedSameJobResult {
  /** The jobs still pending `waitMs` after the supervisor resumed (0 when it recovers by itself). */
  readonly pendingAfterWait: number;
  /** The supervisor's status then: slots not idle, jobs in flight. */
  readonly status: SupervisorProbe;
  /** Each job's history (`EVENT:owner:token`) then. */
  readonly histories: readonly string[];
  /** After a fresh supervisor finished the work: the invariants (safety must hold regardless). */
  readonly report: CheckReport;
  readonly table: string;
}

/**
 * A supervisor process S (concurrency 1) runs `hold` (a handler that does not stop on abort) for
 * job J, with job K behind it; S is paused with SIGSTOP past its TTL, another connection gives
 * the expired leases back (recovery only: it takes no job), and S is resumed. S loses both
 * leases (heartbeat), and leases J again while its first execution of J is still running. A
 * correct supervisor finishes J and K within a few seconds. Then a fresh supervisor finishes
 * whatever is left, and the invariants are checked.
 */
export async function runReleasedSameJob(o: { holdMs: number; ttlMs: number; waitMs: number }): Promise<ReleasedSameJobResult> {
  const dir = tempDir('leasehold-release-');
  try {
    const db = dir.file('release.db');
    const ledger = dir.file('ledger.log');
    writeFileSync(ledger, '');
    const store = createSqliteStore({ path: db, synchronous: 'NORMAL' });
    const acknowledged = await enqueueAll(store, [
      { name: 'hold', payload: { ledger, holdMs: o.holdMs }, retry: CHAOS_RETRY },
      { name: 'work', payload: { ledger, ms: 1 }, retry: CHAOS_RETRY },
    ]);
    const [j] = acknowledged as [number, number];
    const s = spawnSupervisor(supervisorConfig(db, { owner: 'S', ttlMs: o.ttlMs, recoveryMs: 60_000, concurrency: 1, threads: 1, reportStarted: true }));
    await s.waitFor(() => s.started.has(j), 30_000, 'job J started');
    await pauseOutsideTransaction(s, db);
    await sleep(o.ttlMs + 500);
    const recovered = await store.recoverExpired();
    s.kill('SIGCONT');
    if (!recovered.some((r) => r.id === j)) throw new Error(`J's lease was not recovered: ${JSON.stringify(recovered)}`);
    const deadline = Date.now() + o.waitMs;
    while ((await store.pendingCount()) > 0 && Date.now() < deadline) await sleep(50);
    const pendingAfterWait = await store.pendingCount();
    const status = await s.status();
    const histories: string[] = [];
    for (const id of acknowledged) {
      const job = await store.get(id);
      histories.push(`job ${id} (${job?.state ?? '?'}): ${job?.history.map((h) => `${h.event}:${h.owner ?? '-'}:${h.leaseToken}`).join(' ') ?? ''}`);
    }
    await stopAll([s]);
    const fresh = spawnSupervisor(supervisorConfig(db, { owner: 'fresh', mode: 'drain', recoveryMs: 100 }));
    const freshExit = await fresh.exitWithin(60_000, 'drain');
    if (freshExit.code !== 0) throw new Error(`the fresh supervisor exited ${JSON.stringify(freshExit)}; stderr: ${fresh.stderr}`);
    await store.close();
    const report = await checkRun({ dbPath: db, ledgerPath: ledger, acknowledged, staleRejected: s.leaseLost.length });
    const table = formatReport('the same job leased again while its lost lease still runs', report, {
      [`pending ${o.waitMs} ms after the resume`]: pendingAfterWait,
      'slots not idle then': JSON.stringify(status.busy),
      'in flight then': JSON.stringify(status.inFlight),
    });
    return { pendingAfterWait, status, histories, report, table };
  } finally {
    await cleanup(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// Completion vs recovery races (store level)

export interface RaceResult {
  readonly report: CheckReport;
  readonly holder: RaceTally;
  readonly thief: RaceTally;
  /** Jobs finished by each side. */
  readonly doneBy: Readonly<Record<string, number>>;
  readonly table: string;
}

/**
 * `rounds` races between a lease holder acknowledging with its token and another connection,
 * whose clock is past the lease's expiry, recovering and re-leasing the job (two worker threads,
 * in lockstep). 0 overwrites: no job is ever finished under a stale token.
 */
export async function runRaces(rounds: number, seed: number): Promise<RaceResult> {
  const dir = tempDir('leasehold-race-');
  try {
    const db = dir.file('race.db');
    const store = createSqliteStore({ path: db, synchronous: 'NORMAL' });
    const acknowledged = await enqueueAll(
      store,
      Array.from({ length: rounds }, (_, i) => ({ name: `r${i}`, retry: CHAOS_RETRY })),
    );
    const steps = new SharedArrayBuffer(8);
    const workers: Worker[] = [];
    const run = (role: 'holder' | 'thief', s: number): Promise<RaceTally> =>
      new Promise<RaceTally>((resolve, reject) => {
        const w = new Worker(raceWorker, { workerData: { path: db, rounds, steps, role, ttlMs: 60_000, skewMs: 3_600_000, seed: s } });
        workers.push(w);
        w.once('message', (t: RaceTally) => resolve(t));
        w.once('error', reject);
        w.once('exit', (code) => reject(new Error(`${role} thread exited (${code}) without a tally`)));
      });
    let holder: RaceTally;
    let thief: RaceTally;
    try {
      [holder, thief] = await Promise.all([run('holder', seed), run('thief', seed + 1)]);
    } finally {
      // If one racer failed, the other waits at the barrier forever: stop both.
      await Promise.all(workers.map((w) => w.terminate()));
    }
    const doneBy: Record<string, number> = {};
    for (const text of store.database.prepare("SELECT result FROM jobs WHERE state = 'done'").pluck().all() as string[]) {
      const by = (JSON.parse(text) as { by: string }).by;
      doneBy[by] = (doneBy[by] ?? 0) + 1;
    }
    await store.close();
    const staleRejected = Object.values(holder.staleRejected).reduce((a, b) => a + b, 0);
    const report = await checkRun({ dbPath: db, acknowledged, staleRejected });
    const table = formatReport(`completion vs recovery: ${rounds.toLocaleString('en-US')} races (seed ${seed})`, report, {
      'done by holder / thief': `${doneBy.holder ?? 0} / ${doneBy.thief ?? 0}`,
      'holder writes accepted': JSON.stringify(holder.accepted),
      'holder writes refused (stale token)': JSON.stringify(holder.staleRejected),
      'thief recovered / leased / completed': `${thief.recovered} / ${thief.leased} / ${thief.completed}`,
      anomalies: holder.anomalies.length + thief.anomalies.length,
    });
    return { report, holder, thief, doneBy, table };
  } finally {
    await cleanup(dir);
  }
}

// ---------------------------------------------------------------------------------------------
// Contention: several processes claiming from one file

export interface ContentionResult {
  readonly report: CheckReport;
  readonly summaries: readonly ClaimerSummary[];
  readonly claims: number;
  readonly doubleClaims: number;
  readonly table: string;
}

/** `processes` processes lease and complete `processes × perProcess` jobs on one file (store level). */
export async function runContention(processes: number, perProcess: number, seed: number, maxBatch = 16): Promise<ContentionResult> {
  const dir = tempDir('leasehold-contention-');
  const started = Date.now();
  try {
    const db = dir.file('contention.db');
    const go = dir.file('go');
    const store = createSqliteStore({ path: db, synchronous: 'NORMAL' });
    const acknowledged = await enqueueAll(
      store,
      Array.from({ length: processes * perProcess }, () => ({ name: 'claim' })),
    );
    await store.close();
    const claimers = Array.from(
      { length: processes },
      (_, k) =>
        new Child(claimerScript, { db, owner: `claimer-${k}`, go, claims: dir.file(`claims-${k}.log`), maxBatch, seed: seed + k }, childEnv(), `claimer ${k}`),
    );
    await Promise.all(claimers.map((c) => c.ready()));
    writeFileSync(go, '');
    const exits = await Promise.all(claimers.map((c) => c.exitWithin(600_000, 'finish claiming')));
    const summaries = claimers.map((c, k) => {
      const s = c.messages.find((m) => m.summary !== undefined)?.summary as ClaimerSummary | undefined;
      if (s === undefined) throw new Error(`claimer ${k} exited ${JSON.stringify(exits[k])} without a summary; stderr: ${c.stderr}`);
      return s;
    });
    const claimed = new Map<number, number>();
    let claims = 0;
    for (let k = 0; k < processes; k++) {
      const file = dir.file(`claims-${k}.log`);
      if (!existsSync(file)) continue; // it claimed nothing
      for (const line of readFileSync(file, 'utf8').split('\n')) {
        if (line === '') continue;
        const id = Number(line.split(' ')[0]);
        claimed.set(id, (claimed.get(id) ?? 0) + 1);
        claims++;
      }
    }
    let doubleClaims = 0;
    for (const n of claimed.values()) if (n > 1) doubleClaims += n - 1;
    const report = await checkRun({ dbPath: db, acknowledged });
    const table = formatReport(`contention: ${processes} processes × ${perProcess.toLocaleString('en-US')} claims`, report, {
      claims,
      'double claims': doubleClaims,
      'claims per process': summaries.map((s) => s.claims).join(' / '),
      'ERR_STORE_BUSY retried': summaries.reduce((n, s) => n + s.busyRetried, 0),
      'unhandled errors': summaries.reduce((n, s) => n + s.unhandled, 0),
      'refused fenced writes': summaries.reduce((n, s) => n + s.rejected, 0),
      'run time, s': ((Date.now() - started) / 1000).toFixed(1),
    });
    return { report, summaries, claims, doubleClaims, table };
  } finally {
    await cleanup(dir);
  }
}
