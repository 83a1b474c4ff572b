/**
 * BullMQ 6.7 on Redis, under a fresh key prefix (`prefix`), obliterated afterwards. BullMQ 6 no
 * longer ships a Redis client: `ioredis` and `redis` (node-redis ≥ 5) are optional peers, and
 * from ESM it cannot load one itself, so the adapter imports whichever is installed and passes a
 * client instance as `connection`; with neither, the row is skipped. Worker: `concurrency` N,
 * `autorun: false` (created and connected ahead, `run()` when the clock starts); jobs arrive by
 * blocking pop, no polling to tune. Producer: `add` / `addBulk`. Retention left at BullMQ's
 * default (completed jobs are kept, as leasehold keeps done jobs). BullMQ does not log. A job is
 * done at the worker's `completed` event, emitted after Redis moved it to `completed`.
 */
import { Queue, Worker, type ConnectionOptions } from 'bullmq';
import { Counter, messageOf, peerHandler, probeRedis, REDIS, type Context, type OnStart, type Payload, type System } from '../common.js';

const QUEUE = 'noop';

/** A Redis client instance as far as this adapter needs to know it. */
interface RedisClient {
  quit?: () => Promise<unknown>;
  disconnect?: () => unknown;
}

/** Imports a module that may not be installed (`undefined` then). */
async function importOptional(specifier: string): Promise<Record<string, unknown> | undefined> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** A factory of connected Redis clients from whichever driver is installed, or why there is none. */
async function redisDriver(): Promise<{ driver: string; connect: () => Promise<RedisClient> } | string> {
  const ioredis = await importOptional('ioredis');
  const IORedis = ioredis?.default ?? ioredis?.Redis;
  if (typeof IORedis === 'function') {
    const Ctor = IORedis as new (options: Record<string, unknown>) => RedisClient;
    return { driver: 'ioredis', connect: async () => new Ctor({ host: REDIS.host, port: REDIS.port, maxRetriesPerRequest: null }) };
  }
  const nodeRedis = await importOptional('redis');
  const createClient = nodeRedis?.createClient;
  if (typeof createClient === 'function') {
    const create = createClient as (options: Record<string, unknown>) => RedisClient & { connect: () => Promise<unknown> };
    return {
      driver: 'redis',
      connect: async () => {
        const client = create({ socket: { host: REDIS.host, port: REDIS.port } });
        await client.connect();
        return client;
      },
    };
  }
  return 'no Redis client package: BullMQ 6 made `ioredis` and `redis` (≥ 5) optional peers and neither is installed (add `ioredis` to devDependencies to run this row)';
}

export class BullmqSystem implements System {
  readonly name = 'BullMQ 6.7';
  durability = 'Redis';
  config: string;
  readonly #ctx: Context;
  readonly #prefix: string;
  readonly #done = new Counter();
  #connect: (() => Promise<RedisClient>) | undefined;
  readonly #clients: RedisClient[] = [];
  #queue: Queue | undefined;
  #worker: Worker | undefined;
  #running: Promise<void> | undefined;
  #workerError: string | undefined;

  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.#prefix = `lh-compare-${ctx.runId}`;
    this.config = `new Worker(queue, fn, { connection, prefix, concurrency: ${ctx.concurrency}, autorun: false }) then run(); producer: Queue add / addBulk`;
  }

  async check(): Promise<string | null> {
    const probe = await probeRedis();
    if (!probe.ok) return probe.reason;
    this.durability =
      probe.appendonly === 'no'
        ? probe.save === ''
          ? 'Redis appendonly=no, save "" (this machine): in memory only; a Redis restart loses every job'
          : `Redis appendonly=no, RDB save "${probe.save}": a Redis crash loses the jobs since the last snapshot`
        : probe.appendonly === 'yes'
          ? `Redis AOF, appendfsync=${probe.appendfsync}: ${probe.appendfsync === 'always' ? 'survives power loss' : 'up to ~1 s of writes may be lost on power loss'}`
          : 'Redis, persistence settings unknown (CONFIG disabled)';
    const driver = await redisDriver();
    if (typeof driver === 'string') return driver;
    this.#connect = driver.connect;
    this.config = `${this.config}; client: ${driver.driver}`;
    return null;
  }

  async #client(): Promise<ConnectionOptions> {
    if (this.#connect === undefined) throw new Error('check() first');
    const client = await this.#connect();
    this.#clients.push(client);
    return client;
  }

  async setup(): Promise<void> {
    this.#done.reset();
    this.#queue = new Queue(QUEUE, { connection: await this.#client(), prefix: this.#prefix });
    await this.#queue.waitUntilReady();
  }

  #q(): Queue {
    if (this.#queue === undefined) throw new Error('setup() first');
    if (this.#workerError !== undefined) throw new Error(`worker error: ${this.#workerError}`);
    return this.#queue;
  }

  async enqueueOne(payload: Payload): Promise<void> {
    await this.#q().add(QUEUE, payload);
  }

  async enqueueBatch(payloads: readonly Payload[]): Promise<void> {
    await this.#q().addBulk(payloads.map((data) => ({ name: QUEUE, data })));
  }

  async prepareWorkers(onStart: OnStart): Promise<void> {
    const handle = peerHandler(onStart);
    const worker = new Worker(QUEUE, async (job) => handle(job.data), {
      connection: await this.#client(),
      prefix: this.#prefix,
      concurrency: this.#ctx.concurrency,
      autorun: false,
    });
    worker.on('completed', () => this.#done.inc());
    worker.on('error', (error) => {
      this.#workerError = messageOf(error);
    });
    this.#worker = worker;
    await worker.waitUntilReady();
  }

  async startWorkers(): Promise<void> {
    if (this.#worker === undefined) throw new Error('prepareWorkers() first');
    this.#running = this.#worker.run();
    this.#running.catch((error: unknown) => {
      this.#workerError = messageOf(error);
    });
  }

  drainedWhen(total: number, signal: AbortSignal): Promise<void> {
    return this.#done.until(total, signal);
  }

  async teardown(): Promise<void> {
    try {
      await this.#worker?.close();
      await this.#queue?.obliterate({ force: true });
      await this.#queue?.close();
    } finally {
      this.#worker = undefined;
      this.#queue = undefined;
      for (const c of this.#clients.splice(0)) {
        if (c.quit !== undefined) await c.quit().catch(() => c.disconnect?.());
        else c.disconnect?.();
      }
    }
  }
}
