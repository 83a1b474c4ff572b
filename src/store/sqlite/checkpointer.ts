/**
 * `Checkpointer`: WAL checkpoints off the store's thread. A worker thread with its own connection
 * runs a passive checkpoint (its fsyncs included) on a timer, instead of SQLite's automatic
 * checkpoint running inside whichever commit crossed 1,000 WAL pages, on the thread that made
 * it: under `synchronous: 'NORMAL'` that checkpoint's two fsyncs were the longest stalls of an
 * idle supervisor's main thread.
 */
import { Worker } from 'node:worker_threads';
import type { Database as Db } from 'better-sqlite3';
import type { Logger } from 'pino';
import { compiledModuleUrl } from '../../compiled-module.js';
import type { CheckpointThreadData, CheckpointThreadReport } from './checkpoint-thread.js';

/** How often the checkpoint thread checkpoints. */
export const CHECKPOINT_INTERVAL_MS = 100;
/**
 * While the checkpoint thread runs, the store's connection still checkpoints by itself once the
 * WAL passes this many pages (about 8 MB). At a light load the thread's checkpoints complete
 * between commits, the next commit starts the WAL over, and it never gets near this. Under a
 * steady stream of commits they never complete (each takes longer than the gap between two
 * commits), so the WAL is never started over: it grew to this bound, and at 10,000 pages (40 MB)
 * that cost every `FULL` commit ~40% more (appending to a growing file makes each fsync write
 * metadata too: single enqueues 5.2–5.5k/s against 7.1–7.2k/s at 2,000 pages). Here the thread
 * has already copied most of the frames, so this checkpoint finishes the rest and the WAL starts
 * over.
 */
export const CHECKPOINT_BACKSTOP_PAGES = 2_000;
/** SQLite's own automatic checkpoint threshold, in force until the thread runs and after it fails. */
const AUTOCHECKPOINT_PAGES = 1_000;

/** Runs the checkpoint thread of one store connection; see the module comment. */
export class Checkpointer {
  readonly #db: Db;
  readonly #logger: Logger | undefined;
  readonly #worker: Worker;
  #stopped = false;

  constructor(db: Db, data: CheckpointThreadData, logger: Logger | undefined) {
    this.#db = db;
    this.#logger = logger;
    this.#worker = new Worker(compiledModuleUrl(import.meta.url, './checkpoint-thread.js', '../../../dist/src/store/sqlite/checkpoint-thread.js'), {
      workerData: data,
    });
    // A store left open must not keep the process alive.
    this.#worker.unref();
    this.#worker.on('message', (report: CheckpointThreadReport) => {
      if (report.type === 'ready') {
        if (!this.#stopped && this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${CHECKPOINT_BACKSTOP_PAGES}`);
      } else {
        this.#logger?.warn({ path: data.path, error: report.message }, 'a background WAL checkpoint failed; retrying every interval');
      }
    });
    this.#worker.on('error', (error) => this.#fallBack(error));
    this.#worker.on('exit', (code) => {
      if (!this.#stopped) this.#fallBack(new Error(`the checkpoint thread exited with code ${code}`));
    });
  }

  /** Ends the thread and closes its connection (before the store closes its own). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const exited = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage('stop');
    const timer = setTimeout(() => void this.#worker.terminate(), 5_000);
    await exited;
    clearTimeout(timer);
  }

  /** The thread is gone: checkpoints go back to SQLite's automatic ones on the store's connection. */
  #fallBack(error: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#db.open) this.#db.pragma(`wal_autocheckpoint = ${AUTOCHECKPOINT_PAGES}`);
    this.#logger?.warn({ error: error instanceof Error ? error.message : String(error) }, 'the checkpoint thread stopped; checkpoints run in commits again');
  }
}
