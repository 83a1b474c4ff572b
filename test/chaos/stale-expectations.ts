/** What stale-lease and race runs must show, shared by the npm-test and chaos variants. */
import { expect } from 'vitest';
import type { RaceResult, StaleLeaseResult } from './scenarios.js';

export function staleLeaseExpectations(jobs: number, r: StaleLeaseResult): void {
  expect(r.report.violations).toEqual([]);
  expect(r.report.counts).toMatchObject({ jobs, lost: 0, staleWritesInHistory: 0 });
  // Every job the paused holder had: lease lost when it resumed, nothing written after the other's lease.
  expect(new Set(r.leaseLost.map((l) => l.id)).size).toBe(jobs);
  expect(r.lateWrites).toEqual([]);
  // And it cleaned up after itself: no slot busy, nothing in flight.
  expect(r.pausedStatus.busy).toEqual([]);
  expect(r.pausedStatus.inFlight).toEqual([]);
  // Exactly one terminal transition per job, by the other owner.
  expect(r.terminalOwners).toEqual(Array.from({ length: jobs }, () => 'other'));
  expect(r.report.counts.byState).toEqual({ done: jobs });
  for (const [id, history] of r.owners) {
    expect(history.filter((h) => h.startsWith('SUCCEED:')), `job ${id}: ${history.join(' ')}`).toEqual(['SUCCEED:other']);
  }
}

export function raceExpectations(rounds: number, r: RaceResult): void {
  expect(r.holder.anomalies).toEqual([]);
  expect(r.thief.anomalies).toEqual([]);
  expect(r.report.violations).toEqual([]);
  expect(r.report.counts).toMatchObject({ jobs: rounds, lost: 0, staleWritesInHistory: 0 });
  expect(r.report.counts.byState).toEqual({ done: rounds });
  expect((r.doneBy.holder ?? 0) + (r.doneBy.thief ?? 0)).toBe(rounds);
  // Both sides won some races: the race was real, and the holder's late writes were refused.
  expect(r.doneBy.holder ?? 0).toBeGreaterThan(0);
  expect(r.doneBy.thief ?? 0).toBeGreaterThan(0);
  expect(r.report.counts.staleRejected).toBeGreaterThan(0);
}
