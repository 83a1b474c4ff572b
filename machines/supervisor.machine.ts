/**
 * The supervisor: its lifecycle, and the timers of its three loops.
 *
 *   starting → running ⇄ pausing → paused → running …, and from any of these → draining → stopped
 *
 * While running, three parallel regions:
 * - **dispatch** — `waiting` until woken (`WAKE`: an enqueue through this supervisor, a job that
 *   finished, a freed slot) or until `pollMs` passes (jobs enqueued by other processes), then
 *   `pumping`: one store transaction that settles what finished and leases what the free slots
 *   can take. A `WAKE` that arrives while pumping makes it pump again at once. Entering `running`
 *   (after startup, on `RESUME`) pumps at once: jobs queued before `start()` or during a pause
 *   do not wait for the poll.
 * - **heartbeat** — every `heartbeatMs`, extend the leases of every in-flight job in one call.
 * - **recovery** — every `recoveryMs`, give back expired leases of any owner (dead processes).
 *
 * `pausing`, `paused` and `draining` keep pumping (acknowledgements must go on) but lease
 * nothing, give back at once the jobs leased ahead that never started (`releaseBuffered`), and
 * keep heartbeats going for what is still in flight. `pausing` becomes `paused`
 * when nothing is in flight (`IDLE`). `draining` waits up to `graceMs` for in-flight work, then
 * interrupts it (the `interruptInFlight` action: abort signals, leases given back uncounted),
 * and stops on `IDLE`.
 *
 * Pure: the invoked logic (`startup`, `heartbeat`, `recover`) and the actions are named here and
 * provided by the supervisor actor; delays read the context and run on the clock the actor is
 * created with.
 *
 * A pump is not an invocation but an entry action (`pump`) whose work reports back with `PUMPED`
 * or `PUMP_FAILED`: pumps are the supervisor's most frequent step (about two per job on an idle
 * supervisor), and invoking a promise actor for each cost 25–155 µs of the main thread's time
 * against 8–69 µs for an action and an event (measured in this machine's shape; the high ends
 * are after a few milliseconds idle). Each pump has a number (`pumpSeq`), and its report names
 * it, so that the report of a pump that began before a pause or a stop cannot end a later one.
 */
import { assign, fromPromise, setup } from 'xstate';

/** The supervisor's top-level states. */
export const SupervisorStates = ['starting', 'running', 'pausing', 'paused', 'draining', 'stopped'] as const;

/** A top-level supervisor state. */
export type SupervisorState = (typeof SupervisorStates)[number];

/** Timer settings and run-time flags. */
export interface SupervisorContext {
  readonly pollMs: number;
  readonly heartbeatMs: number;
  readonly recoveryMs: number;
  /** How long `draining` waits for in-flight work before interrupting it. */
  readonly graceMs: number;
  /** A WAKE arrived while pumping: pump again. */
  readonly wakePending: boolean;
  /** The number of the latest pump begun; its `PUMPED` or `PUMP_FAILED` ends `pumping`. */
  readonly pumpSeq: number;
  /** Why the supervisor stopped, if it failed. */
  readonly error: unknown;
}

/** What a supervisor machine is created with. */
export interface SupervisorInput {
  readonly pollMs: number;
  readonly heartbeatMs: number;
  readonly recoveryMs: number;
}

/** The supervisor's events. */
export type SupervisorEvent =
  | { readonly type: 'WAKE' }
  | { readonly type: 'PAUSE'; readonly interrupt?: boolean }
  | { readonly type: 'RESUME' }
  | { readonly type: 'STOP'; readonly graceMs: number }
  | { readonly type: 'IDLE' }
  | { readonly type: 'PUMPED'; readonly seq: number; readonly more: boolean }
  | { readonly type: 'PUMP_FAILED'; readonly seq: number; readonly error: unknown };

/** What one pump did: whether there is more to do at once. */
export interface PumpOutput {
  readonly more: boolean;
}

/** Parameters of the `pump` action: whether this state leases new jobs. */
export interface PumpInput {
  readonly lease: boolean;
}

const notProvided = (name: string) =>
  fromPromise<void, unknown>(() => Promise.reject(new Error(`supervisor machine: the actor must provide "${name}"`)));

const pumpRegion = (lease: boolean) => ({
  // Leasing starts with a pump: what is already due is leased at once.
  initial: lease ? ('pumping' as const) : ('waiting' as const),
  states: {
    waiting: {
      after: { pollDelay: { target: 'pumping' as const } },
      on: { WAKE: { target: 'pumping' as const } },
    },
    pumping: {
      // The actor's `pump` begins pump number `pumpSeq` and reports its end with that number.
      entry: ['beginPump' as const, { type: 'pump' as const, params: { lease } satisfies PumpInput }],
      on: {
        WAKE: { actions: 'markWake' as const },
        // A report of an earlier pump (begun before a pause, say) ends nothing; its error is still told.
        PUMPED: [
          { guard: 'stalePump' as const },
          { guard: 'morePending' as const, target: 'pumping' as const, reenter: true },
          { target: 'waiting' as const },
        ],
        PUMP_FAILED: [
          { guard: 'stalePump' as const, actions: 'reportError' as const },
          { target: 'waiting' as const, actions: 'reportError' as const },
        ],
      },
    },
  },
});

