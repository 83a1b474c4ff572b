/**
 * pg-boss 10.4 on PostgreSQL, in a fresh schema dropped afterwards. Version 10 removed
 * `teamSize`/`teamConcurrency` (and `localConcurrency` came later): each `work()` call adds one
 * polling worker, so concurrency N is N `work()` calls. Each worker fetches up to `batchSize`
 * jobs per poll and, when a loop took less than the interval, sleeps for the rest of it; with the
 * smallest `pollingIntervalSeconds` it accepts (0.5) and `batchSize` 1000 (the bulk size used
 * for enqueue), polling is not what bounds throughput. Jobs of a batch run one after another
 * (N handlers at a time, like the others). `schedule: false` (no cron here). pg-boss does not
 * log. Producer: `send` / `insert`. Completion is written after the handler returns, without
 * being awaited by pg-boss, so a job is done when the queue holds nothing below `completed`.
 */
import PgBoss from 'pg-boss';
import {
  Counter,
  dropSchema,
  messageOf,
  peerHandler,
  pollUntil,
  POSTGRES,
  postgresDurability,
  probePostgres,
  type Context,
  type OnStart,
  type Payload,
  type System,
} from '../common.js';

const QUEUE = 'noop';
const BATCH_SIZE = 1_000;
const POLLING_INTERVAL_SECONDS = 0.5;

export class PgBossSystem implements System {
  readonly name = 'pg-boss 10.4';
  durability = 'PostgreSQL';
  readonly config: string;
  readonly #ctx: Context;
  readonly #schema: string;
  readonly #handled = new Counter();
  #boss: PgBoss | undefined;
  #handle: ((data: unknown) => void) | undefined;
  #lastError: string | undefined;
  #created = false;

  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.#schema = `lh_compare_pgboss_${ctx.runId}`;
    this.config = `new PgBoss({ schema, max: 10, schedule: false }); ${ctx.concurrency} × work(queue, { batchSize: ${BATCH_SIZE}, pollingIntervalSeconds: ${POLLING_INTERVAL_SECONDS} }, handler); producer: send / insert`;
  }

  async check(): Promise<string | null> {
    const probe = await probePostgres();
    if (!probe.ok) return probe.reason;
    this.durability = postgresDurability(probe);
    return null;
  }

  async setup(): Promise<void> {
    this.#created = true;
    const boss = new PgBoss({ ...POSTGRES, schema: this.#schema, max: 10, schedule: false });
    boss.on('error', (error) => {
      this.#lastError = messageOf(error);
    });
    this.#boss = boss;
    await boss.start();
    await boss.createQueue(QUEUE);
  }

  #b(): PgBoss {
    if (this.#boss === undefined) throw new Error('setup() first');
    if (this.#lastError !== undefined) throw new Error(`pg-boss reported: ${this.#lastError}`);
    return this.#boss;
  }

  async enqueueOne(payload: Payload): Promise<void> {
    await this.#b().send(QUEUE, payload);
  }

  async enqueueBatch(payloads: readonly Payload[]): Promise<void> {
    await this.#b().insert(payloads.map((data) => ({ name: QUEUE, data })));
  }

  async prepareWorkers(onStart: OnStart): Promise<void> {
    this.#handle = peerHandler(onStart);
  }

  async startWorkers(): Promise<void> {
    const boss = this.#b();
    const handle = this.#handle;
    if (handle === undefined) throw new Error('prepareWorkers() first');
    for (let i = 0; i < this.#ctx.concurrency; i++) {
      await boss.work<Payload>(QUEUE, { batchSize: BATCH_SIZE, pollingIntervalSeconds: POLLING_INTERVAL_SECONDS }, async (jobs) => {
        for (const job of jobs) {
          handle(job.data);
          this.#handled.inc();
        }
      });
    }
  }

  async drainedWhen(total: number, signal: AbortSignal): Promise<void> {
    await this.#handled.until(total, signal);
    await pollUntil(async () => (await this.#b().getQueueSize(QUEUE, { before: 'completed' })) === 0, signal);
  }

  async teardown(): Promise<void> {
    try {
      await this.#boss?.stop({ graceful: true, wait: true, timeout: 5_000 });
    } finally {
      this.#boss = undefined;
      if (this.#created) await dropSchema(this.#schema);
    }
  }
}
