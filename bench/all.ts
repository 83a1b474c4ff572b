/**
 * `npm run bench`: every suite, each in its own process (so one suite's heap and threads do not
 * bend the next one's figures), one after another. Pass `--quick` for a smoke run.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const suites = ['store', 'e2e', 'latency', 'scaling', 'memory'];
const args = process.argv.slice(2);
let failed = 0;
for (const suite of suites) {
  const script = fileURLToPath(new URL(`./${suite}.bench.js`, import.meta.url));
  const extra = suite === 'memory' ? ['--expose-gc'] : [];
  const r = spawnSync(process.execPath, [...extra, script, ...args], { stdio: 'inherit' });
  if (r.status !== 0) {
    failed++;
    console.error(`bench ${suite} failed (exit ${r.status ?? r.signal})`);
  }
}
process.exit(failed > 0 ? 1 : 0);
