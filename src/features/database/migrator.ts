// Applies and undoes an app's migrations against its database, under an advisory lock, with a
// ledger in the target database (rewind_migrations). It never throws: every outcome is data, a
// result per migration (Success | Error | NotExecuted), as Kysely's migrator does.
//
// Two ways to run a migration:
// - atomic (PostgreSQL, SQLite): all statements and the ledger row in one transaction; a failure
//   leaves nothing behind, a lock timeout retries the whole transaction.
// - stepwise (MySQL, where DDL commits; or a statement that refuses a transaction, e.g.
//   CREATE INDEX CONCURRENTLY): the ledger counts committed statements; on failure the down
//   statements that undo them run (down statement i undoes up statement n-1-i), and the count
//   survives a crash so the undo can resume.

import type { DatabaseEngine, TableStats } from './engines/types.ts';
import {
  ensureLedger,
  type LedgerEntry,
  levelOf,
  notOwned,
  putRow,
  readLedger,
  updateRow,
} from './ledger.ts';
import { lintMigration } from './lint.ts';
import { splitStatements } from './sql-split.ts';
import type { Migration, MigrationPhase, SqlStatement } from './types.ts';

export type MigrationErrorCode =
  | 'LOCKED' // another migrator holds the app's advisory lock
  | 'LOCK_TIMEOUT' // a statement kept waiting for a table lock, retries exhausted
  | 'SQL_ERROR'
  | 'CHECKSUM_MISMATCH' // an applied migration's up file changed
  | 'INTERRUPTED' // a migration was left half-way (crash, failed undo): run migrateDown
  | 'MISSING_DOWN'
  | 'UNDO_FAILED' // a stepwise migration failed and so did undoing its committed statements
  | 'REFUSED' // the migration holds statements Rewind cannot run safely (BEGIN/COMMIT): nothing ran
  | 'DATABASE_ERROR'; // the ledger or the connection failed

export interface MigrationError {
  readonly code: MigrationErrorCode;
  readonly message: string;
  /** The statement that failed: 0-based index in its file, 1-based line. */
  readonly statement?: { readonly index: number; readonly line: number; readonly sql: string };
}

export interface MigrationResult {
  readonly key: string;
  readonly id: number;
  readonly direction: 'up' | 'down';
  readonly status: 'Success' | 'Error' | 'NotExecuted';
  readonly error?: MigrationError;
  readonly durationMs: number;
  readonly statementsDone: number;
  readonly fingerprintAfter?: string;
  /** What the catalog showed of a statement in flight when an earlier run stopped (a crash). */
  readonly recovered?: string;
}

export interface MigrationResultSet {
  /** The first error: a failed migration's, or one that stopped the run before any (LOCKED). */
  readonly error?: MigrationError;
  readonly results: readonly MigrationResult[];
  /** The migration the phase filter stopped at: later ones wait for their phase. */
  readonly stoppedAt?: { readonly key: string; readonly phase: MigrationPhase };
  /** The level read under the advisory lock, before anything ran (absent when the lock was not had). */
  readonly levelBefore?: number;
  /** Migrations a down run left applied, each with the reason (another rollout or controller owns it). */
  readonly left?: readonly { readonly key: string; readonly reason: string }[];
}

// The ledger's vocabulary, for callers that know the migrator only.
export { ensureLedger, type LedgerEntry, type LedgerState, levelOf, readLedger } from './ledger.ts';

export interface MigrationStatus {
  readonly applied: readonly LedgerEntry[];
  readonly pending: readonly Migration[];
  readonly currentLevel: number;
  readonly checksumMismatches: readonly { key: string; recorded: string; current: string }[];
  readonly interrupted: readonly LedgerEntry[];
  /** Applied per the ledger but absent from the folder (a newer revision's, after a rollback). */
  readonly unknown: readonly LedgerEntry[];
}

