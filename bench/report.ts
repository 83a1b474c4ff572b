/**
 * Shared output of the benchmarks: a Markdown table on stdout and a JSON file under
 * `bench/results/`. Every figure that has a baseline measured in the same run carries it, and the
 * ratio, because these machines are shared and noisy: absolute numbers move, ratios much less.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
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

/** The value after `--name` on the command line, if any. */
export function argOf(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

/**
 * The number given as `--name N`, or `fallback` when the flag is absent. A flag without a value, or
 * a value that is not a number within the bounds (an integer when `integer`), ends the process
 * (exit code 1) with a message naming the flag and the value, before anything is measured.
 */
export function numberArg(name: string, fallback: number, bounds: { readonly min: number; readonly max?: number; readonly integer?: boolean }): number {
  const flag = `--${name}`;
  if (!process.argv.includes(flag)) return fallback;
  const text = argOf(flag);
  let schema = z.number().min(bounds.min);
  if (bounds.max !== undefined) schema = schema.max(bounds.max);
  if (bounds.integer === true) schema = schema.int();
  const parsed = schema.safeParse(text === undefined || text.trim() === '' ? Number.NaN : Number(text));
  if (!parsed.success) {
    const range = `${bounds.integer === true ? 'an integer' : 'a number'} ≥ ${bounds.min}${bounds.max === undefined ? '' : ` and ≤ ${bounds.max}`}`;
    console.error(`${flag} must be ${range} (got ${text === undefined ? 'no value' : JSON.stringify(text)})`);
    process.exit(1);
  }
  return parsed.data;
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
