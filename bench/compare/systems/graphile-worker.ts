/**
 * graphile-worker 0.17 on PostgreSQL, in a fresh schema dropped afterwards. Options are those of
 * its performance page (worker.graphile.org/docs/performance), with our concurrency:
 * `concurrentJobs`, `maxPoolSize` (max(10, concurrency + 2), as its docs advise), `localQueue.size`
 * 500, `completeJobBatchDelay` 0, `failJobBatchDelay` 0; `pollInterval` lowered to 100 ms (new
 * jobs arrive by LISTEN/NOTIFY, its default); a silent logger; `noHandleSignals` (the bench
 * handles Ctrl-C). Producer: `makeWorkerUtils` `addJob` / `addJobs` on their own pool. A job is
 * done when its row is gone (graphile-worker deletes completed jobs): the bench waits for the
 * handlers to have run `total` times and then for the job table to be empty.
 */
import pg from 'pg';
import { Logger, makeWorkerUtils, run, runMigrations, type Runner, type WorkerUtils } from 'graphile-worker';
import {
  Counter,
  dropSchema,
  messageOf,
  peerHandler,
  pollUntil,
  POSTGRES,
  POSTGRES_URL,
  postgresDurability,
  probePostgres,
  type Context,
  type OnStart,
  type Payload,
  type System,
} from '../common.js';

const TASK = 'noop';
const LOCAL_QUEUE_SIZE = 500;
const POLL_MS = 100;

export class GraphileWorkerSystem implements System {
  readonly name = 'graphile-worker 0.17';
  durability = 'PostgreSQL';
  readonly config: string;
  readonly #ctx: Context;
  readonly #schema: string;
  readonly #handled = new Counter();
  readonly #logger = new Logger(() => () => undefined);
  #utils: WorkerUtils | undefined;
  #pool: pg.Pool | undefined;
  #runner: Runner | undefined;
  #start: (() => Promise<Runner>) | undefined;
  #created = false;
  #poolError: string | undefined;

  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.#schema = `lh_compare_gw_${ctx.runId}`;
    this.config = `run({ pgPool, taskList, noHandleSignals: true, preset: { worker: { schema, concurrentJobs: ${ctx.concurrency}, maxPoolSize: ${this.#poolSize()}, pollInterval: ${POLL_MS}, localQueue: { size: ${LOCAL_QUEUE_SIZE} }, completeJobBatchDelay: 0, failJobBatchDelay: 0, logger: silent } } }); producer: makeWorkerUtils addJob / addJobs`;
  }

  #poolSize(): number {
    return Math.max(10, this.#ctx.concurrency + 2);
  }

  async check(): Promise<string | null> {
    const probe = await probePostgres();
    if (!probe.ok) return probe.reason;
    this.durability = postgresDurability(probe);
    return null;
  }

  async setup(): Promise<void> {
    this.#created = true;
    await runMigrations({ connectionString: POSTGRES_URL, schema: this.#schema, logger: this.#logger });
    this.#utils = await makeWorkerUtils({ connectionString: POSTGRES_URL, schema: this.#schema, logger: this.#logger });
  }

  #u(): WorkerUtils {
    if (this.#utils === undefined) throw new Error('setup() first');
    return this.#utils;
  }

  async enqueueOne(payload: Payload): Promise<void> {
    await this.#u().addJob(TASK, payload);
  }

  async enqueueBatch(payloads: readonly Payload[]): Promise<void> {
    await this.#u().addJobs(payloads.map((payload) => ({ identifier: TASK, payload })));
  }

  async prepareWorkers(onStart: OnStart): Promise<void> {
    // The runner's pool, connected ahead; run() itself starts consuming at once.
    const pool = new pg.Pool({ ...POSTGRES, max: this.#poolSize() });
    // Error handlers on the pool and on each client, as graphile-worker asks of a pool it is given.
    const onError = (error: Error): void => {
      this.#poolError = messageOf(error);
    };
    pool.on('error', onError);
    pool.on('connect', (client) => client.on('error', onError));
    this.#pool = pool;
    const client = await pool.connect();
    client.release();
    const handle = peerHandler(onStart);
    this.#start = () =>
      run({
        pgPool: pool,
        noHandleSignals: true,
        taskList: {
          [TASK]: (payload) => {
            handle(payload);
            this.#handled.inc();
          },
        },
        preset: {
          worker: {
            schema: this.#schema,
            concurrentJobs: this.#ctx.concurrency,
            maxPoolSize: this.#poolSize(),
            pollInterval: POLL_MS,
            localQueue: { size: LOCAL_QUEUE_SIZE },
            completeJobBatchDelay: 0,
            failJobBatchDelay: 0,
            logger: this.#logger,
          },
        },
      });
  }

  async startWorkers(): Promise<void> {
    if (this.#start === undefined) throw new Error('prepareWorkers() first');
    this.#runner = await this.#start();
  }

  async drainedWhen(total: number, signal: AbortSignal): Promise<void> {
    await this.#handled.until(total, signal);
    if (this.#poolError !== undefined) throw new Error(`worker pool: ${this.#poolError}`);
    const table = `${pg.Client.prototype.escapeIdentifier(this.#schema)}._private_jobs`;
    await pollUntil(
      () => this.#u().withPgClient(async (c) => (await c.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`)).rows[0]?.n === 0),
      signal,
    );
  }

  async teardown(): Promise<void> {
    try {
      await this.#runner?.stop();
      await this.#utils?.release();
      await this.#pool?.end();
    } finally {
      this.#runner = undefined;
      this.#utils = undefined;
      this.#pool = undefined;
      if (this.#created) await dropSchema(this.#schema);
    }
  }
}
