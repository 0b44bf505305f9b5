// PostgreSQL: one pg.Client (advisory locks and lock_timeout are per session), DDL inside
// transactions, catalogue queries limited to current_schema(), backups in schema rewind_backup.

import pg from 'pg';
import { scanSql, stripComments } from '../sql-split.ts';
import { backupIdOf, backupTableName } from './backup-names.ts';
import { commitUnlessDry, emptyCounts, type LaterFills, runLaterFills } from './dry-run.ts';
import { isRewindTable, shapeBuilder } from './fingerprint.ts';
import { type MergeDialect, mergeRows } from './merge-sql.ts';
import { orphanCountSql } from './orphan-query.ts';
import { pollLock } from './poll-lock.ts';
import { inTransaction } from './transaction.ts';
import type {
  DatabaseEngine,
  ForeignKeyOrphans,
  MergeCounts,
  ObjectKind,
  Row,
  TableDefinition,
  TableStats,
} from './types.ts';

const BACKUP_SCHEMA = 'rewind_backup';
const MAX_IDENTIFIER = 63;
// lock_not_available (lock_timeout), deadlock_detected
const LOCK_CODES = new Set(['55P03', '40P01']);
const NON_TRANSACTIONAL =
  /^\s*(create\s+(unique\s+)?index\s+concurrently|drop\s+index\s+concurrently|reindex\b[^;]*\bconcurrently|vacuum\b|(create|drop)\s+database\b|alter\s+system\b|create\s+tablespace\b)/i;

/** Every schema object besides tables, as (kind, name, definition); extension members left out. */
const PG_OBJECTS = `
  with ns as (select oid from pg_namespace where nspname = current_schema()),
  ext as (select objid from pg_depend where deptype = 'e')
  select case c.relkind when 'v' then 'view' else 'materializedView' end as kind, c.relname as name,
         pg_get_viewdef(c.oid) as def
    from pg_class c where c.relnamespace in (select oid from ns) and c.relkind in ('v', 'm')
     and c.oid not in (select objid from ext)
  union all
  select 'sequence', s.sequencename,
         concat_ws(' ', s.data_type, s.start_value, s.min_value, s.max_value, s.increment_by, s.cycle, s.cache_size)
    from pg_sequences s where s.schemaname = current_schema()
  union all
  select case t.typtype when 'd' then 'domain' else 'type' end, t.typname,
         case t.typtype
           when 'e' then 'enum (' || (select string_agg(quote_literal(e.enumlabel), ', ' order by e.enumsortorder)
                                       from pg_enum e where e.enumtypid = t.oid) || ')'
           when 'c' then 'composite (' || (select string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' order by a.attnum)
                                            from pg_attribute a where a.attrelid = t.typrelid and a.attnum > 0 and not a.attisdropped) || ')'
           when 'r' then 'range ' || (select format_type(r.rngsubtype, null) from pg_range r where r.rngtypid = t.oid)
           else format_type(t.typbasetype, t.typtypmod) || coalesce(' default ' || t.typdefault, '')
                || case when t.typnotnull then ' not null' else '' end
                || coalesce((select ' ' || string_agg(k.conname || ' ' || pg_get_constraintdef(k.oid), ' ' order by k.conname)
                               from pg_constraint k where k.contypid = t.oid), '')
         end
    from pg_type t where t.typnamespace in (select oid from ns) and t.oid not in (select objid from ext)
     and (t.typtype in ('e', 'd', 'r') or (t.typtype = 'c' and (select relkind from pg_class where oid = t.typrelid) = 'c'))
  union all
  select 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', pg_get_functiondef(p.oid)
    from pg_proc p where p.pronamespace in (select oid from ns) and p.prokind in ('f', 'p', 'w')
     and p.oid not in (select objid from ext)
  union all
  select 'trigger', c.relname || '.' || t.tgname,
         pg_get_triggerdef(t.oid) || case t.tgenabled when 'D' then ' DISABLED' else '' end
    from pg_trigger t join pg_class c on c.oid = t.tgrelid
   where not t.tgisinternal and c.relnamespace in (select oid from ns)
  union all
  select 'extension', e.extname, e.extversion || ' in ' || e.extnamespace::regnamespace::text from pg_extension e`;

export const quotePg = (name: string) => `"${name.replaceAll('"', '""')}"`;

