/**
 * The demo's handlers (loaded by the worker threads): a mixed workload of CPU-bound, I/O-waiting,
 * flaky, skipping and failing jobs.
 */
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { JobHandlerContext } from '../../actors/thread-entry.js';

/** CPU-bound: hashes the document `rounds` times (about 1 ms per 1,000 rounds). */
export function thumbnail(payload: { doc: string; rounds: number }): { digest: string } {
  let digest = payload.doc;
  for (let i = 0; i < payload.rounds; i++) digest = createHash('sha256').update(digest).digest('hex');
  return { digest: digest.slice(0, 16) };
}

/** I/O-waiting: waits like a remote call would, and honours its abort signal. */
export async function fetchMetadata(payload: { ms: number }, ctx: JobHandlerContext): Promise<{ waited: number }> {
  await sleep(payload.ms, undefined, { signal: ctx.signal });
  return { waited: payload.ms };
}

/** Fails on its first attempts (a flaky upstream), then succeeds: retried by its policy. */
export function syncUpstream(payload: { failures: number }, ctx: JobHandlerContext): string {
  if (ctx.attempt <= payload.failures) throw new Error(`upstream returned 503 (attempt ${ctx.attempt})`);
  return `synced on attempt ${ctx.attempt}`;
}

/** Skips documents that need no work. */
export function indexDocument(payload: { empty: boolean }, ctx: JobHandlerContext): string {
  if (payload.empty) ctx.skip('empty document: nothing to index');
  return 'indexed';
}

/** Always fails without retry: ends in `error`. */
export function legacyExport(_payload: unknown, ctx: JobHandlerContext): never {
  throw new ctx.NonRetryableError('the legacy export API was retired');
}
