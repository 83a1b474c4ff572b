/**
 * What every system adapter of `bench:compare` implements, and the small helpers they share:
 * time boxes, an awaitable counter, and probes of the services the peers need.
 */
import { connect } from 'node:net';
import pg from 'pg';
import { preciseNow } from '../harness.js';

/** A job's payload: a sequence number, and for latency jobs the time it was enqueued (`preciseNow()`). */
export interface Payload {
  readonly i: number;
  readonly t?: number;
}

/** Reports one job's start: when it was enqueued and when its handler started (epoch ms, sub-ms precision). */
export type OnStart = (enqueuedAt: number, startedAt: number) => void;

/** What the driver needs from the runtime it was built with. */
export interface Context {
  /** Jobs in flight at once, for every system. */
  readonly concurrency: number;
  /** A fresh file path in this run's scratch directory. */
  readonly file: (name: string) => string;
  /** Unique per run: names Redis prefixes and PostgreSQL schemas. */
  readonly runId: string;
}

/** One system under test. Each method is awaited under a time box by the driver. */
export interface System {
  readonly name: string;
  /** What an acknowledged enqueue survives, in words (may be refined by `check()`). */
  readonly durability: string;
  /** How it is configured, in words (options by their documented names). */
  readonly config: string;
  /** `null` when usable here, else the reason to skip its row. Must not throw. */
  check(): Promise<string | null>;
  /** Fresh storage (file, schema, key prefix); the schema installed. */
  setup(): Promise<void>;
  enqueueOne(payload: Payload): Promise<void>;
  /** One call of the system's bulk API. */
  enqueueBatch(payloads: readonly Payload[]): Promise<void>;
  /** Untimed: everything the workers need, started where the system allows it, not consuming yet. */
  prepareWorkers(onStart: OnStart): Promise<void>;
  /** Timed: workers begin consuming. */
  startWorkers(): Promise<void>;
  /** Resolves once `total` jobs (counted since setup) are done, as the system itself records it. */
  drainedWhen(total: number, signal: AbortSignal): Promise<void>;
  /** Stops workers, closes connections, deletes what setup created. Safe to call in any state. */
  teardown(): Promise<void>;
}

/** The peers' handler body: stamps the start of latency jobs, does nothing else. */
export function peerHandler(onStart: OnStart): (data: unknown) => void {
  return (data) => {
    const startedAt = preciseNow();
    const t = (data as Partial<Payload> | null)?.t;
    if (typeof t === 'number') onStart(t, startedAt);
  };
}

