import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Resolves once `check` holds, asking every `everyMs`; rejects, naming `what`, after `timeoutMs`.
 * @param what what is awaited, for the timeout's message ("every job to finish")
 */
export async function until(what: string, check: () => boolean | Promise<boolean>, { timeoutMs = 10_000, everyMs = 20 } = {}): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
