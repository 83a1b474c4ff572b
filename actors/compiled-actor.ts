/**
 * An actor that runs a compiled machine (`src/compiled-machine.ts`): its state changes only by
 * events the machine allows, and subscribers see every transition. Per-job and per-slot actors
 * are these, because an XState actor costs tens of microseconds per event on the hot path; the
 * compiled table is checked against XState by the tests.
 */
import type { CompiledMachine, MachineEvent } from '../src/compiled-machine.js';

/** One transition an actor took. */
export interface ActorTransition<S extends string, C, E> {
  readonly actorId: string;
  readonly machineId: string;
  readonly from: S;
  readonly to: S;
  readonly event: E;
  readonly context: C;
}

/** A snapshot of a compiled actor. */
export interface CompiledSnapshot<S extends string, C> {
  readonly value: S;
  readonly context: C;
  readonly status: 'active' | 'done';
}

/** See the module comment. */
export class CompiledActor<S extends string, C, E extends MachineEvent> {
  #state: S;
  #context: C;

  constructor(
    readonly machine: CompiledMachine<S, C, E>,
    readonly id: string,
    state: S,
    context: C,
    private readonly onTransition?: (t: ActorTransition<S, C, E>) => void,
  ) {
    this.#state = state;
    this.#context = context;
  }

  /** Applies `event`; throws if the machine does not allow it here (a bug in the caller). */
  send(event: E): S {
    const step = this.machine.next(this.#state, this.#context, event);
    if (step === undefined) throw new Error(`${this.machine.id} actor ${this.id}: event ${event.type} is not allowed in state "${this.#state}"`);
    const from = this.#state;
    this.#state = step.state;
    this.#context = step.context;
    this.onTransition?.({ actorId: this.id, machineId: this.machine.id, from, to: step.state, event, context: step.context });
    return step.state;
  }

  /** True when the machine handles `event` in the current state. */
  can(event: E): boolean {
    return this.machine.next(this.#state, this.#context, event) !== undefined;
  }

  get state(): S {
    return this.#state;
  }

  get context(): C {
    return this.#context;
  }

  getSnapshot(): CompiledSnapshot<S, C> {
    return { value: this.#state, context: this.#context, status: this.machine.isFinal(this.#state) ? 'done' : 'active' };
  }
}
