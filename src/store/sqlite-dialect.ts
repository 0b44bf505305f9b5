// SQLite through Node's built-in node:sqlite (DatabaseSync), adapted to Kysely's SqliteDialect.

import { DatabaseSync, type SQLInputValue } from 'node:sqlite';
import { Kysely, type SqliteDatabase, SqliteDialect, type SqliteStatement } from 'kysely';
import type { Database } from './schema.ts';

export const SQLITE_BUSY_TIMEOUT_MS = 5000;

/**
 * Wraps a DatabaseSync as the better-sqlite3-shaped object Kysely expects. Kysely's SQLite driver
 * serialises all queries of one Kysely instance over this single connection.
 */
export function nodeSqliteDatabase(db: DatabaseSync): SqliteDatabase {
  // Kysely prepares every query it runs; the controller runs the same few queries every tick, and
  // compiling them again was most of the store's CPU. One connection runs one query at a time, so
  // a statement is never in use twice at once. Least recently used ones go beyond STATEMENT_CACHE.
  const cache = new Map<string, SqliteStatement>();
  const params = (parameters: ReadonlyArray<unknown>) => parameters as SQLInputValue[];
  return {
    close() {
      cache.clear();
      if (db.isOpen) db.close();
    },
    prepare(source: string): SqliteStatement {
      const cached = cache.get(source);
      if (cached) {
        cache.delete(source);
        cache.set(source, cached);
        return cached;
      }
      // Kysely starts transactions with a plain `begin` (deferred). Take the write lock up front so
      // a transaction that reads and then writes cannot fail with SQLITE_BUSY when another process
      // wrote in between; with WAL, readers are never blocked by this.
      const stmt = db.prepare(source.trim().toLowerCase() === 'begin' ? 'begin immediate' : source);
      const statement: SqliteStatement = {
        reader: stmt.columns().length > 0,
        all: (parameters) => stmt.all(...params(parameters)),
        run: (parameters) => stmt.run(...params(parameters)),
        iterate: (parameters) => stmt.iterate(...params(parameters)),
      };
      cache.set(source, statement);
      if (cache.size > STATEMENT_CACHE) cache.delete(cache.keys().next().value!);
      return statement;
    },
  };
}

const STATEMENT_CACHE = 256;

/** Opens (creating if needed) the SQLite file with WAL, a busy timeout, foreign keys and full sync. */
export function openSqliteDatabase(path: string): DatabaseSync {
  const db = new DatabaseSync(path, {
    enableForeignKeyConstraints: true,
    timeout: SQLITE_BUSY_TIMEOUT_MS,
  });
  try {
    db.exec('pragma journal_mode = wal');
    db.exec(`pragma busy_timeout = ${SQLITE_BUSY_TIMEOUT_MS}`);
    db.exec('pragma foreign_keys = on');
    // The contract: a write is durable when its promise resolves, including across a power loss.
    db.exec('pragma synchronous = full');
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

export function createSqliteKysely(path: string): Kysely<Database> {
  const database = nodeSqliteDatabase(openSqliteDatabase(path));
  return new Kysely<Database>({ dialect: new SqliteDialect({ database }) });
}
