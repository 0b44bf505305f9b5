// Backups of the tables a contract migration is about to change, and the merge that puts back
// what the migration removed. Recorded in rewind_backups in the target database; the rows live
// where the engine keeps backups.
//
// A restore merges, it never overwrites: a dropped column gets its values back by primary key,
// a dropped table comes back with its rows, constraints and indexes, rows the migration deleted
// come back; rows written since the backup keep their values and new rows keep the column's
// default. It respects the current migration level: what a still-applied migration removed stays
// removed, and a column or table the current level does not have is never re-added. Only an
// explicit overwrite deletes rows, after a dry run shows which.

import { randomBytes } from 'node:crypto';
import type { DatabaseEngine, MergeCounts, MergePlan, TableDefinition } from './engines/types.ts';
import { ensureLedger, readLedger } from './migrator.ts';
import type { Migration } from './types.ts';

/** What a migration took away from its backed-up tables, found by comparing after it ran. */
export interface Removed {
  readonly tables: readonly string[];
  readonly columns: Readonly<Record<string, readonly string[]>>;
  /** Tables some of whose backed-up rows the migration deleted. */
  readonly rows: readonly string[];
}

export interface BackupRecord {
  readonly backupId: string;
  readonly app: string;
  readonly revision: number | null;
  readonly migrationKey: string;
  readonly tables: readonly string[];
  readonly createdAt: string;
  /** null for backups taken before Rewind recorded them. */
  readonly definitions: Readonly<Record<string, TableDefinition>> | null;
  /** null until the migration ran (and for manual backups). */
  readonly removed: Removed | null;
}

export interface BackupOwner {
  readonly app: string;
  readonly revision: number | null;
}

export interface MergeOptions {
  /** Delete rows the backup lacks and set every column from it. */
  readonly overwrite?: boolean;
  /** Change nothing; say what would change. */
  readonly dryRun?: boolean;
}

export interface MergeReport {
  readonly backupId: string;
  readonly migrationKey: string;
  readonly tables: readonly MergeCounts[];
  /** Parts of the backup left alone, each with the reason. */
  readonly skipped: readonly { readonly table: string; readonly reason: string }[];
  readonly dryRun: boolean;
}

/** A merge that cannot be done safely; nothing was changed. */
export class RestoreRefused extends Error {}

/** Copies `tables` and records the backup; returns its id. Nothing is recorded if the copy fails. */
export async function backupForMigration(
  db: DatabaseEngine,
  migration: Pick<Migration, 'key'>,
  tables: readonly string[],
  owner: BackupOwner,
): Promise<string> {
  await ensureLedger(db);
  const now = new Date();
  const backupId = `bk_${now.toISOString().replace(/\D/g, '').slice(0, 14)}_${randomBytes(3).toString('hex')}`;
  const list = [...new Set(tables)].sort();
  const definitions = await db.describeTables(list);
  await db.backupTables(backupId, list);
  try {
    // A sequence, not the clock, orders backups: two taken in the same millisecond must not tie.
    const [last] = await db.query<{ seq: number | null }>('select max(seq) as seq from rewind_backups');
    await db.query(
      'insert into rewind_backups (backup_id, seq, app, revision, migration_key, tables, created_at, definitions) values (?, ?, ?, ?, ?, ?, ?, ?)',
      [
        backupId,
        Number(last?.seq ?? 0) + 1,
        owner.app,
        owner.revision,
        migration.key,
        JSON.stringify(list),
        now.toISOString(),
        JSON.stringify(definitions),
      ],
    );
  } catch (err) {
    await db.dropBackup(backupId).catch(() => {});
    throw err;
  }
  return backupId;
}

/**
 * After the backup's migration ran: records which tables, columns and rows it removed, so a
 * rollback puts back exactly those.
 */
