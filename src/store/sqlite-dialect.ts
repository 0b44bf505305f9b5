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
  return {
    close() {
      if (db.isOpen) db.close();
    },
    prepare(source: string): SqliteStatement {
      // Kysely starts transactions with a plain `begin` (deferred). Take the write lock up front so
      // a transaction that reads and then writes cannot fail with SQLITE_BUSY when another process
      // wrote in between; with WAL, readers are never blocked by this.
      const stmt = db.prepare(source.trim().toLowerCase() === 'begin' ? 'begin immediate' : source);
      const params = (parameters: ReadonlyArray<unknown>) => parameters as SQLInputValue[];
      return {
        reader: stmt.columns().length > 0,
        all: (parameters) => stmt.all(...params(parameters)),
        run: (parameters) => stmt.run(...params(parameters)),
        iterate: (parameters) => stmt.iterate(...params(parameters)),
      };
    },
  };
}

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
