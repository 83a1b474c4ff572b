/** The execution-slot actor: the worker machine, compiled, one per slot of the supervisor. */
import { compileMachine } from '../src/compiled-machine.js';
import { workerGuards, workerMachine, workerUpdates, type WorkerContext, type WorkerEvent, type WorkerState } from '../machines/worker.machine.js';
import { CompiledActor, type ActorTransition } from './compiled-actor.js';

/** The worker machine as a lookup table. */
export const workerLifecycle = compileMachine<WorkerState, WorkerContext, WorkerEvent>(workerMachine, {
  guards: workerGuards,
  updates: workerUpdates,
});

/** One execution slot. */
export type WorkerActor = CompiledActor<WorkerState, WorkerContext, WorkerEvent>;

/** Creates the actor of slot `slot`, idle. */
export function createWorkerActor(slot: number, onTransition?: (t: ActorTransition<WorkerState, WorkerContext, WorkerEvent>) => void): WorkerActor {
  return new CompiledActor(workerLifecycle, `worker-${slot}`, 'idle', { slot, jobId: null }, onTransition);
}
