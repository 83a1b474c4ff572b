/**
 * Shared machinery of the chaos tests: child processes (supervisors, claimers) that are tracked
 * and killed on cleanup, a seeded random source, and the job mixes the enqueuers feed. The
 * scenarios themselves live in `scenarios.ts`; `*.test.ts` run them small (npm test) and
 * `*.chaos.test.ts` full size (npm run test:chaos).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import type { JobInput } from '../../src/config.js';
import type { WorkerProcessConfig } from '../fixtures/chaos/worker-process.js';

const dist = (path: string): URL => new URL(`../../dist/test/fixtures/chaos/${path}`, import.meta.url);

/** The compiled chaos handlers (built by `npm test`'s pretest and `npm run test:chaos`). */
export const chaosHandlers = dist('handlers.js');
export const workerProcessScript = fileURLToPath(dist('worker-process.js'));
export const claimerScript = fileURLToPath(dist('claimer.js'));
export const raceWorker = dist('race.worker.js');

/** Throws unless the fixtures were compiled. */
export function requireBuild(): void {
  for (const url of [chaosHandlers, dist('worker-process.js'), dist('claimer.js'), raceWorker]) {
    if (!existsSync(url)) throw new Error(`${fileURLToPath(url)} is missing: run \`npm run build\` first (npm test does)`);
  }
}

/** A seeded random source (mulberry32), so that a failing seed can be replayed. */
export function seeded(seed: number): { next: () => number; int: (min: number, max: number) => number; pick: <T>(items: readonly T[]) => T } {
  let a = seed >>> 0;
  const next = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T,
  };
}

/** How a child process ended. */
export interface Exit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

/** A `job.lease_lost` a child reported. */
export interface LeaseLost {
  readonly id: number;
  readonly token: number;
  readonly during: 'heartbeat' | 'ack';
}

/** What a supervisor process reports on SIGUSR2. */
export interface SupervisorProbe {
  readonly state: string;
  readonly busy: ReadonlyArray<{ slot: number; state: string; jobId: number | null }>;
  readonly inFlight: ReadonlyArray<{ id: number; state: string; token: number; slot: number | null }>;
}

/** A child process printing JSON lines, tracked for cleanup. */
export class Child {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly label: string;
  readonly messages: Array<Record<string, unknown>> = [];
  readonly leaseLost: LeaseLost[] = [];
  readonly started = new Map<number, number>();
  readonly exit: Promise<Exit>;
  exited: Exit | undefined;
  owner: string | undefined;
  stderr = '';
  readonly #waiters = new Set<() => void>();

  constructor(script: string, arg: unknown, env: NodeJS.ProcessEnv, label: string) {
    this.label = label;
    this.proc = spawn(process.execPath, [script, JSON.stringify(arg)], { stdio: ['ignore', 'pipe', 'pipe'], env });
    if (this.proc.pid === undefined) throw new Error(`${label}: spawn failed`);
    this.pid = this.proc.pid;
    children.add(this);
    this.exit = new Promise<Exit>((resolve) => {
      this.proc.once('exit', (code, signal) => {
        this.exited = { code, signal };
        children.delete(this);
        this.#notify();
        resolve(this.exited);
      });
    });
    this.proc.stderr?.on('data', (chunk: Buffer) => {
      this.stderr = (this.stderr + chunk.toString('utf8')).slice(-4_000);
    });
    const lines = createInterface({ input: this.proc.stdout as NodeJS.ReadableStream });
    lines.on('line', (line) => {
      let message: Record<string, unknown>;
      try {
        message = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return; // a line cut short by SIGKILL
      }
      this.messages.push(message);
      if (typeof message.owner === 'string') this.owner = message.owner;
      const lost = message.leaseLost as LeaseLost | undefined;
      if (lost !== undefined) this.leaseLost.push(lost);
      const started = message.started as { id: number; attempt: number } | undefined;
      if (started !== undefined) this.started.set(started.id, started.attempt);
      this.#notify();
    });
  }

