/**
 * The checkpoint thread of a `SqliteStore` (see `Checkpointer` in `checkpointer.ts`): its own
 * connection to the file, a `PRAGMA wal_checkpoint(PASSIVE)` every `intervalMs`. A passive
 * checkpoint never waits for the writer and never blocks it; its fsyncs (the WAL before copying,
 * the database file after) happen here instead of inside one of the store's commits on the main
 * thread.
 *
 * Protocol: `workerData` is {@link CheckpointThreadData}; the thread posts
 * {@link CheckpointThreadReport}s; the message `'stop'` closes the connection and ends the thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';

/** What the thread is started with. */
export interface CheckpointThreadData {
  readonly path: string;
  readonly intervalMs: number;
  readonly synchronous: 'FULL' | 'NORMAL';
}

/** What the thread tells its store: it is running, or a checkpoint failed (the first failure of a run of them). */
export type CheckpointThreadReport = { readonly type: 'ready' } | { readonly type: 'error'; readonly message: string };

const data = workerData as CheckpointThreadData;
if (parentPort === null) throw new Error('the checkpoint thread runs in a worker thread');
const port = parentPort;

const db = new Database(data.path, { fileMustExist: true });
// A checkpoint syncs as this connection's `synchronous` says; this connection never writes.
db.pragma(`synchronous = ${data.synchronous}`);
db.pragma('wal_autocheckpoint = 0');
const checkpoint = db.prepare('PRAGMA wal_checkpoint(PASSIVE)');

let failing = false;
const timer = setInterval(() => {
  try {
    checkpoint.get();
    failing = false;
  } catch (error) {
    if (!failing) port.postMessage({ type: 'error', message: error instanceof Error ? error.message : String(error) } satisfies CheckpointThreadReport);
    failing = true;
  }
}, data.intervalMs);

port.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  db.close();
  port.close();
});
port.postMessage({ type: 'ready' } satisfies CheckpointThreadReport);