export interface RunOptions {
  /** How long one statement waits for a table lock (default 5000). */
  readonly lockTimeoutMs?: number;
  /** Extra attempts after a lock timeout (default 3), `retryDelayMs` apart (default 1000). */
  readonly retries?: number;
  readonly retryDelayMs?: number;
  /** How long to wait for the app's advisory lock before returning LOCKED (default 30000). */
  readonly advisoryLockWaitMs?: number;
  /** Tables above this many rows get a count but no checksum (default 100000). */
  readonly checksumRowLimit?: number;
  readonly onProgress?: (event: ProgressEvent) => void;
  /**
   * Stepwise runs: called after the intent to run a statement is recorded (`sent`, just before it
   * goes to the database) and after it committed and was counted (`done`). Crash tests kill the
   * process here; nothing else should need it.
   */
  readonly onStep?: (event: StepEvent) => void | Promise<void>;
}

export interface StepEvent {
  readonly key: string;
  readonly direction: 'up' | 'down';
  readonly index: number;
  readonly at: 'sent' | 'done';
}

export interface ProgressEvent {
  readonly key: string;
  readonly direction: 'up' | 'down';
  readonly done: number;
  readonly total: number;
}

export interface MigrateUpOptions extends RunOptions {
  /** Which phases may run; the run stops at the first migration of another phase. */
  readonly phase?: 'expand' | 'contract' | 'all';
  readonly toLevel?: number;
  readonly revision?: number | null;
  /** Recorded in the ledger as the owner of what this run applies. */
  readonly rolloutId?: string | null;
  readonly controller?: string | null;
}

export interface MigrateDownOptions extends RunOptions {
  readonly toLevel: number;
  /** 'contract' stops at the first expand migration (undo only what the contract step did). */
  readonly phase?: 'contract' | 'all';
  /**
   * Whose migrations this run may undo; it stops at the first one it may not (and leaves it and
   * everything below it applied, saying why). `rollout`: only those this rollout applied (the
   * compensation of a failed deploy). `controller`: those this controller applied (or that have
   * no recorded owner). Absent: any.
   */
  readonly owner?: {
    readonly scope: 'rollout' | 'controller';
    readonly rolloutId: string;
    readonly controller: string;
  };
}

export interface Migrator {
  status(migrations: readonly Migration[]): Promise<MigrationStatus>;
  migrateUp(migrations: readonly Migration[], options?: MigrateUpOptions): Promise<MigrationResultSet>;
  migrateDown(migrations: readonly Migration[], options: MigrateDownOptions): Promise<MigrationResultSet>;
  /** The fingerprint recorded for a level; null when the ledger never saw it. */
  expectedFingerprint(level: number): Promise<string | null>;
  /** What verification compares against after a rollback to `level`. */
  baseline(level: number): Promise<Baseline>;
  ledger(): Promise<LedgerEntry[]>;
}

export interface Baseline {
  readonly fingerprint: string | null;
  /** Table stats taken before the first migration above the level was applied. */
  readonly statsBefore: Record<string, TableStats> | null;
  /** Tables changed by the migrations above the level. */
  readonly changedTables: readonly string[];
}

const DEFAULTS = {
  lockTimeoutMs: 5000,
  retries: 3,
  retryDelayMs: 1000,
  advisoryLockWaitMs: 30_000,
  checksumRowLimit: 100_000,
};
type Settings = typeof DEFAULTS & Pick<RunOptions, 'onProgress' | 'onStep'>;

