/** Handlers the benchmarks run in worker threads (compiled to dist/bench/handlers.js). */

/** Does nothing. */
export function noop(): null {
  return null;
}

/** Returns when it started, in epoch milliseconds with sub-millisecond precision. */
export function stamp(): number {
  return performance.timeOrigin + performance.now();
}

/** Burns CPU by hashing for about `ms` milliseconds. */
export async function cpu(payload: { ms: number }): Promise<number> {
  const { createHash } = await import('node:crypto');
  const end = performance.now() + payload.ms;
  let h = 'seed';
  let n = 0;
  while (performance.now() < end) {
    h = createHash('sha256').update(h).digest('hex');
    n++;
  }
  return n;
}

/** Holds its slot until the file `path` exists (memory bench: keeps jobs in flight). */
export async function hold(payload: { path: string }): Promise<null> {
  const { existsSync } = await import('node:fs');
  const { setTimeout: sleep } = await import('node:timers/promises');
  while (!existsSync(payload.path)) await sleep(50);
  return null;
}
