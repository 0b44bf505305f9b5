// The query that counts a foreign key's orphans: child rows whose key is fully non-null and has no
// parent row. Shared by the engines that read their foreign keys from the catalog.

export interface ForeignKeyShape {
  readonly child: string;
  /** Child columns, in key order. */
  readonly ck: readonly string[];
  /** Parent schema (PostgreSQL) or database (MySQL). */
  readonly ps: string;
  readonly parent: string;
  /** Parent columns, in key order. */
  readonly pk: readonly string[];
}

export function orphanCountSql(fk: ForeignKeyShape, quote: (identifier: string) => string): string {
  const notNull = fk.ck.map((c) => `c.${quote(c)} is not null`).join(' and ');
  const join = fk.ck.map((c, i) => `p.${quote(fk.pk[i]!)} = c.${quote(c)}`).join(' and ');
  return `select count(*) as n from ${quote(fk.child)} c where ${notNull}
              and not exists (select 1 from ${quote(fk.ps)}.${quote(fk.parent)} p where ${join})`;
}
