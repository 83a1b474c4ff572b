/**
 * The job machine, compiled once (see `src/compiled-machine.ts`), and the helpers stores and
 * actors use to apply job events. This is the only path by which leasehold decides a job's next
 * state.
 */
import { compileMachine, type Step } from './compiled-machine.js';
import { LeaseholdError } from './errors.js';
import {
  jobGuards,
  jobMachine,
  jobUpdates,
  type JobContext,
  type JobEvent,
  type JobEventType,
  type JobState,
} from '../machines/job.machine.js';

/** The job machine as a lookup table. */
export const jobLifecycle = compileMachine<JobState, JobContext, JobEvent>(jobMachine, {
  guards: jobGuards,
  updates: jobUpdates,
});

/**
 * Applies `event` to a job in `state`, or throws `ERR_INVALID_TRANSITION` naming the job, the
 * state and the event.
 */
export function nextJobState(jobId: number, state: JobState, context: JobContext, event: JobEvent): Step<JobState, JobContext> {
  const step = jobLifecycle.next(state, context, event);
  if (step === undefined) throw invalidTransition(jobId, state, event.type);
  return step;
}

/** The typed error for an event the job machine does not allow from `state`. */
export function invalidTransition(jobId: number, state: JobState, event: JobEventType): LeaseholdError {
  return new LeaseholdError('ERR_INVALID_TRANSITION', `job ${jobId}: event ${event} is not allowed in state "${state}"`, {
    field: 'state',
    value: state,
  });
}

/** The single state `event` leads to from `from` when no guard is involved; throws otherwise. */
export function unconditionalTarget(from: JobState, event: JobEventType): JobState {
  const targets = jobLifecycle.targets(from, event);
  if (targets.length !== 1) throw new Error(`job machine: ${event} from ${from} has ${targets.length} possible targets`);
  return targets[0] as JobState;
}

/** Every state from which `event` is handled. */
export function statesHandling(event: JobEventType): JobState[] {
  return jobLifecycle.states.filter((s) => jobLifecycle.handles(s, event));
}
