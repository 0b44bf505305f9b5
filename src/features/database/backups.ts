// Backups of the tables a contract migration is about to change, so a rollback can put their
// rows back after the down migration has restored the structure. Recorded in rewind_backups in
// the target database; the rows themselves live where the engine keeps backups.

import { randomBytes } from 'node:crypto';
import type { DatabaseEngine } from './engines/types.ts';
import { ensureLedger } from './migrator.ts';
import type { Migration } from './types.ts';

export interface BackupRecord {
  readonly backupId: string;
  readonly app: string;
  readonly revision: number | null;
  readonly migrationKey: string;
  readonly tables: readonly string[];
  readonly createdAt: string;
}

export interface BackupOwner {
  readonly app: string;
  readonly revision: number | null;
}

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
  await db.backupTables(backupId, list);
  try {
    // A sequence, not the clock, orders backups: two taken in the same millisecond must not tie.
    const [last] = await db.query<{ seq: number | null }>('select max(seq) as seq from rewind_backups');
    await db.query(
      'insert into rewind_backups (backup_id, seq, app, revision, migration_key, tables, created_at) values (?, ?, ?, ?, ?, ?, ?)',
      [
        backupId,
        Number(last?.seq ?? 0) + 1,
        owner.app,
        owner.revision,
        migration.key,
        JSON.stringify(list),
        now.toISOString(),
      ],
    );
  } catch (err) {
    await db.dropBackup(backupId).catch(() => {});
    throw err;
  }
  return backupId;
}

/** Newest first. */
export async function listBackups(db: DatabaseEngine, app: string): Promise<BackupRecord[]> {
  await ensureLedger(db);
  const rows = await db.query(
    'select backup_id, app, revision, migration_key, tables, created_at from rewind_backups where app = ? order by seq desc',
    [app],
  );
  return rows.map((r) => ({
    backupId: String(r.backup_id),
    app: String(r.app),
    revision: r.revision == null ? null : Number(r.revision),
    migrationKey: String(r.migration_key),
    tables: JSON.parse(String(r.tables)) as string[],
    createdAt: String(r.created_at),
  }));
}

/**
 * Puts back the rows of every table backed up for the revision's migrations. Newest backup
 * first, so when two migrations backed up the same table the oldest copy (the state before the
 * revision) is restored last and wins.
 */
export async function restoreBackup(db: DatabaseEngine, owner: BackupOwner): Promise<BackupRecord[]> {
  const backups = (await listBackups(db, owner.app)).filter((b) => b.revision === owner.revision);
  for (const b of backups) await db.restoreTables(b.backupId, b.tables);
  return backups;
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
