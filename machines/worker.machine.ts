/**
 * One execution slot of the supervisor's thread pool.
 *
 * A slot holds at most one job at a time. `ASSIGN` gives it a job; `RELEASE` frees it when the
 * job's thread work ended (its result arrived). A slot can also stay with the thread task that
 * holds it while that task has jobs parked in the thread: `NEXT` moves it to the task's next job
 * when that one starts, or (`jobId: null`) keeps it reserved for the task meanwhile. `CRASH` when
 * the thread running it died, after
 * which the slot stays `crashed` until the supervisor has recorded the job's failure
 * (`RECOVERED`). `DRAIN` stops the slot, at once when idle, after its job otherwise.
 *
 * Pure: the supervisor actor runs it (compiled, see `src/compiled-machine.ts`) and is the one
 * that talks to threads.
 */
import { assign, setup } from 'xstate';

/** The states of a slot. */
export const WorkerStates = ['idle', 'busy', 'crashed', 'draining', 'stopped'] as const;

/** A slot state. */
export type WorkerState = (typeof WorkerStates)[number];

/** A slot's context: its number and the job it holds. */
export interface WorkerContext {
  readonly slot: number;
  readonly jobId: number | null;
}

/** What a slot is created with. */
export interface WorkerInput {
  readonly slot: number;
}

/** The events of a slot. */
export type WorkerEvent =
  | { readonly type: 'ASSIGN'; readonly jobId: number }
  | { readonly type: 'NEXT'; readonly jobId: number | null }
  | { readonly type: 'RELEASE' }
  | { readonly type: 'CRASH' }
  | { readonly type: 'RECOVERED' }
  | { readonly type: 'DRAIN' };

type Args = { readonly context: WorkerContext; readonly event: WorkerEvent };

/** The slot machine's context updates, by name. Pure. */
export const workerUpdates = {
  takeJob: ({ event }: Args): Partial<WorkerContext> => ({ jobId: event.type === 'ASSIGN' || event.type === 'NEXT' ? event.jobId : null }),
  dropJob: (): Partial<WorkerContext> => ({ jobId: null }),
} as const;

/** The slot machine has no guards. */
export const workerGuards = {} as const;

/** The execution-slot machine. */
export const workerMachine = setup({
  types: {
    context: {} as WorkerContext,
    events: {} as WorkerEvent,
    input: {} as WorkerInput,
  },
  actions: {
    takeJob: assign(workerUpdates.takeJob),
    dropJob: assign(workerUpdates.dropJob),
  },
}).createMachine({
  id: 'worker',
  context: ({ input }) => ({ slot: input.slot, jobId: null }),
  initial: 'idle',
  states: {
    idle: {
      on: {
        ASSIGN: { target: 'busy', actions: 'takeJob' },
        DRAIN: { target: 'stopped' },
      },
    },
    busy: {
      on: {
        RELEASE: { target: 'idle', actions: 'dropJob' },
        NEXT: { actions: 'takeJob' },
        CRASH: { target: 'crashed' },
        DRAIN: { target: 'draining' },
      },
    },
    crashed: {
      on: {
        RECOVERED: { target: 'idle', actions: 'dropJob' },
        DRAIN: { target: 'stopped', actions: 'dropJob' },
      },
    },
    draining: {
      on: {
        RELEASE: { target: 'stopped', actions: 'dropJob' },
        NEXT: { actions: 'takeJob' },
        CRASH: { target: 'stopped', actions: 'dropJob' },
      },
    },
    stopped: { type: 'final' },
  },
});