export function createMigrator(db: DatabaseEngine, options: { readonly app: string }): Migrator {
  const app = options.app;
  const lockName = `rewind_migrate_${app}`;

  /** Takes the advisory lock, creates the ledger, turns any unexpected throw into data. */
  async function guarded(run: RunOptions, body: (s: Settings) => Promise<MigrationResultSet>) {
    const s: Settings = { ...DEFAULTS, ...definedOnly(run) };
    let locked = false;
    try {
      locked = await db.tryLock(lockName, s.advisoryLockWaitMs);
      if (!locked) {
        const message = `another migrator holds the lock ${lockName}; gave up after ${s.advisoryLockWaitMs} ms. Retry when it finishes.`;
        return { error: { code: 'LOCKED' as const, message }, results: [] };
      }
      await ensureLedger(db);
      // Read under the lock: a level read before it may be stale by the time this run starts.
      const levelBefore = levelOf(await readLedger(db, app));
      await db.setLockTimeout(s.lockTimeoutMs);
      return { ...(await body(s)), levelBefore };
    } catch (err) {
      return {
        error: { code: 'DATABASE_ERROR' as const, message: `${app}: ${messageOf(err)}` },
        results: [],
      };
    } finally {
      if (locked) await db.unlock(lockName).catch(() => {});
    }
  }

  const migrator: Migrator = {
    async status(migrations) {
      await ensureLedger(db);
      const rows = await readLedger(db, app);
      const byKey = new Map(migrations.map((m) => [m.key, m]));
      const applied = rows.filter((r) => r.state === 'applied');
      const interrupted = rows.filter((r) => r.state === 'applying' || r.state === 'reverting');
      const done = new Set([...applied, ...interrupted].map((r) => r.key));
      return {
        applied,
        pending: migrations.filter((m) => !done.has(m.key)).sort((a, b) => a.id - b.id),
        currentLevel: levelOf(rows),
        checksumMismatches: applied.flatMap((r) => {
          const m = byKey.get(r.key);
          return m && m.checksum !== r.checksum
            ? [{ key: r.key, recorded: r.checksum, current: m.checksum }]
            : [];
        }),
        interrupted,
        unknown: applied.filter((r) => !byKey.has(r.key)),
      };
    },

    migrateUp: (migrations, o = {}) =>
      guarded(o, async (s) => {
        let st = await migrator.status(migrations);
        // A run that stopped without an error (a crash) while applying resumes forward, after the
        // catalog says whether the statement in flight took effect.
        const byKey = new Map(migrations.map((m) => [m.key, m]));
        const crashed = st.interrupted.filter(
          (r) => r.state === 'applying' && r.lastError === null && byKey.get(r.key)?.checksum === r.checksum,
        );
        const stuck = st.interrupted.filter((r) => !crashed.includes(r));
        if (stuck.length) {
          const keys = stuck.map((r) => `${r.key} (${r.state}, ${r.lastError ?? 'no error recorded'})`);
          return fail('INTERRUPTED', `${keys.join('; ')}: run migrateDown to finish undoing it first`);
        }
        const resumed: MigrationResult[] = [];
        for (const row of crashed.sort((a, b) => a.id - b.id)) {
          const seen = await reconcile(row, byKey.get(row.key)!.upStatements, s);
          if ('error' in seen) return { error: seen.error, results: resumed };
          const m = byKey.get(row.key)!;
          const lint = lintMigration(m, db.name, migrations);
          const r = await applyOne(m, lint.effectivePhase, row.changes, row, s, seen.row);
          resumed.push(seen.note ? { ...r, recovered: seen.note } : r);
          if (r.status === 'Error') return { error: r.error, results: resumed };
        }
        if (crashed.length) st = await migrator.status(migrations);
        if (st.checksumMismatches.length) {
          const keys = st.checksumMismatches.map((c) => c.key).join(', ');
          return fail(
            'CHECKSUM_MISMATCH',
            `applied migration files changed since they ran: ${keys}; restore them and add a new migration instead`,
          );
        }
        const pending = st.pending.filter((m) => m.id <= (o.toLevel ?? Number.POSITIVE_INFINITY));
        const results: MigrationResult[] = [...resumed];
        for (const [i, m] of pending.entries()) {
          const lint = lintMigration(m, db.name, migrations);
          const allowed = (o.phase ?? 'all') === 'all' || o.phase === lint.effectivePhase;
          if (!allowed) {
            return {
              results: [...results, ...notExecuted(pending.slice(i), 'up')],
              stoppedAt: { key: m.key, phase: lint.effectivePhase },
            };
          }
          const control = lint.findings.find((f) => f.code === 'RW306');
          if (control) {
            const message = `${m.key}: ${control.file}:${control.line} ${control.message}; nothing was run. Fix: ${control.fix}`;
            const refused = { ...notRun(m.key, m.id, 'up'), status: 'Error' as const };
            return {
              error: { code: 'REFUSED' as const, message },
              results: [
                ...results,
                { ...refused, error: { code: 'REFUSED' as const, message } },
                ...notExecuted(pending.slice(i + 1), 'up'),
              ],
            };
          }
          const changes = [...new Set([...lint.touchedTables, ...(m.declaredChanges ?? [])])].sort();
          const owner = {
            revision: o.revision ?? null,
            rolloutId: o.rolloutId ?? null,
            controller: o.controller ?? null,
          };
          const r = await applyOne(m, lint.effectivePhase, changes, owner, s);
          results.push(r);
          if (r.status === 'Error')
            return { error: r.error, results: [...results, ...notExecuted(pending.slice(i + 1), 'up')] };
        }
        return { results };
      }),

    migrateDown: (migrations, o) =>
      guarded(o, async (s) => {
        const byKey = new Map(migrations.map((m) => [m.key, m]));
        const rows = (await readLedger(db, app))
          .filter((r) => r.id > o.toLevel && ['applied', 'applying', 'reverting'].includes(r.state))
          .sort((a, b) => b.id - a.id);
        const results: MigrationResult[] = [];
        const rest = (from: number) => rows.slice(from).map((r) => notRun(r.key, r.id, 'down'));
        for (const [i, row] of rows.entries()) {
          if (o.phase === 'contract' && row.phase === 'expand' && row.state === 'applied') {
            return { results: [...results, ...rest(i)], stoppedAt: { key: row.key, phase: row.phase } };
          }
          const foreign = o.owner && notOwned(row, o.owner);
          if (foreign) {
            // Everything below it stays too: a lower migration may be what this one builds on.
            const left = rows.slice(i).map((r) => ({
              key: r.key,
              reason: r === row ? foreign : `below ${row.key}, which stays`,
            }));
            return { results: [...results, ...rest(i)], left };
          }
          const r = await revertOne(row, byKey.get(row.key), s);
          results.push(r);
          if (r.status === 'Error') return { error: r.error, results: [...results, ...rest(i + 1)] };
        }
        return { results };
      }),

    async expectedFingerprint(level) {
      return (await migrator.baseline(level)).fingerprint;
    },

    async baseline(level) {
      await ensureLedger(db);
      const rows = (await readLedger(db, app)).sort((a, b) => a.id - b.id);
      const at = rows.find((r) => r.id === level && r.fingerprintAfter);
      const above = rows.filter((r) => r.id > level);
      const first = above.find((r) => r.fingerprintBefore);
      return {
        fingerprint: at?.fingerprintAfter ?? first?.fingerprintBefore ?? null,
        statsBefore: first?.statsBefore ?? null,
        changedTables: [...new Set(above.flatMap((r) => r.changes))].sort(),
      };
    },

    ledger: () => readLedger(db, app),
  };

  async function applyOne(
    m: Migration,
    phase: MigrationPhase,
    changes: readonly string[],
    owner: { revision: number | null; rolloutId: string | null; controller: string | null },
    s: Settings,
    resume?: LedgerEntry,
  ): Promise<MigrationResult> {
    const started = Date.now();
    const result = (rest: Partial<MigrationResult>): MigrationResult => ({
      key: m.key,
      id: m.id,
      direction: 'up',
      status: 'Success',
      durationMs: Date.now() - started,
      statementsDone: 0,
      ...rest,
    });
    const before = resume ? null : await db.schemaFingerprint();
    const stats = resume ? null : await db.tableStats(await db.listTables(), s);
    const row: LedgerEntry = resume ?? {
      app,
      key: m.key,
      id: m.id,
      name: m.name,
      phase,
      checksum: m.checksum,
      state: 'applying',
      ...owner,
      appliedAt: null,
      revertedAt: null,
      fingerprintBefore: before?.hash ?? null,
      fingerprintAfter: null,
      fingerprintReverted: null,
      statsBefore: stats,
      statementsDone: 0,
      upCount: m.upStatements.length,
      inFlight: -1,
      stepFingerprint: null,
      inFlightSession: null,
      undoRemaining: 0,
      changes,
      downSql: m.downSql,
      lastError: null,
    };
    const n = m.upStatements.length;
    const progress = (done: number) => s.onProgress?.({ key: m.key, direction: 'up', done, total: n });
    const applied = async () => ({
      ...row,
      state: 'applied' as const,
      statementsDone: n,
      appliedAt: new Date().toISOString(),
      fingerprintAfter: (await db.schemaFingerprint()).hash,
    });

    if (!resume && isAtomic(m.upStatements)) {
      let at = 0;
      const outcome = await withRetries(s, async () => {
        at = 0;
        return db.transaction(async () => {
          for (const st of m.upStatements) {
            await db.exec(st.sql);
            progress(++at);
          }
          const done = await applied();
          await putRow(db, done);
          return done;
        });
      });
      if (outcome.ok)
        return result({ statementsDone: n, fingerprintAfter: outcome.value.fingerprintAfter ?? undefined });
      const error = statementError(
        m,
        'up',
        at,
        m.upStatements,
        outcome,
        s,
        'the transaction was rolled back: the database is unchanged',
      );
      const unrecorded = await bestEffort(() =>
        putRow(db, { ...row, state: 'failed', lastError: error.message }),
      );
      return result({ status: 'Error', error: { ...error, message: error.message + unrecorded } });
    }

    if (!resume) await putRow(db, row);
    for (const [k, st] of m.upStatements.entries()) {
      if (k < row.statementsDone) continue;
      const outcome = await step(m.key, 'up', k, st, { statements_done: k + 1 }, s);
      if (!outcome.ok) {
        const undo = await undoStepwise(m, { ...row, statementsDone: k }, k, s);
        const failed = statementError(m, 'up', k, m.upStatements, outcome, s, undo.note);
        const error = undo.error ? { ...failed, code: undo.error.code } : failed;
        const unrecorded = await bestEffort(() => updateRow(db, app, m.key, { last_error: error.message }));
        return result({
          status: 'Error',
          error: { ...error, message: error.message + unrecorded },
          statementsDone: undo.error ? k : 0,
        });
      }
      progress(k + 1);
    }
    const done = await applied();
    await putRow(db, done);
    return result({ statementsDone: n, fingerprintAfter: done.fingerprintAfter ?? undefined });
  }

  /** Undoes the first k committed up statements of a stepwise migration that failed at k. */
  async function undoStepwise(
    m: Migration,
    row: LedgerEntry,
    k: number,
    s: Settings,
  ): Promise<{ note: string; error?: MigrationError }> {
    if (k === 0) {
      await putRow(db, { ...row, state: 'failed' });
      return { note: 'no statement had committed: the database is unchanged' };
    }
    if (m.downStatements.length !== m.upStatements.length) {
      const note =
        `${k} statement(s) had committed and cannot be undone automatically: the down file has ` +
        `${m.downStatements.length} statements for ${m.upStatements.length} up statements (statement i of the down file must undo up statement n-1-i). ` +
        'Undo them by hand, then run migrateDown';
      return { note, error: { code: 'INTERRUPTED', message: `${m.key}: ${note}` } };
    }
    await updateRow(db, app, m.key, { state: 'reverting', undo_remaining: k });
    const undo = await runDownTail(m.key, m.downStatements, k, 'up', s);
    if (undo.error)
      return { note: `undoing failed: ${undo.error.message}`, error: { ...undo.error, code: 'UNDO_FAILED' } };
    await updateRow(db, app, m.key, { state: 'failed', statements_done: 0 });
    return { note: `the ${k} committed statement(s) were undone: the database is as before` };
  }

  /**
   * Runs the last `remaining` down statements, counting down in the ledger after each, so a
   * crash or a failure resumes where it stopped.
   */
  async function runDownTail(
    key: string,
    downs: readonly SqlStatement[],
    remaining: number,
    direction: 'up' | 'down',
    s: Settings,
  ) {
    const total = downs.length;
    for (let i = total - remaining; i < total; i++) {
      const st = downs[i]!;
      const outcome = await step(key, 'down', i, st, { undo_remaining: total - i - 1 }, s);
      if (!outcome.ok) {
        const error: MigrationError = {
          code: db.isLockTimeout(outcome.error) ? 'LOCK_TIMEOUT' : 'SQL_ERROR',
          message: `${key}: down statement ${i + 1} (line ${st.line}) failed: ${messageOf(outcome.error)}; ${total - i} down statement(s) still to run`,
          statement: { index: i, line: st.line, sql: st.sql },
        };
        const unrecorded = await bestEffort(() => updateRow(db, app, key, { last_error: error.message }));
        return { error: { ...error, message: error.message + unrecorded }, done: i - (total - remaining) };
      }
      if (direction === 'down') s.onProgress?.({ key, direction, done: i + 1, total });
    }
    return { done: remaining };
  }

  async function revertOne(
    entry: LedgerEntry,
    m: Migration | undefined,
    s: Settings,
  ): Promise<MigrationResult> {
    let row = entry;
    const started = Date.now();
    const result = (rest: Partial<MigrationResult>): MigrationResult => ({
      key: row.key,
      id: row.id,
      direction: 'down',
      status: 'Success',
      durationMs: Date.now() - started,
      statementsDone: 0,
      ...rest,
    });
    // The folder's down file when there is one (it may carry a fix), else the one recorded at apply.
    const downs =
      m?.downSql != null
        ? m.downStatements
        : row.downSql != null
          ? splitStatements(row.downSql, db.name)
          : [];
    if (downs.length === 0) {
      const message = `${row.key} has no down migration (add ${row.key}.down.sql): nothing was changed`;
      return result({ status: 'Error', error: { code: 'MISSING_DOWN', message } });
    }
    const reverted = async () => ({
      state: 'reverted',
      statements_done: 0,
      undo_remaining: 0,
      reverted_at: new Date().toISOString(),
      fingerprint_reverted: (await db.schemaFingerprint()).hash,
      last_error: null,
    });

    if (row.state === 'applied' && isAtomic(downs)) {
      let at = 0;
      const outcome = await withRetries(s, async () => {
        at = 0;
        return db.transaction(async () => {
          for (const st of downs) {
            await db.exec(st.sql);
            // Counted outside the optional call: its arguments are not evaluated without a listener.
            at++;
            s.onProgress?.({ key: row.key, direction: 'down', done: at, total: downs.length });
          }
          const fields = await reverted();
          await updateRow(db, app, row.key, fields);
          return fields.fingerprint_reverted;
        });
      });
      if (outcome.ok) return result({ statementsDone: downs.length, fingerprintAfter: outcome.value });
      const error = statementError(
        m,
        'down',
        at,
        downs,
        outcome,
        s,
        'the transaction was rolled back: the migration is still applied',
        row.key,
      );
      const unrecorded = await bestEffort(() => updateRow(db, app, row.key, { last_error: error.message }));
      return result({ status: 'Error', error: { ...error, message: error.message + unrecorded } });
    }

    // Stepwise: a full revert, the undo of an interrupted apply, or the resumption of either.
    // First, what the catalog says of a statement in flight when an earlier run stopped.
    let recovered: string | undefined;
    if (row.inFlight >= 0) {
      const seen = await reconcile(row, row.state === 'applying' ? (m?.upStatements ?? null) : downs, s);
      if ('error' in seen) return result({ status: 'Error', error: seen.error });
      row = seen.row;
      recovered = seen.note;
    }
    const withNote = (r: MigrationResult): MigrationResult => (recovered ? { ...r, recovered } : r);
    let remaining = row.undoRemaining;
    if (row.state === 'applied') remaining = downs.length;
    if (row.state === 'applying') {
      // The recorded count, not the folder's: the undo may run from the ledger alone.
      const upCount = row.upCount || m?.upStatements.length || 0;
      if (upCount !== downs.length) {
        const message =
          `${row.key} stopped after ${row.statementsDone} of ${upCount || '?'} up statement(s) and its down file has ${downs.length} ` +
          `statement(s), so it cannot be undone statement by statement (down statement i must undo up statement n-1-i). Nothing was run: ` +
          `the ${row.statementsDone} committed up statement(s) are still applied and the ledger still says applying. Undo them by hand, then mark the migration failed`;
        return result({ status: 'Error', error: { code: 'INTERRUPTED', message } });
      }
      remaining = row.statementsDone;
    }
    if (remaining > downs.length) {
      const message = `${row.key}: ${remaining} statement(s) to undo but the down file has only ${downs.length}: nothing was run, the migration is still partly applied (ledger: ${row.state}). Undo it by hand`;
      return result({ status: 'Error', error: { code: 'INTERRUPTED', message } });
    }
    await updateRow(db, app, row.key, { state: 'reverting', undo_remaining: remaining });
    const run = await runDownTail(row.key, downs, remaining, 'down', s);
    if (run.error) return withNote(result({ status: 'Error', error: run.error, statementsDone: run.done }));
    const fields = await reverted();
    await updateRow(db, app, row.key, fields);
    return withNote(result({ statementsDone: run.done, fingerprintAfter: fields.fingerprint_reverted }));
  }

  /**
   * Sends one statement of a stepwise run. A statement that may run in a transaction commits
   * together with its ledger update, so a crash leaves no doubt. One that commits on its own
   * (MySQL DDL, CREATE INDEX CONCURRENTLY) is announced first: the ledger records its index,
   * the schema fingerprint before it and the session sending it, so a resumed run can ask the
   * catalog whether it took effect instead of trusting a counter.
   */
  async function step(
    key: string,
    direction: 'up' | 'down',
    index: number,
    st: SqlStatement,
    counted: Record<string, unknown>,
    s: Settings,
  ): Promise<Outcome<void>> {
    const event = { key, direction, index };
    if (db.canRunInTransaction(st.sql) && (db.transactionalDdl || !COMMITS_ON_ITS_OWN.test(st.sql))) {
      await s.onStep?.({ ...event, at: 'sent' });
      const outcome = await withRetries(s, () =>
        db.transaction(async () => {
          await db.exec(st.sql);
          await updateRow(db, app, key, counted);
        }),
      );
      if (outcome.ok) await s.onStep?.({ ...event, at: 'done' });
      return outcome;
    }
    await updateRow(db, app, key, {
      in_flight: index,
      step_fingerprint: (await db.schemaFingerprint()).hash,
      in_flight_session: await db.sessionId(),
    });
    await s.onStep?.({ ...event, at: 'sent' });
    const outcome = await withRetries(s, () => db.exec(st.sql));
    if (!outcome.ok) {
      await updateRow(db, app, key, { in_flight: -1 });
      return outcome;
    }
    await updateRow(db, app, key, { ...counted, in_flight: -1 });
    await s.onStep?.({ ...event, at: 'done' });
    return outcome;
  }

  /**
   * A run stopped while a statement was in flight: waits until the session that sent it is gone
   * (MariaDB finishes an ALTER after its client died), drops INVALID indexes a crashed
   * CREATE INDEX CONCURRENTLY left (so it is rebuilt, or has nothing to undo), then compares the
   * schema with the fingerprint taken before the statement: changed means it took effect.
   */
  async function reconcile(
    row: LedgerEntry,
    statements: readonly SqlStatement[] | null,
    s: Settings,
  ): Promise<{ row: LedgerEntry; note?: string } | { error: MigrationError }> {
    if (row.inFlight < 0) return { row };
    const k = row.inFlight;
    const st = statements?.[k];
    const what = `${row.state === 'reverting' ? 'down' : 'up'} statement ${k + 1}${st ? ` (line ${st.line})` : ''}`;
    if (row.inFlightSession !== null) {
      const gone = await pollUntil(
        async () => !(await db.sessionBusy(row.inFlightSession!)),
        s.advisoryLockWaitMs,
      );
      if (!gone) {
        const message = `${row.key}: ${what} is still running in database session ${row.inFlightSession} of the run that stopped; retry when it ends (nothing was changed)`;
        return { error: { code: 'INTERRUPTED', message } };
      }
    }
    const dropped = await db.dropInvalidIndexes();
    const tookEffect = (await db.schemaFingerprint()).hash !== row.stepFingerprint;
    const reverting = row.state === 'reverting';
    const statementsDone = reverting ? row.statementsDone : tookEffect ? k + 1 : k;
    const undoRemaining = reverting && tookEffect ? row.undoRemaining - 1 : row.undoRemaining;
    await updateRow(db, app, row.key, {
      statements_done: statementsDone,
      undo_remaining: undoRemaining,
      in_flight: -1,
    });
    const note =
      `${row.key}: ${what} was in flight when the earlier run stopped; the catalog shows it ${tookEffect ? 'took effect' : 'did not take effect'}` +
      (dropped.length ? ` (dropped the INVALID index(es) it left: ${dropped.join(', ')})` : '');
    return {
      row: {
        ...row,
        inFlight: -1,
        statementsDone,
        undoRemaining,
      },
      note,
    };
  }

  /** Atomic when DDL is transactional and no statement refuses a transaction. */
  function isAtomic(statements: readonly SqlStatement[]): boolean {
    return db.transactionalDdl && statements.every((st) => db.canRunInTransaction(st.sql));
  }

  /** Lock timeouts are retried (the blocker may finish); anything else fails at once. */
  async function withRetries<T>(s: Settings, fn: () => Promise<T>): Promise<Outcome<T>> {
    for (let attempt = 1; ; attempt++) {
      try {
        return { ok: true, value: await fn() };
      } catch (error) {
        if (!db.isLockTimeout(error) || attempt > s.retries) return { ok: false, error, attempts: attempt };
        await new Promise((resolve) => setTimeout(resolve, s.retryDelayMs));
      }
    }
  }

  function statementError(
    m: Migration | undefined,
    direction: 'up' | 'down',
    index: number,
    statements: readonly SqlStatement[],
    outcome: { error: unknown; attempts: number },
    s: Settings,
    note: string,
    key = m?.key ?? '?',
  ): MigrationError {
    const st = statements[index]; // undefined when the failure came after the last statement
    const file = (direction === 'up' ? m?.upPath : m?.downPath) ?? `${key}.${direction}.sql`;
    const where = st ? `${direction} statement ${index + 1} (${file}:${st.line})` : `${direction} migration`;
    const lock = db.isLockTimeout(outcome.error);
    const why = lock
      ? `gave up after ${outcome.attempts} attempt(s): lock timeout (${s.lockTimeoutMs} ms) waiting for a lock another session holds (${messageOf(outcome.error)}); retry when it is released or raise lockTimeoutMs`
      : `failed: ${messageOf(outcome.error)}`;
    return {
      code: lock ? 'LOCK_TIMEOUT' : 'SQL_ERROR',
      message: `${key}: ${where} ${why}; ${note}`,
      ...(st ? { statement: { index, line: st.line, sql: st.sql } } : {}),
    };
  }

  return migrator;
}

