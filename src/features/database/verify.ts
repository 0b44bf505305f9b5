// After a rollback: is the database what the stable revision expects? Three checks, each a
// verdict with a detail a person can act on; the caller decides what a failure means.

import type { DatabaseEngine, TableStats } from './engines/types.ts';

export type DatabaseCheckName = 'fingerprint' | 'unchangedData' | 'foreignKeys';

export interface DatabaseCheck {
  readonly name: DatabaseCheckName;
  readonly ok: boolean;
  readonly detail: string;
}

export interface DatabaseVerification {
  readonly ok: boolean;
  readonly checks: readonly DatabaseCheck[];
}

export interface VerifyOptions {
  /** The fingerprint recorded for the level rolled back to (Migrator.baseline); null: not compared. */
  readonly expectedFingerprint: string | null;
  /** Table stats taken before the rolled-back migrations ran; null: not compared. */
  readonly statsBefore: Readonly<Record<string, TableStats>> | null;
  /** Tables the rolled-back migrations changed: their data may legitimately differ. */
  readonly changedTables: readonly string[];
}

export async function verifyDatabase(db: DatabaseEngine, o: VerifyOptions): Promise<DatabaseVerification> {
  const checks = [
    await fingerprint(db, o.expectedFingerprint),
    await unchangedData(db, o),
    await foreignKeys(db),
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

async function fingerprint(db: DatabaseEngine, expected: string | null): Promise<DatabaseCheck> {
  const name = 'fingerprint';
  if (expected === null)
    return { name, ok: true, detail: 'no fingerprint recorded for this level: not compared' };
  const actual = (await db.schemaFingerprint()).hash;
  return actual === expected
    ? { name, ok: true, detail: `schema matches the recorded fingerprint ${short(expected)}` }
    : {
        name,
        ok: false,
        detail: `schema fingerprint ${short(actual)} differs from the recorded ${short(expected)}`,
      };
}

async function unchangedData(db: DatabaseEngine, o: VerifyOptions): Promise<DatabaseCheck> {
  const name = 'unchangedData';
  if (!o.statsBefore)
    return { name, ok: true, detail: 'no table stats recorded before the migrations: not compared' };
  const changed = new Set(o.changedTables.map((t) => t.toLowerCase()));
  const tables = Object.keys(o.statsBefore).filter((t) => !changed.has(t.toLowerCase()));
  const existing = new Set(await db.listTables());
  const withChecksum = tables.filter((t) => existing.has(t) && o.statsBefore![t]!.checksum !== null);
  const countOnly = tables.filter((t) => existing.has(t) && o.statsBefore![t]!.checksum === null);
  const now = {
    ...(await db.tableStats(withChecksum, { checksumRowLimit: Number.POSITIVE_INFINITY })),
    ...(await db.tableStats(countOnly, { checksumRowLimit: -1 })),
  };
  const problems: string[] = [];
  for (const t of tables) {
    const before = o.statsBefore[t]!;
    const after = now[t];
    if (!after) problems.push(`${t}: table is gone`);
    else if (after.rows !== before.rows) problems.push(`${t}: ${before.rows} rows before, ${after.rows} now`);
    else if (before.checksum !== null && after.checksum !== before.checksum) {
      problems.push(`${t}: same ${after.rows} rows but their content changed`);
    }
  }
  return problems.length
    ? { name, ok: false, detail: `data changed in tables no migration touched: ${problems.join('; ')}` }
    : { name, ok: true, detail: `${tables.length} untouched table(s) hold the same rows as before` };
}

async function foreignKeys(db: DatabaseEngine): Promise<DatabaseCheck> {
  const name = 'foreignKeys';
  const orphans = await db.foreignKeyOrphans();
  if (!orphans.length) return { name, ok: true, detail: 'every foreign key has its parent row' };
  const list = orphans.map((o) => `${o.table} (${o.constraint} -> ${o.parent}): ${o.orphans} orphan row(s)`);
  return { name, ok: false, detail: `rows reference missing parents: ${list.join('; ')}` };
}

const short = (hash: string) => hash.slice(0, 12);
