/**
 * leasehold itself: `createSupervisor` on a fresh SQLite file, handlers in worker threads
 * (`../handlers.js`). Started and paused before the enqueue scenarios (threads up, nothing
 * leased), resumed when the clock starts. A job is done when `job.done` fires (emitted after the
 * store recorded it); latency jobs return their start time, read from that event.
 */
import { createSupervisor, type Supervisor } from '../../../actors/supervisor.actor.js';
import { Counter, type Context, type OnStart, type Payload, type System } from '../common.js';

const handlers = new URL('../handlers.js', import.meta.url);

export class LeaseholdSystem implements System {
  readonly name: string;
  readonly durability: string;
  readonly config: string;
  readonly #ctx: Context;
  readonly #synchronous: 'NORMAL' | 'FULL';
  readonly #done = new Counter();
  #supervisor: Supervisor | undefined;

  constructor(ctx: Context, synchronous: 'NORMAL' | 'FULL') {
    this.#ctx = ctx;
    this.#synchronous = synchronous;
    this.name = `leasehold ${synchronous}`;
    this.durability =
      synchronous === 'FULL'
        ? 'SQLite WAL synchronous=FULL: an acknowledged job survives power loss'
        : 'SQLite WAL synchronous=NORMAL: survives a process crash; the last commits may be lost on power loss';
    this.config = `createSupervisor({ store: { sqlite, synchronous: '${synchronous}' }, concurrency: ${ctx.concurrency}, logger: false }), other options default (threads = min(CPUs, concurrency), prefetch 1024, maxAckDelayMs 5); handlers in worker threads`;
  }

  async check(): Promise<string | null> {
    return null;
  }

  async setup(): Promise<void> {
    this.#done.reset();
    this.#supervisor = createSupervisor({
      store: { sqlite: this.#ctx.file(`leasehold-${this.#synchronous}.db`), synchronous: this.#synchronous },
      handlers,
      concurrency: this.#ctx.concurrency,
      logger: false,
      keepAlive: false,
    });
  }

  #sup(): Supervisor {
    if (this.#supervisor === undefined) throw new Error('setup() first');
    return this.#supervisor;
  }

  async enqueueOne(payload: Payload): Promise<void> {
    await this.#sup().enqueue({ name: payload.t === undefined ? 'noop' : 'stamp', payload });
  }

  async enqueueBatch(payloads: readonly Payload[]): Promise<void> {
    await this.#sup().enqueueMany(payloads.map((payload) => ({ name: payload.t === undefined ? 'noop' : 'stamp', payload })));
  }

  async prepareWorkers(onStart: OnStart): Promise<void> {
    const supervisor = this.#sup();
    supervisor.on('job.done', (e) => {
      if (e.name === 'stamp') {
        const r = e.result as { t: number; start: number };
        onStart(r.t, r.start);
      }
      this.#done.inc();
    });
    await supervisor.start();
    await supervisor.pause();
  }

  async startWorkers(): Promise<void> {
    await this.#sup().resume();
  }

  drainedWhen(total: number, signal: AbortSignal): Promise<void> {
    return this.#done.until(total, signal);
  }

  async teardown(): Promise<void> {
    await this.#supervisor?.stop({ graceMs: 2_000 });
  }
}
