/**
 * `npm run bench`: every suite, each in its own process (so one suite's heap and threads do not
 * bend the next one's figures), one after another. Each suite prints its own table; at the end
 * they are merged into one file, `bench/results/<date>.json` (`<date>-smoke.json` with
 * `--quick`, a smoke run). When a suite fails, no file is written (a partial run must not replace
 * the day's full one) and the exit code is 1; when the output is closed (`| head`), 141 at once.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchArgs, machineInfo, markdownTable, QUICK_FLAG, roundsFlag, type BenchRow } from './report.js';

/** The suites, in order; `rounds`: the suite runs in rounds (and takes `--rounds`). */
const suites = [
  { name: 'store', rounds: true },
  { name: 'e2e', rounds: true },
  { name: 'latency', rounds: false },
  { name: 'scaling', rounds: false },
  { name: 'memory', rounds: false },
];
const args = benchArgs({ usage: 'npm run bench -- [flags]', flags: { quick: QUICK_FLAG, rounds: { ...roundsFlag(3), help: 'the suites that run in rounds (store, e2e) run N of them (default 3)' } } });
const quick = args.has('quick');
const rounds = args.text('rounds');
const scratchDir = mkdtempSync(join(tmpdir(), 'leasehold-bench-all-'));
let failed = 0;
const merged: Record<string, unknown> = {};
try {
  for (const { name: suite, rounds: inRounds } of suites) {
    const script = fileURLToPath(new URL(`./${suite}.bench.js`, import.meta.url));
    const extra = suite === 'memory' ? ['--expose-gc'] : [];
    const out = join(scratchDir, suite);
    const flags = [...(quick ? ['--quick'] : []), ...(inRounds && rounds !== undefined ? ['--rounds', rounds] : [])];
    const r = spawnSync(process.execPath, [...extra, script, ...flags, '--out', out], { stdio: 'inherit' });
    // The suite found the output closed (`npm run bench | head`): so would the next ones. Stop.
    if (r.status === 141 || r.signal === 'SIGPIPE') {
      rmSync(scratchDir, { recursive: true, force: true });
      process.exit(141);
    }
    if (r.status !== 0) {
      failed++;
      console.error(`bench ${suite} failed (exit ${r.status ?? r.signal})`);
      continue;
    }
    // Each suite writes one file into its own directory.
    const [written] = readdirSync(out);
    if (written !== undefined) merged[suite] = JSON.parse(readFileSync(join(out, written), 'utf8')) as unknown;
  }
} finally {
  rmSync(scratchDir, { recursive: true, force: true });
}

const rows = Object.values(merged).flatMap((s) => (s as { rows: BenchRow[] }).rows);
if (failed > 0) {
  // A partial run must not overwrite the day's full one.
  console.log(`\n## all suites (partial)\n\n${markdownTable(rows)}\n\n${failed} suite(s) failed: no results file written`);
  process.exit(1);
}
const date = new Date().toISOString().slice(0, 10);
const dir = fileURLToPath(new URL('../../bench/results/', import.meta.url));
mkdirSync(dir, { recursive: true });
const file = join(dir, `${date}${quick ? '-smoke' : ''}.json`);
writeFileSync(file, `${JSON.stringify({ date: new Date().toISOString(), machine: machineInfo(), suites: merged }, null, 2)}\n`);
console.log(`\n## all suites\n\n${markdownTable(rows)}\n\nresults: ${file}`);