export async function recordRemoved(db: DatabaseEngine, backupId: string): Promise<Removed> {
  const record = (await listAllBackups(db)).find((b) => b.backupId === backupId);
  if (!record) throw new Error(`no backup ${backupId} is recorded in rewind_backups`);
  const existing = new Set(await db.listTables());
  const now = await db.describeTables(record.tables.filter((t) => existing.has(t)));
  const tables = record.tables.filter((t) => !existing.has(t));
  const columns: Record<string, string[]> = {};
  const keyed: MergePlan[] = [];
  for (const t of record.tables.filter((t) => existing.has(t))) {
    const have = new Set(now[t]!.columns);
    const gone = (record.definitions?.[t]?.columns ?? []).filter((c) => !have.has(c));
    if (gone.length) columns[t] = gone;
    const key = now[t]!.primaryKey;
    if (key.length)
      keyed.push({ table: t, key, fill: [], insertMissing: true, overwrite: false, recreate: null });
  }
  const missing = keyed.length ? await db.mergeTables(backupId, keyed, { dryRun: true }) : [];
  const removed: Removed = {
    tables,
    columns,
    rows: missing.filter((c) => c.inserted > 0).map((c) => c.table),
  };
  await db.query('update rewind_backups set removed = ? where backup_id = ?', [
    JSON.stringify(removed),
    backupId,
  ]);
  return removed;
}

/** Newest first. */
export async function listBackups(db: DatabaseEngine, app: string): Promise<BackupRecord[]> {
  return (await listAllBackups(db)).filter((b) => b.app === app);
}

async function listAllBackups(db: DatabaseEngine): Promise<BackupRecord[]> {
  await ensureLedger(db);
  const rows = await db.query(
    'select backup_id, app, revision, migration_key, tables, created_at, definitions, removed from rewind_backups order by seq desc',
  );
  return rows.map((r) => ({
    backupId: String(r.backup_id),
    app: String(r.app),
    revision: r.revision == null ? null : Number(r.revision),
    migrationKey: String(r.migration_key),
    tables: JSON.parse(String(r.tables)) as string[],
    createdAt: String(r.created_at),
    definitions: r.definitions == null ? null : JSON.parse(String(r.definitions)),
    removed: r.removed == null ? null : JSON.parse(String(r.removed)),
  }));
}

/**
 * Merges every backup taken for the revision's migrations. Newest backup first, so when two
 * migrations backed up the same table the oldest copy (the state before the revision) is
 * merged last and wins. Every backup is planned before any is merged: a refusal changes nothing.
 */
export async function restoreBackup(
  db: DatabaseEngine,
  owner: BackupOwner,
  options: MergeOptions = {},
): Promise<MergeReport[]> {
  const backups = (await listBackups(db, owner.app)).filter((b) => b.revision === owner.revision);
  return mergeBackups(db, owner.app, backups, options);
}

export async function mergeBackups(
  db: DatabaseEngine,
  app: string,
  backups: readonly BackupRecord[],
  options: MergeOptions = {},
): Promise<MergeReport[]> {
  const planned = [];
  for (const b of backups) planned.push({ b, ...(await planMerge(db, app, b, options)) });
  const refusals = planned.flatMap((p) => p.refusals);
  if (refusals.length) throw new RestoreRefused(`${refusals.join('; ')}. Nothing was restored.`);
  const reports: MergeReport[] = [];
  for (const p of planned) {
    const dryRun = options.dryRun === true;
    const tables = p.plans.length ? await db.mergeTables(p.b.backupId, p.plans, { dryRun }) : [];
    reports.push({
      backupId: p.b.backupId,
      migrationKey: p.b.migrationKey,
      tables,
      skipped: p.skipped,
      dryRun,
    });
  }
  return reports;
}

