// Scratch databases for the migration round trip: a throwaway copy of the *current* schema of an
// app's database, never the database itself. PostgreSQL: a new database on the same server
// (template0) filled by `pg_dump --schema-only | psql`; MariaDB/MySQL: a new database on the same
// server filled from SHOW CREATE of each table, sequence, view, routine, trigger and event;
// SQLite: `VACUUM INTO` a temporary file (a consistent copy, rows included, the app's file opened
// read-only). Every scratch is registered until dropped, so a SIGINT handler can drop them all.

import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import mysql from 'mysql2/promise';
import pg from 'pg';
import type { DatabaseEngineName } from '../types.ts';
import { quoteMysql } from './mysql.ts';
import { quotePg } from './postgres.ts';
import { redactUrl } from './registry.ts';
import { sqliteFilePath } from './sqlite.ts';

export interface ScratchDatabase {
  readonly engine: DatabaseEngineName;
  /** Connection URL of the scratch (may carry the app's password: never print it). */
  readonly url: string;
  /** Database name (PostgreSQL, MySQL) or file path (SQLite), safe to print. */
  readonly name: string;
  /** The app's database name as it appears in the scratch's object definitions (MySQL views). */
  readonly sourceName: string;
  /** How the schema was copied, e.g. `pg_dump 15.20 --schema-only`. */
  readonly copiedWith: string;
  /** Idempotent; never throws (a failure is reported through the promise's value). */
  drop(): Promise<string | null>;
}

/**
 * Makes and fills a scratch. `created` is called as soon as the database exists, before it is
 * filled, so that a Ctrl-C during a long copy drops it too.
 */
type Maker = (url: string, name: string, created: (drop: Drop) => void) => Promise<ScratchDatabase>;
type Drop = () => Promise<string | null>;

const MAKERS: Readonly<Record<DatabaseEngineName, Maker>> = {
  postgres: postgresScratch,
  mysql: mysqlScratch,
  sqlite: sqliteScratch,
};

const live = new Set<Drop>();

/** Names start with this: an operator can find (and drop) leftovers of a killed process. */
export const SCRATCH_PREFIX = 'rewind_rt_';

/** `rewind_rt_<app>_<random>`: unique, a valid unquoted identifier on every engine, <= 63 chars. */
export function scratchName(app: string): string {
  const slug = app
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, '_')
    .slice(0, 32);
  return `${SCRATCH_PREFIX}${slug}_${randomBytes(6).toString('hex')}`;
}

/** Creates and fills a scratch; on a failure it is dropped before the error is thrown. */
export async function createScratch(
  engine: DatabaseEngineName,
  appUrl: string,
  app: string,
): Promise<ScratchDatabase> {
  const tracked: Drop[] = [];
  try {
    const made = await MAKERS[engine](appUrl, scratchName(app), (d) => {
      tracked.push(d);
      live.add(d);
    });
    return {
      ...made,
      async drop() {
        live.delete(made.drop);
        return made.drop();
      },
    };
  } catch (err) {
    // The maker dropped what it had made before throwing.
    for (const d of tracked) live.delete(d);
    throw err;
  }
}

/** Drops every scratch this process still has (SIGINT / SIGTERM); returns what could not be. */
export async function dropLiveScratches(): Promise<string[]> {
  const all = [...live];
  live.clear();
  return (await Promise.all(all.map((drop) => drop()))).filter((m): m is string => m !== null);
}

/** A drop that runs once, whatever the number of callers, and reports its failure as text. */
function once(fn: () => Promise<void>, what: string): Drop {
  let done: Promise<string | null> | null = null;
  return () => {
    done ??= fn().then(
      () => null,
      (err) => `could not drop the scratch ${what}: ${(err as Error).message}; drop it by hand`,
    );
    return done;
  };
}

// --- PostgreSQL ---------------------------------------------------------------------------------

async function withPg<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, connectionTimeoutMillis: 10_000 });
  c.on('error', () => {});
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end().catch(() => {});
  }
}

