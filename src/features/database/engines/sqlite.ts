// SQLite through node:sqlite. Foreign key enforcement is off on this connection: a migration
// that rebuilds a table (the documented 12-step ALTER) must not cascade deletes, and
// verification's foreignKeyOrphans catches what enforcement would have. The advisory lock is a
// lock row in a file next to the database (sqlite-lock.ts).

import { resolve } from 'node:path';
import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { scanSql, stripComments } from '../sql-split.ts';
import { backupIdOf, backupTableName } from './backup-names.ts';
import { commitUnlessDry, emptyCounts, type LaterFills, runLaterFills } from './dry-run.ts';
import { isRewindTable, sha256, shapeBuilder } from './fingerprint.ts';
import { type MergeDialect, mergeRows } from './merge-sql.ts';
import { pollLock } from './poll-lock.ts';
import { isBusy, openLockFile } from './sqlite-lock.ts';
import type {
  DatabaseEngine,
  ForeignKeyOrphans,
  MergeCounts,
  Row,
  TableDefinition,
  TableStats,
} from './types.ts';

const BACKUP_PREFIX = 'rewind_backup__';
const NON_TRANSACTIONAL = /^\s*(vacuum\b|pragma\s+(\w+\.)?(foreign_keys|journal_mode)\b)/i;

export const quoteSqlite = (name: string) => `"${name.replaceAll('"', '""')}"`;

/** `sqlite:///abs/path.db`, `sqlite:rel.db`, `file:///abs/path.db` or a plain path. */
export function sqliteFilePath(url: string): string {
  if (url.startsWith('file:')) return fileURLToPath(url);
  const path = url.replace(/^sqlite:(\/\/)?/i, '');
  return path === ':memory:' ? path : resolve(path);
}

export async function openSqlite(url: string): Promise<DatabaseEngine> {
  const path = sqliteFilePath(url);
  const db = new DatabaseSync(path, { enableForeignKeyConstraints: false });
  return sqliteEngine(db, path);
}

interface LiteColumn {
  readonly name: string;
  readonly type: string;
  readonly notnull: number;
  readonly dflt_value: string | null;
  readonly pk: number;
  /** 0 plain, 2/3 generated (virtual/stored); 1 is a virtual table's hidden column. */
  readonly hidden: number;
}

