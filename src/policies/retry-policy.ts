/**
 * Retry policies: how long a failed job waits before its next attempt, and how many attempts
 * it gets.
 *
 * Four backoff kinds, as in the seeds, each with a base, a cap and jitter:
 *
 * | kind          | delay after failed attempt n (n = 1, 2, 3, ...) |
 * |---------------|--------------------------------------------------|
 * | `immediate`   | 0                                                |
 * | `linear`      | base × n                                         |
 * | `exponential` | base × 2^(n−1)                                   |
 * | `fibonacci`   | base × fib(n), fib = 1, 1, 2, 3, 5, 8, ...       |
 *
 * The delay is capped at `maxMs`, then jitter takes off up to `jitter × delay` at random, so a
 * jittered delay lies in `[delay × (1 − jitter), delay]` and never exceeds the cap: herds of
 * jobs that failed together spread out instead of retrying in lockstep.
 *
 * `maxAttempts` counts every attempt, the first included: `maxAttempts: 1` means no retry.
 * All functions here are pure; randomness is passed in.
 */

/** The backoff kinds. */
export const BackoffKinds = ['immediate', 'linear', 'exponential', 'fibonacci'] as const;

/** A backoff kind. */
export type BackoffKind = (typeof BackoffKinds)[number];

/** A complete retry policy. */
export interface RetryPolicy {
  /** How the delay grows with each failed attempt. */
  readonly kind: BackoffKind;
  /** The unit delay in milliseconds. */
  readonly baseMs: number;
  /** The cap on any delay, before jitter. */
  readonly maxMs: number;
  /** The share (0..1) of the delay that may be taken off at random. */
  readonly jitter: number;
  /** Attempts allowed in all, the first included (1 = never retry). */
  readonly maxAttempts: number;
}

/** A source of uniform random numbers in [0, 1). */
export type Random = () => number;

/** Exponential from 1 s, capped at 5 min, 20% jitter, 5 attempts. The default for every job. */
export const DEFAULT: RetryPolicy = Object.freeze({ kind: 'exponential', baseMs: 1_000, maxMs: 300_000, jitter: 0.2, maxAttempts: 5 });
/** Linear from 100 ms, capped at 2 s, 10% jitter, 3 attempts. For cheap, quickly-recovering work. */
export const FAST: RetryPolicy = Object.freeze({ kind: 'linear', baseMs: 100, maxMs: 2_000, jitter: 0.1, maxAttempts: 3 });
/** Exponential from 30 s, capped at 1 h, 20% jitter, 10 attempts. For flaky remote services. */
export const SLOW: RetryPolicy = Object.freeze({ kind: 'exponential', baseMs: 30_000, maxMs: 3_600_000, jitter: 0.2, maxAttempts: 10 });
/** One attempt, no retry. */
export const NO_RETRY: RetryPolicy = Object.freeze({ kind: 'immediate', baseMs: 0, maxMs: 0, jitter: 0, maxAttempts: 1 });

/** The prebuilt policies by name. */
export const RetryPolicies = Object.freeze({ DEFAULT, FAST, SLOW, NO_RETRY });

/** The name of a prebuilt policy. */
export type RetryPolicyName = keyof typeof RetryPolicies;

function fibonacci(n: number): number {
  let a = 1;
  let b = 1;
  for (let i = 2; i < n; i++) {
    const next = a + b;
    a = b;
    b = next;
    if (!Number.isFinite(b)) return Number.POSITIVE_INFINITY;
  }
  return n <= 2 ? 1 : b;
}

/** The delay before the next attempt after failed attempt `attempt` (1-based), before jitter and cap. */
export function rawDelayMs(policy: Pick<RetryPolicy, 'kind' | 'baseMs'>, attempt: number): number {
  const n = Math.max(1, Math.floor(attempt));
  switch (policy.kind) {
    case 'immediate':
      return 0;
    case 'linear':
      return policy.baseMs * n;
    case 'exponential':
      return n > 1_024 ? Number.POSITIVE_INFINITY : policy.baseMs * 2 ** (n - 1);
    case 'fibonacci':
      return policy.baseMs * fibonacci(n);
  }
}

/**
 * The delay, in whole milliseconds, before the attempt that follows failed attempt `attempt`
 * (1-based): backoff, capped at `maxMs`, less a random share up to `jitter`.
 */
export function retryDelayMs(policy: RetryPolicy, attempt: number, random: Random): number {
  const capped = Math.min(rawDelayMs(policy, attempt), policy.maxMs);
  if (capped <= 0) return 0;
  const drawn = random();
  // A broken random source (NaN, Infinity, out of range) must not break backoff: clamp it.
  const r = Number.isFinite(drawn) ? Math.min(Math.max(drawn, 0), 1) : 0;
  return Math.round(capped * (1 - policy.jitter * r));
}

/** True when a job that has made `attempts` attempts may make another. */
export function hasAttemptsLeft(policy: Pick<RetryPolicy, 'maxAttempts'>, attempts: number): boolean {
  return attempts < policy.maxAttempts;
}

/** The first `count` delays of a policy without jitter: handy for docs and sanity checks. */
export function delaySequence(policy: RetryPolicy, count: number): number[] {
  return Array.from({ length: count }, (_, i) => retryDelayMs({ ...policy, jitter: 0 }, i + 1, () => 0));
}
