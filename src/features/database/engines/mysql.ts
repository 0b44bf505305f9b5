// MySQL / MariaDB: one mysql2 connection. Every DDL commits on its own, so the migrator works
// statement by statement here. Catalogue queries are limited to DATABASE(); backups live in the
// database rewind_backup on the same server, each table tagged with its origin in the comment.

import mysql from 'mysql2/promise';
import { backupIdOf, backupTableName } from './backup-names.ts';
import { emptyCounts, type LaterFills, runLaterFills } from './dry-run.ts';
import { isRewindTable, sha256, shapeBuilder } from './fingerprint.ts';
import { type MergeDialect, mergeRows } from './merge-sql.ts';
import { orphanCountSql } from './orphan-query.ts';
import { pollLock } from './poll-lock.ts';
import { inTransaction } from './transaction.ts';
import type {
  DatabaseEngine,
  ForeignKeyOrphans,
  MergeCounts,
  MergePlan,
  ObjectKind,
  Row,
  TableDefinition,
  TableStats,
} from './types.ts';

const BACKUP_DB = 'rewind_backup';
const MAX_IDENTIFIER = 64;
// ER_LOCK_WAIT_TIMEOUT (row locks and metadata locks), ER_LOCK_DEADLOCK
const LOCK_ERRNOS = new Set([1205, 1213]);
// Generated columns cannot be written; MySQL 8's DEFAULT_GENERATED (expression default) can.
const GENERATED = /\b(VIRTUAL|STORED|PERSISTENT) GENERATED\b/i;

/** Views, routines (with their parameters), triggers and events of the current database. */
const MYSQL_OBJECTS = `
  select 'view' as kind, table_name as name, concat_ws(' ', view_definition, check_option, security_type) as def
    from information_schema.views where table_schema = database()
  union all
  select 'function', concat(lower(r.routine_type), ' ', r.routine_name),
         concat_ws(' ', (select group_concat(concat_ws(' ', p.parameter_mode, p.parameter_name, p.dtd_identifier) order by p.ordinal_position separator ', ')
                           from information_schema.parameters p
                          where p.specific_schema = r.routine_schema and p.specific_name = r.routine_name
                            and p.routine_type = r.routine_type and p.ordinal_position > 0),
                   'returns', r.dtd_identifier, r.is_deterministic, r.sql_data_access, r.security_type, r.routine_definition)
    from information_schema.routines r where r.routine_schema = database()
  union all
  select 'trigger', concat(event_object_table, '.', trigger_name),
         concat_ws(' ', action_timing, event_manipulation, action_order, action_statement)
    from information_schema.triggers where trigger_schema = database()
  union all
  select 'event', event_name,
         concat_ws(' ', event_type, execute_at, interval_value, interval_field, starts, ends, status, on_completion, event_definition)
    from information_schema.events where event_schema = database()`;

export const quoteMysql = (name: string) => `\`${name.replaceAll('`', '``')}\``;

export async function openMysql(url: string): Promise<DatabaseEngine> {
  const conn = await mysql.createConnection({
    uri: url,
    connectTimeout: 10_000,
    supportBigNumbers: true,
    dateStrings: true,
    multipleStatements: false,
  });
  conn.on('error', () => {});
  const [rows] = await conn.query('select database() as db');
  const database = (rows as Row[])[0]?.db;
  if (typeof database !== 'string') {
    await conn.end();
    throw new Error('MySQL URL names no database: use mysql://user:password@host:3306/<database>');
  }
  return mysqlEngine(conn, database);
}

interface MyColumn {
  readonly name: string;
  readonly type: string;
  readonly def: string | null;
  readonly extra: string;
}