/** The message of anything thrown. */
export const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** Runs `task` with an abort signal; rejects (and aborts the signal) if it takes longer than `ms`. */
export async function timeboxed<T>(label: string, ms: number, task: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      controller.abort();
      reject(new Error(`${label}: no result after ${(ms / 1000).toFixed(0)} s (time box)`));
    }, ms);
  });
  try {
    return await Promise.race([task(controller.signal), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `done()` every `intervalMs` until it is true; rejects when `signal` aborts. */
export async function pollUntil(done: () => Promise<boolean> | boolean, signal: AbortSignal, intervalMs = 10): Promise<void> {
  while (!(await done())) {
    if (signal.aborted) throw new Error('aborted');
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** A count that can be awaited: `until(n)` resolves as soon as it reaches `n`. */
export class Counter {
  #n = 0;
  #waiters: Array<{ target: number; resolve: () => void }> = [];

  get value(): number {
    return this.#n;
  }

  /** Back to zero, for the next round's setup (waiters of the last round are gone with it). */
  reset(): void {
    this.#n = 0;
    this.#waiters = [];
  }

  inc(): void {
    this.#n++;
    if (this.#waiters.length === 0) return;
    this.#waiters = this.#waiters.filter((w) => {
      if (this.#n < w.target) return true;
      w.resolve();
      return false;
    });
  }

  until(target: number, signal: AbortSignal): Promise<void> {
    if (this.#n >= target) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = { target, resolve };
      this.#waiters.push(waiter);
      signal.addEventListener('abort', () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`aborted at ${this.#n} of ${target}`));
      });
    });
  }
}

// ---------------------------------------------------------------------------------------------
// Services

export const REDIS = { host: '127.0.0.1', port: 6379 } as const;
export const POSTGRES = { host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' } as const;
export const POSTGRES_URL = `postgres://${POSTGRES.user}@${POSTGRES.host}:${POSTGRES.port}/${POSTGRES.database}`;

/** What {@link probeRedis} found: its persistence settings (`CONFIG GET`), or why it is not usable. */
export type RedisProbe = { ok: true; appendonly: string; appendfsync: string; save: string } | { ok: false; reason: string };

/** Redis reachable? Returns its AOF and RDB settings (`CONFIG GET`), or why it is not usable. */
export function probeRedis(): Promise<RedisProbe> {
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(REDIS.port, REDIS.host);
    const finish = (result: RedisProbe): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish({ ok: false, reason: `Redis at ${REDIS.host}:${REDIS.port} did not answer within 2 s` }), 2_000);
    const command = (...args: string[]): string => `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
    socket.on('connect', () => socket.write(command('PING') + command('CONFIG', 'GET', 'appendonly') + command('CONFIG', 'GET', 'appendfsync') + command('CONFIG', 'GET', 'save')));
    socket.on('error', (error) => finish({ ok: false, reason: `Redis not reachable at ${REDIS.host}:${REDIS.port} (${error.message})` }));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      if (!text.startsWith('+PONG')) {
        if (text.includes('\r\n')) finish({ ok: false, reason: `Redis at ${REDIS.host}:${REDIS.port} refused PING: ${text.split('\r\n')[0] ?? ''}` });
        return;
      }
      const value = (key: string): string | undefined => new RegExp(`\\$\\d+\\r\\n${key}\\r\\n\\$\\d+\\r\\n([^\\r]*)\\r\\n`).exec(text)?.[1];
      const appendonly = value('appendonly');
      const appendfsync = value('appendfsync');
      const save = value('save');
      if (appendonly !== undefined && appendfsync !== undefined && save !== undefined) finish({ ok: true, appendonly, appendfsync, save });
      // CONFIG may be disabled (renamed): an error reply for each, after PONG.
      else if ((text.match(/\r\n-/g) ?? []).length >= 3) finish({ ok: true, appendonly: 'unknown', appendfsync: 'unknown', save: 'unknown' });
    });
  });
}

/** PostgreSQL reachable? Returns its durability settings, or why it is not usable. */
export async function probePostgres(): Promise<{ ok: true; fsync: string; synchronousCommit: string } | { ok: false; reason: string }> {
  const client = new pg.Client({ ...POSTGRES, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    const setting = async (name: string): Promise<string> => String((await client.query<{ setting: string }>('SELECT setting FROM pg_settings WHERE name = $1', [name])).rows[0]?.setting ?? 'unknown');
    return { ok: true, fsync: await setting('fsync'), synchronousCommit: await setting('synchronous_commit') };
  } catch (error) {
    return { ok: false, reason: `PostgreSQL not usable at ${POSTGRES_URL} (${messageOf(error)})` };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** What a PostgreSQL commit survives, from the server's settings. */
export function postgresDurability(p: { fsync: string; synchronousCommit: string }): string {
  const safe = p.fsync === 'on' && p.synchronousCommit !== 'off';
  return `PostgreSQL fsync=${p.fsync}, synchronous_commit=${p.synchronousCommit}: ${safe ? 'a commit survives power loss' : 'recent commits may be lost on a crash'}`;
}

/** Drops a schema (and everything in it), on its own connection. */
export async function dropSchema(schema: string): Promise<void> {
  const client = new pg.Client({ ...POSTGRES, connectionTimeoutMillis: 3_000 });
  try {
    await client.connect();
    await client.query(`DROP SCHEMA IF EXISTS ${client.escapeIdentifier(schema)} CASCADE`);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A logger that drops everything (plainjob's shape: winston-compatible). */
export const silentLogger = { error: () => undefined, warn: () => undefined, info: () => undefined, debug: () => undefined };
