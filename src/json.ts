/**
 * Plain JSON data: what payloads and results may be.
 *
 * A payload is stored as JSON text and handed to a handler in another thread, so it must come
 * back exactly as it went in. `JSON.stringify` alone is not enough: it throws on BigInt and
 * cycles, but silently turns `undefined` and functions in arrays into `null`, drops functions and
 * symbols from objects, turns `NaN` into `null`, a `Date` into a string and a `Map` into `{}`.
 * {@link encodeJson} walks the value once, reading every property once into a plain copy, and
 * rejects all of these with an error naming the path; then it serialises the copy (so a getter
 * cannot show the check one value and the serialiser another) and checks size. The one lossy case
 * accepted is an object property whose value is `undefined`: it is dropped, as an optional
 * property would be.
 */
import { LeaseholdError, describeValue } from './errors.js';

/** A JSON value. */
export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** How deep a payload may nest. */
export const MAX_JSON_DEPTH = 100;

/** The default payload and result size limit: 1 MiB of UTF-8 JSON text. */
export const MAX_PAYLOAD_BYTES_DEFAULT = 1_048_576;

const keyPath = (base: string, key: string): string => (/^[A-Za-z_$][\w$]*$/.test(key) ? `${base}.${key}` : `${base}[${JSON.stringify(key)}]`);

/** Where a value sits: the field name, or a step below its parent. Rendered only for an error. */
type Path = string | { readonly up: Path; readonly key: string | number };

function render(path: Path): string {
  if (typeof path === 'string') return path;
  const base = render(path.up);
  return typeof path.key === 'number' ? `${base}[${path.key}]` : keyPath(base, path.key);
}

function fail(path: Path, why: string, value: unknown): never {
  const field = render(path);
  throw new LeaseholdError('ERR_INVALID_PAYLOAD', `${field} ${why} (got ${describeValue(value)})`, { field, value: describeValue(value) });
}

/** Checks `value` and returns a plain copy of it, every property read once. */
function check(value: unknown, path: Path, depth: number, ancestors: Set<object>, budget: { chars: number }, maxBytes: number): unknown {
  switch (typeof value) {
    case 'string':
      budget.chars += value.length;
      if (budget.chars > maxBytes) fail(path, `makes the data larger than the limit of ${maxBytes} bytes`, value);
      return value;
    case 'boolean':
      return value;
    case 'number':
      if (!Number.isFinite(value)) fail(path, 'must be a finite number: JSON has no NaN or Infinity', value);
      return value;
    case 'bigint':
      fail(path, 'must not be a BigInt: JSON has no BigInt (send it as a string)', value);
    // eslint-disable-next-line no-fallthrough -- fail() never returns
    case 'undefined':
      fail(path, 'must not be undefined here: JSON would turn it into null', value);
    // eslint-disable-next-line no-fallthrough
    case 'function':
    case 'symbol':
      fail(path, 'must be JSON data', value);
    // eslint-disable-next-line no-fallthrough
    case 'object':
      break;
  }
  if (value === null) return null;
  const obj = value;
  if (depth >= MAX_JSON_DEPTH) fail(path, `nests deeper than ${MAX_JSON_DEPTH} levels`, value);
  if (ancestors.has(obj)) fail(path, 'is a cycle: the value contains itself', value);
  ancestors.add(obj);
  let copy: unknown;
  if (Array.isArray(obj)) {
    if (Object.getPrototypeOf(obj) !== Array.prototype) fail(path, 'must be a plain array', value);
    const length = obj.length;
    const out = new Array<unknown>(length);
    for (let i = 0; i < length; i++) {
      if (!(i in obj)) fail({ up: path, key: i }, 'is a hole in a sparse array: JSON would turn it into null', undefined);
      out[i] = checkChild((obj as unknown[])[i], path, i, depth, ancestors, budget, maxBytes);
    }
    copy = out;
  } else {
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) fail(path, 'must be plain JSON data (a plain object, array, string, number, boolean or null)', value);
    if (Object.getOwnPropertySymbols(obj).length > 0) fail(path, 'must not have symbol keys', value);
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(obj)) {
      const child = (obj as Record<string, unknown>)[key];
      budget.chars += key.length;
      if (child === undefined) continue;
      const checked = checkChild(child, path, key, depth, ancestors, budget, maxBytes);
      // A key named "__proto__" must stay an own data property of the copy.
      if (key === '__proto__') Object.defineProperty(out, key, { value: checked, enumerable: true, writable: true, configurable: true });
      else out[key] = checked;
    }
    copy = out;
  }
  ancestors.delete(obj);
  return copy;
}

/** `check` of a property or element: the common scalars inline, without building their path unless they fail. */
function checkChild(child: unknown, up: Path, key: string | number, depth: number, ancestors: Set<object>, budget: { chars: number }, maxBytes: number): unknown {
  if (typeof child === 'string') {
    if (budget.chars + child.length <= maxBytes) {
      budget.chars += child.length;
      return child;
    }
  } else if (typeof child === 'boolean' || (typeof child === 'number' && Number.isFinite(child))) {
    return child;
  }
  // Anything else, and a string over the limit (check() counts it and names it).
  return check(child, { up, key }, depth + 1, ancestors, budget, maxBytes);
}

/**
 * Checks that `value` is plain JSON data that round-trips exactly, and returns its JSON text.
 * `undefined` at the top encodes as `null`.
 *
 * @param field - the name used in error messages (`payload`, `jobs[2].payload`).
 * @throws LeaseholdError `ERR_INVALID_PAYLOAD` naming the offending path and value.
 */
export function encodeJson(value: unknown, field: string, maxBytes: number = MAX_PAYLOAD_BYTES_DEFAULT): string {
  if (value === undefined) return 'null';
  const text = JSON.stringify(check(value, field, 0, new Set(), { chars: 0 }, maxBytes));
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    throw new LeaseholdError('ERR_INVALID_PAYLOAD', `${field} is ${bytes} bytes of JSON, more than the limit of ${maxBytes}`, { field, value: `${bytes} bytes` });
  }
  return text;
}

/** Parses JSON text stored by leasehold; `null` column values decode as `undefined`. */
export function decodeJson(text: string | null | undefined): unknown {
  return text === null || text === undefined ? undefined : JSON.parse(text);
}