  #notify(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** Resolves when `predicate` holds (checked on every message and on exit); rejects after `timeoutMs`. */
  waitFor(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (predicate()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (predicate()) {
          done();
          resolve();
        } else if (this.exited !== undefined) {
          done();
          reject(new Error(`${this.label} (pid ${this.pid}) exited (${JSON.stringify(this.exited)}) before ${what}; stderr: ${this.stderr.slice(-1_500)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`${this.label} (pid ${this.pid}): timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${this.stderr.slice(-1_500)}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Asks a supervisor process for its status (SIGUSR2): slots that are not idle, jobs in flight. */
  async status(timeoutMs = 10_000): Promise<SupervisorProbe> {
    const before = this.messages.length;
    this.kill('SIGUSR2');
    await this.waitFor(() => this.messages.slice(before).some((m) => m.status !== undefined), timeoutMs, 'a status report');
    return this.messages.slice(before).find((m) => m.status !== undefined)?.status as SupervisorProbe;
  }

  /**
   * Quiescence: resolves with the status once no slot is busy and nothing is in flight; after
   * `timeoutMs`, with the last status seen (the caller asserts).
   */
  async quiescent(timeoutMs = 5_000): Promise<SupervisorProbe> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = await this.status();
      if ((s.busy.length === 0 && s.inFlight.length === 0) || Date.now() > deadline) return s;
      await sleep(100);
    }
  }

  /** Resolves once it printed `{"ready":…}`. */
  ready(timeoutMs = 30_000): Promise<void> {
    return this.waitFor(() => this.messages.some((m) => m.ready === true), timeoutMs, 'ready');
  }

  /** Resolves with its exit, or rejects after `timeoutMs` (and kills it). */
  async exitWithin(timeoutMs: number, what = 'exit'): Promise<Exit> {
    const timer = sleep(timeoutMs).then(() => 'timeout' as const);
    const r = await Promise.race([this.exit, timer]);
    if (r === 'timeout') {
      this.kill('SIGKILL');
      throw new Error(`${this.label} (pid ${this.pid}) did not ${what} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-1_500)}`);
    }
    return r;
  }

  /** Sends a signal if it is still running (by its pid: only ever a process this harness started). */
  kill(signal: NodeJS.Signals): void {
    if (this.exited === undefined) this.proc.kill(signal);
  }

  /** SIGKILL, and wait until it is gone. */
  async killNow(): Promise<Exit> {
    this.kill('SIGKILL');
    return this.exit;
  }
}

const children = new Set<Child>();

/** Kills (SIGKILL) every child process still running and waits for them: call in `afterEach`. */
export async function killAllChildren(): Promise<void> {
  await Promise.all([...children].map((c) => c.killNow()));
}

/** Environment of a child: ours without any armed crash point, plus `extra`. */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  if (extra.LEASEHOLD_CRASH_AT === undefined) delete env.LEASEHOLD_CRASH_AT;
  return env;
}

/** Defaults of a chaos supervisor process. */
export function supervisorConfig(db: string, overrides: Partial<WorkerProcessConfig> = {}): WorkerProcessConfig {
  return {
    db,
    handlers: chaosHandlers.href,
    mode: 'serve',
    ttlMs: 1_500,
    recoveryMs: 200,
    pollMs: 50,
    threads: 1,
    concurrency: 8,
    ...overrides,
  };
}

let supervisorCount = 0;

/** Starts a chaos supervisor process (test/fixtures/chaos/worker-process.ts). */
export function spawnSupervisor(config: WorkerProcessConfig, crashAt?: string): Child {
  const env = childEnv(crashAt === undefined ? {} : { LEASEHOLD_CRASH_AT: crashAt });
  return new Child(workerProcessScript, config, env, `supervisor #${++supervisorCount}${crashAt === undefined ? '' : ` (crash at ${crashAt})`}`);
}

/** The retry policy of chaos jobs: FAST (linear 100 ms … 2 s, 3 attempts). */
export const CHAOS_RETRY = 'FAST' as const;

/**
 * A job mix: mostly short `work`; some `flaky` (fails once, then works); a few `skipper`; `boom`
 * escalated to `work` after its first failure; `work` that always outlives its `timeoutMs` (ends
 * `error`); and, when `earlier` ids are given, `work` that depends on one of them (blocked until
 * it is done; cancelled if it ends otherwise).
 */
export function jobMix(
  count: number,
  ledger: string,
  random: ReturnType<typeof seeded>,
  ms: { min: number; max: number } = { min: 0, max: 4 },
  earlier: readonly number[] = [],
): JobInput[] {
  return Array.from({ length: count }, (): JobInput => {
    const r = random.next();
    const jobMs = random.int(ms.min, ms.max);
    if (r < 0.03) return { name: 'flaky', payload: { ledger, ms: jobMs, failAttempts: 1 }, retry: CHAOS_RETRY };
    if (r < 0.05) return { name: 'skipper', payload: { ledger }, retry: CHAOS_RETRY };
    if (r < 0.06) return { name: 'boom', payload: { ledger }, retry: CHAOS_RETRY, escalate: { after: 1, to: 'work' } };
    if (r < 0.07) return { name: 'work', payload: { ledger, ms: 300 }, retry: CHAOS_RETRY, timeoutMs: 20 };
    if (r < 0.09 && earlier.length > 0) return { name: 'work', payload: { ledger, ms: jobMs }, retry: CHAOS_RETRY, dependsOn: [random.pick(earlier)] };
    return { name: 'work', payload: { ledger, ms: jobMs }, retry: CHAOS_RETRY };
  });
}