export async function openPostgres(url: string): Promise<DatabaseEngine> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  // A dropped connection surfaces on the next query; without a listener it would crash the process.
  client.on('error', () => {});
  await client.connect();
  return postgresEngine(client);
}

interface PgColumn {
  readonly name: string;
  readonly type: string;
  readonly def: string | null;
  readonly generated: boolean;
  readonly identity: boolean;
}

function postgresEngine(client: pg.Client): DatabaseEngine {
  const held = new Set<string>();
  const query = async <T extends Row = Row>(sql: string, params: readonly unknown[] = []) =>
    (await client.query(params.length ? numberPlaceholders(sql) : sql, params as unknown[])).rows as T[];
  const exec = async (sql: string) => void (await client.query(sql));

  const tableExists = async (schema: string, table: string) =>
    (await query('select to_regclass(?) is not null as ok', [`${quotePg(schema)}.${quotePg(table)}`]))[0]
      ?.ok === true;
  const columns = (schema: string, table: string) =>
    query<{ name: string; type: string; def: string | null; generated: boolean; identity: boolean }>(
      `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
              pg_get_expr(d.adbin, d.adrelid) as def,
              a.attgenerated <> '' as generated, a.attidentity <> '' as identity
         from pg_attribute a join pg_class c on c.oid = a.attrelid
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
         join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ? and c.relname = ? and a.attnum > 0 and not a.attisdropped
        order by a.attnum`,
      [schema, table],
    ) as Promise<PgColumn[]>;
  const currentSchema = async () => (await query<{ s: string }>('select current_schema() as s'))[0]!.s;

  const engine: DatabaseEngine = {
    name: 'postgres',
    transactionalDdl: true,
    exec,
    query,
    transaction: (fn) => inTransaction(exec, 'begin', fn),
    canRunInTransaction: (sql) => !NON_TRANSACTIONAL.test(stripComments(sql, 'postgres')),
    isLockTimeout: (err) => LOCK_CODES.has((err as { code?: string } | null)?.code ?? ''),
    setLockTimeout: (ms) => exec(`set lock_timeout = ${Math.max(0, Math.round(ms))}`),

    async tryLock(name, timeoutMs) {
      if (held.has(name)) return true;
      // hashtextextended: a 64-bit key, so Rewind's names rarely collide with the app's own locks.
      const ok = await pollLock(
        async () =>
          (await query('select pg_try_advisory_lock(hashtextextended(?, 0)) as ok', [name]))[0]?.ok === true,
        timeoutMs,
      );
      if (ok) held.add(name);
      return ok;
    },
    async unlock(name) {
      if (!held.delete(name)) return;
      await query('select pg_advisory_unlock(hashtextextended(?, 0))', [name]);
    },

    sessionId: async () => String((await query<{ pid: number }>('select pg_backend_pid() as pid'))[0]!.pid),
    sessionBusy: async (id) =>
      (await query('select 1 from pg_stat_activity where pid = ?', [Number(id)])).length > 0,
    async dropInvalidIndexes() {
      const invalid = await query<{ name: string }>(
        `select c.relname as name from pg_index x join pg_class c on c.oid = x.indexrelid
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema() and not (x.indisvalid and x.indisready) order by 1`,
      );
      for (const i of invalid) await exec(`drop index concurrently if exists ${quotePg(i.name)}`);
      return invalid.map((i) => i.name);
    },

    async schemaFingerprint() {
      const shape = shapeBuilder();
      const user = (t: string) => !isRewindTable(t);
      for (const c of await query<{
        t: string;
        name: string;
        type: string;
        nn: boolean;
        def: string | null;
        extra: string;
        pos: string;
      }>(
        `select c.relname as t, a.attname as name, format_type(a.atttypid, a.atttypmod) as type,
                a.attnotnull as nn, pg_get_expr(d.adbin, d.adrelid) as def,
                row_number() over (partition by c.oid order by a.attnum) as pos,
                concat_ws(' ', nullif(a.attidentity, ''), nullif(a.attgenerated, '')) as extra
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
           join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
           left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
          where n.nspname = current_schema() and c.relkind in ('r', 'p')`,
      )) {
        if (!user(c.t)) continue;
        shape.column(c.t, {
          name: c.name,
          position: Number(c.pos),
          type: c.type,
          nullable: !c.nn,
          default: c.def,
          extra: c.extra || null,
        });
      }
      // An index a crashed CREATE INDEX CONCURRENTLY left behind is INVALID: not the same schema.
      for (const i of await query<{ t: string; def: string }>(
        `select c.relname as t,
                pg_get_indexdef(x.indexrelid) || case when x.indisvalid and x.indisready then '' else ' INVALID' end as def
           from pg_index x join pg_class c on c.oid = x.indrelid
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema()`,
      )) {
        if (user(i.t)) shape.index(i.t, i.def);
      }
      for (const k of await query<{ t: string; name: string; def: string }>(
        `select c.relname as t, con.conname as name, pg_get_constraintdef(con.oid) as def
           from pg_constraint con join pg_class c on c.oid = con.conrelid
           join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema()`,
      )) {
        if (user(k.t)) shape.constraint(k.t, `${k.name} ${k.def}`);
      }
      for (const o of await query<{ kind: ObjectKind; name: string; def: string }>(PG_OBJECTS)) {
        if (o.kind !== 'trigger' || user(o.name.split('.')[0]!)) shape.object(o.kind, o.name, o.def ?? '');
      }
      return shape.build();
    },

    async listTables() {
      const rows = await query<{ t: string }>(
        `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = current_schema() and c.relkind in ('r', 'p') order by 1`,
      );
      return rows.map((r) => r.t).filter((t) => !isRewindTable(t));
    },

    async tableStats(tables, { checksumRowLimit }) {
      const out: Record<string, TableStats> = {};
      for (const t of tables) {
        const rows = Number((await query<{ n: string }>(`select count(*) as n from ${quotePg(t)}`))[0]!.n);
        let checksum: string | null = null;
        if (rows <= checksumRowLimit) {
          // to_jsonb keys are sorted, so the checksum ignores column order; the hashes are sorted
          // so it ignores row order.
          const r = await query<{ sum: string }>(
            `select md5(coalesce(string_agg(h, '' order by h), '')) as sum
               from (select md5(to_jsonb(rewind_row)::text) as h from ${quotePg(t)} as rewind_row) s`,
          );
          checksum = r[0]!.sum;
        }
        out[t] = { rows, checksum };
      }
      return out;
    },

    async foreignKeyOrphans() {
      const fks = await query<{
        name: string;
        child: string;
        ps: string;
        parent: string;
        ck: string[];
        pk: string[];
      }>(
        `select con.conname as name, c.relname as child, pn.nspname as ps, p.relname as parent,
                (select array_agg(a.attname::text order by k.o) from unnest(con.conkey) with ordinality k(n, o)
                   join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n) as ck,
                (select array_agg(a.attname::text order by k.o) from unnest(con.confkey) with ordinality k(n, o)
                   join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n) as pk
           from pg_constraint con join pg_class c on c.oid = con.conrelid
           join pg_namespace n on n.oid = c.relnamespace
           join pg_class p on p.oid = con.confrelid join pg_namespace pn on pn.oid = p.relnamespace
          where con.contype = 'f' and n.nspname = current_schema() order by 2, 1`,
      );
      const out: ForeignKeyOrphans[] = [];
      for (const fk of fks) {
        if (isRewindTable(fk.child)) continue;
        const [r] = await query<{ n: string }>(orphanCountSql(fk, quotePg));
        const orphans = Number(r!.n);
        if (orphans > 0) out.push({ table: fk.child, constraint: fk.name, parent: fk.parent, orphans });
      }
      return out;
    },

    async backupTables(backupId, tables) {
      const schema = await currentSchema();
      const names = tables.map((t) => backupTableName(backupId, t, MAX_IDENTIFIER));
      await engine.transaction(async () => {
        // One snapshot for every table, so rows that reference each other stay consistent.
        await exec('set transaction isolation level repeatable read');
        await exec(`create schema if not exists ${BACKUP_SCHEMA}`);
        for (const [i, t] of tables.entries()) {
          if (!(await tableExists(schema, t)))
            throw new Error(`backup ${backupId}: table "${t}" does not exist`);
          const target = `${BACKUP_SCHEMA}.${quotePg(names[i]!)}`;
          // No defaults: a nextval() default would tie the copy to the app's sequence, and the
          // app could no longer drop its table.
          await exec(
            `create table ${target} (like ${quotePg(schema)}.${quotePg(t)} including all excluding defaults)`,
          );
          await copyRows(`${quotePg(schema)}.${quotePg(t)}`, target, await columns(schema, t));
          // Statistics, so a merge's joins with the copy get a sane plan.
          await exec(`analyze ${target}`);
        }
      });
    },

    async describeTables(tables) {
      const schema = await currentSchema();
      const out: Record<string, TableDefinition> = {};
      for (const t of tables) out[t] = await describe(schema, t);
      return out;
    },

    async mergeTables(backupId, plans, { dryRun }) {
      const schema = await currentSchema();
      const later: LaterFills = [];
      const counts = await commitUnlessDry(engine.transaction, dryRun, async () => {
        await withoutTriggers();
        const counts: MergeCounts[] = [];
        for (const plan of plans) {
          const name = backupTableName(backupId, plan.table, MAX_IDENTIFIER);
          if (!(await tableExists(BACKUP_SCHEMA, name)))
            throw new Error(
              `backup ${backupId} has no copy of table "${plan.table}" (${BACKUP_SCHEMA}.${name})`,
            );
          const source = `${BACKUP_SCHEMA}.${quotePg(name)}`;
          const target = `${quotePg(schema)}.${quotePg(plan.table)}`;
          const recreate = plan.recreate && !(await tableExists(schema, plan.table)) ? plan.recreate : null;
          if (recreate && dryRun) {
            const [r] = await query<{ n: string }>(`select count(*) as n from ${source}`);
            counts.push({ ...emptyCounts(plan.table), recreated: true, inserted: Number(r!.n) });
            continue;
          }
          for (const st of recreate?.create ?? []) await exec(st);
          const backupColumns = new Set((await columns(BACKUP_SCHEMA, name)).map((c) => c.name));
          const now = await columns(schema, plan.table);
          const writable = now.filter((c) => !c.generated && backupColumns.has(c.name)).map((c) => c.name);
          const defaults = new Map(now.map((c) => [c.name, c.def]));
          const merged = await mergeRows(dialect, target, source, plan, writable, defaults, dryRun);
          if (merged.fillLater) later.push({ index: counts.length, fill: merged.fillLater });
          for (const st of recreate?.after ?? []) await exec(st);
          if (!dryRun) await resetSequences(target, now);
          counts.push({ ...merged.counts, recreated: recreate !== null });
        }
        return counts;
      });
      return runLaterFills(counts, later);
    },

    async dropBackup(backupId) {
      for (const t of await backupTablesOf(backupId))
        await exec(`drop table if exists ${BACKUP_SCHEMA}.${quotePg(t)}`);
    },
    async listBackupIds() {
      const ids = (await backupTablesOf(null)).map(backupIdOf).filter((id): id is string => id !== null);
      return [...new Set(ids)].sort();
    },
    close: () => client.end(),
  };

  const dialect: MergeDialect = {
    quote: quotePg,
    run: async (sql) => (await client.query(sql)).rowCount ?? 0,
    query: (sql) => query(sql),
    distinct: (a, b) => `${a} is distinct from ${b}`,
    updateFrom: (target, source, on, set, where) =>
      `update ${target} t set ${set.map(([c, v]) => `${quotePg(c)} = ${v}`).join(', ')} from ${source} b where ${on} and ${where}`,
    deleteMissing: (target, source, on) =>
      `delete from ${target} t where not exists (select 1 from ${source} b where ${on})`,
    insertOverride: 'overriding system value',
  };

  /** Identity columns and serial sequences move past the rows that came back. */
  async function resetSequences(target: string, cols: readonly PgColumn[]) {
    for (const c of cols) {
      const [seq] = await query<{ s: string | null }>('select pg_get_serial_sequence(?, ?) as s', [
        target,
        c.name,
      ]);
      if (!seq?.s) continue;
      await query(
        `select setval(?, greatest((select coalesce(max(${quotePg(c.name)}), 0) from ${target}), (select last_value from ${seq.s})), true)`,
        [seq.s],
      );
    }
  }

  /** Columns with defaults and identity, the sequences they own, constraints and indexes. */
  async function describe(schema: string, table: string): Promise<TableDefinition> {
    const qualified = `${quotePg(schema)}.${quotePg(table)}`;
    const cols = await query<{
      name: string;
      type: string;
      nn: boolean;
      def: string | null;
      identity: string;
      generated: string;
    }>(
      `select a.attname as name, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as nn,
              pg_get_expr(d.adbin, d.adrelid) as def, a.attidentity as identity, a.attgenerated as generated
         from pg_attribute a join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
         left join pg_attrdef d on d.adrelid = c.oid and d.adnum = a.attnum
        where n.nspname = ? and c.relname = ? and a.attnum > 0 and not a.attisdropped order by a.attnum`,
      [schema, table],
    );
    const sequences: string[] = [];
    const defs = cols.map((c) => {
      let def = `${quotePg(c.name)} ${c.type}`;
      if (c.identity) def += ` generated ${c.identity === 'a' ? 'always' : 'by default'} as identity`;
      else if (c.generated) def += ` generated always as (${c.def}) stored`;
      else if (c.def !== null) {
        const seq = /^nextval\('([^']+)'::regclass\)$/.exec(c.def)?.[1];
        if (seq) sequences.push(seq);
        def += ` default ${c.def}`;
      }
      return c.nn ? `${def} not null` : def;
    });
    const constraints = await query<{ name: string; def: string; type: string }>(
      `select con.conname as name, pg_get_constraintdef(con.oid) as def, con.contype as type
         from pg_constraint con join pg_class c on c.oid = con.conrelid join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ? and c.relname = ? and con.contype <> 'n'
        order by position(con.contype in 'pucxf'), con.conname`,
      [schema, table],
    );
    const indexes = await query<{ def: string }>(
      `select pg_get_indexdef(x.indexrelid) as def from pg_index x join pg_class c on c.oid = x.indrelid
         join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ? and c.relname = ?
          and not exists (select 1 from pg_constraint k where k.conindid = x.indexrelid and k.conrelid = x.indrelid)
        order by 1`,
      [schema, table],
    );
    const [pk] = await query<{ cols: string[] | null }>(
      `select array_agg(a.attname::text order by k.o) as cols
         from pg_index x cross join unnest(x.indkey) with ordinality k(n, o)
         join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.n
        where x.indrelid = to_regclass(?) and x.indisprimary`,
      [qualified],
    );
    return {
      columns: cols.map((c) => c.name),
      primaryKey: pk?.cols ?? [],
      create: [
        ...sequences.map((q) => `create sequence if not exists ${q}`),
        `create table ${qualified} (${defs.join(', ')})`,
      ],
      after: [
        ...constraints.map((k) => `alter table ${qualified} add constraint ${quotePg(k.name)} ${k.def}`),
        ...indexes.map((i) => i.def),
        ...cols
          .filter((c) => c.def && /^nextval\(/.test(c.def))
          .map((c) => {
            const seq = /^nextval\('([^']+)'::regclass\)$/.exec(c.def!)?.[1];
            return seq ? `alter sequence ${seq} owned by ${qualified}.${quotePg(c.name)}` : '';
          })
          .filter(Boolean),
      ],
    };
  }

  async function copyRows(from: string, to: string, cols: readonly PgColumn[]) {
    const list = cols
      .filter((c) => !c.generated)
      .map((c) => quotePg(c.name))
      .join(', ');
    if (!list) return;
    await exec(`insert into ${to} (${list}) overriding system value select ${list} from ${from}`);
  }

  /**
   * Replica mode turns off foreign key checks and user triggers for this transaction, so rows
   * can be deleted and put back in any order. It needs superuser (or SET privilege); without it
   * the restore still runs and foreign keys are checked as usual.
   */
  async function withoutTriggers() {
    await exec('savepoint rewind_replica');
    try {
      await exec('set local session_replication_role = replica');
      await exec('release savepoint rewind_replica');
    } catch {
      await exec('rollback to savepoint rewind_replica');
    }
  }

  async function backupTablesOf(backupId: string | null) {
    const rows = await query<{ t: string }>(
      `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = ? and c.relkind in ('r', 'p') order by 1`,
      [BACKUP_SCHEMA],
    );
    return rows.map((r) => r.t).filter((t) => backupId === null || t.startsWith(`${backupId}__`));
  }

  return engine;
}

/** `?` → `$1, $2, …`, outside strings, quoted identifiers and comments. */
function numberPlaceholders(sql: string): string {
  let n = 0;
  let out = '';
  for (const region of scanSql(sql, 'postgres')) {
    const text = sql.slice(region.start, region.end);
    out += region.kind === 'code' ? text.replace(/\?/g, () => `$${++n}`) : text;
  }
  return out;
}