async function postgresScratch(
  appUrl: string,
  name: string,
  created: (drop: Drop) => void,
): Promise<ScratchDatabase> {
  const { serverMajor, source } = await withPg(appUrl, async (c) => {
    const r = await c.query<{ v: string; db: string }>(
      "select current_setting('server_version_num') as v, current_database() as db",
    );
    return { serverMajor: Math.floor(Number(r.rows[0]!.v) / 10_000), source: r.rows[0]!.db };
  });
  const tools = pgTools(serverMajor, appUrl);
  await withPg(appUrl, (c) => c.query(`create database ${quotePg(name)} template template0`)).catch((err) => {
    throw new Error(
      `cannot create the scratch database ${name} on ${redactUrl(appUrl)}: ${(err as Error).message}. The user of database.url needs CREATEDB (ALTER ROLE ... CREATEDB)`,
    );
  });
  const url = withDatabase(appUrl, name);
  // pg_dump and psql of a copy in progress: a drop (Ctrl-C, SIGTERM) stops them first.
  const children: ChildProcess[] = [];
  const drop = once(async () => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await withPg(appUrl, (c) => c.query(`drop database if exists ${quotePg(name)} with (force)`));
  }, `database ${name}`);
  created(drop);
  try {
    await pipeDump(tools, appUrl, url, children);
  } catch (err) {
    await drop();
    throw err;
  }
  return {
    engine: 'postgres',
    url,
    name,
    sourceName: source,
    copiedWith: `pg_dump ${tools.version} --schema-only`,
    drop,
  };
}

interface PgTools {
  readonly pgDump: string;
  readonly psql: string;
  readonly version: string;
}

/**
 * The newest pg_dump on PATH, in $REWIND_PG_BIN or under /usr/lib/postgresql/N/bin (Debian keeps
 * one per major). pg_dump reads servers of its own major and older, never newer ones.
 */
export function pgTools(serverMajor: number, appUrl: string): PgTools {
  const dirs = [
    ...(process.env.REWIND_PG_BIN ? [process.env.REWIND_PG_BIN] : []),
    ...listDir('/usr/lib/postgresql').map((v) => `/usr/lib/postgresql/${v}/bin`),
    ...(process.env.PATH ?? '').split(':').filter(Boolean),
  ];
  const found: { dir: string; major: number; version: string }[] = [];
  for (const dir of new Set(dirs)) {
    const bin = join(dir, 'pg_dump');
    if (!existsSync(bin) || !existsSync(join(dir, 'psql'))) continue;
    const version = pgDumpVersion(bin);
    if (version) found.push({ dir, major: Number(version.split('.')[0]), version });
  }
  const usable = found.filter((f) => f.major >= serverMajor).sort((a, b) => b.major - a.major)[0];
  if (usable)
    return { pgDump: join(usable.dir, 'pg_dump'), psql: join(usable.dir, 'psql'), version: usable.version };
  const seen = found.length
    ? `found ${found.map((f) => `pg_dump ${f.version} (${f.dir})`).join(', ')}, too old for it`
    : 'found no pg_dump with its psql on PATH, in $REWIND_PG_BIN or under /usr/lib/postgresql';
  throw new Error(
    `the round trip copies the schema of ${redactUrl(appUrl)} (PostgreSQL ${serverMajor}) with pg_dump --schema-only | psql, ` +
      `which must be of major ${serverMajor} or newer; ${seen}. Fix: install the client of that major ` +
      `(Debian/Ubuntu: apt-get install postgresql-client-${serverMajor}; in CI: the postgres:${serverMajor} image has it) ` +
      'or set REWIND_PG_BIN to the bin folder of a recent one',
  );
}

function pgDumpVersion(bin: string): string | null {
  try {
    const out = spawnSyncText(bin, ['--version']);
    return /(\d+(?:\.\d+)?)/.exec(out)?.[1] ?? null;
  } catch {
    return null;
  }
}

function spawnSyncText(bin: string, args: string[]): string {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 10_000 });
  if (r.status !== 0) throw new Error(r.stderr || `exit ${r.status}`);
  return r.stdout;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir).sort((a, b) => Number(b) - Number(a));
  } catch {
    return [];
  }
}

/** libpq reads the password from the environment: it never appears in a process list. */
function libpq(url: string): { dbname: string; env: NodeJS.ProcessEnv } {
  const u = new URL(url);
  const password = decodeURIComponent(u.password);
  u.password = '';
  return { dbname: u.toString(), env: { ...process.env, ...(password ? { PGPASSWORD: password } : {}) } };
}