function mysqlEngine(conn: mysql.Connection, database: string): DatabaseEngine {
  const held = new Set<string>();
  const query = async <T extends Row = Row>(sql: string, params: readonly unknown[] = []) => {
    const [rows] = await conn.query(sql, params as unknown[]);
    return (Array.isArray(rows) ? rows : []) as T[];
  };
  const exec = async (sql: string) => void (await conn.query(sql));
  const db = quoteMysql(database);
  const origin = (t: string) => `rewind backup of ${database}.${t}`;
  // GET_LOCK names are server-wide: scope them to this database, hashed to fit 64 characters.
  const lockKey = (name: string) => `rewind_${sha256(`${database}/${name}`).slice(0, 40)}`;

  const tableExists = async (schema: string, table: string) =>
    (
      await query('select 1 from information_schema.tables where table_schema = ? and table_name = ?', [
        schema,
        table,
      ])
    ).length > 0;
  const columns = (schema: string, table: string) =>
    query<{ name: string; type: string; def: string | null; extra: string }>(
      `select column_name as name, column_type as type, column_default as def, extra from information_schema.columns
        where table_schema = ? and table_name = ? order by ordinal_position`,
      [schema, table],
    ) as Promise<MyColumn[]>;
  const copyRows = async (from: string, to: string, cols: readonly MyColumn[]) => {
    const list = cols
      .filter((c) => !GENERATED.test(c.extra))
      .map((c) => quoteMysql(c.name))
      .join(', ');
    if (list) await exec(`insert into ${to} (${list}) select ${list} from ${from}`);
  };
  const backupTablesOf = async (backupId: string | null) => {
    const rows = await query<{ t: string }>(
      `select table_name as t from information_schema.tables
        where table_schema = ? and table_comment like ? order by 1`,
      [BACKUP_DB, `rewind backup of ${database.replace(/[\\%_]/g, '\\$&')}.%`],
    );
    return rows.map((r) => r.t).filter((t) => backupId === null || t.startsWith(`${backupId}__`));
  };

  const engine: DatabaseEngine = {
    name: 'mysql',
    transactionalDdl: false,
    exec,
    query,
    transaction: (fn) => inTransaction(exec, 'start transaction', fn),
    // MySQL refuses nothing inside a transaction; DDL just commits it implicitly.
    canRunInTransaction: () => true,
    isLockTimeout: (err) => LOCK_ERRNOS.has((err as { errno?: number } | null)?.errno ?? 0),
    async setLockTimeout(ms) {
      const seconds = Math.max(1, Math.ceil(ms / 1000));
      // lock_wait_timeout covers metadata locks (ALTER TABLE), innodb_* row locks (UPDATE).
      await exec(`set session lock_wait_timeout = ${seconds}, innodb_lock_wait_timeout = ${seconds}`);
    },

    async tryLock(name, timeoutMs) {
      if (held.has(name)) return true;
      const key = lockKey(name);
      const ok = await pollLock(
        async () => (await query('select get_lock(?, 0) as ok', [key]))[0]?.ok === 1,
        timeoutMs,
      );
      if (ok) held.add(name);
      return ok;
    },
    async unlock(name) {
      if (!held.delete(name)) return;
      await query('select release_lock(?)', [lockKey(name)]);
    },

    sessionId: async () => String((await query<{ id: number }>('select connection_id() as id'))[0]!.id),
    sessionBusy: async (id) =>
      (await query('select 1 from information_schema.processlist where id = ?', [Number(id)])).length > 0,
    // InnoDB builds an index in one statement that either commits or leaves nothing behind.
    dropInvalidIndexes: async () => [],

    async schemaFingerprint() {
      const shape = shapeBuilder();
      const tables = new Set(await engine.listTables());
      for (const c of await query<{
        t: string;
        name: string;
        type: string;
        nn: string;
        def: string | null;
        extra: string;
        pos: number;
      }>(
        `select table_name as t, column_name as name, column_type as type, is_nullable as nn,
                column_default as def, concat_ws(' ', extra, generation_expression) as extra,
                ordinal_position as pos
           from information_schema.columns where table_schema = database()`,
      )) {
        if (!tables.has(c.t)) continue;
        shape.column(c.t, {
          name: c.name,
          position: Number(c.pos),
          type: c.type,
          nullable: c.nn === 'YES',
          default: c.def,
          extra: c.extra.trim() || null,
        });
      }
      const indexes = new Map<string, string[]>();
      for (const i of await query<{
        t: string;
        name: string;
        nu: number;
        col: string;
        sub: number | null;
        type: string;
      }>(
        `select table_name as t, index_name as name, non_unique as nu, column_name as col, sub_part as sub,
                index_type as type
           from information_schema.statistics where table_schema = database() order by t, name, seq_in_index`,
      )) {
        if (!tables.has(i.t)) continue;
        const key = `${i.t}\0${i.nu ? '' : 'unique '}index ${i.name} using ${i.type}`;
        indexes.set(key, [...(indexes.get(key) ?? []), i.sub ? `${i.col}(${i.sub})` : i.col]);
      }
      for (const [key, cols] of indexes) {
        const [t, line] = key.split('\0') as [string, string];
        shape.index(t, `${line} (${cols.join(', ')})`);
      }
      for (const fk of await foreignKeys()) {
        const [rule] = await query<{ u: string; d: string }>(
          `select update_rule as u, delete_rule as d from information_schema.referential_constraints
            where constraint_schema = database() and table_name = ? and constraint_name = ?`,
          [fk.child, fk.name],
        );
        shape.constraint(
          fk.child,
          `${fk.name} foreign key (${fk.ck.join(', ')}) references ${fk.parent} (${fk.pk.join(', ')}) ` +
            `on update ${rule?.u} on delete ${rule?.d}`,
        );
      }
      for (const k of await query<{ t: string; name: string; def: string }>(
        `select table_name as t, constraint_name as name, check_clause as def
           from information_schema.check_constraints where constraint_schema = database()`,
      )) {
        if (tables.has(k.t)) shape.constraint(k.t, `${k.name} check ${k.def}`);
      }
      for (const t of tables) shape.table(t);
      for (const o of await query<{ kind: ObjectKind; name: string; def: string | null }>(MYSQL_OBJECTS)) {
        if (o.kind !== 'trigger' || tables.has(o.name.split('.')[0]!))
          shape.object(o.kind, o.name, o.def ?? '');
      }
      for (const { name } of await query<{ name: string }>(
        `select table_name as name from information_schema.tables where table_schema = database() and table_type = 'SEQUENCE'`,
      )) {
        const [row] = await query<Row>(`show create sequence ${quoteMysql(name)}`);
        shape.object('sequence', name, String(Object.values(row ?? {})[1] ?? ''));
      }
      return shape.build();
    },

    async listTables() {
      const rows = await query<{ t: string }>(
        `select table_name as t from information_schema.tables
          where table_schema = database() and table_type = 'BASE TABLE' order by 1`,
      );
      return rows.map((r) => r.t).filter((t) => !isRewindTable(t));
    },

    async tableStats(tables, { checksumRowLimit }) {
      const out: Record<string, TableStats> = {};
      for (const t of tables) {
        const rows = Number((await query<{ n: number }>(`select count(*) as n from ${quoteMysql(t)}`))[0]!.n);
        let checksum: string | null = null;
        if (rows <= checksumRowLimit) {
          // A sum of per-row hashes: independent of row order; columns are taken by name.
          const cols = (await columns(database, t)).map((c) => c.name).sort();
          const row = cols.map((c) => `ifnull(md5(${quoteMysql(c)}), 'n')`).join(', ');
          const [r] = await query<{ s: string }>(
            `select cast(coalesce(sum(cast(conv(left(md5(concat_ws('|', ${row})), 15), 16, 10) as unsigned)), 0) as char) as s
               from ${quoteMysql(t)}`,
          );
          checksum = String(r!.s);
        }
        out[t] = { rows, checksum };
      }
      return out;
    },

    async foreignKeyOrphans() {
      const out: ForeignKeyOrphans[] = [];
      for (const fk of await foreignKeys()) {
        const [r] = await query<{ n: number }>(orphanCountSql(fk, quoteMysql));
        const orphans = Number(r!.n);
        if (orphans > 0) out.push({ table: fk.child, constraint: fk.name, parent: fk.parent, orphans });
      }
      return out;
    },

    async backupTables(backupId, tables) {
      const names = tables.map((t) => backupTableName(backupId, t, MAX_IDENTIFIER));
      await exec(`create database if not exists ${BACKUP_DB}`);
      const created: string[] = [];
      try {
        for (const [i, t] of tables.entries()) {
          if (!(await tableExists(database, t)))
            throw new Error(`backup ${backupId}: table "${t}" does not exist`);
          const target = `${BACKUP_DB}.${quoteMysql(names[i]!)}`;
          // LIKE copies columns and indexes but no foreign keys: the copy never blocks the app.
          await exec(`create table ${target} like ${db}.${quoteMysql(t)}`);
          created.push(target);
          await query(`alter table ${target} comment = ?`, [origin(t)]);
        }
        // Tables are created first: DDL would end the snapshot that keeps the copies consistent.
        await exec('start transaction with consistent snapshot');
        for (const [i, t] of tables.entries()) {
          await copyRows(
            `${db}.${quoteMysql(t)}`,
            `${BACKUP_DB}.${quoteMysql(names[i]!)}`,
            await columns(database, t),
          );
        }
        await exec('commit');
      } catch (err) {
        await exec('rollback').catch(() => {});
        for (const target of created) await exec(`drop table if exists ${target}`).catch(() => {});
        throw err;
      }
    },

    async describeTables(tables) {
      const out: Record<string, TableDefinition> = {};
      for (const t of tables) {
        const [create] = await query<{ 'Create Table': string }>(`show create table ${db}.${quoteMysql(t)}`);
        const pk = await query<{ c: string }>(
          `select column_name as c from information_schema.statistics
            where table_schema = ? and table_name = ? and index_name = 'PRIMARY' order by seq_in_index`,
          [database, t],
        );
        const triggers = await query<{ name: string }>(
          'select trigger_name as name from information_schema.triggers where event_object_schema = ? and event_object_table = ?',
          [database, t],
        );
        const after: string[] = [];
        for (const tr of triggers) {
          const [row] = await query<{ 'SQL Original Statement': string }>(
            `show create trigger ${db}.${quoteMysql(tr.name)}`,
          );
          if (row) after.push(row['SQL Original Statement']);
        }
        out[t] = {
          columns: (await columns(database, t)).map((c) => c.name),
          primaryKey: pk.map((r) => r.c),
          create: [create!['Create Table']],
          after,
        };
      }
      return out;
    },

    async mergeTables(backupId, plans, { dryRun }) {
      const work: { plan: (typeof plans)[number]; source: string; target: string; recreate: boolean }[] = [];
      for (const plan of plans) {
        const name = backupTableName(backupId, plan.table, MAX_IDENTIFIER);
        if (!(await tableExists(BACKUP_DB, name)))
          throw new Error(`backup ${backupId} has no copy of table "${plan.table}" (${BACKUP_DB}.${name})`);
        const recreate = plan.recreate !== null && !(await tableExists(database, plan.table));
        work.push({
          plan,
          source: `${BACKUP_DB}.${quoteMysql(name)}`,
          target: `${db}.${quoteMysql(plan.table)}`,
          recreate,
        });
      }
      const [fkChecks] = await query<{ v: number }>('select @@foreign_key_checks as v');
      // Rows go back in any order; a recreated table may reference one not back yet.
      await exec('set foreign_key_checks = 0');
      try {
        const counts: MergeCounts[] = [];
        const later: LaterFills = [];
        if (dryRun) {
          for (const w of work) {
            if (w.recreate) {
              const [r] = await query<{ n: number }>(`select count(*) as n from ${w.source}`);
              counts.push({ ...emptyCounts(w.plan.table), recreated: true, inserted: Number(r!.n) });
            } else counts.push({ ...(await mergeOne(w, true)).counts, recreated: false });
          }
          return counts;
        }
        // DDL commits on MySQL: the structure first, then the rows in one transaction.
        for (const w of work.filter((w) => w.recreate))
          for (const st of w.plan.recreate!.create) await exec(st);
        await engine.transaction(async () => {
          for (const w of work) {
            const merged = await mergeOne(w, false);
            if (merged.fillLater) later.push({ index: counts.length, fill: merged.fillLater });
            counts.push({ ...merged.counts, recreated: w.recreate });
          }
        });
        for (const w of work.filter((w) => w.recreate))
          for (const st of w.plan.recreate!.after) await exec(st);
        return await runLaterFills(counts, later);
      } finally {
        await exec(`set foreign_key_checks = ${fkChecks?.v ? 1 : 0}`);
      }
    },

    async dropBackup(backupId) {
      for (const t of await backupTablesOf(backupId))
        await exec(`drop table if exists ${BACKUP_DB}.${quoteMysql(t)}`);
    },
    async listBackupIds() {
      const ids = (await backupTablesOf(null)).map(backupIdOf).filter((id): id is string => id !== null);
      return [...new Set(ids)].sort();
    },
    close: () => conn.end(),
  };

  const dialect: MergeDialect = {
    quote: quoteMysql,
    run: async (sql) => {
      const [r] = await conn.query(sql);
      return (r as { affectedRows?: number }).affectedRows ?? 0;
    },
    query: (sql) => query(sql),
    distinct: (a, b) => `not (${a} <=> ${b})`,
    updateFrom: (target, source, on, set, where) =>
      `update ${target} t join ${source} b on ${on} set ${set.map(([c, v]) => `t.${quoteMysql(c)} = ${v}`).join(', ')} where ${where}`,
    deleteMissing: (target, source, on) =>
      `delete t from ${target} t where not exists (select 1 from ${source} b where ${on})`,
    insertOverride: '',
  };

  async function mergeOne(
    w: { plan: MergePlan; source: string; target: string; recreate: boolean },
    dryRun: boolean,
  ) {
    const name = w.source
      .slice(BACKUP_DB.length + 1)
      .replace(/^`|`$/g, '')
      .replaceAll('``', '`');
    const backupColumns = new Set((await columns(BACKUP_DB, name)).map((c) => c.name));
    const now = await columns(database, w.plan.table);
    const writable = now
      .filter((c) => !GENERATED.test(c.extra) && backupColumns.has(c.name))
      .map((c) => c.name);
    // MariaDB reports a default as SQL (a string quoted, NULL as NULL).
    const defaults = new Map(now.map((c) => [c.name, c.def === 'NULL' ? null : c.def]));
    return mergeRows(dialect, w.target, w.source, w.plan, writable, defaults, dryRun);
  }

  async function foreignKeys() {
    const rows = await query<{
      name: string;
      child: string;
      ps: string;
      parent: string;
      c: string;
      p: string;
    }>(
      `select constraint_name as name, table_name as child, referenced_table_schema as ps,
              referenced_table_name as parent, column_name as c, referenced_column_name as p
         from information_schema.key_column_usage
        where table_schema = database() and referenced_table_name is not null
        order by table_name, constraint_name, ordinal_position`,
    );
    const fks = new Map<
      string,
      { name: string; child: string; ps: string; parent: string; ck: string[]; pk: string[] }
    >();
    for (const r of rows) {
      if (isRewindTable(r.child)) continue;
      const key = `${r.child}\0${r.name}`;
      const fk = fks.get(key) ?? { name: r.name, child: r.child, ps: r.ps, parent: r.parent, ck: [], pk: [] };
      fk.ck.push(r.c);
      fk.pk.push(r.p);
      fks.set(key, fk);
    }
    return [...fks.values()];
  }

  return engine;
}
