// The ledger of an app's migrations in its own database (rewind_migrations, rewind_backups):
// the row format, the state machine every row follows, and the reads and writes. The migrator
// (migrator.ts) decides; this file only records, and refuses a state change the table below
// does not list.

import type { DatabaseEngine, TableStats } from './engines/types.ts';
import type { MigrationPhase } from './types.ts';

export type LedgerState = 'applying' | 'applied' | 'reverting' | 'reverted' | 'failed';

export interface LedgerEntry {
  readonly app: string;
  readonly key: string;
  readonly id: number;
  readonly name: string;
  readonly phase: MigrationPhase;
  readonly checksum: string;
  readonly state: LedgerState;
  readonly revision: number | null;
  /** The rollout that applied it (null: applied before Rewind recorded owners, or by hand). */
  readonly rolloutId: string | null;
  /** The controller (rewind server) that applied it. */
  readonly controller: string | null;
  readonly appliedAt: string | null;
  readonly revertedAt: string | null;
  readonly fingerprintBefore: string | null;
  readonly fingerprintAfter: string | null;
  readonly fingerprintReverted: string | null;
  readonly statsBefore: Record<string, TableStats> | null;
  /** Up statements committed (stepwise runs; the up file's count once applied). */
  readonly statementsDone: number;
  /** How many statements the up file has (0 when recorded before Rewind kept it). */
  readonly upCount: number;
  /**
   * Stepwise runs: the statement sent and not known to have committed (index in the up file
   * while applying, in the down file while reverting), or -1. Written before it is sent.
   */
  readonly inFlight: number;
  /** The schema fingerprint just before the in-flight statement was sent. */
  readonly stepFingerprint: string | null;
  /** The database session that sent it: a resumed run waits until that session is gone. */
  readonly inFlightSession: string | null;
  /** While reverting: how many statements at the end of the down file are still to run. */
  readonly undoRemaining: number;
  /** Tables the migration changes (linter's touched tables and the declared ones). */
  readonly changes: readonly string[];
  /** The down file as it was when applied, so a rollback works without the newer folder. */
  readonly downSql: string | null;
  readonly lastError: string | null;
}

/**
 * The ledger's state machine: for each state (null: no row yet), the states a write may move it
 * to. Atomic runs go straight to applied/failed/reverted (the migration and its row commit
 * together); stepwise runs pass through applying/reverting, which a crash can leave behind and a
 * resumed run continues. failed and reverted rows may be applied again.
 */
export const LEDGER_TRANSITIONS: Readonly<Record<LedgerState | 'none', readonly LedgerState[]>> = {
  none: ['applying', 'applied', 'failed'],
  failed: ['applying', 'applied', 'failed'],
  reverted: ['applying', 'applied', 'failed'],
  applying: ['applied', 'failed', 'reverting'],
  applied: ['reverting', 'reverted'],
  reverting: ['reverting', 'reverted', 'failed'],
};

function checkTransition(key: string, from: LedgerState | null, to: LedgerState): void {
  if (!LEDGER_TRANSITIONS[from ?? 'none'].includes(to))
    throw new Error(
      `ledger row ${key}: no transition from ${from ?? 'no row'} to ${to} (LEDGER_TRANSITIONS in ledger.ts); the ledger was left as it was`,
    );
}

/** Creates rewind_migrations and rewind_backups if missing; portable SQL, idempotent. */
export async function ensureLedger(db: DatabaseEngine): Promise<void> {
  // Read first: CREATE TABLE IF NOT EXISTS still wants SQLite's write lock, which a busy app holds.
  // MySQL's TEXT stops at 64 KB; table stats of a large schema can exceed it.
  const text = db.name === 'mysql' ? 'longtext' : 'text';
  const exists = async (table: string) =>
    db.query(`select 1 as x from ${table} where 1 = 0`).then(
      () => true,
      () => false,
    );
  if ((await exists('rewind_migrations')) && (await exists('rewind_backups'))) {
    // Ledgers created by an earlier Rewind lack the owner and intent columns.
    for (const [table, column, type] of ADDED_COLUMNS(text)) {
      if (!(await exists(`(select ${column} from ${table}) as c`)))
        await db.exec(`alter table ${table} add column ${column} ${type}`);
    }
    return;
  }
  const added = (table: string) =>
    ADDED_COLUMNS(text)
      .filter(([t]) => t === table)
      .map(([, c, type]) => `${c} ${type}`)
      .join(', ');
  await db.exec(`create table if not exists rewind_migrations (
    app varchar(191) not null, migration_key varchar(191) not null, id integer not null,
    name varchar(191) not null, phase varchar(16) not null, checksum varchar(64) not null,
    state varchar(16) not null, revision integer, applied_at varchar(32), reverted_at varchar(32),
    fingerprint_before varchar(64), fingerprint_after varchar(64), fingerprint_reverted varchar(64),
    stats_before ${text}, statements_done integer not null default 0,
    undo_remaining integer not null default 0, changes ${text}, down_sql ${text}, last_error ${text},
    ${added('rewind_migrations')},
    primary key (app, migration_key))`);
  await db.exec(`create table if not exists rewind_backups (
    backup_id varchar(64) not null primary key, seq integer not null, app varchar(191) not null, revision integer,
    migration_key varchar(191) not null, tables ${text} not null, created_at varchar(32) not null,
    ${added('rewind_backups')})`);
}

