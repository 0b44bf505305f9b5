// openStore: picks the database from the options, runs migrations, returns the Store.

import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Kysely } from 'kysely';
import { createKyselyStore } from './kysely-store.ts';
import { type ChangeFeed, createPgChangeFeed } from './pg-change-feed.ts';
import { createPostgresKysely } from './postgres-dialect.ts';
import { type Database, migrateToLatest, type StoreDialect } from './schema.ts';
import { createSqliteKysely } from './sqlite-dialect.ts';
import type { Store } from './types.ts';

export interface OpenStoreOptions {
  /** `postgres://` or `postgresql://` opens PostgreSQL; unset (or empty) uses SQLite in `dataDir`. */
  readonly url?: string;
  /** Directory of the embedded SQLite database, `<dataDir>/rewind.db` (created if missing). */
  readonly dataDir?: string;
  /** Clock in epoch milliseconds, for tests; defaults to Date.now. */
  readonly now?: () => number;
}

export const SQLITE_FILE_NAME = 'rewind.db';

const POSTGRES_URL = /^postgres(ql)?:\/\//i;
const URL_HELP =
  'use postgres://user:password@host:5432/database (or postgresql://) for PostgreSQL, ' +
  'or leave the database URL unset to use the embedded SQLite database in the data directory';

/** The URL with its password replaced, safe for error messages and logs. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
  }
}

export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.url?.trim();
  if (url) {
    if (!POSTGRES_URL.test(url)) {
      throw new Error(`store: unsupported database URL "${redactUrl(url)}": ${URL_HELP}`);
    }
    try {
      new URL(url);
    } catch {
      throw new Error(`store: malformed database URL "${redactUrl(url)}": ${URL_HELP}`);
    }
    return open(createPostgresKysely(url), 'postgres', options, `PostgreSQL at ${redactUrl(url)}`, () =>
      createPgChangeFeed(url),
    );
  }
  if (!options.dataDir) {
    throw new Error(
      `store: no database URL and no data directory: pass dataDir (SQLite at <dataDir>/${SQLITE_FILE_NAME}) ` +
        'or a postgres://user:password@host:5432/database URL',
    );
  }
  const dir = resolve(options.dataDir);
  const path = join(dir, SQLITE_FILE_NAME);
  let db: Kysely<Database>;
  try {
    mkdirSync(dir, { recursive: true });
    db = createSqliteKysely(path);
  } catch (err) {
    throw new Error(`store: cannot open SQLite database ${path}: ${(err as Error).message}`, { cause: err });
  }
  return open(db, 'sqlite', options, `SQLite database ${path}`);
}

async function open(
  db: Kysely<Database>,
  dialect: StoreDialect,
  options: OpenStoreOptions,
  where: string,
  changeFeed?: () => ChangeFeed,
): Promise<Store> {
  try {
    await migrateToLatest(db, dialect);
  } catch (err) {
    await db.destroy().catch(() => {});
    const message = err instanceof Error ? err.message : String(err);
    const detail = message || (err as { code?: string }).code || 'unknown error';
    const hint =
      dialect === 'postgres' ? ' (is PostgreSQL running, and are the URL, user and database right?)' : '';
    throw new Error(`store: cannot open ${where}: ${detail}${hint}`, { cause: err });
  }
  return createKyselyStore(db, {
    dialect,
    ...(options.now && { now: options.now }),
    ...(changeFeed && { changes: changeFeed() }),
  });
}
