/**
 * The job actor: one per in-flight job of a supervisor, running the job machine (compiled).
 *
 * It is born `leased` (the store just leased it) and moves only when the store has recorded the
 * move: `START` when the start is committed, `SUCCEED`/`SKIP`/`FAIL`/`PAUSE` when the ack is, so
 * at quiescent points its state is the store's. Alongside, it tracks what the thread side did:
 * which thread runs it, whether its thread work ended, whether its lease was lost (its result is
 * then dropped) and whether it timed out.
 */
import type { TimerHandle } from '../src/clock.js';
import { jobLifecycle } from '../src/job-lifecycle.js';
import type { SerializedError } from '../src/errors.js';
import type { LeasedJob } from '../src/store/store.js';
import type { JobContext, JobEvent, JobState } from '../machines/job.machine.js';
import { CompiledActor, type ActorTransition } from './compiled-actor.js';
import type { WorkerActor } from './worker.actor.js';

/**
 * One thread task of the supervisor, as the supervisor tracks it: the slots it holds and how many
 * of its jobs have not ended. A task runs its jobs at most `slots.length` at once; it keeps all of
 * its slots while it has at least that many jobs left (a slot between two of its jobs is reserved
 * for the next, see the worker machine's `NEXT`), and gives one back with each of its last results.
 */
export interface ThreadTaskRecord {
  readonly slots: WorkerActor[];
  /** Every job sent in the task. */
  readonly jobs: readonly JobActor[];
  /** Jobs of the task without a result yet. */
  left: number;
  /** Its jobs still parked in the thread. */
  parked: number;
  /** When it was sent, or when a job of it last ended (the supervisor's clock). */
  lastEndAt: number;
  /** Its parked jobs were recalled because it stalled. */
  recalled: boolean;
  /** Jobs that started in the thread before a slot of the task was free to record them (reports crossing). */
  readonly waiting: JobActor[];
}

/** See the module comment. */
export class JobActor extends CompiledActor<JobState, JobContext, JobEvent> {
  readonly job: LeasedJob;
  /** The slot running it; `null` while it waits in the prefetch buffer or parked in a thread, and after its thread work. */
  slot: WorkerActor | null = null;
  /** The thread task it was sent in, until its thread work ended. */
  task: ThreadTaskRecord | null = null;
  /** Sent to a thread to wait there for a lane (parked), and not started yet. */
  parked = false;
  /** The thread running it, once it started there. */
  threadId: number | null = null;
  /** When its handler started (the supervisor's clock). */
  startedAt: number | null = null;
  /** Its thread work ended (a result arrived, or its thread died). */
  threadDone = false;
  /** Its lease is gone: nothing it does is written any more. */
  lost = false;
  /** It ran past its `timeoutMs`. */
  timedOut = false;
  /** Its lease is being given back (stop, pause with interruption). */
  releasing = false;
  /** An ack for it is queued or in flight. */
  settling = false;
  /** Its handler's result as JSON text, kept from the result until `job.done` (only while `job.done` has listeners). */
  resultText: string | undefined = undefined;
  /** Its handler's skip reason, from the result until `job.skipped`. */
  skipReason: string | undefined = undefined;
  /** Its failure, from the result (or its thread's death) until the store answered the ack. */
  lastError: SerializedError | undefined = undefined;
  /** `job.started` was emitted; progress reported before that waits here, in order. */
  startAnnounced = false;
  earlyProgress: unknown[] = [];
  /** Armed when it starts and has a `timeoutMs` (`undefined` otherwise). */
  timeoutTimer: TimerHandle;
  /** Armed when it timed out, until its thread is terminated. */
  graceTimer: TimerHandle;

  constructor(job: LeasedJob, onTransition?: (t: ActorTransition<JobState, JobContext, JobEvent>) => void) {
    super(
      jobLifecycle,
      `job-${job.id}`,
      'leased',
      { attempts: job.attempt, maxAttempts: job.maxAttempts, escalateAfter: job.escalateAfter, pendingDeps: 0, onDepFailure: job.onDepFailure },
      onTransition,
    );
    this.job = job;
  }

  get jobId(): number {
    return this.job.id;
  }

  get token(): number {
    return this.job.token;
  }

  /** The lease reference for fenced store calls. */
  get ref(): { id: number; token: number } {
    return { id: this.job.id, token: this.job.token };
  }
}
