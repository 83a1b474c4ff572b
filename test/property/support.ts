/**
 * Shared helpers of the property tests: run counts, error-field paths, hostile strings, a
 * prototype-pollution probe and exact JSON comparison. Not a test file itself.
 */
import fc from 'fast-check';
import { expect } from 'vitest';
import { LeaseholdError, describeValue } from '../../src/errors.js';

/**
 * Runs per property: modest by default (`npm test`), ten times as many under `npm run
 * test:chaos` (`LEASEHOLD_CHAOS=1`), and exactly `envVar` (`LEASEHOLD_PROPERTY_RUNS`) when set.
 */
export function runs(defaultRuns: number, envVar = 'LEASEHOLD_PROPERTY_RUNS'): number {
  const raw = process.env[envVar];
  const n = raw === undefined ? Number.NaN : Number.parseInt(raw, 10);
  if (Number.isSafeInteger(n) && n > 0) return n;
  return process.env.LEASEHOLD_CHAOS === '1' ? defaultRuns * 10 : defaultRuns;
}

/** The error codes a hostile input may be rejected with. */
export const INPUT_CODES = ['ERR_INVALID_JOB', 'ERR_INVALID_PAYLOAD', 'ERR_INVALID_OPTION', 'ERR_JOB_NOT_FOUND'] as const;
export type InputCode = (typeof INPUT_CODES)[number];

/** A path into an input: object keys and array indexes. */
export type Path = ReadonlyArray<string | number>;

/**
 * The documented spelling of a path (`jobs[3].payload["a b"][0]`): identifiers after a dot,
 * indexes in brackets, any other key as a JSON string in brackets.
 */
export function formatPath(root: string, path: Path): string {
  let out = root;
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(key)) out += out === '' ? key : `.${key}`;
    else out += `[${JSON.stringify(key)}]`;
  }
  return out;
}

/** The inverse of {@link formatPath}: `job.payload["a b"][0]` → root `job`, path `['payload', 'a b', 0]`. */
export function parsePath(field: string): { root: string; path: Array<string | number> } | undefined {
  const head = /^[A-Za-z_$][\w$]*/.exec(field);
  if (head === null) return undefined;
  const path: Array<string | number> = [];
  let i = head[0].length;
  while (i < field.length) {
    if (field[i] === '.') {
      const m = /^[A-Za-z_$][\w$]*/.exec(field.slice(i + 1));
      if (m === null) return undefined;
      path.push(m[0]);
      i += 1 + m[0].length;
    } else if (field.startsWith('["', i)) {
      // A JSON string: scan to its closing unescaped quote.
      let j = i + 2;
      while (j < field.length && field[j] !== '"') j += field[j] === '\\' ? 2 : 1;
      if (field[j + 1] !== ']') return undefined;
      path.push(JSON.parse(field.slice(i + 1, j + 1)) as string);
      i = j + 2;
    } else if (field[i] === '[') {
      const m = /^\[(\d+)\]/.exec(field.slice(i));
      if (m === null) return undefined;
      path.push(Number(m[1]));
      i += m[0].length;
    } else {
      return undefined;
    }
  }
  return { root: head[0], path };
}

/** The value at `path` (own or inherited properties, as the validators read them). */
export function valueAt(input: unknown, path: Path): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || (typeof v !== 'object' && typeof v !== 'function')) return undefined;
    v = (v as Record<string | number, unknown>)[key];
  }
  return v;
}

/** What a test expects to be named by a rejection: the code, and the path of the offending input. */
export interface Bad {
  readonly code: InputCode;
  readonly path: Path;
  /** `false`: the reported field may also be a descendant of `path`. */
  readonly exact: boolean;
}

/**
 * Checks a rejection: a {@link LeaseholdError} with a documented code, whose field is one of the
 * offending paths (with that path's code), whose message names the field and the value, and whose
 * field really points at the value it reports.
 */
export function expectRejection(error: unknown, root: string, input: unknown, bads: readonly Bad[]): LeaseholdError {
  if (!(error instanceof LeaseholdError)) {
    throw new Error(`expected a LeaseholdError, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`);
  }
  expect(INPUT_CODES as readonly string[]).toContain(error.code);
  const field = error.field;
  if (field === undefined) throw new Error(`${error.code} without a field: ${error.message}`);
  const matches = bads.filter((b) => {
    if (b.code !== error.code) return false;
    const want = formatPath(root, b.path);
    return field === want || (!b.exact && (field.startsWith(`${want}.`) || field.startsWith(`${want}[`)));
  });
  if (matches.length === 0) {
    const wanted = bads.map((b) => `${b.code} ${formatPath(root, b.path)}${b.exact ? '' : '…'}`).join(', ');
    throw new Error(`rejected as ${error.code} at ${field} ("${error.message}"), expected one of: ${wanted}`);
  }
  // The message names the field and the value.
  expect(error.message).toContain(field);
  if (Array.isArray(error.value)) {
    for (const key of error.value as unknown[]) expect(error.message).toContain(JSON.stringify(key));
  } else {
    expect(error.message).toContain(String(error.value));
  }
  // The field points at the value the error reports (unknown keys and byte counts excepted).
  const parsed = parsePath(field);
  if (parsed === undefined) throw new Error(`field ${JSON.stringify(field)} is not a path`);
  const rootPath = parsePath(root);
  if (rootPath === undefined || parsed.root !== rootPath.root) throw new Error(`field ${field} is not under ${root}`);
  const relative = parsed.path.slice(rootPath.path.length);
  const at = valueAt(input, relative);
  if (error.code === 'ERR_JOB_NOT_FOUND') {
    expect(at, `${field} must point at the missing id ${String(error.value)}`).toBe(error.value);
  } else if (!Array.isArray(error.value) && !(typeof error.value === 'string' && /^\d+ bytes$/.test(error.value))) {
    expect(describeValue(at), `${field} must point at the value named in "${error.message}"`).toBe(error.value);
  }
  return error;
}

