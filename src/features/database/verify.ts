// After a rollback: is the database what the stable revision expects? Up to three checks, each a
// verdict with a detail a person can act on; the caller decides what a failure means. A check
// that could not be made is "not checked", which is not a pass: only a comparison made now,
// against something recorded before, says "unchanged".

import type { DatabaseEngine, TableStats } from './engines/types.ts';

export type DatabaseCheckName = 'fingerprint' | 'unchangedData' | 'foreignKeys';

export type CheckStatus = 'passed' | 'failed' | 'not checked';

export interface DatabaseCheck {
  readonly name: DatabaseCheckName;
  readonly status: CheckStatus;
  /** status === 'passed'. */
  readonly ok: boolean;
  readonly detail: string;
}

const check = (name: DatabaseCheckName, status: CheckStatus, detail: string): DatabaseCheck => ({
  name,
  status,
  ok: status === 'passed',
  detail,
});

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
  const data = await unchangedData(db, o);
  const checks = [
    await fingerprint(db, o.expectedFingerprint),
    ...(data ? [data] : []),
    await foreignKeys(db),
  ];
  return { ok: checks.every((c) => c.ok), checks };
}

async function fingerprint(db: DatabaseEngine, expected: string | null): Promise<DatabaseCheck> {
  const name = 'fingerprint';
  if (expected === null)
    return check(
      name,
      'not checked',
      'no fingerprint was recorded for this level: the schema was not compared',
    );
  const actual = (await db.schemaFingerprint()).hash;
  return actual === expected
    ? check(name, 'passed', `schema matches the recorded fingerprint ${short(expected)}`)
    : check(
        name,
        'failed',
        `schema fingerprint ${short(actual)} differs from the recorded ${short(expected)} (tables, columns and their order, indexes, constraints, views, sequences, types, functions, triggers, extensions, events)`,
      );
}

/**
 * null when no migration above the level was undone, or the migrations changed every table:
 * there is nothing to compare, and no claim.
 */
async function unchangedData(db: DatabaseEngine, o: VerifyOptions): Promise<DatabaseCheck | null> {
  const name = 'unchangedData';
  if (!o.statsBefore && !o.changedTables.length) return null;
  if (!o.statsBefore)
    return check(
      name,
      'not checked',
      'no table stats were recorded before the migrations: the data was not compared',
    );
  const changed = new Set(o.changedTables.map((t) => t.toLowerCase()));
  const tables = Object.keys(o.statsBefore).filter((t) => !changed.has(t.toLowerCase()));
  // Every recorded table was changed by the migrations: none left to compare, so no claim.
  if (!tables.length) return null;
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
  const counted = countOnly.length
    ? ` (${countOnly.join(', ')} by row count only: above the checksum row limit)`
    : '';
  return problems.length
    ? check(name, 'failed', `data changed in tables no migration touched: ${problems.join('; ')}`)
    : check(name, 'passed', `${tables.length} untouched table(s) hold the same rows as before${counted}`);
}

async function foreignKeys(db: DatabaseEngine): Promise<DatabaseCheck> {
  const name = 'foreignKeys';
  const orphans = await db.foreignKeyOrphans();
  if (!orphans.length) return check(name, 'passed', 'every foreign key has its parent row');
  const list = orphans.map((o) => `${o.table} (${o.constraint} -> ${o.parent}): ${o.orphans} orphan row(s)`);
  return check(name, 'failed', `rows reference missing parents: ${list.join('; ')}`);
}

const short = (hash: string) => hash.slice(0, 12);