function sqliteEngine(db: DatabaseSync, path: string): DatabaseEngine {
  const locks = openLockFile(path);
  const held = new Set<string>();
  let busyMs = 5000;
  const setBusy = (ms: number) => db.exec(`pragma busy_timeout = ${Math.max(0, Math.round(ms))}`);
  setBusy(busyMs);

  const all = <T extends Row = Row>(sql: string, params: readonly unknown[] = []) =>
    db.prepare(sql).all(...params.map(toSqlite)) as T[];
  // Plain objects out: node:sqlite rows have a null prototype, which deepEqual tells apart.
  const query = async <T extends Row = Row>(sql: string, params: readonly unknown[] = []) =>
    all<T>(sql, params).map((r) => ({ ...r }) as T);
  const exec = async (sql: string) => void db.exec(sql);
  const tables = () =>
    all<{ name: string }>(
      `select name from sqlite_schema where type = 'table' and name not like 'sqlite\\_%' escape '\\' order by 1`,
    ).map((r) => r.name);
  const exists = (table: string) =>
    all('select 1 from sqlite_schema where type = ? and name = ?', ['table', table]).length > 0;
  const columns = (table: string) =>
    all<LiteColumn & Row>('select * from pragma_table_xinfo(?) where hidden <> 1', [table]);
  const writable = (cols: readonly LiteColumn[]) => cols.filter((c) => c.hidden === 0);
  const copyRows = (from: string, to: string, cols: readonly LiteColumn[]) => {
    const list = cols.map((c) => quoteSqlite(c.name)).join(', ');
    if (list) db.exec(`insert into ${quoteSqlite(to)} (${list}) select ${list} from ${quoteSqlite(from)}`);
  };
  /** A plain table with the columns, types, not-null, defaults and primary key of `cols`. */
  const createFrom = (name: string, cols: readonly LiteColumn[]) => {
    const defs = cols.map(
      (c) =>
        `${quoteSqlite(c.name)} ${c.type}${c.notnull ? ' not null' : ''}${c.dflt_value !== null ? ` default ${c.dflt_value}` : ''}`,
    );
    const pk = cols.filter((c) => c.pk > 0).sort((a, b) => a.pk - b.pk);
    if (pk.length) defs.push(`primary key (${pk.map((c) => quoteSqlite(c.name)).join(', ')})`);
    db.exec(`create table ${quoteSqlite(name)} (${defs.join(', ')})`);
  };
  const backupTablesOf = (backupId: string | null) =>
    tables().filter((t) => t.startsWith(BACKUP_PREFIX + (backupId === null ? '' : `${backupId}__`)));

  const engine: DatabaseEngine = {
    name: 'sqlite',
    transactionalDdl: true,
    exec,
    query,
    async transaction(fn) {
      db.exec('begin immediate');
      try {
        const result = await fn();
        db.exec('commit');
        return result;
      } catch (err) {
        if (db.isTransaction) db.exec('rollback');
        throw err;
      }
    },
    canRunInTransaction: (sql) => !NON_TRANSACTIONAL.test(stripComments(sql, 'sqlite')),
    isLockTimeout: isBusy,
    async setLockTimeout(ms) {
      busyMs = ms;
      setBusy(ms);
    },

    async tryLock(name, timeoutMs) {
      if (held.has(name)) return true;
      const ok = await pollLock(async () => locks.tryOnce(name), timeoutMs);
      if (ok) held.add(name);
      return ok;
    },
    async unlock(name) {
      if (!held.delete(name)) return;
      locks.release(name);
    },

    // One process, one file: no other session can be running this connection's statement.
    sessionId: async () => null,
    sessionBusy: async () => false,
    dropInvalidIndexes: async () => [],

    async schemaFingerprint() {
      const shape = shapeBuilder();
      const sqlOf = new Map(
        all<{ name: string; sql: string | null }>('select name, sql from sqlite_schema').map((r) => [
          r.name,
          r.sql,
        ]),
      );
      for (const t of tables().filter((t) => !isRewindTable(t))) {
        shape.table(t);
        for (const [i, c] of columns(t).entries()) {
          const extra = [c.pk ? `pk${c.pk}` : '', c.hidden ? 'generated' : ''].filter(Boolean).join(' ');
          shape.column(t, {
            name: c.name,
            position: i + 1,
            type: c.type,
            nullable: !c.notnull,
            default: c.dflt_value,
            extra: extra || null,
          });
        }
        for (const i of all<{ name: string; unique: number; origin: string }>(
          'select * from pragma_index_list(?)',
          [t],
        )) {
          const cols = all<{ name: string | null; desc: number }>(
            'select * from pragma_index_xinfo(?) where key = 1',
            [i.name],
          )
            .map((c) => `${c.name ?? '<expr>'}${c.desc ? ' desc' : ''}`)
            .join(', ');
          // Automatic indexes get numbered names that change when a table is rebuilt.
          shape.index(
            t,
            i.origin === 'c'
              ? (sqlOf.get(i.name) ?? i.name)
              : `${i.unique ? 'unique ' : ''}${i.origin} (${cols})`,
          );
        }
        const fks = new Map<number, { parent: string; from: string[]; to: string[]; rule: string }>();
        for (const f of all<{
          id: number;
          table: string;
          from: string;
          to: string | null;
          on_update: string;
          on_delete: string;
        }>('select * from pragma_foreign_key_list(?) order by id, seq', [t])) {
          const fk = fks.get(f.id) ?? {
            parent: f.table,
            from: [],
            to: [],
            rule: `on update ${f.on_update} on delete ${f.on_delete}`,
          };
          fk.from.push(f.from);
          fk.to.push(f.to ?? '<pk>');
          fks.set(f.id, fk);
        }
        for (const fk of fks.values()) {
          shape.constraint(
            t,
            `foreign key (${fk.from.join(', ')}) references ${fk.parent} (${fk.to.join(', ')}) ${fk.rule}`,
          );
        }
        for (const check of checkClauses(sqlOf.get(t) ?? '')) shape.constraint(t, check);
      }
      for (const o of all<{ type: 'view' | 'trigger'; name: string; tbl: string; sql: string }>(
        `select type, name, tbl_name as tbl, sql from sqlite_schema where type in ('view', 'trigger')`,
      )) {
        if (isRewindTable(o.tbl)) continue;
        shape.object(o.type, o.type === 'trigger' ? `${o.tbl}.${o.name}` : o.name, o.sql);
      }
      return shape.build();
    },

    listTables: async () => tables().filter((t) => !isRewindTable(t)),

    async tableStats(list, { checksumRowLimit }) {
      const out: Record<string, TableStats> = {};
      for (const t of list) {
        const rows = Number(all<{ n: number }>(`select count(*) as n from ${quoteSqlite(t)}`)[0]!.n);
        out[t] = { rows, checksum: rows <= checksumRowLimit ? checksumOf(t) : null };
      }
      return out;
    },

    async foreignKeyOrphans() {
      const counts = new Map<string, ForeignKeyOrphans>();
      for (const v of all<{ table: string; parent: string; fkid: number }>('pragma foreign_key_check')) {
        if (isRewindTable(v.table)) continue;
        const key = `${v.table}\0${v.fkid}`;
        const prev = counts.get(key);
        counts.set(key, {
          table: v.table,
          constraint: `fk${v.fkid}`,
          parent: v.parent,
          orphans: (prev?.orphans ?? 0) + 1,
        });
      }
      return [...counts.values()];
    },

    async backupTables(backupId, list) {
      const names = list.map((t) => BACKUP_PREFIX + backupTableName(backupId, t));
      // BEGIN IMMEDIATE: the copies come from one consistent state of the file.
      await engine.transaction(async () => {
        for (const [i, t] of list.entries()) {
          if (!exists(t)) throw new Error(`backup ${backupId}: table "${t}" does not exist`);
          const cols = columns(t);
          createFrom(names[i]!, cols);
          copyRows(t, names[i]!, cols);
        }
      });
    },

    async describeTables(list) {
      const out: Record<string, TableDefinition> = {};
      for (const t of list) {
        const cols = columns(t);
        const sql = all<{ type: string; sql: string }>(
          'select type, sql from sqlite_schema where tbl_name = ? and sql is not null order by type = ? desc, name',
          [t, 'table'],
        );
        out[t] = {
          columns: cols.map((c) => c.name),
          primaryKey: cols
            .filter((c) => c.pk > 0)
            .sort((a, b) => a.pk - b.pk)
            .map((c) => c.name),
          create: sql.filter((r) => r.type === 'table').map((r) => r.sql),
          after: sql.filter((r) => r.type !== 'table').map((r) => r.sql),
        };
      }
      return out;
    },

    async mergeTables(backupId, plans, { dryRun }) {
      const later: LaterFills = [];
      const counts = await commitUnlessDry(engine.transaction, dryRun, async () => {
        const counts: MergeCounts[] = [];
        for (const plan of plans) {
          const name = BACKUP_PREFIX + backupTableName(backupId, plan.table);
          if (!exists(name))
            throw new Error(`backup ${backupId} has no copy of table "${plan.table}" (${name})`);
          const recreate = plan.recreate && !exists(plan.table) ? plan.recreate : null;
          if (recreate && dryRun) {
            const n = Number(all<{ n: number }>(`select count(*) as n from ${quoteSqlite(name)}`)[0]!.n);
            counts.push({ ...emptyCounts(plan.table), recreated: true, inserted: n });
            continue;
          }
          for (const st of recreate?.create ?? []) db.exec(st);
          const backupColumns = new Set(columns(name).map((c) => c.name));
          const now = columns(plan.table);
          const cols = writable(now)
            .filter((c) => backupColumns.has(c.name))
            .map((c) => c.name);
          const defaults = new Map(now.map((c) => [c.name, c.dflt_value]));
          const merged = await mergeRows(
            dialect,
            quoteSqlite(plan.table),
            quoteSqlite(name),
            plan,
            cols,
            defaults,
            dryRun,
          );
          for (const st of recreate?.after ?? []) db.exec(st);
          if (merged.fillLater) later.push({ index: counts.length, fill: merged.fillLater });
          counts.push({ ...merged.counts, recreated: recreate !== null });
        }
        return counts;
      });
      return runLaterFills(counts, later);
    },

    async dropBackup(backupId) {
      for (const t of backupTablesOf(backupId)) db.exec(`drop table if exists ${quoteSqlite(t)}`);
    },
    async listBackupIds() {
      const ids = backupTablesOf(null)
        .map((t) => backupIdOf(t.slice(BACKUP_PREFIX.length)))
        .filter((id): id is string => id !== null);
      return [...new Set(ids)].sort();
    },
    async close() {
      for (const name of [...held]) await engine.unlock(name).catch(() => {});
      locks.close();
      db.close();
    },
  };

  const dialect: MergeDialect = {
    quote: quoteSqlite,
    run: async (sql) => Number(db.prepare(sql).run().changes),
    query: (sql) => query(sql),
    distinct: (a, b) => `${a} is not ${b}`,
    updateFrom: (target, source, on, set, where) =>
      `update ${target} as t set ${set.map(([c, v]) => `${quoteSqlite(c)} = ${v}`).join(', ')} from ${source} as b where ${on} and ${where}`,
    deleteMissing: (target, source, on) =>
      `delete from ${target} as t where not exists (select 1 from ${source} as b where ${on})`,
    insertOverride: '',
  };

  function checksumOf(table: string): string {
    const stmt = db.prepare(`select * from ${quoteSqlite(table)}`);
    stmt.setReadBigInts(true);
    let sum = 0n;
    for (const row of stmt.iterate() as Iterable<Record<string, unknown>>) {
      const text = Object.keys(row)
        .sort()
        .map((k) => `${k}=${encode(row[k])}`)
        .join('|');
      sum += BigInt(`0x${sha256(text).slice(0, 15)}`);
    }
    return sum.toString();
  }

  return engine;
}

function encode(v: unknown): string {
  if (v === null || v === undefined) return 'n';
  if (v instanceof Uint8Array) return `b${Buffer.from(v).toString('hex')}`;
  if (typeof v === 'string') return `s${JSON.stringify(v)}`;
  return `v${String(v)}`;
}

function toSqlite(v: unknown): SQLInputValue {
  if (v === undefined) return null;
  if (typeof v === 'boolean') return v ? 1 : 0;
  return v as SQLInputValue;
}

/** The CHECK (...) clauses of a CREATE TABLE, which no pragma reports. */
function checkClauses(sql: string): string[] {
  const out: string[] = [];
  const code = scanSql(sql, 'sqlite').map((r) =>
    r.kind === 'code' ? sql.slice(r.start, r.end) : ' '.repeat(r.end - r.start),
  );
  const masked = code.join('');
  for (const m of masked.matchAll(/\bcheck\s*\(/gi)) {
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < masked.length; i++) {
      if (masked[i] === '(') depth++;
      else if (masked[i] === ')' && --depth === 0) {
        out.push(`check ${sql.slice(m.index + m[0].length - 1, i + 1)}`);
        break;
      }
    }
  }
  return out;
}