/** Runs `fn` and returns what it threw, or `undefined`. */
export async function thrown(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
    return undefined;
  } catch (error) {
    return error ?? new Error('threw a nullish value');
  }
}

/** Throws what {@link thrown} caught, if anything. */
export function rethrow(error: unknown): void {
  if (error === undefined) return;
  throw error instanceof Error ? error : new Error(`threw a non-error: ${describeValue(error)}`);
}

// ---------------------------------------------------------------------------------------------
// Prototype pollution

const PROTOS: ReadonlyArray<readonly [string, object]> = [
  ['Object.prototype', Object.prototype],
  ['Array.prototype', Array.prototype],
  ['Function.prototype', Function.prototype],
  ['String.prototype', String.prototype],
];

/** A snapshot of the own properties of the built-in prototypes. */
export function prototypeSnapshot(): string {
  return PROTOS.map(([name, proto]) => `${name}: ${Reflect.ownKeys(proto).map(String).sort().join(',')}`).join('\n');
}

/** Fails if a built-in prototype gained or lost a property, or a fresh object inherits a marker. */
export function expectNoPollution(before: string): void {
  expect(prototypeSnapshot()).toBe(before);
  const probe = {} as Record<string, unknown>;
  for (const marker of ['polluted', 'isAdmin', 'x', 'after', 'maxAttempts', 'queued']) expect(probe[marker], marker).toBeUndefined();
  expect(Object.getPrototypeOf(probe)).toBe(Object.prototype);
}

// ---------------------------------------------------------------------------------------------
// Values

/** Defines an own, enumerable data property (so `__proto__` becomes an own key, as JSON.parse makes it). */
export function define(target: object, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** An object with exactly these own entries, in order. */
export function objectOf(entries: ReadonlyArray<readonly [string, unknown]>, proto: object | null = Object.prototype): Record<string, unknown> {
  const out = Object.create(proto) as Record<string, unknown>;
  for (const [k, v] of entries) define(out, k, v);
  return out;
}

/** Exact equality of two JSON values (own keys, key order, and -0 kept apart from 0). */
export function expectSameJson(actual: unknown, expected: unknown, where = 'payload'): void {
  expect(JSON.stringify(actual), where).toBe(JSON.stringify(expected));
  const walk = (a: unknown, b: unknown, path: string): void => {
    if (b === null || typeof b !== 'object') {
      expect(Object.is(a, b), `${path}: ${String(a)} vs ${String(b)}`).toBe(true);
      return;
    }
    expect(a !== null && typeof a === 'object', path).toBe(true);
    expect(Array.isArray(a), path).toBe(Array.isArray(b));
    const proto: unknown = Object.getPrototypeOf(a);
    expect(proto === Object.prototype || proto === Array.prototype, `${path} has a plain prototype`).toBe(true);
    const ka = Reflect.ownKeys(a as object).filter((k) => !(Array.isArray(a) && k === 'length'));
    const kb = Reflect.ownKeys(b).filter((k) => !(Array.isArray(b) && k === 'length'));
    expect(ka, `${path} keys`).toEqual(kb);
    for (const k of kb) walk((a as Record<PropertyKey, unknown>)[k], (b as Record<PropertyKey, unknown>)[k], `${path}[${String(k)}]`);
  };
  walk(actual, expected, where);
}

/** A short, printable description of any value (for counterexamples holding 10 MB strings). */
export function short(value: unknown, max = 2_000): string {
  let text: string;
  try {
    text = fc.stringify(value);
  } catch {
    text = describeValue(value);
  }
  return text.length > max ? `${text.slice(0, max)}… (${text.length} characters)` : text;
}

/** Attaches a short printed form to a generated case, for fast-check's counterexample report. */
export function printable<T extends object>(value: T, describe: (v: T) => string): T {
  Object.defineProperty(value, fc.toStringMethod, { value: () => describe(value), enumerable: false });
  return value;
}

// ---------------------------------------------------------------------------------------------
// Strings

/** Lone surrogates do not survive SQLite's UTF-8 (see the surrogate bug tests). */
export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
// eslint-disable-next-line no-control-regex -- control characters are the point
export const CONTROL = /[\u0000-\u001f\u007f]/;

/** SQL metacharacters and other troublemakers, as whole strings. */
export const SQL_NASTIES = [
  "x'; DROP TABLE jobs; --",
  "Robert'); DROP TABLE jobs;--",
  'a"b',
  "a'b",
  'a;b',
  'a--b',
  'a/*b*/',
  '*/',
  '%',
  '_',
  '\\',
  'NULL',
  "' OR '1'='1",
  'ünïcödé',
  '名前',
  'emoji😀',
  '\u2028\u2029',
  '\u00a0',
] as const;

/** `base` with `char` inserted at a position chosen by `at`. */
export function withCharAt(base: string, char: string, at: number): string {
  const i = at % (base.length + 1);
  return base.slice(0, i) + char + base.slice(i);
}

/** Strings that contain at least one of `forbidden`, somewhere. */
export function stringContaining(forbidden: readonly string[], maxLength = 24): fc.Arbitrary<string> {
  return fc
    .tuple(fc.string({ unit: 'grapheme-ascii', maxLength }), fc.constantFrom(...forbidden), fc.nat())
    .map(([s, c, at]) => withCharAt(s, c, at));
}
