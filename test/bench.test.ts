/**
 * The benchmarks run (smoke size) and write well-formed results. No timing assertions here:
 * performance is measured in `npm run bench`, not asserted in tests.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/temp.js';

const run = promisify(execFile);

describe('benchmarks (smoke)', () => {
  for (const bench of ['store', 'e2e', 'latency', 'scaling', 'memory']) {
    it(`${bench}.bench runs and writes well-formed results`, async () => {
      using out = tempDir();
      const script = fileURLToPath(new URL(`../dist/bench/${bench}.bench.js`, import.meta.url));
      const { stdout } = await run(process.execPath, [script, '--quick', '--out', out.path], { timeout: 120_000 });
      expect(stdout).toContain('| scenario |');
      const files = readdirSync(out.path).filter((f) => f.endsWith(`${bench}-smoke.json`));
      expect(files).toHaveLength(1);
      const result = JSON.parse(readFileSync(`${out.path}/${files[0] as string}`, 'utf8')) as {
        machine: { node: string; cpus: number };
        rows: Array<{ scenario: string; unit: string; value: number; baseline?: number; ratio?: number }>;
      };
      expect(result.machine.node).toBe(process.version);
      expect(result.rows.length).toBeGreaterThan(0);
      for (const row of result.rows) {
        expect(Number.isFinite(row.value) && row.value > 0, `${row.scenario}: ${row.value}`).toBe(true);
        if (row.baseline !== undefined) expect(row.ratio).toBeCloseTo(row.value / row.baseline, 6);
      }
    }, 180_000);
  }

  it('a bad numeric flag stops a bench at once with the flag and the value named', async () => {
    const script = fileURLToPath(new URL('../dist/bench/compare/compare.js', import.meta.url));
    const failure = (...flags: string[]): Promise<{ code: number; stderr: string } | null> =>
      run(process.execPath, [script, '--quick', ...flags], { timeout: 30_000 }).then(
        () => null,
        (error: unknown) => error as { code: number; stderr: string },
      );
    // `Number('abc')` rounds used to give NaN rounds: the run measured nothing and said nothing.
    for (const [value, expected] of [
      ['abc', '--rounds must be an integer ≥ 1 (got "abc")'],
      ['0', '--rounds must be an integer ≥ 1 (got "0")'],
      ['1.5', '--rounds must be an integer ≥ 1 (got "1.5")'],
    ] as const) {
      const failed = await failure('--rounds', value);
      expect(failed?.code, value).toBe(1);
      expect(failed?.stderr).toContain(expected);
    }
    expect((await failure('--rounds'))?.stderr).toContain('--rounds must be an integer ≥ 1 (got no value)');
  }, 60_000);

  it('bench:compare runs in rounds and every round of every system measures (SQLite systems: no service needed)', async () => {
    using out = tempDir();
    const script = fileURLToPath(new URL('../dist/bench/compare/compare.js', import.meta.url));
    await run(process.execPath, [script, '--quick', '--rounds', '2', '--only', 'leasehold normal,plainjob', '--out', out.path], { timeout: 150_000 });
    const files = readdirSync(out.path).filter((f) => f.endsWith('compare-smoke.json'));
    expect(files).toHaveLength(1);
    const result = JSON.parse(readFileSync(`${out.path}/${files[0] as string}`, 'utf8')) as {
      rows: Array<{ variant: string; note?: string }>;
      systems: Array<{ system: string; status: string; reason: string | null; rounds: number; ratios: number[] }>;
    };
    // A second round must start from zero (an adapter that kept counting from the first one
    // mistook warm-up jobs for measured ones, and the round failed).
    expect(result.systems.map((s) => [s.system, s.status, s.reason, s.rounds])).toEqual([
      ['leasehold NORMAL', 'ok', null, 2],
      ['plainjob 0.0.14', 'ok', null, 2],
    ]);
    for (const row of result.rows) expect(row.note).toContain('median of 2 rounds');
  }, 180_000);
});
