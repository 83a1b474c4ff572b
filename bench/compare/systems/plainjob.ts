/**
 * plainjob 0.0.14 on a fresh SQLite file (better-sqlite3). A plainjob worker runs one job at a
 * time and there is no concurrency option, so concurrency N is N `defineWorker` loops on one
 * queue, in this process (the README's scaling advice is one process per worker; that would not
 * be the same concurrency). `pollIntervall` (sic) is the only speed option: lowered from 1000 ms
 * to 10 ms, since plainjob has no wake-up on enqueue. plainjob sets `synchronous = 1` (NORMAL)
 * itself. Handlers run on the main thread. A job is done at `onCompleted`, called right after
 * plainjob marked it done.
 */
import Database from 'better-sqlite3';
import { better, defineQueue, defineWorker, type Queue, type Worker } from 'plainjob';
import { Counter, peerHandler, silentLogger, type Context, type OnStart, type Payload, type System } from '../common.js';

const TYPE = 'noop';
const POLL_MS = 10;

export class PlainjobSystem implements System {
  readonly name = 'plainjob 0.0.14';
  readonly durability = 'SQLite WAL synchronous=NORMAL (set by plainjob): survives a process crash, not power loss';
  readonly config: string;
  readonly #ctx: Context;
  readonly #done = new Counter();
  #db: Database.Database | undefined;
  #queue: Queue | undefined;
  #workers: Worker[] = [];
  #running: Array<Promise<void>> = [];

  constructor(ctx: Context) {
    this.#ctx = ctx;
    this.config = `${ctx.concurrency} × defineWorker(type, fn, { queue, pollIntervall: ${POLL_MS}, logger: silent }) in one process; defineQueue({ connection: better(db), logger: silent }); add / addMany`;
  }

  async check(): Promise<string | null> {
    return null;
  }

  async setup(): Promise<void> {
    this.#done.reset();
    this.#db = new Database(this.#ctx.file('plainjob.db'));
    this.#queue = defineQueue({ connection: better(this.#db), logger: silentLogger });
  }

  #q(): Queue {
    if (this.#queue === undefined) throw new Error('setup() first');
    return this.#queue;
  }

  async enqueueOne(payload: Payload): Promise<void> {
    this.#q().add(TYPE, payload);
  }

  async enqueueBatch(payloads: readonly Payload[]): Promise<void> {
    this.#q().addMany(TYPE, [...payloads]);
  }

  async prepareWorkers(onStart: OnStart): Promise<void> {
    const queue = this.#q();
    const handle = peerHandler(onStart);
    this.#workers = Array.from({ length: this.#ctx.concurrency }, () =>
      defineWorker(TYPE, (job) => handle(JSON.parse(job.data)), {
        queue,
        pollIntervall: POLL_MS,
        logger: silentLogger,
        onCompleted: () => this.#done.inc(),
      }),
    );
  }

  async startWorkers(): Promise<void> {
    // start() resolves when the worker stops; a worker that throws is reported at teardown.
    this.#running = this.#workers.map((w) => w.start());
    for (const r of this.#running) r.catch(() => undefined);
  }

  drainedWhen(total: number, signal: AbortSignal): Promise<void> {
    return this.#done.until(total, signal);
  }

  async teardown(): Promise<void> {
    await Promise.all(this.#workers.map((w) => w.stop()));
    await Promise.allSettled(this.#running);
    this.#workers = [];
    this.#queue?.close(); // also closes the database
    this.#queue = undefined;
    if (this.#db?.open === true) this.#db.close();
  }
}
