/**
 * The chaos checker: verifies a finished run over its database and its ledger (the append-only
 * file the chaos handlers write, test/fixtures/chaos/handlers.ts: `<phase> <jobId> <token>
 * <attempt> <pid>` with phase B = an execution began, A = it finished its side effect and returns,
 * F = it throws, S = it skips).
 *
 * Invariants:
 * - I1 no acknowledged enqueue lost: every id the enqueuer got back exists and ends terminal
 *   (with `requireAllTerminal`, every job in the database too).
 * - I2 exactly one terminal transition per job in its history (terminal: done, skipped, error,
 *   escalated, cancelled), the last entry's state is the job's state, the history is complete
 *   (seq 1..events) and each entry starts where the previous one ended. (A manual `RETRY` of an
 *   `error` job legitimately makes a second terminal transition; chaos runs never retry by hand.)
 * - I3 zero writes from a stale token: every START/SUCCEED/SKIP/FAIL/PAUSE entry carries the token
 *   and owner of the latest LEASE before it, while that lease is open; a `done` job's result
 *   (`{ token }`) is the one its SUCCEED token produced, and that execution reached `A` in the
 *   ledger (a `skipped` job's token reached `S`): 'after' lines of any other token were never
 *   acknowledged.
 * - I4 never two unexpired leases on one job: a LEASE only once the previous lease ended (by
 *   LEASE_EXPIRED, FAIL, PAUSE or a terminal transition); tokens strictly increase; LEASE_EXPIRED
 *   only of the open lease.
 * - I5 executions per job (ledger `B` lines) ≤ 1 + returns to the queue (lease losses, retried
 *   failures, releases) and ≤ maxAttempts + uncounted releases (PAUSE); every execution carries
 *   a token the job was leased with, at that attempt, and no token executes twice.
 * - I6 `PRAGMA integrity_check` = ok.
 *
 * It returns counts (the table of a run) and every violation found.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createSqliteStore } from '../../src/store/sqlite-store.js';
import { TERMINAL_STATES, type JobState } from '../../machines/job.machine.js';

/** Which invariant a violation breaks (`LEDGER`: the ledger itself is malformed). */
export type InvariantId = 'I1' | 'I2' | 'I3' | 'I4' | 'I5' | 'I6' | 'LEDGER';

/** One broken invariant. */
export interface Violation {
  readonly invariant: InvariantId;
  readonly jobId?: number;
  readonly message: string;
}

/** What to check. */
export interface CheckOptions {
  readonly dbPath: string;
  /** The ledger file; omit for runs whose handlers write none (store-level runs). */
  readonly ledgerPath?: string;
  /** The ids the enqueuer got back. */
  readonly acknowledged: Iterable<number>;
  /** Processes killed (SIGKILL, crash points) during the run: reported, not checked. */
  readonly kills?: number;
  /** Stale writes the runtime refused, as observed (`job.lease_lost`, ERR_LEASE_LOST). */
  readonly staleRejected?: number;
  /** Lease owners of the processes killed: their executions that were redone count as duplicates of kills. */
  readonly killedOwners?: Iterable<string>;
  /** Every job in the database must end terminal, not only the acknowledged ones. @defaultValue true */
  readonly requireAllTerminal?: boolean;
  /** Keep at most this many violations in the report (all are counted). @defaultValue 100 */
  readonly maxViolations?: number;
}

/** The counts of a run. */
export interface CheckCounts {
  readonly jobs: number;
  readonly acknowledged: number;
  /** Ledger `B` lines: executions that began. */
  readonly executions: number;
  /** Executions beyond the first, not explained by a failure the store recorded: re-runs after lost leases or acks. */
  readonly duplicates: number;
  /**
   * Executions by a killed owner (`killedOwners`) whose lease then expired: the work each kill
   * destroyed and the runtime redid. Equal to `duplicates` when kills are the only disruption.
   */
  readonly killDuplicates: number;
  /** The most executions of one job. */
  readonly maxExecutions: number;
  /**
   * Executions that ended (`A`, `F` or `S` in the ledger) but whose end the store never recorded
   * for their token: results dropped because the lease was lost, or an ack that died with its
   * process (a crash before or inside the ack transaction).
   */
  readonly droppedResults: number;
  readonly kills: number;
  /** Stale writes refused by the runtime, as observed. */
  readonly staleRejected: number;
  /** History entries written with a stale token (I3 violations in the history): must be 0. */
  readonly staleWritesInHistory: number;
  /** Acknowledged jobs missing or not terminal: must be 0. */
  readonly lost: number;
  readonly leases: number;
  readonly leaseExpired: number;
  readonly failures: number;
  readonly pauses: number;
  readonly byState: Readonly<Partial<Record<JobState, number>>>;
  readonly malformedLedgerLines: number;
}

