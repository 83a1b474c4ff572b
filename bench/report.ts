/**
 * Shared output of the benchmarks: a Markdown table on stdout and a JSON file under
 * `bench/results/`. Every figure that has a baseline measured in the same run carries it, and the
 * ratio, because these machines are shared and noisy: absolute numbers move, ratios much less.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { z } from 'zod';

/** One measured row. */
export interface BenchRow {
  readonly scenario: string;
  readonly variant: string;
  /** What the rate counts (`jobs/s`, `enqueues/s`). */
  readonly unit: string;
  readonly value: number;
  readonly baselineName?: string;
  readonly baseline?: number;
  /** value / baseline. */
  readonly ratio?: number;
  readonly note?: string;
}

/** One command-line flag of a bench script. */
export interface BenchFlag {
  readonly help: string;
  /** The flag takes a value, shown under this name in the usage (`--out DIR`); without it, a switch. */
  readonly value?: string;
  /** The value is a number within these bounds; `fallback` when the flag is absent. */
  readonly number?: { readonly fallback: number; readonly min: number; readonly max?: number; readonly integer?: boolean };
}

/** A bench script's command line: its usage line and its flags, by name (without the `--`). */
export interface BenchCommand {
  readonly usage: string;
  readonly flags: Readonly<Record<string, BenchFlag>>;
}

/** `--help`, which every bench script takes. */
const HELP_FLAG: BenchFlag = { help: 'print this and exit' };

/** `--quick`: the smoke size. */
export const QUICK_FLAG: BenchFlag = { help: 'smoke run: small sizes, one round; the results file is marked -smoke' };
/** `--out DIR`: where the results file goes. */
export const OUT_FLAG: BenchFlag = { value: 'DIR', help: 'write the results file into DIR instead of bench/results/' };
/** `--rounds N`: how many times the whole set runs. */
export const roundsFlag = (fallback: number): BenchFlag => ({
  value: 'N',
  help: `run every scenario N times, baselines interleaved; rows give medians (default ${fallback})`,
  number: { fallback, min: 1, integer: true },
});

/** The rounds to run: `--rounds N`, or 1 for a smoke run (`--quick`) that does not say otherwise. */
export function roundsArg(args: BenchArgs, quick: boolean): number {
  return quick && args.text('rounds') === undefined ? 1 : args.number('rounds');
}

/** A bench command line that does not parse: the message names the flag and the value. */
export class BenchArgsError extends Error {
  override readonly name = 'BenchArgsError';
}

/** The parsed command line of a bench script (see {@link parseBenchArgs}). */
export class BenchArgs {
  readonly #values: Readonly<Record<string, string | boolean | undefined>>;
  readonly #numbers: ReadonlyMap<string, number>;
  /** `--help` was given. */
  readonly help: boolean;

  constructor(values: Readonly<Record<string, string | boolean | undefined>>, numbers: ReadonlyMap<string, number>) {
    this.#values = values;
    this.#numbers = numbers;
    this.help = values['help'] === true;
  }

  /** True when the switch `--name` was given. */
  has(name: string): boolean {
    return this.#values[name] === true;
  }

  /** The value of `--name`, if given. */
  text(name: string): string | undefined {
    const value = this.#values[name];
    return typeof value === 'string' ? value : undefined;
  }

  /** The (checked) number of `--name`, or its fallback. */
  number(name: string): number {
    const value = this.#numbers.get(name);
    if (value === undefined) throw new Error(`bench: --${name} is not a number flag`);
    return value;
  }
}

/** The usage text of a command: its usage line and one line per flag. */
export function benchUsage(command: BenchCommand): string {
  const lines = Object.entries({ ...command.flags, help: HELP_FLAG }).map(([name, flag]) => {
    const left = `--${name}${flag.value === undefined ? '' : ` ${flag.value}`}`;
    return `  ${left.padEnd(16)} ${flag.help}`;
  });
  return `usage: ${command.usage}\n\n${lines.join('\n')}`;
}

function numberRange(bounds: NonNullable<BenchFlag['number']>): string {
  return `${bounds.integer === true ? 'an integer' : 'a number'} ≥ ${bounds.min}${bounds.max === undefined ? '' : ` and ≤ ${bounds.max}`}`;
}