/** Columns added after the first ledger format; ensureLedger adds them to an older ledger. */
const ADDED_COLUMNS = (text: string): readonly (readonly [string, string, string])[] => [
  ['rewind_migrations', 'rollout_id', 'varchar(64)'],
  ['rewind_migrations', 'controller', 'varchar(191)'],
  ['rewind_migrations', 'up_count', 'integer not null default 0'],
  // Stepwise runs: the 0-based up statement sent and not yet known to have committed (-1: none).
  ['rewind_migrations', 'in_flight', 'integer not null default -1'],
  ['rewind_migrations', 'step_fingerprint', 'varchar(64)'],
  ['rewind_migrations', 'in_flight_session', 'varchar(64)'],
  // How to recreate each backed-up table, and what the migration removed (backups.ts).
  ['rewind_backups', 'definitions', text],
  ['rewind_backups', 'removed', text],
];

/** The highest applied migration. */
export function levelOf(rows: readonly LedgerEntry[]): number {
  return rows.filter((r) => r.state === 'applied').reduce((level, r) => Math.max(level, r.id), 0);
}

/** Why `row` is not this run's to undo, or null when it is. */
export function notOwned(
  row: LedgerEntry,
  o: { readonly scope: 'rollout' | 'controller'; readonly rolloutId: string; readonly controller: string },
): string | null {
  const by = `applied by ${row.rolloutId ? `rollout ${row.rolloutId}` : 'no recorded rollout'}${row.controller ? ` of controller ${row.controller}` : ''}${row.revision != null ? ` for revision ${row.revision}` : ''}`;
  if (o.scope === 'rollout' && row.rolloutId !== o.rolloutId)
    return `${by}, not by this rollout (${o.rolloutId}): a revision that rollout rolled out may need it`;
  if (o.scope === 'controller' && row.controller !== null && row.controller !== o.controller)
    return `${by}, not by this controller (${o.controller}): that controller's serving revision may need it`;
  return null;
}

export async function readLedger(db: DatabaseEngine, app: string): Promise<LedgerEntry[]> {
  const rows = await db.query('select * from rewind_migrations where app = ? order by id', [app]);
  return rows.map((r) => ({
    app: String(r.app),
    key: String(r.migration_key),
    id: Number(r.id),
    name: String(r.name),
    phase: r.phase as MigrationPhase,
    checksum: String(r.checksum),
    state: r.state as LedgerState,
    revision: r.revision == null ? null : Number(r.revision),
    rolloutId: (r.rollout_id as string | null) ?? null,
    controller: (r.controller as string | null) ?? null,
    appliedAt: (r.applied_at as string | null) ?? null,
    revertedAt: (r.reverted_at as string | null) ?? null,
    fingerprintBefore: (r.fingerprint_before as string | null) ?? null,
    fingerprintAfter: (r.fingerprint_after as string | null) ?? null,
    fingerprintReverted: (r.fingerprint_reverted as string | null) ?? null,
    statsBefore: r.stats_before == null ? null : JSON.parse(String(r.stats_before)),
    statementsDone: Number(r.statements_done),
    upCount: Number(r.up_count ?? 0),
    inFlight: Number(r.in_flight ?? -1),
    stepFingerprint: (r.step_fingerprint as string | null) ?? null,
    inFlightSession: r.in_flight_session == null ? null : String(r.in_flight_session),
    undoRemaining: Number(r.undo_remaining),
    changes: r.changes == null ? [] : JSON.parse(String(r.changes)),
    downSql: (r.down_sql as string | null) ?? null,
    lastError: (r.last_error as string | null) ?? null,
  }));
}

/**
 * Writes the ledger row of (app, key): update when present, insert otherwise. No transaction
 * needed (callers hold the app's advisory lock), so it also works inside the migration's own.
 */
export async function putRow(db: DatabaseEngine, e: LedgerEntry): Promise<void> {
  const row: Record<string, unknown> = {
    app: e.app,
    migration_key: e.key,
    id: e.id,
    name: e.name,
    phase: e.phase,
    checksum: e.checksum,
    state: e.state,
    revision: e.revision,
    rollout_id: e.rolloutId,
    controller: e.controller,
    applied_at: e.appliedAt,
    reverted_at: e.revertedAt,
    fingerprint_before: e.fingerprintBefore,
    fingerprint_after: e.fingerprintAfter,
    fingerprint_reverted: e.fingerprintReverted,
    stats_before: e.statsBefore ? JSON.stringify(e.statsBefore) : null,
    statements_done: e.statementsDone,
    up_count: e.upCount,
    in_flight: e.inFlight,
    step_fingerprint: e.stepFingerprint,
    in_flight_session: e.inFlightSession,
    undo_remaining: e.undoRemaining,
    changes: JSON.stringify(e.changes),
    down_sql: e.downSql,
    last_error: e.lastError,
  };
  const existing = await db.query<{ state: LedgerState }>(
    'select state from rewind_migrations where app = ? and migration_key = ?',
    [e.app, e.key],
  );
  if (existing.length) return updateRow(db, e.app, e.key, row);
  checkTransition(e.key, null, e.state);
  const names = Object.keys(row);
  await db.query(
    `insert into rewind_migrations (${names.join(', ')}) values (${names.map(() => '?').join(', ')})`,
    Object.values(row),
  );
}

export async function updateRow(
  db: DatabaseEngine,
  app: string,
  key: string,
  fields: Record<string, unknown>,
): Promise<void> {
  if (typeof fields.state === 'string') {
    const [row] = await db.query<{ state: LedgerState }>(
      'select state from rewind_migrations where app = ? and migration_key = ?',
      [app, key],
    );
    checkTransition(key, row?.state ?? null, fields.state as LedgerState);
  }
  const names = Object.keys(fields);
  await db.query(
    `update rewind_migrations set ${names.map((n) => `${n} = ?`).join(', ')} where app = ? and migration_key = ?`,
    [...names.map((n) => fields[n]), app, key],
  );
}