/** What `checkRun` returns. */
export interface CheckReport {
  readonly ok: boolean;
  readonly counts: CheckCounts;
  /** The first `maxViolations` violations. */
  readonly violations: readonly Violation[];
  readonly violationCount: number;
  readonly byInvariant: Readonly<Partial<Record<InvariantId, number>>>;
}

interface JobRow {
  id: number;
  state: JobState;
  attempts: number;
  max_attempts: number;
  events: number;
  result: string | null;
}

type EventRow = [jobId: number, seq: number, event: string, from: string, to: string, attempt: number, token: number, owner: string | null];

/** One lease of a job, from its history. */
interface LeaseInfo {
  readonly token: number;
  readonly attempt: number;
  readonly owner: string | null;
  endedBy: string | null;
}

/** Ledger lines of one (job, token). */
interface Execution {
  B: number;
  A: number;
  F: number;
  S: number;
  attempt: number;
}

const FENCED_EVENTS = new Set(['START', 'SUCCEED', 'SKIP', 'FAIL', 'PAUSE']);
const LEASE_ENDING = new Set(['SUCCEED', 'SKIP', 'FAIL', 'PAUSE', 'LEASE_EXPIRED', 'CANCEL']);

/** Reads a ledger: job → token → its lines. */
export function readLedger(path: string): { byJob: Map<number, Map<number, Execution>>; malformed: number } {
  const byJob = new Map<number, Map<number, Execution>>();
  let malformed = 0;
  if (!existsSync(path)) return { byJob, malformed };
  for (const line of readFileSync(path, 'utf8').split('\n')) {
    if (line === '') continue;
    const [phase, id, token, attempt] = line.split(' ');
    const jobId = Number(id);
    const tok = Number(token);
    if ((phase !== 'B' && phase !== 'A' && phase !== 'F' && phase !== 'S') || !Number.isInteger(jobId) || !Number.isInteger(tok)) {
      malformed++;
      continue;
    }
    let tokens = byJob.get(jobId);
    if (tokens === undefined) byJob.set(jobId, (tokens = new Map<number, Execution>()));
    let e = tokens.get(tok);
    if (e === undefined) tokens.set(tok, (e = { B: 0, A: 0, F: 0, S: 0, attempt: Number(attempt) }));
    e[phase]++;
  }
  return { byJob, malformed };
}