/**
 * Parses `argv` (without the node and script paths) against `command`, strictly: an unknown flag,
 * a positional argument, a switch given a value, a flag missing its value or a number out of its
 * bounds throws a {@link BenchArgsError} naming the flag and the value, before anything is
 * measured. (Unknown flags used to be ignored: `--help` started a 12-minute `bench:compare`.)
 */
export function parseBenchArgs(command: BenchCommand, argv: readonly string[]): BenchArgs {
  const flags: Readonly<Record<string, BenchFlag>> = { ...command.flags, help: HELP_FLAG };
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const [name, flag] of Object.entries(flags)) options[name] = { type: flag.value === undefined ? 'boolean' : 'string' };
  // Not strict: its errors would have to be read back from Node's messages. The tokens say it all.
  const { tokens } = parseArgs({ args: [...argv], options, strict: false, allowPositionals: true, tokens: true });
  const values: Record<string, string | boolean | undefined> = {};
  for (const token of tokens) {
    if (token.kind === 'option-terminator') continue;
    if (token.kind === 'positional') throw new BenchArgsError(`unexpected argument ${token.value}: every setting is a --flag`);
    const flag = Object.hasOwn(flags, token.name) ? flags[token.name] : undefined;
    if (flag === undefined || !token.rawName.startsWith('--')) {
      throw new BenchArgsError(`unknown flag ${token.rawName} (this command takes ${['help', ...Object.keys(command.flags)].map((n) => `--${n}`).join(', ')})`);
    }
    const given = token.value;
    if (flag.value === undefined) {
      if (given !== undefined) throw new BenchArgsError(`--${token.name} is a switch and takes no value (got ${JSON.stringify(`${token.rawName}=${given}`)})`);
      values[token.name] = true;
      continue;
    }
    // A value after a space that starts with "-" may be the next flag, the value forgotten.
    if (given === undefined || (!token.inlineValue && given.startsWith('-'))) {
      const after =
        given === undefined ? '' : (given.replace(/^-+/, '').split('=')[0] ?? '') in options ? `; ${given} is a flag` : `; to give ${JSON.stringify(given)} as the value, write --${token.name}=${given}`;
      throw new BenchArgsError(flag.number === undefined ? `--${token.name} needs a value (${flag.value})${after}` : `--${token.name} must be ${numberRange(flag.number)} (got no value${after})`);
    }
    if (given === '' && flag.number === undefined) throw new BenchArgsError(`--${token.name} needs a value (${flag.value}); got an empty one`);
    values[token.name] = given;
  }
  const numbers = new Map<string, number>();
  for (const [name, flag] of Object.entries(command.flags)) {
    if (flag.number === undefined) continue;
    const text = values[name];
    if (typeof text !== 'string') {
      numbers.set(name, flag.number.fallback);
      continue;
    }
    let schema = z.number().min(flag.number.min);
    if (flag.number.max !== undefined) schema = schema.max(flag.number.max);
    if (flag.number.integer === true) schema = schema.int();
    const parsed = schema.safeParse(text.trim() === '' ? Number.NaN : Number(text));
    if (!parsed.success) throw new BenchArgsError(`--${name} must be ${numberRange(flag.number)} (got ${JSON.stringify(text)})`);
    numbers.set(name, parsed.data);
  }
  return new BenchArgs(values, numbers);
}

/**
 * What a bench script does when its output is closed under it (`npm run bench:compare | head`):
 * at its next write, silence `console` and call `onClosed` (by default, exit with 141, as a
 * process killed by SIGPIPE). Most scripts write only between scenarios, so that is when they stop.
 * Without it, a script went on measuring with nowhere to write: `npm run bench:compare | head`
 * spun at 100% CPU in EPIPE errors and the handling of them for over 20 minutes.
 */
