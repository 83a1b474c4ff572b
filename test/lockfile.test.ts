/**
 * `npm ci` refuses a lockfile that lacks an entry for any optional dependency of a locked
 * package, even one for another platform. The npm registry mirror of this machine 404s on some
 * platform packages (msgpackr-extract's darwin/win32 builds), and `npm install` then silently
 * leaves them out of the lock: CI failed on exactly that. This keeps the lock whole.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface LockEntry {
  version?: string;
  optionalDependencies?: Record<string, string>;
}

describe('package-lock.json', () => {
  it('has an entry for every optional dependency of every locked package (npm ci checks this)', () => {
    const lock = JSON.parse(readFileSync(new URL('../package-lock.json', import.meta.url), 'utf8')) as {
      packages: Record<string, LockEntry>;
    };
    const missing: string[] = [];
    for (const [path, entry] of Object.entries(lock.packages)) {
      for (const dep of Object.keys(entry.optionalDependencies ?? {})) {
        // npm resolves from the package's own node_modules up to the root.
        const parts = path === '' ? [] : path.split('/node_modules/').map((p) => p.replace(/^node_modules\//, ''));
        let found = false;
        for (let depth = parts.length; depth >= 0 && !found; depth -= 1) {
          const prefix = parts.slice(0, depth).map((p) => `node_modules/${p}/`).join('');
          found = `${prefix}node_modules/${dep}` in lock.packages;
        }
        if (!found) missing.push(`${dep} (optional dependency of ${path || 'the root'})`);
      }
    }
    expect(missing).toEqual([]);
  });
});
