/**
 * The benchmarks run (smoke size) and write well-formed results. No timing assertions here:
 * performance is measured in `npm run bench`, not asserted in tests.
 */
import { execFile, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { tempDir } from './helpers/temp.js';
import { BenchArgsError, OUT_FLAG, parseBenchArgs, QUICK_FLAG, roundsFlag, type BenchCommand } from '../bench/report.js';

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

  it('an unknown flag or --help stops a bench before it measures anything', async () => {
    const script = fileURLToPath(new URL('../dist/bench/compare/compare.js', import.meta.url));
    // `--help` used to be ignored, like every unknown flag: it started the whole 12-minute run.
    const help = await run(process.execPath, [script, '--help'], { timeout: 30_000 });
    expect(help.stdout).toContain('usage: npm run bench:compare');
    expect(help.stdout).toContain('--only NAMES');
    expect(help.stdout).not.toContain('# round');
    const unknown = await run(process.execPath, [script, '--quik'], { timeout: 30_000 }).then(
      () => null,
      (error: unknown) => error as { code: number; stdout: string; stderr: string },
    );
    expect(unknown?.code).toBe(1);
    expect(unknown?.stderr).toContain('unknown flag --quik');
    expect(unknown?.stdout).not.toContain('# round');
  }, 60_000);

  it('a bench whose output is closed under it stops at once, exit 141, as a process killed by SIGPIPE', async () => {
    // It used to go on measuring with nowhere to write: `npm run bench:compare | head` spun at
    // 100% CPU in its EPIPE error handling for over 20 minutes (seen on this machine).
    const script = fileURLToPath(new URL('../dist/bench/compare/compare.js', import.meta.url));
    const scratchDirs = (): string[] => readdirSync(tmpdir()).filter((f) => f.startsWith('leasehold-compare-'));
    const before = new Set(scratchDirs());
    const child = spawn(process.execPath, [script, '--quick', '--only', 'leasehold normal'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    // Close both ends as `| head -1` does, once the first line arrived.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    child.stderr.destroy();
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await exited;
    clearTimeout(timer);
    expect(code).toBe(141);
    // It stopped at its next write (after the system it was measuring), and left no scratch files.
    expect(scratchDirs().filter((d) => !before.has(d))).toEqual([]);
  }, 90_000);

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

describe('bench command lines', () => {
  const command: BenchCommand = {
    usage: 'bench',
    flags: { quick: QUICK_FLAG, out: OUT_FLAG, rounds: roundsFlag(3), fail: { value: 'F', help: 'f', number: { fallback: 0.01, min: 0, max: 1 } } },
  };
  const error = (argv: string[]): string => {
    try {
      parseBenchArgs(command, argv);
    } catch (e) {
      expect(e).toBeInstanceOf(BenchArgsError);
      return (e as Error).message;
    }
    throw new Error(`${argv.join(' ')} parsed`);
  };

  it('reads switches, values and numbers, with the fallbacks when absent', () => {
    const none = parseBenchArgs(command, []);
    expect([none.has('quick'), none.text('out'), none.number('rounds'), none.number('fail'), none.help]).toEqual([false, undefined, 3, 0.01, false]);
    const all = parseBenchArgs(command, ['--quick', '--out', '/tmp/x', '--rounds=5', '--fail', '0.5', '--help']);
    expect([all.has('quick'), all.text('out'), all.number('rounds'), all.number('fail'), all.help]).toEqual([true, '/tmp/x', 5, 0.5, true]);
  });

  it('refuses what it does not know, naming the flag and the value', () => {
    expect(error(['--quik'])).toBe('unknown flag --quik (this command takes --help, --quick, --out, --rounds, --fail)');
    expect(error(['quick'])).toBe('unexpected argument quick: every setting is a --flag');
    expect(error(['--quick=yes'])).toBe('--quick is a switch and takes no value (got "--quick=yes")');
    expect(error(['--out'])).toBe('--out needs a value (DIR)');
    expect(error(['--out='])).toBe('--out needs a value (DIR); got an empty one');
    expect(error(['--out', '-x'])).toBe('--out needs a value (DIR); to give "-x" as the value, write --out=-x');
    expect(error(['--rounds'])).toBe('--rounds must be an integer ≥ 1 (got no value)');
    expect(error(['--rounds', '--quick'])).toBe('--rounds must be an integer ≥ 1 (got no value; --quick is a flag)');
    expect(error(['--fail', '-0.5'])).toBe('--fail must be a number ≥ 0 and ≤ 1 (got no value; to give "-0.5" as the value, write --fail=-0.5)');
    expect(error(['--fail=-0.5'])).toBe('--fail must be a number ≥ 0 and ≤ 1 (got "-0.5")');
    expect(error(['--rounds', '2.5'])).toBe('--rounds must be an integer ≥ 1 (got "2.5")');
    expect(error(['--fail', '1.5'])).toBe('--fail must be a number ≥ 0 and ≤ 1 (got "1.5")');
    expect(error(['--fail', ' '])).toBe('--fail must be a number ≥ 0 and ≤ 1 (got " ")');
  });
});