/** Checks a finished run. Opens the database with `createSqliteStore` and reads its tables. */
export async function checkRun(options: CheckOptions): Promise<CheckReport> {
  const maxViolations = options.maxViolations ?? 100;
  const violations: Violation[] = [];
  const byInvariant: Partial<Record<InvariantId, number>> = {};
  let violationCount = 0;
  const violate = (invariant: InvariantId, jobId: number | undefined, message: string): void => {
    violationCount++;
    byInvariant[invariant] = (byInvariant[invariant] ?? 0) + 1;
    if (violations.length < maxViolations) violations.push({ invariant, ...(jobId === undefined ? {} : { jobId }), message });
  };

  let jobs: JobRow[];
  let events: EventRow[];
  let integrity: string[];
  try {
    const store = createSqliteStore({ path: options.dbPath, integrityCheck: 'never' });
    try {
      const db = store.database;
      integrity = (db.pragma('integrity_check') as Array<{ integrity_check: string }>).map((r) => r.integrity_check);
      jobs = db.prepare('SELECT id, state, attempts, max_attempts, events, result FROM jobs ORDER BY id').all() as JobRow[];
      events = db.prepare('SELECT job_id, seq, event, from_state, to_state, attempt, lease_token, owner FROM job_events ORDER BY job_id, seq').raw().all() as EventRow[];
    } finally {
      await store.close();
    }
  } catch (error) {
    // A database that cannot be opened or read breaks I6; nothing else can be checked.
    violate('I6', undefined, `the database cannot be read: ${error instanceof Error ? error.message : String(error)}`);
    const empty = emptyCounts(options);
    return { ok: false, counts: empty, violations, violationCount, byInvariant };
  }

  // I6
  if (integrity.length !== 1 || integrity[0] !== 'ok') violate('I6', undefined, `integrity_check: ${integrity.slice(0, 5).join('; ')}`);

  const ledger = options.ledgerPath === undefined ? undefined : readLedger(options.ledgerPath);
  const jobById = new Map(jobs.map((j) => [j.id, j]));
  const byState: Partial<Record<JobState, number>> = {};
  for (const j of jobs) byState[j.state] = (byState[j.state] ?? 0) + 1;

  // I1
  let lost = 0;
  let acknowledged = 0;
  const seen = new Set<number>();
  for (const id of options.acknowledged) {
    acknowledged++;
    seen.add(id);
    const job = jobById.get(id);
    if (job === undefined) {
      lost++;
      violate('I1', id, `acknowledged job ${id} does not exist`);
    } else if (!TERMINAL_STATES.includes(job.state)) {
      lost++;
      violate('I1', id, `acknowledged job ${id} ended ${job.state}, not terminal`);
    }
  }
  if (options.requireAllTerminal !== false) {
    for (const job of jobs) if (!seen.has(job.id) && !TERMINAL_STATES.includes(job.state)) violate('I1', job.id, `job ${job.id} (not acknowledged to the enqueuer) ended ${job.state}`);
  }

  // Per job: history (I2, I3, I4), ledger (I3, I5).
  let staleWritesInHistory = 0;
  let executions = 0;
  let duplicates = 0;
  let maxExecutions = 0;
  let droppedResults = 0;
  let killDuplicates = 0;
  const killed = new Set(options.killedOwners ?? []);
  let leasesTotal = 0;
  let expiredTotal = 0;
  let failuresTotal = 0;
  let pausesTotal = 0;
  let e = 0;
  for (const job of jobs) {
    const id = job.id;
    const leases = new Map<number, LeaseInfo>();
    let open: LeaseInfo | null = null;
    let lastToken = Number.NEGATIVE_INFINITY;
    // Where the job was created: `queued`, or `blocked` when it waited for dependencies (the insert
    // writes no history entry; the first entry starts there).
    let prevTo: string | null = null;
    let terminal = 0;
    let terminalToken: number | null = null;
    let expectedSeq = 1;
    let pauses = 0;
    let requeues = 0;
    for (; e < events.length && (events[e] as EventRow)[0] < id; e++) violate('I2', (events[e] as EventRow)[0], `history entry of job ${(events[e] as EventRow)[0]}, which does not exist`);
    for (; e < events.length && (events[e] as EventRow)[0] === id; e++) {
      const [, seq, event, from, to, attempt, token, owner] = events[e] as EventRow;
      if (seq !== expectedSeq) violate('I2', id, `job ${id}: history seq ${seq}, expected ${expectedSeq}`);
      expectedSeq = seq + 1;
      if (prevTo === null ? from !== 'queued' && from !== 'blocked' : from !== prevTo) {
        violate('I2', id, `job ${id}: entry ${seq} (${event}) starts in ${from}, but the previous one ended in ${prevTo ?? 'its creation (queued or blocked)'}`);
      }
      prevTo = to;
      if (event === 'LEASE') {
        leasesTotal++;
        if (open !== null) violate('I4', id, `job ${id}: LEASE (token ${token}, ${owner}) while the lease of token ${open.token} (${open.owner}) had not ended`);
        if (token <= lastToken) violate('I4', id, `job ${id}: LEASE token ${token} does not increase (previous ${lastToken})`);
        lastToken = token;
        open = { token, attempt, owner, endedBy: null };
        leases.set(token, open);
      } else if (FENCED_EVENTS.has(event)) {
        if (open === null || open.token !== token || open.owner !== owner) {
          staleWritesInHistory++;
          violate('I3', id, `job ${id}: ${event} by token ${token} (${owner}) while the current lease is ${open === null ? 'none' : `token ${open.token} (${open.owner})`}`);
        }
      } else if (event === 'LEASE_EXPIRED') {
        expiredTotal++;
        if (open === null || open.token !== token) violate('I4', id, `job ${id}: LEASE_EXPIRED of token ${token}, but the open lease is ${open === null ? 'none' : `token ${open.token}`}`);
      }
      if (event === 'FAIL') failuresTotal++;
      if (event === 'PAUSE') {
        pausesTotal++;
        pauses++;
      }
      if (to === 'queued' && (event === 'LEASE_EXPIRED' || event === 'FAIL' || event === 'PAUSE')) requeues++;
      if (LEASE_ENDING.has(event) && open !== null) {
        if (open.token === token) open.endedBy = event;
        open = null;
      }
      if (TERMINAL_STATES.includes(to as JobState)) {
        terminal++;
        terminalToken = token;
      }
    }
    if (expectedSeq - 1 !== job.events) violate('I2', id, `job ${id}: ${job.events} state changes counted, ${expectedSeq - 1} history entries`);
    if (prevTo === null ? job.state !== 'queued' && job.state !== 'blocked' : prevTo !== job.state) violate('I2', id, `job ${id}: history ends in ${prevTo ?? 'its creation'}, the job is ${job.state}`);
    if (TERMINAL_STATES.includes(job.state) && terminal !== 1) violate('I2', id, `job ${id}: ${terminal} terminal transitions in its history`);
    if (!TERMINAL_STATES.includes(job.state) && terminal !== 0) violate('I2', id, `job ${id}: ${terminal} terminal transitions, but it is ${job.state}`);

    // I3: a done job's result is the acknowledged execution's.
    if (job.state === 'done' && job.result !== null) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(job.result);
      } catch {
        parsed = undefined;
      }
      const resultToken = (parsed as { token?: unknown } | null | undefined)?.token;
      if (typeof resultToken === 'number' && resultToken !== terminalToken) {
        staleWritesInHistory++;
        violate('I3', id, `job ${id}: result from token ${resultToken}, but SUCCEED carries token ${String(terminalToken)}`);
      }
    }

    // Ledger checks.
    if (ledger === undefined) continue;
    const tokens = ledger.byJob.get(id);
    let jobExecutions = 0;
    let handlerFailures = 0;
    if (tokens !== undefined) {
      for (const [token, x] of tokens) {
        jobExecutions += x.B;
        // A failure the store recorded (and retried) explains the next execution; a dropped one does not.
        if (x.F > 0 && leases.get(token)?.endedBy === 'FAIL') handlerFailures++;
        if (x.B > 1) violate('I5', id, `job ${id}: token ${token} executed ${x.B} times`);
        if (x.B === 0) violate('LEDGER', id, `job ${id}: token ${token} has ${x.A + x.F + x.S} end lines without a begin line`);
        const lease = leases.get(token);
        if (lease === undefined) violate('I5', id, `job ${id}: an execution with token ${token}, which the job was never leased with`);
        else if (lease.attempt !== x.attempt) violate('I5', id, `job ${id}: token ${token} executed as attempt ${x.attempt}, leased as attempt ${lease.attempt}`);
        if (x.B > 0 && lease?.endedBy === 'LEASE_EXPIRED' && lease.owner !== null && killed.has(lease.owner)) killDuplicates += x.B;
        const end = x.A > 0 ? 'SUCCEED' : x.S > 0 ? 'SKIP' : x.F > 0 ? 'FAIL' : null;
        if (end !== null && lease?.endedBy !== end) droppedResults++;
      }
    }
    for (const lease of leases.values()) {
      // An acknowledgement stands for a finished execution of that very token.
      const x = tokens?.get(lease.token);
      if (lease.endedBy === 'SUCCEED' && (x?.A ?? 0) === 0) violate('I3', id, `job ${id}: SUCCEED under token ${lease.token}, whose execution never reached its 'after' line`);
      if (lease.endedBy === 'SKIP' && (x?.S ?? 0) === 0) violate('I3', id, `job ${id}: SKIP under token ${lease.token}, whose execution never decided to skip`);
    }
    executions += jobExecutions;
    duplicates += Math.max(0, jobExecutions - 1 - handlerFailures);
    maxExecutions = Math.max(maxExecutions, jobExecutions);
    if (jobExecutions > 1 + requeues) violate('I5', id, `job ${id}: ${jobExecutions} executions, more than 1 + ${requeues} returns to the queue`);
    if (jobExecutions > job.max_attempts + pauses) violate('I5', id, `job ${id}: ${jobExecutions} executions, more than maxAttempts ${job.max_attempts} + ${pauses} releases`);
  }
  for (; e < events.length; e++) violate('I2', (events[e] as EventRow)[0], `history entry of job ${(events[e] as EventRow)[0]}, which does not exist`);
  if (ledger !== undefined) {
    for (const id of ledger.byJob.keys()) if (!jobById.has(id)) violate('LEDGER', id, `the ledger names job ${id}, which does not exist`);
    if (ledger.malformed > 0) violate('LEDGER', undefined, `${ledger.malformed} malformed ledger lines`);
  }

  const counts: CheckCounts = {
    jobs: jobs.length,
    acknowledged,
    executions,
    duplicates,
    killDuplicates,
    maxExecutions,
    droppedResults,
    kills: options.kills ?? 0,
    staleRejected: options.staleRejected ?? 0,
    staleWritesInHistory,
    lost,
    leases: leasesTotal,
    leaseExpired: expiredTotal,
    failures: failuresTotal,
    pauses: pausesTotal,
    byState,
    malformedLedgerLines: ledger?.malformed ?? 0,
  };
  return { ok: violationCount === 0, counts, violations, violationCount, byInvariant };
}

