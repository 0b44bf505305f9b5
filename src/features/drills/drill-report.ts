// The drill report: what a rehearsal of the way back measured, and the runbook's "Rollback Test
// Checklist" (seed 002) filled in from it. Pure: the drill service gathers the numbers, these
// functions judge them, so the verdicts are table-tested without a running app.
import { failedChecks } from '../../spec/verification.ts';
import type { VerificationCheck } from '../incidents/incident.ts';

export type DrillStatus = 'Running' | 'Passed' | 'Failed';

export interface DrillPhase {
  /** deploy: the command to the deploy completed; rollback: the command to traffic restored;
   * verify: traffic restored to verified; partial: every kill-switch flag off and on again. */
  readonly name: 'deploy' | 'rollback' | 'verify' | 'partial';
  readonly ms: number;
}

export interface FullRollback {
  readonly rolloutId: string | null;
  /** The revision the rollback created (a copy of the stable one). */
  readonly revision: number | null;
  readonly phase: string | null;
  /** From the rollback command to all traffic on the restored revision. */
  readonly msToTrafficRestored: number | null;
  /** From the rollback command to the verification's verdict. */
  readonly msToVerified: number | null;
  /** The app's stable revision afterwards is the copy of the one before the drill. */
  readonly backOnStable: boolean;
  readonly detail: string;
}

export interface PartialRollback {
  readonly flag: string;
  /** The analysis rule that names the flag as its kill switch. */
  readonly rule: string;
  /** Not rehearsed, with the reason (the flag is off already); neither a pass nor a failure. */
  readonly skipped?: string;
  readonly passed: boolean;
  /** The flag off: from the switch to the set in force answering DISABLED. */
  readonly offMs: number | null;
  /** The flag on again. */
  readonly onMs: number | null;
  readonly checks: readonly VerificationCheck[];
}

export interface DatabaseRollback {
  /** False when the app declares no database. */
  readonly applies: boolean;
  /** Migrations the drill's deploy applied (expand, then contract), by key. */
  readonly applied: readonly string[];
  /** Migrations its rollback undid. */
  readonly undone: readonly string[];
  /** What an undo step reported when it failed (its statement, the reason). */
  readonly failures: readonly string[];
  /** The verification's database checks: schema fingerprint, row checksums, foreign keys. */
  readonly checks: readonly VerificationCheck[];
}

export interface PreviousDrill {
  readonly id: string;
  readonly at: number;
  readonly msToTrafficRestored: number;
}

export interface DrillReport {
  readonly id: string;
  readonly app: string;
  readonly version: string;
  readonly status: DrillStatus;
  /** api: `rewind drill` or CI; schedule: `drills.every` in rewind.yaml. */
  readonly trigger: 'api' | 'schedule';
  readonly by: string | null;
  readonly startedAt: number;
  readonly finishedAt: number | null;
  readonly strategy: 'blueGreen' | 'canary';
  /** The revision serving before the drill, which it must leave serving. */
  readonly stable: { readonly revision: number; readonly version: string };
  /** The flag-set version in force when the drill began, put back at its end if anything changed it. */
  readonly flagSetVersionBefore?: number | null;
  /** Where the drill rolled back, in words. */
  readonly rollbackPoint: string;
  readonly progress: readonly { readonly at: number; readonly message: string }[];
  readonly deploy: {
    readonly rolloutId: string | null;
    readonly revision: number | null;
    readonly phase: string | null;
    readonly ms: number | null;
  } | null;
  readonly fullRollback: FullRollback | null;
  readonly partialRollbacks: readonly PartialRollback[];
  readonly database: DatabaseRollback | null;
  /** The restored revision's verification, as after a real rollback. */
  readonly verification: { readonly passed: boolean; readonly checks: readonly VerificationCheck[] } | null;
  /** Earlier passed drills of the app, newest first (at most 5). */
  readonly previous: readonly PreviousDrill[];
  readonly phases: readonly DrillPhase[];
  /** Why the drill failed, one line per reason; empty when it passed. */
  readonly failures: readonly string[];
}

export type ChecklistResult = 'pass' | 'fail' | 'not applicable' | 'not reached';

export interface ChecklistLine {
  /** The runbook's test names. */
  readonly test:
    | 'Full Rollback'
    | 'Partial Rollback'
    | 'Database Rollback'
    | 'Rollback Time'
    | 'Rollback Verification';
  readonly result: ChecklistResult;
  readonly detail: string;
}

const ms = (n: number | null | undefined) => (n == null ? '-' : `${Math.round(n)} ms`);

/** The runbook's checklist, one line per test, from the report's measurements. */
export function drillChecklist(r: DrillReport): ChecklistLine[] {
  return [fullLine(r), partialLine(r), databaseLine(r), timeLine(r), verificationLine(r)];
}

