/** What a crash-point run must show, shared by crash-points.test.ts and its chaos variant. */
import { expect } from 'vitest';
import type { CrashPoint } from '../../src/faults.js';
import type { CrashPointResult } from './scenarios.js';

export function crashPointExpectations(point: CrashPoint, n: number, r: CrashPointResult): void {
  expect(r.victim.signal, 'the victim died at its crash point').toBe('SIGKILL');
  expect(r.report.violations).toEqual([]);
  expect(r.report.counts.lost).toBe(0);
  expect(r.report.counts.staleWritesInHistory).toBe(0);
  // The victim died holding leases: they expired and were given back.
  expect(r.report.counts.leaseExpired).toBeGreaterThanOrEqual(point === 'between-recovery-read-and-write' ? n : 1);
  if (point === 'after-handler-before-ack' || point === 'inside-ack-transaction') {
    // A handler had returned, but its acknowledgement never committed: the job ran again.
    expect(r.report.counts.droppedResults).toBeGreaterThanOrEqual(1);
  }
}