const heartbeatRegion = {
  initial: 'waiting' as const,
  states: {
    waiting: { after: { heartbeatDelay: { target: 'beating' as const } } },
    beating: {
      invoke: { src: 'heartbeat' as const, onDone: { target: 'waiting' as const }, onError: { target: 'waiting' as const, actions: 'reportError' as const } },
    },
  },
};

const recoveryRegion = {
  initial: 'waiting' as const,
  states: {
    waiting: { after: { recoveryDelay: { target: 'recovering' as const } } },
    recovering: {
      invoke: { src: 'recover' as const, onDone: { target: 'waiting' as const }, onError: { target: 'waiting' as const, actions: 'reportError' as const } },
    },
  },
};

/** The supervisor machine. */
export const supervisorMachine = setup({
  types: {
    context: {} as SupervisorContext,
    events: {} as SupervisorEvent,
    input: {} as SupervisorInput,
  },
  actors: {
    startup: notProvided('startup'),
    heartbeat: notProvided('heartbeat'),
    recover: notProvided('recover'),
  },
  actions: {
    markWake: assign({ wakePending: true }),
    beginPump: assign({ wakePending: false, pumpSeq: ({ context }) => context.pumpSeq + 1 }),
    setGrace: assign({ graceMs: ({ event }) => (event.type === 'STOP' ? event.graceMs : 0) }),
    recordError: assign({ error: ({ event }) => (event as { error?: unknown }).error }),
    // Provided by the actor: side effects. `pump` begins pump number `context.pumpSeq` and sends
    // `PUMPED` (or `PUMP_FAILED`) with that number when it ends.
    pump: (_, _params: PumpInput) => {
      throw new Error('supervisor machine: the actor must provide "pump"');
    },
    reportError: () => undefined,
    checkIdle: () => undefined,
    interruptInFlight: () => undefined,
    releaseBuffered: () => undefined,
    announce: () => undefined,
  },
  guards: {
    stalePump: ({ context, event }) => (event.type === 'PUMPED' || event.type === 'PUMP_FAILED') && event.seq !== context.pumpSeq,
    morePending: ({ context, event }) => context.wakePending || (event.type === 'PUMPED' && event.more),
    interruptOnPause: ({ event }) => event.type === 'PAUSE' && event.interrupt === true,
  },
  delays: {
    pollDelay: ({ context }) => context.pollMs,
    heartbeatDelay: ({ context }) => context.heartbeatMs,
    recoveryDelay: ({ context }) => context.recoveryMs,
    graceDelay: ({ context }) => context.graceMs,
  },
}).createMachine({
  id: 'supervisor',
  context: ({ input }) => ({ ...input, graceMs: 0, wakePending: false, pumpSeq: 0, error: undefined }),
  initial: 'starting',
  states: {
    starting: {
      entry: 'announce',
      invoke: {
        src: 'startup',
        onDone: { target: 'running' },
        onError: { target: 'stopped', actions: ['recordError', 'reportError'] },
      },
      on: { STOP: { target: 'draining', actions: 'setGrace' } },
    },
    running: {
      type: 'parallel',
      entry: 'announce',
      states: {
        dispatch: pumpRegion(true),
        heartbeat: heartbeatRegion,
        recovery: recoveryRegion,
      },
      on: {
        PAUSE: [
          { guard: 'interruptOnPause', target: 'pausing', actions: 'interruptInFlight' },
          { target: 'pausing' },
        ],
        STOP: { target: 'draining', actions: 'setGrace' },
      },
    },
    pausing: {
      type: 'parallel',
      entry: ['announce', 'releaseBuffered', 'checkIdle'],
      states: {
        dispatch: pumpRegion(false),
        heartbeat: heartbeatRegion,
      },
      on: {
        IDLE: { target: 'paused' },
        RESUME: { target: 'running' },
        STOP: { target: 'draining', actions: 'setGrace' },
      },
    },
    paused: {
      type: 'parallel',
      entry: 'announce',
      states: {
        dispatch: pumpRegion(false),
      },
      on: {
        RESUME: { target: 'running' },
        STOP: { target: 'draining', actions: 'setGrace' },
      },
    },
    draining: {
      type: 'parallel',
      entry: ['announce', 'releaseBuffered', 'checkIdle'],
      states: {
        dispatch: pumpRegion(false),
        heartbeat: heartbeatRegion,
        grace: {
          initial: 'waiting',
          states: {
            waiting: { after: { graceDelay: { target: 'interrupting' } } },
            interrupting: { entry: 'interruptInFlight' },
          },
        },
      },
      on: { IDLE: { target: 'stopped' } },
    },
    stopped: { type: 'final', entry: 'announce' },
  },
});