/** What merging one backup would do at the current migration level. */
async function planMerge(db: DatabaseEngine, app: string, b: BackupRecord, o: MergeOptions) {
  const ledger = (await readLedger(db, app)).find((r) => r.key === b.migrationKey);
  const stillApplied = ledger?.state === 'applied';
  const manual = ledger === undefined;
  const existing = new Set(await db.listTables());
  const now = await db.describeTables(b.tables.filter((t) => existing.has(t)));
  const plans: MergePlan[] = [];
  const skipped: { table: string; reason: string }[] = [];
  const refusals: string[] = [];
  const removed = b.removed;
  for (const t of b.tables) {
    const wasDropped = removed?.tables.includes(t) ?? !existing.has(t);
    if (!existing.has(t) && (!wasDropped || stillApplied || manual)) {
      skipped.push({
        table: t,
        reason: stillApplied
          ? `dropped by ${b.migrationKey}, which is still applied: roll it back first`
          : 'not in the schema at the current migration level: never re-added by a restore',
      });
      continue;
    }
    const definition = now[t] ?? b.definitions?.[t] ?? null;
    const recreate = existing.has(t) ? null : (b.definitions?.[t] ?? null);
    if (!existing.has(t) && !recreate) {
      skipped.push({
        table: t,
        reason:
          'dropped, and the backup predates recorded table definitions: recreate it with the down migration first',
      });
      continue;
    }
    const key = definition?.primaryKey ?? [];
    const have = new Set(definition?.columns ?? []);
    const droppedColumns = removed?.columns[t] ?? [];
    const fill = stillApplied ? [] : droppedColumns.filter((c) => have.has(c));
    for (const c of droppedColumns.filter((c) => !fill.includes(c)))
      skipped.push({
        table: t,
        reason: stillApplied
          ? `column ${c} was dropped by ${b.migrationKey}, which is still applied: roll it back first`
          : `column ${c} is not in the schema at the current migration level: never re-added by a restore`,
      });
    const insertMissing =
      o.overwrite === true ||
      recreate !== null ||
      manual ||
      (!stillApplied && (removed?.rows.includes(t) ?? true));
    if (!o.overwrite && !fill.length && !insertMissing) continue;
    if (!key.length) {
      refusals.push(
        `table ${t} has no primary key, so backed-up rows cannot be matched to the rows written since; add a primary key, or restore it by hand from backup ${b.backupId}`,
      );
      continue;
    }
    plans.push({ table: t, key, fill, insertMissing, overwrite: o.overwrite === true, recreate });
  }
  return { plans, skipped, refusals };
}

/**
 * Keeps the backups of the `keep` most recent revisions (a rollback restores a whole revision,
 * so a revision's backups go together) and drops the rest. Returns the dropped backup ids.
 */
export async function pruneBackups(db: DatabaseEngine, app: string, keep: number): Promise<string[]> {
  const backups = await listBackups(db, app);
  const revisions = [...new Set(backups.map((b) => b.revision))]; // newest first, as listed
  const kept = new Set(revisions.slice(0, Math.max(0, keep)));
  const dropped: string[] = [];
  for (const b of backups.filter((b) => !kept.has(b.revision))) {
    await db.dropBackup(b.backupId);
    await db.query('delete from rewind_backups where backup_id = ?', [b.backupId]);
    dropped.push(b.backupId);
  }
  return dropped;
}

/** One line per table of a merge: what came back and what was left, for events and the CLI. */
export function describeMerge(reports: readonly MergeReport[]): string {
  const parts: string[] = [];
  for (const r of reports) {
    for (const t of r.tables) {
      const bits = [
        t.recreated ? 'recreated' : '',
        t.updated ? `${t.updated} row(s) got ${t.filled.join(', ')} back` : '',
        t.inserted ? `${t.inserted} row(s) put back` : '',
        t.deleted ? `${t.deleted} row(s) ${r.dryRun ? 'would be ' : ''}deleted` : '',
      ].filter(Boolean);
      parts.push(`${t.table}: ${bits.join(', ') || 'nothing to put back'}`);
    }
    for (const s of r.skipped) parts.push(`${s.table}: left alone (${s.reason})`);
  }
  return parts.join('; ');
}
