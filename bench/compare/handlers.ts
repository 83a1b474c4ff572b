/**
 * The handlers leasehold runs in its worker threads for `bench:compare` (compiled to
 * dist/bench/compare/handlers.js, whose URL the leasehold adapter passes to `createSupervisor`).
 */

/** Does nothing: the throughput jobs. */
export function noop(): null {
  return null;
}

/** The latency jobs: returns when the job was enqueued (from its payload) and when it started, in epoch ms. */
export function stamp(payload: { t: number }): { t: number; start: number } {
  return { t: payload.t, start: performance.timeOrigin + performance.now() };
}
