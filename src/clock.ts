/**
 * Time, injected.
 *
 * This module is the only place in leasehold that reads the wall clock or arms a real timer.
 * Everything else takes a {@link Clock}: the store stamps rows with `clock.now()`, the supervisor
 * machine's delayed transitions (`after`) run on `clock.setTimeout`, and tests pass a
 * {@link ManualClock} to move time forward without sleeping.
 *
 * The shape matches XState v5's `Clock` (`setTimeout` / `clearTimeout`), so the same object can
 * be handed to `createActor(machine, { clock })`.
 */

/** An opaque timer handle returned by {@link Clock.setTimeout}. */
export type TimerHandle = unknown;

/** A source of time and timers. */
export interface Clock {
  /** Milliseconds since the Unix epoch. */
  now(): number;
  /** Calls `fn` once after `ms` milliseconds of this clock's time. */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer armed by {@link Clock.setTimeout}; unknown handles are ignored. */
  clearTimeout(handle: TimerHandle): void;
}

/** The real clock: `Date.now()` and Node's timers. Timers are unref'd so they never keep a process alive. */
export const systemClock: Clock = Object.freeze({
  now: () => Date.now(),
  setTimeout: (fn: () => void, ms: number): TimerHandle => {
    const timer = setTimeout(fn, ms);
    timer.unref();
    return timer;
  },
  clearTimeout: (handle: TimerHandle): void => {
    clearTimeout(handle as NodeJS.Timeout);
  },
});

interface ManualTimer {
  readonly id: number;
  readonly at: number;
  readonly fn: () => void;
}

/**
 * A clock that moves only when told to. For tests: `advance(ms)` runs every timer that falls due,
 * in due order, including timers armed by the timers it runs.
 *
 * @example
 * const clock = new ManualClock(1_000);
 * clock.setTimeout(() => console.log('fired'), 500);
 * clock.advance(500); // prints "fired"
 */
export class ManualClock implements Clock {
  #now: number;
  #nextId = 1;
  #timers = new Map<number, ManualTimer>();

  /** @param start - the initial time in epoch milliseconds. */
  constructor(start = 1_700_000_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { id, at: this.#now + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Number of timers armed and not yet fired or cleared. */
  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward by `ms`, firing due timers in order of due time, then arming order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let next: ManualTimer | undefined;
      for (const timer of this.#timers.values()) {
        if (timer.at <= target && (next === undefined || timer.at < next.at || (timer.at === next.at && timer.id < next.id))) {
          next = timer;
        }
      }
      if (next === undefined) break;
      this.#timers.delete(next.id);
      this.#now = Math.max(this.#now, next.at);
      next.fn();
    }
    this.#now = target;
  }

  /** Sets the time to `epochMs` (never backwards) and fires what fell due. */
  set(epochMs: number): void {
    this.advance(Math.max(0, epochMs - this.#now));
  }
}