function emptyCounts(options: CheckOptions): CheckCounts {
  return {
    jobs: 0,
    acknowledged: [...options.acknowledged].length,
    executions: 0,
    duplicates: 0,
    killDuplicates: 0,
    maxExecutions: 0,
    droppedResults: 0,
    kills: options.kills ?? 0,
    staleRejected: options.staleRejected ?? 0,
    staleWritesInHistory: 0,
    // Unverifiable: every acknowledged job counts as lost.
    lost: [...options.acknowledged].length,
    leases: 0,
    leaseExpired: 0,
    failures: 0,
    pauses: 0,
    byState: {},
    malformedLedgerLines: 0,
  };
}

/** The report as a small Markdown table, with the first violations under it. */
export function formatReport(title: string, report: CheckReport, extra: Record<string, string | number> = {}): string {
  const c = report.counts;
  const states = Object.entries(c.byState)
    .map(([s, n]) => `${s} ${n}`)
    .join(', ');
  const rows: Array<[string, string | number]> = [
    ['jobs', c.jobs],
    ['acknowledged enqueues', c.acknowledged],
    ['executions', c.executions],
    ['duplicates', c.duplicates],
    ['duplicates caused by kills', c.killDuplicates],
    ['duplicates per kill', c.kills > 0 ? (c.killDuplicates / c.kills).toFixed(1) : '—'],
    ['max executions of one job', c.maxExecutions],
    ['dropped results (ended, never recorded)', c.droppedResults],
    ['kills', c.kills],
    ['stale writes rejected', c.staleRejected],
    ['stale writes in history', c.staleWritesInHistory],
    ['lost', c.lost],
    ['leases / expired / failed / released', `${c.leases} / ${c.leaseExpired} / ${c.failures} / ${c.pauses}`],
    ['final states', states],
    ...Object.entries(extra),
    ['violations', report.violationCount === 0 ? 0 : `${report.violationCount} (${JSON.stringify(report.byInvariant)})`],
  ];
  const lines = [`### ${title}`, '', '| | |', '|---|---:|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)];
  for (const v of report.violations.slice(0, 20)) lines.push(`- ${v.invariant}${v.jobId === undefined ? '' : ` job ${v.jobId}`}: ${v.message}`);
  return lines.join('\n');
}
