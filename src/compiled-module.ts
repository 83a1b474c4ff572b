import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * A module that must run as compiled JavaScript: a worker thread's entry (on Node 20, loader
 * hooks do not reach worker threads). `sibling` is resolved against the caller's URL (the caller
 * runs from `dist/`), else `built` is (the caller runs from its TypeScript source, in tests, and
 * the entry is taken from the build).
 */
export function compiledModuleUrl(caller: string, sibling: string, built: string): URL {
  const next = new URL(sibling, caller);
  if (existsSync(fileURLToPath(next))) return next;
  const fromBuild = new URL(built, caller);
  if (existsSync(fileURLToPath(fromBuild))) return fromBuild;
  throw new Error(`leasehold: the compiled module ${fileURLToPath(fromBuild)} is missing; run \`npm run build\``);
}
