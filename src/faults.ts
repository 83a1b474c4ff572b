/**
 * Fault injection for crash testing: named points where the process can be killed with SIGKILL.
 *
 * Off unless `LEASEHOLD_CRASH_AT` is set when this module loads, and then `crashPoint` is a
 * function that does nothing: zero cost in production. `LEASEHOLD_CRASH_AT=<point>` kills the
 * process the first time the point is reached; `<point>:<n>` on the n-th time. The chaos tests
 * (test/chaos/) run supervisors with it and check that no acknowledged work is lost.
 */

/** The named crash points. */
export const CrashPoints = [
  /** The lease transaction committed; the jobs have not reached a thread. */
  'after-lease-commit',
  /** A handler returned; its result is not acknowledged yet. */
  'after-handler-before-ack',
  /** Inside the ack transaction, after its writes, before COMMIT. */
  'inside-ack-transaction',
  /** Inside the heartbeat transaction, after extending leases, before COMMIT. */
  'during-heartbeat',
  /** In recovery, after reading the expired leases and before writing them back. */
  'between-recovery-read-and-write',
] as const;

/** A named crash point. */
export type CrashPoint = (typeof CrashPoints)[number];

function parse(spec: string | undefined): { point: CrashPoint; at: number } | undefined {
  if (spec === undefined || spec === '') return undefined;
  const [point, n] = spec.split(':');
  if (!CrashPoints.includes(point as CrashPoint)) throw new Error(`LEASEHOLD_CRASH_AT names no crash point: ${spec} (known: ${CrashPoints.join(', ')})`);
  return { point: point as CrashPoint, at: n === undefined ? 1 : Math.max(1, Number(n)) };
}

const armed = parse(process.env.LEASEHOLD_CRASH_AT);
let hits = 0;

/** Kills the process with SIGKILL if this point is the armed one (and its count is reached). */
export const crashPoint: (point: CrashPoint) => void =
  armed === undefined
    ? () => undefined
    : (point) => {
        if (point !== armed.point || ++hits < armed.at) return;
        process.kill(process.pid, 'SIGKILL');
      };