export function onOutputClosed(onClosed: () => void = () => process.exit(141)): void {
  let closed = false;
  const listener = (error: NodeJS.ErrnoException): void => {
    if (error.code !== 'EPIPE') throw error;
    if (closed) return;
    closed = true;
    for (const method of ['log', 'error', 'warn', 'info'] as const) console[method] = () => undefined;
    onClosed();
  };
  process.stdout.on('error', listener);
  process.stderr.on('error', listener);
}

/**
 * The command line of the running bench script, parsed with {@link parseBenchArgs}: `--help`
 * prints the usage and exits 0; a bad command line prints the error and the usage and exits 1.
 * Also arms {@link onOutputClosed} with `onClosed`.
 */
export function benchArgs(command: BenchCommand, onClosed?: () => void): BenchArgs {
  onOutputClosed(onClosed);
  let args: BenchArgs;
  try {
    args = parseBenchArgs(command, process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof BenchArgsError)) throw error;
    console.error(`${error.message}\n\n${benchUsage(command)}`);
    process.exit(1);
  }
  if (args.help) {
    console.log(benchUsage(command));
    process.exit(0);
  }
  return args;
}

/** The median of a sample (the lower middle one for an even count). */
export function median(xs: readonly number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)] ?? Number.NaN;
}

/** The note of a row measured in rounds: how many, and the range of the per-round ratios. */
export function roundsNote(ratios: readonly number[]): string {
  return ratios.length < 2 ? '1 round' : `median of ${ratios.length} rounds; ratio ${Math.round(Math.min(...ratios) * 100)}–${Math.round(Math.max(...ratios) * 100)}%`;
}

/**
 * A row measured in rounds against a baseline measured in the same rounds: medians of both, and
 * the median and range of the per-round ratios (round i's value over round i's baseline).
 */
export function roundsRow(
  row: { readonly scenario: string; readonly variant: string; readonly unit: string; readonly baselineName: string },
  values: readonly number[],
  baselines: readonly number[],
): BenchRow {
  const ratios = values.map((v, i) => v / (baselines[i] ?? Number.NaN));
  return { ...row, value: median(values), baseline: median(baselines), ratio: median(ratios), note: roundsNote(ratios) };
}

/** The machine a run happened on. */
export function machineInfo(): Record<string, unknown> {
  return {
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    cpus: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round(totalmem() / 2 ** 30),
  };
}

const fmt = (n: number): string => (n >= 100 || Number.isInteger(n) ? Math.round(n).toLocaleString('en-US') : n.toFixed(n >= 10 ? 1 : n >= 0.1 ? 2 : 3));

/** Renders rows as a Markdown table (a notes column when any row has a note). */
export function markdownTable(rows: readonly BenchRow[]): string {
  const notes = rows.some((r) => r.note !== undefined);
  const head = `| scenario | variant | leasehold | baseline | ratio |${notes ? ' notes |' : ''}\n|---|---|---:|---:|---:|${notes ? '---|' : ''}`;
  const body = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.variant} | ${fmt(r.value)} ${r.unit} | ${r.baseline === undefined ? '—' : `${fmt(r.baseline)} (${r.baselineName ?? 'baseline'})`} | ${r.ratio === undefined ? '—' : `${(r.ratio * 100).toFixed(0)}%`} |${notes ? ` ${r.note ?? ''} |` : ''}`,
  );
  return [head, ...body].join('\n');
}

/** Prints the table (unless `print: false`) and writes `bench/results/<date>-<suite>.json`; returns the file path. */
export function publish(suite: string, rows: readonly BenchRow[], extra: Record<string, unknown> = {}, outDir?: string, options: { print?: boolean } = {}): string {
  if (options.print !== false) {
    console.log(`\n## ${suite}\n`);
    console.log(markdownTable(rows));
  }
  const here = dirname(fileURLToPath(import.meta.url));
  // Compiled to dist/bench; results live in the source tree's bench/results.
  const dir = outDir ?? join(here, '..', '..', 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const date = new Date().toISOString().slice(0, 10);
  const file = join(dir, `${date}-${suite}.json`);
  writeFileSync(file, `${JSON.stringify({ suite, date: new Date().toISOString(), machine: machineInfo(), rows, ...extra }, null, 2)}\n`);
  console.log(`\nresults: ${file}`);
  return file;
}