function fullLine(r: DrillReport): ChecklistLine {
  const f = r.fullRollback;
  if (!f) return { test: 'Full Rollback', result: 'not reached', detail: notReached(r) };
  const ok = f.phase === 'Completed' && f.backOnStable && f.msToTrafficRestored !== null;
  return {
    test: 'Full Rollback',
    result: ok ? 'pass' : 'fail',
    detail: `${f.detail}; traffic restored ${ms(f.msToTrafficRestored)} and verified ${ms(f.msToVerified)} after the command`,
  };
}

function partialLine(r: DrillReport): ChecklistLine {
  if (r.partialRollbacks.length === 0)
    return {
      test: 'Partial Rollback',
      result: 'not applicable',
      detail: 'no analysis rule names a kill-switch flag (rules[].flag)',
    };
  const rehearsed = r.partialRollbacks.filter((p) => !p.skipped);
  const lines = r.partialRollbacks.map((p) =>
    p.skipped
      ? `${p.flag}: not rehearsed (${p.skipped})`
      : `${p.flag}: ${p.passed ? 'pass' : 'fail'}, off in ${ms(p.offMs)}, on again in ${ms(p.onMs)}`,
  );
  return {
    test: 'Partial Rollback',
    result: rehearsed.length === 0 ? 'not applicable' : rehearsed.every((p) => p.passed) ? 'pass' : 'fail',
    detail: lines.join('; '),
  };
}

function databaseLine(r: DrillReport): ChecklistLine {
  const d = r.database;
  if (!d?.applies)
    return { test: 'Database Rollback', result: 'not applicable', detail: 'the app declares no database' };
  if (!r.fullRollback) return { test: 'Database Rollback', result: 'not reached', detail: notReached(r) };
  const problems = databaseProblems(d);
  const checks = d.checks.map(
    (c) => `${c.name}: ${c.notChecked ? 'not checked' : c.passed ? 'pass' : 'fail'}`,
  );
  const moved = d.applied.length
    ? `${d.undone.length} of ${d.applied.length} migration(s) undone (${d.applied.join(', ')})`
    : `no migration pending for ${r.version}: nothing to undo`;
  return {
    test: 'Database Rollback',
    result: problems.length ? 'fail' : 'pass',
    detail: [moved, ...checks, ...problems].join('; '),
  };
}

/** What is wrong with the database's way back, one line each. */
export function databaseProblems(d: DatabaseRollback): string[] {
  if (!d.applies) return [];
  const undone = new Set(d.undone);
  const left = d.applied.filter((k) => !undone.has(k));
  return [
    ...(left.length ? [`left applied: ${left.join(', ')}`] : []),
    ...d.failures,
    ...failedChecks(d.checks).map((c) => `${c.name}: ${c.detail}`),
    // A database line passes on a check that ran, never on checks that were all "not checked".
    ...(d.checks.every((c) => c.notChecked) ? ['the schema was not compared (no database check ran)'] : []),
  ];
}

/** Rollback time against the previous drills: the median of up to five earlier passed drills. */
export function compareRollbackTime(
  msNow: number,
  previous: readonly PreviousDrill[],
): { medianMs: number | null; ratio: number | null; text: string } {
  if (previous.length === 0) return { medianMs: null, ratio: null, text: 'the first drill of this app' };
  const sorted = previous.map((p) => p.msToTrafficRestored).sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const ratio = median > 0 ? msNow / median : null;
  const change = ratio === null ? '' : ` (${ratio >= 1 ? '+' : ''}${Math.round((ratio - 1) * 100)}%)`;
  return {
    medianMs: median,
    ratio,
    text: `median of the ${previous.length} previous drill(s) ${ms(median)}${change}`,
  };
}

function timeLine(r: DrillReport): ChecklistLine {
  const f = r.fullRollback;
  if (!f || f.msToTrafficRestored === null)
    return { test: 'Rollback Time', result: 'not reached', detail: notReached(r) };
  const cmp = compareRollbackTime(f.msToTrafficRestored, r.previous);
  return {
    test: 'Rollback Time',
    result: 'pass',
    detail: `${ms(f.msToTrafficRestored)} to traffic restored, ${ms(f.msToVerified)} to verified; ${cmp.text}`,
  };
}

function verificationLine(r: DrillReport): ChecklistLine {
  const v = r.verification;
  if (!v) return { test: 'Rollback Verification', result: 'not reached', detail: notReached(r) };
  return {
    test: 'Rollback Verification',
    result: v.passed ? 'pass' : 'fail',
    detail: v.checks
      .map((c) => `${c.name}: ${c.notChecked ? 'not checked' : c.passed ? 'pass' : 'fail'}`)
      .join('; '),
  };
}

function notReached(r: DrillReport): string {
  return r.status === 'Running' ? 'not yet' : `the drill stopped before: ${r.failures[0] ?? 'unknown'}`;
}

/** Passed when every line that applies passed. */
export function drillPassed(r: DrillReport): boolean {
  return (
    r.failures.length === 0 &&
    drillChecklist(r).every((l) => l.result !== 'fail' && l.result !== 'not reached')
  );
}
