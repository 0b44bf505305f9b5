// The row half of a merge restore, the same on every engine but for a few words of dialect: put
// back the values of columns a migration dropped (by primary key), put back rows it deleted, and
// only when asked to overwrite, delete the rows the backup does not have.

import type { MergeCounts, MergePlan, Row } from './types.ts';

export interface MergeDialect {
  quote(name: string): string;
  /** Runs a statement, returns the rows it changed. */
  run(sql: string): Promise<number>;
  query<T extends Row = Row>(sql: string): Promise<T[]>;
  /** SQL true when a and b differ, NULLs compared as values. */
  distinct(a: string, b: string): string;
  /** UPDATE target t from source b where `on` and `where`, setting each column to its expression. */
  updateFrom(
    target: string,
    source: string,
    on: string,
    set: readonly (readonly [string, string])[],
    where: string,
  ): string;
  /** DELETE from target t the rows with no match in source b. */
  deleteMissing(target: string, source: string, on: string): string;
  /** Words between the column list and SELECT that let explicit values into identity columns. */
  readonly insertOverride: string;
}

/** At most this many keys of rows an overwrite would delete are listed in its preview. */
const SAMPLE = 20;

/** A column default that is a plain literal, so comparing with it is cheap and has no side effect. */
const LITERAL = /^(?:'(?:[^']|'')*'(?:::[\w ]+)?|-?\d+(?:\.\d+)?|true|false)$/i;

/**
 * Merges one table from `source` into `target`. `columns`: the columns both have that can be
 * written; `defaults`: their default expressions. A filled column takes the backup's value only
 * where the row still holds what the re-added column gave it (NULL, or its literal default): a
 * value the app wrote since is never overwritten. With `dryRun` nothing changes and the counts
 * say what would.
 */
export async function mergeRows(
  d: MergeDialect,
  target: string,
  source: string,
  plan: MergePlan,
  columns: readonly string[],
  defaults: ReadonlyMap<string, string | null>,
  dryRun: boolean,
): Promise<{ counts: Omit<MergeCounts, 'recreated'>; fillLater?: () => Promise<number> }> {
  const q = d.quote;
  const on = plan.key.map((k) => `t.${q(k)} = b.${q(k)}`).join(' and ');
  const writable = new Set(columns);
  const fill = (plan.overwrite ? columns.filter((c) => !plan.key.includes(c)) : plan.fill).filter((c) =>
    writable.has(c),
  );
  const empty = (c: string) => {
    const def = defaults.get(c)?.trim() ?? null;
    return plan.overwrite
      ? 'true'
      : `(t.${q(c)} is null${def && LITERAL.test(def) ? ` or t.${q(c)} = ${def}` : ''})`;
  };
  const set = fill.map(
    (c) =>
      [c, plan.overwrite ? `b.${q(c)}` : `case when ${empty(c)} then b.${q(c)} else t.${q(c)} end`] as const,
  );
  const differs = fill.map((c) => `(${empty(c)} and ${d.distinct(`t.${q(c)}`, `b.${q(c)}`)})`).join(' or ');
  const missing = `not exists (select 1 from ${target} t where ${on})`;
  const extra = `not exists (select 1 from ${source} b where ${on})`;
  const count = async (sql: string) => Number((await d.query<{ n: number | string }>(sql))[0]?.n ?? 0);

  let deleted = 0;
  let deletedSample: Row[] = [];
  if (plan.overwrite) {
    deletedSample = await d.query(
      `select ${plan.key.map((k) => `t.${q(k)}`).join(', ')} from ${target} t where ${extra} order by ${plan.key.map((k) => `t.${q(k)}`).join(', ')} limit ${SAMPLE}`,
    );
    deleted = dryRun
      ? await count(`select count(*) as n from ${target} t where ${extra}`)
      : await d.run(d.deleteMissing(target, source, on));
  }
  let updated = 0;
  let fillLater: (() => Promise<number>) | undefined;
  if (fill.length) {
    if (dryRun)
      updated = await count(
        `select count(*) as n from ${target} t join ${source} b on ${on} where ${differs}`,
      );
    else if (!plan.overwrite && plan.key.length === 1)
      // After the caller's transaction: batches by key range, so no row stays locked for long.
      fillLater = () => fillInBatches(d, target, source, plan.key[0]!, on, set, differs);
    else updated = await d.run(d.updateFrom(target, source, on, set, `(${differs})`));
  }
  let inserted = 0;
  if (plan.insertMissing || plan.overwrite) {
    const list = columns.map(q).join(', ');
    inserted = dryRun
      ? await count(`select count(*) as n from ${source} b where ${missing}`)
      : await d.run(
          `insert into ${target} (${list}) ${d.insertOverride} select ${columns.map((c) => `b.${q(c)}`).join(', ')} from ${source} b where ${missing}`,
        );
  }
  return {
    counts: { table: plan.table, updated, inserted, deleted, deletedSample, filled: fill },
    fillLater,
  };
}

/** Rows per fill batch: each batch is one short transaction holding its rows' locks. */
const BATCH = 10_000;

/**
 * The fill UPDATE in key order, BATCH backup rows at a time, each in its own (autocommit)
 * statement. Safe to interleave with the app's writes and to re-run: it only fills rows that
 * still hold the re-added column's NULL or default. Keys that are not integers go in one
 * statement.
 */
async function fillInBatches(
  d: MergeDialect,
  target: string,
  source: string,
  key: string,
  on: string,
  set: readonly (readonly [string, string])[],
  differs: string,
): Promise<number> {
  const k = `b.${d.quote(key)}`;
  let total = 0;
  let last: string | null = null;
  for (;;) {
    const [r]: { hi: unknown }[] = await d.query<{ hi: unknown }>(
      `select max(k) as hi from (select ${k} as k from ${source} b${last === null ? '' : ` where ${k} > ${last}`} order by ${k} limit ${BATCH}) s`,
    );
    const hi: string | null = r?.hi == null ? null : String(r.hi);
    if (hi === null) return total;
    if (!/^-?\d+$/.test(hi))
      return total + (await d.run(d.updateFrom(target, source, on, set, `(${differs})`)));
    // The range on both sides, so each side is read through its primary key index.
    const t = `t.${d.quote(key)}`;
    const range = [k, t]
      .map((c) => `${last === null ? '' : `${c} > ${last} and `}${c} <= ${hi}`)
      .join(' and ');
    total += await d.run(d.updateFrom(target, source, on, set, `(${differs}) and ${range}`));
    last = hi;
  }
}
