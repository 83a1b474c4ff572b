/**
 * The soak script runs at smoke size (`--minutes 0.2`) and writes well-formed results: no stuck
 * lease, nothing lost, RSS and WAL sampled. The real soak is `npm run soak -- --minutes 30`.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../helpers/temp.js';

const run = promisify(execFile);

interface SoakJson {
  suite: string;
  rows: Array<{ variant: string; value: number }>;
  verdicts: Record<string, { ok: boolean; enforced: boolean }>;
  samples: Array<{ rssMiB: number; heapMiB: number; heapTotalMiB: number; walMiB: number; stuck: number }>;
  enqueued: number;
  final: Record<string, number>;
}

describe('soak (smoke)', () => {
  it('npm run soak -- --minutes 0.2 runs, samples RSS and WAL, and finds no stuck lease and nothing lost', async () => {
    using out = tempDir();
    const script = fileURLToPath(new URL('../../dist/bench/soak.js', import.meta.url));
    const { stdout } = await run(process.execPath, [script, '--minutes', '0.2', '--out', out.path], { timeout: 120_000 });
    expect(stdout).toContain('target lost: 0');
    const files = readdirSync(out.path).filter((f) => f.endsWith('soak-smoke.json'));
    expect(files).toHaveLength(1);
    const result = JSON.parse(readFileSync(`${out.path}/${files[0] as string}`, 'utf8')) as SoakJson;
    expect(result.verdicts.stuckLeases).toMatchObject({ ok: true, enforced: true });
    expect(result.verdicts.lost).toMatchObject({ ok: true, enforced: true });
    expect(result.samples.length).toBeGreaterThanOrEqual(5);
    for (const s of result.samples) {
      expect(s.rssMiB).toBeGreaterThan(0);
      expect(s.heapMiB).toBeGreaterThan(0);
      expect(s.heapTotalMiB).toBeGreaterThanOrEqual(s.heapMiB);
      expect(s.stuck).toBe(0);
    }
    expect(result.enqueued).toBeGreaterThan(0);
    expect((result.final.done ?? 0) + (result.final.error ?? 0)).toBe(result.enqueued);
    expect(result.final.error ?? 0).toBeGreaterThan(0);
  }, 120_000);
});
