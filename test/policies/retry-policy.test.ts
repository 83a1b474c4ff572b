import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BackoffKinds,
  DEFAULT,
  FAST,
  NO_RETRY,
  SLOW,
  delaySequence,
  hasAttemptsLeft,
  rawDelayMs,
  retryDelayMs,
  type RetryPolicy,
} from '../../src/policies/retry-policy.js';

const policy = (p: Partial<RetryPolicy>): RetryPolicy => ({ kind: 'linear', baseMs: 100, maxMs: 1_000_000, jitter: 0, maxAttempts: 10, ...p });

describe('retry policies', () => {
  it('produce the documented sequences', () => {
    expect(delaySequence(policy({ kind: 'immediate' }), 5)).toEqual([0, 0, 0, 0, 0]);
    expect(delaySequence(policy({ kind: 'linear' }), 5)).toEqual([100, 200, 300, 400, 500]);
    expect(delaySequence(policy({ kind: 'exponential' }), 6)).toEqual([100, 200, 400, 800, 1600, 3200]);
    expect(delaySequence(policy({ kind: 'fibonacci' }), 8)).toEqual([100, 100, 200, 300, 500, 800, 1300, 2100]);
  });

  it('cap every delay at maxMs', () => {
    expect(delaySequence(policy({ kind: 'exponential', maxMs: 500 }), 6)).toEqual([100, 200, 400, 500, 500, 500]);
    expect(delaySequence(policy({ kind: 'fibonacci', maxMs: 250 }), 6)).toEqual([100, 100, 200, 250, 250, 250]);
    expect(delaySequence(policy({ kind: 'linear', maxMs: 150 }), 3)).toEqual([100, 150, 150]);
  });

  it('stay finite and capped for huge attempt numbers', () => {
    for (const kind of BackoffKinds) {
      const p = policy({ kind, maxMs: 60_000 });
      expect(retryDelayMs(p, 5_000, () => 0)).toBeLessThanOrEqual(60_000);
      expect(Number.isFinite(retryDelayMs(p, 1e9, () => 0))).toBe(true);
    }
    expect(rawDelayMs(policy({ kind: 'exponential' }), 2_000)).toBe(Number.POSITIVE_INFINITY);
  });

  it('keep jittered delays within [delay × (1 − jitter), delay]', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...BackoffKinds),
        fc.integer({ min: 0, max: 10_000 }),
        fc.integer({ min: 0, max: 1_000_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 1, max: 60 }),
        fc.double({ min: 0, max: 1, noNaN: true, maxExcluded: true }),
        (kind, baseMs, maxMs, jitter, attempt, r) => {
          const p = policy({ kind, baseMs, maxMs, jitter });
          const plain = retryDelayMs({ ...p, jitter: 0 }, attempt, () => 0);
          const d = retryDelayMs(p, attempt, () => r);
          expect(d).toBeLessThanOrEqual(Math.min(plain, maxMs));
          expect(d).toBeGreaterThanOrEqual(Math.floor(plain * (1 - jitter)));
        },
      ),
    );
  });

  it('use the random source: no jitter at r = 0, the full share at r → 1', () => {
    const p = policy({ kind: 'linear', baseMs: 1_000, jitter: 0.5 });
    expect(retryDelayMs(p, 1, () => 0)).toBe(1_000);
    expect(retryDelayMs(p, 1, () => 0.999999)).toBe(500);
    expect(retryDelayMs(p, 1, () => 0.5)).toBe(750);
  });

  it('count attempts including the first', () => {
    expect(hasAttemptsLeft(NO_RETRY, 1)).toBe(false);
    expect(hasAttemptsLeft(DEFAULT, 4)).toBe(true);
    expect(hasAttemptsLeft(DEFAULT, 5)).toBe(false);
  });

  it('prebuilt policies are frozen and sensible', () => {
    for (const p of [DEFAULT, FAST, SLOW, NO_RETRY]) {
      expect(Object.isFrozen(p)).toBe(true);
      expect(p.maxAttempts).toBeGreaterThanOrEqual(1);
      expect(p.jitter).toBeGreaterThanOrEqual(0);
      expect(p.jitter).toBeLessThanOrEqual(1);
    }
    expect(delaySequence(DEFAULT, 5)).toEqual([1_000, 2_000, 4_000, 8_000, 16_000]);
    expect(delaySequence(FAST, 3)).toEqual([100, 200, 300]);
    expect(NO_RETRY.maxAttempts).toBe(1);
  });
});