/** DDL that commits on its own where DDL is not transactional (MySQL): never shares a transaction. */
const COMMITS_ON_ITS_OWN =
  /^\s*(?:--[^\n]*\n\s*|\/\*[\s\S]*?\*\/\s*)*(?:create|alter|drop|rename|truncate|grant|revoke|lock|unlock|analyze|optimize|repair)\b/i;

async function pollUntil(ok: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await ok()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown; attempts: number };

const fail = (code: MigrationErrorCode, message: string): MigrationResultSet => ({
  error: { code, message },
  results: [],
});
const notRun = (key: string, id: number, direction: 'up' | 'down'): MigrationResult => ({
  key,
  id,
  direction,
  status: 'NotExecuted',
  durationMs: 0,
  statementsDone: 0,
});
const notExecuted = (ms: readonly Migration[], direction: 'up' | 'down') =>
  ms.map((m) => notRun(m.key, m.id, direction));

/**
 * Writes a failure to the ledger; when the ledger cannot be written (SQLite still locked by the
 * session that caused the failure) the failure itself must still reach the caller.
 */
async function bestEffort(write: () => Promise<void>): Promise<string> {
  try {
    await write();
    return '';
  } catch (err) {
    return ` (not recorded in the ledger: ${messageOf(err)})`;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