/** pg_dump --schema-only of the app's database into psql on the scratch, one transaction. */
async function pipeDump(
  tools: PgTools,
  fromUrl: string,
  toUrl: string,
  children: ChildProcess[],
): Promise<void> {
  const from = libpq(fromUrl);
  const to = libpq(toUrl);
  const dump = spawn(
    tools.pgDump,
    [
      '--schema-only',
      '--no-owner',
      '--no-privileges',
      '--no-publications',
      '--no-subscriptions',
      '--exclude-schema=rewind_backup',
      `--dbname=${from.dbname}`,
    ],
    { env: from.env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const restore = spawn(
    tools.psql,
    ['--no-psqlrc', '--quiet', '--single-transaction', '-v', 'ON_ERROR_STOP=1', `--dbname=${to.dbname}`],
    { env: to.env, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  children.push(dump, restore);
  dump.stdout.pipe(restore.stdin);
  const [d, r] = await Promise.all([exited(dump), exited(restore)]);
  if (d.code !== 0)
    throw new Error(
      `pg_dump --schema-only of ${redactUrl(fromUrl)} failed (exit ${d.code}): ${d.stderr.trim()}`,
    );
  if (r.code !== 0)
    throw new Error(
      `psql could not load the schema copy into the scratch database (exit ${r.code}): ${r.stderr.trim()}`,
    );
}

function exited(child: ReturnType<typeof spawn>): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    if (stderr.length < 8000) stderr += b.toString();
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

// --- MySQL / MariaDB ----------------------------------------------------------------------------

/** What SHOW CREATE copies, in an order that lets most dependencies resolve on the first pass. */
const MYSQL_KINDS = [
  {
    kind: 'sequence',
    list: "select table_name as n from information_schema.tables where table_schema = database() and table_type = 'SEQUENCE'",
  },
  {
    kind: 'table',
    list: "select table_name as n from information_schema.tables where table_schema = database() and table_type = 'BASE TABLE'",
  },
  {
    kind: 'function',
    list: "select routine_name as n from information_schema.routines where routine_schema = database() and routine_type = 'FUNCTION'",
  },
  {
    kind: 'procedure',
    list: "select routine_name as n from information_schema.routines where routine_schema = database() and routine_type = 'PROCEDURE'",
  },
  {
    kind: 'view',
    list: 'select table_name as n from information_schema.views where table_schema = database()',
  },
  {
    kind: 'trigger',
    list: 'select trigger_name as n from information_schema.triggers where trigger_schema = database()',
  },
  {
    kind: 'event',
    list: 'select event_name as n from information_schema.events where event_schema = database()',
  },
] as const;

async function mysqlConnect(uri: string): Promise<mysql.Connection> {
  const c = await mysql.createConnection({ uri, connectTimeout: 10_000, multipleStatements: false });
  c.on('error', () => {});
  return c;
}

async function mysqlScratch(
  appUrl: string,
  name: string,
  created: (drop: Drop) => void,
): Promise<ScratchDatabase> {
  const source = await mysqlConnect(appUrl);
  try {
    const [[info]] = (await source.query(
      `select database() as db, default_character_set_name as cs, default_collation_name as co
         from information_schema.schemata where schema_name = database()`,
    )) as unknown as [{ db: string; cs: string; co: string }[]];
    if (!info) throw new Error(`${redactUrl(appUrl)} names no database`);
    await source
      .query(`create database ${quoteMysql(name)} character set ${info.cs} collate ${info.co}`)
      .catch((err) => {
        throw new Error(
          `cannot create the scratch database ${name} on ${redactUrl(appUrl)}: ${(err as Error).message}. The user of database.url needs CREATE and DROP on databases named ${SCRATCH_PREFIX}%`,
        );
      });
    const url = withDatabase(appUrl, name);
    const drop = once(async () => {
      const c = await mysqlConnect(appUrl);
      try {
        await c.query(`drop database if exists ${quoteMysql(name)}`);
      } finally {
        await c.end().catch(() => {});
      }
    }, `database ${name}`);
    created(drop);
    try {
      await copyMysqlSchema(source, info.db, url);
    } catch (err) {
      await drop();
      throw err;
    }
    return { engine: 'mysql', url, name, sourceName: info.db, copiedWith: 'SHOW CREATE', drop };
  } finally {
    await source.end().catch(() => {});
  }
}

async function copyMysqlSchema(source: mysql.Connection, sourceDb: string, url: string): Promise<void> {
  const target = await mysqlConnect(url);
  try {
    // Tables that reference each other go in any order; the copy has no rows to check.
    await target.query('set foreign_key_checks = 0');
    let todo: { kind: string; name: string; sql: string }[] = [];
    for (const k of MYSQL_KINDS) {
      const [rows] = (await source.query(k.list)) as unknown as [{ n: string }[]];
      for (const { n } of rows.sort((a, b) => (a.n < b.n ? -1 : 1))) {
        const [[row]] = (await source.query(`show create ${k.kind} ${quoteMysql(n)}`)) as unknown as [
          Record<string, unknown>[],
        ];
        const sql = createStatement(row ?? {});
        if (!sql) throw new Error(`SHOW CREATE ${k.kind.toUpperCase()} ${n} returned no statement`);
        todo.push({ kind: k.kind, name: n, sql: portable(sql, sourceDb) });
      }
    }
    // A view over a later view fails the first time: retry what failed while anything progresses.
    while (todo.length) {
      const failed: typeof todo = [];
      let lastError: unknown = null;
      for (const o of todo) {
        try {
          await target.query(o.sql);
        } catch (err) {
          failed.push(o);
          lastError = err;
        }
      }
      if (failed.length === todo.length) {
        const o = failed[0]!;
        throw new Error(
          `cannot copy ${o.kind} ${o.name} into the scratch database: ${(lastError as Error).message}`,
        );
      }
      todo = failed;
    }
  } finally {
    await target.end().catch(() => {});
  }
}

/** The CREATE statement of a SHOW CREATE row, whichever column holds it. */
function createStatement(row: Record<string, unknown>): string | null {
  for (const key of [
    'Create Table',
    'Create View',
    'Create Sequence',
    'SQL Original Statement',
    'Create Function',
    'Create Procedure',
    'Create Event',
  ]) {
    if (typeof row[key] === 'string') return row[key] as string;
  }
  return null;
}

/** No DEFINER (creating as another user needs SUPER), no reference to the source database. */
function portable(sql: string, sourceDb: string): string {
  return sql
    .replace(/\bDEFINER\s*=\s*(?:`(?:[^`]|``)*`|'[^']*'|\S+?)@(?:`(?:[^`]|``)*`|'[^']*'|[^\s]+)\s*/i, '')
    .replaceAll(`${quoteMysql(sourceDb)}.`, '');
}

// --- SQLite -------------------------------------------------------------------------------------

/**
 * Whether the app's database exists. Only a SQLite file can be missing (a CI checkout, an app
 * never deployed): Rewind would create it empty, so the round trip starts from an empty scratch
 * and the app's path is left alone (opening it would create the file).
 */
export function appDatabaseExists(engine: DatabaseEngineName, url: string): boolean {
  return engine !== 'sqlite' || existsSync(sqliteFilePath(url));
}

async function sqliteScratch(
  appUrl: string,
  name: string,
  created: (drop: Drop) => void,
): Promise<ScratchDatabase> {
  const path = sqliteFilePath(appUrl);
  if (path === ':memory:')
    throw new Error('an in-memory SQLite database has nothing to copy: give database.url a file path');
  const dir = await mkdtemp(join(tmpdir(), `${name}-`));
  const file = join(dir, `${name}.db`);
  const drop = once(() => rm(dir, { recursive: true, force: true }), `file ${file}`);
  created(drop);
  const url = `sqlite://${file}`;
  if (!existsSync(path))
    return {
      engine: 'sqlite',
      url,
      name: file,
      sourceName: path,
      copiedWith: `an empty file (${path} does not exist yet)`,
      drop,
    };
  try {
    // Read-only: the app's file is never written, not even a journal mode change.
    const source = new DatabaseSync(path, { readOnly: true });
    try {
      source.prepare('vacuum into ?').run(file);
    } finally {
      source.close();
    }
  } catch (err) {
    await drop();
    throw new Error(`cannot copy the SQLite database ${path} to ${file}: ${(err as Error).message}`);
  }
  return {
    engine: 'sqlite',
    url: `sqlite://${file}`,
    name: file,
    sourceName: path,
    copiedWith: 'VACUUM INTO',
    drop,
  };
}
