/** What a contention run must show, shared by the npm-test and chaos variants. */
import { expect } from 'vitest';
import type { ContentionResult } from './scenarios.js';

export function contentionExpectations(jobs: number, r: ContentionResult): void {
  expect(r.doubleClaims).toBe(0);
  expect(r.claims).toBe(jobs);
  for (const s of r.summaries) {
    expect(s.unhandled, `${s.owner}: ${s.unhandledSamples.join('; ')}`).toBe(0);
    expect(s.rejected, `${s.owner}: ${s.rejectedSamples.join('; ')}`).toBe(0);
  }
  expect(r.summaries.reduce((n, s) => n + s.completed, 0)).toBe(jobs);
  expect(r.report.violations).toEqual([]);
  expect(r.report.counts).toMatchObject({ jobs, lost: 0, leases: jobs, leaseExpired: 0 });
  expect(r.report.counts.byState).toEqual({ done: jobs });
}
