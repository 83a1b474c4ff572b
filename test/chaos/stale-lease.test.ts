/**
 * Stale leases (npm test, small): a supervisor process paused with SIGSTOP past its TTL while its
 * handlers hold jobs, the jobs re-leased and finished by another supervisor, then SIGCONT: the
 * resumed holder changes nothing. And 1,000 store-level races of a completion with the old token
 * against recovery + re-lease by a connection whose clock is past the expiry: 0 overwrites. And a
 * known liveness bug (kept as `it.fails`): a supervisor that leases again a job whose lost lease
 * it is still running. Full size: stale-lease.chaos.test.ts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { killAllChildren, requireBuild } from './harness.js';
import { runRaces, runReleasedSameJob, runStaleLease, type ReleasedSameJobResult } from './scenarios.js';
import { raceExpectations, staleLeaseExpectations } from './stale-expectations.js';

afterEach(killAllChildren);

describe('stale leases', () => {
  it('SIGSTOP past the TTL, then SIGCONT: the resumed holder’s heartbeat and acks change nothing; one terminal transition, by the other owner', async () => {
    requireBuild();
    const r = await runStaleLease({ jobs: 4, holdMs: 400, ttlMs: 1_000, seed: 3 });
    console.log(r.table);
    staleLeaseExpectations(4, r);
  }, 60_000);

  it('1,000 completion-vs-recovery races: 0 overwrites, exactly one finisher per job', async () => {
    requireBuild();
    const r = await runRaces(1_000, 11);
    console.log(r.table);
    raceExpectations(1_000, r);
  }, 60_000);
});

describe('a supervisor that leases again a job whose lost lease it still runs', () => {
  // Run once, checked by both tests below.
  let run: Promise<ReleasedSameJobResult> | undefined;
  const result = (): Promise<ReleasedSameJobResult> => (run ??= runReleasedSameJob({ holdMs: 2_000, ttlMs: 1_000, waitMs: 6_000 }));

  it('safety holds: the invariants, once a fresh supervisor finished the work', async () => {
    requireBuild();
    const r = await result();
    console.log(`${r.table}\n${r.histories.join('\n')}`);
    expect(r.report.violations).toEqual([]);
    expect(r.report.counts.lost).toBe(0);
  }, 90_000);

  /**
   * BUG (leasehold, actors/supervisor.actor.ts), kept failing on purpose: a supervisor wedges
   * (concurrency 1) or leaks a slot for good (concurrency N) when it leases again a job whose
   * previous lease it lost while that job's handler was still running.
   *
   * `#dispatch` does `this.#jobs.set(job.id, actor)` over the lost actor of the same job id, whose
   * thread has not returned; when the old execution's result arrives, `#onResult` looks the actor
   * up by (id, token), finds none, and returns before `job.slot?.send({ type: 'RELEASE' })`: that
   * slot stays busy forever (`#onThreadDied` skips it the same way). With one slot, the new lease
   * waits in the prefetch buffer forever, heartbeated, so nobody else can take it: job J stays
   * `leased` (never started) and job K `queued`, indefinitely.
   *
   * Reached after any stall past the TTL (a GC or VM pause, a blocked event loop, SIGSTOP) in
   * which a recovery (another process's, or the supervisor's own recovery loop firing before its
   * heartbeat on resume) gives the job back, when the handler does not return at once on abort.
   * Flip to `it` once fixed.
   */
  it('liveness: it finishes both jobs by itself, and ends with its slot idle (the wedge is fixed: actors are kept per lease)', async () => {
    requireBuild();
    const r = await result();
    expect(r.pendingAfterWait).toBe(0);
    expect(r.status.busy).toEqual([]);
  }, 90_000);
});
