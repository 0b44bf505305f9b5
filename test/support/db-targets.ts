// Real databases for tests: a fresh database per call on the local PostgreSQL and MariaDB/MySQL
// servers, a fresh file for SQLite. An unreachable server is a failure that says how to start
// it, never a skip: a suite that silently skips an engine proves nothing about it.

import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import pg from 'pg';
import { openDatabase, redactUrl } from '../../src/features/database/engines/registry.ts';
import type { DatabaseEngine } from '../../src/features/database/engines/types.ts';
import type { DatabaseEngineName } from '../../src/features/database/types.ts';

export const TARGETS: readonly DatabaseEngineName[] = ['postgres', 'mysql', 'sqlite'];

export const POSTGRES_ADMIN_URL =
  process.env.REWIND_TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
export const MYSQL_ADMIN_URL = process.env.REWIND_TEST_MYSQL_URL || 'mysql://root@127.0.0.1:3306/mysql';

const START: Readonly<Record<'postgres' | 'mysql', string>> = {
  postgres: 'pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start',
  mysql: 'start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd',
};

export interface TestTarget {
  readonly engine: DatabaseEngineName;
  readonly url: string;
  /** Drops the database (and, for MySQL, its tables in rewind_backup) or deletes the file. */
  cleanup(): Promise<void>;
}

export async function createTarget(engine: DatabaseEngineName): Promise<TestTarget> {
  const name = `rewind_test_${randomBytes(6).toString('hex')}`;
  if (engine === 'sqlite') {
    const dir = await mkdtemp(join(tmpdir(), 'rewind-db-'));
    return {
      engine,
      url: `sqlite://${join(dir, `${name}.db`)}`,
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  }
  if (engine === 'postgres') {
    await withPostgresAdmin((c) => c.query(`create database ${name}`));
    return {
      engine,
      url: withDatabase(POSTGRES_ADMIN_URL, name),
      cleanup: () => withPostgresAdmin((c) => c.query(`drop database if exists ${name} with (force)`)),
    };
  }
  await withMysqlAdmin((c) => c.query(`create database ${name}`));
  const url = withDatabase(MYSQL_ADMIN_URL, name);
  return {
    engine,
    url,
    async cleanup() {
      // Backups of a MySQL database live outside it, in rewind_backup.
      const db = await openDatabase('mysql', url);
      try {
        for (const id of await db.listBackupIds()) await db.dropBackup(id);
      } finally {
        await db.close();
      }
      await withMysqlAdmin((c) => c.query(`drop database if exists ${name}`));
    },
  };
}

/** createTarget + openDatabase, with cleanup closing the connection first. */
export async function openTarget(
  engine: DatabaseEngineName,
): Promise<{ target: TestTarget; db: DatabaseEngine; cleanup(): Promise<void> }> {
  const target = await createTarget(engine);
  const db = await openDatabase(engine, target.url);
  return {
    target,
    db,
    async cleanup() {
      await db.close().catch(() => {});
      await target.cleanup();
    },
  };
}

/**
 * Another session holding a lock that a schema change on `table` must wait for: an open
 * transaction that read the table (PostgreSQL ACCESS SHARE, MySQL metadata lock); SQLite has no
 * table locks, so a write transaction on the whole file. Reads still go through.
 */
export async function holdTableLock(
  engine: DatabaseEngineName,
  url: string,
  table: string,
): Promise<{ release(): Promise<void> }> {
  const other = await openDatabase(engine, url);
  if (engine === 'sqlite') await other.exec('begin immediate');
  else {
    await other.exec(engine === 'mysql' ? 'start transaction' : 'begin');
    await other.query(`select count(*) as n from ${table}`);
  }
  return {
    async release() {
      await other.exec('rollback');
      await other.close();
    },
  };
}

function withDatabase(adminUrl: string, name: string): string {
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function withPostgresAdmin(fn: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const admin = new pg.Client({ connectionString: POSTGRES_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await admin.connect();
  } catch (err) {
    throw unreachable('PostgreSQL', POSTGRES_ADMIN_URL, 'REWIND_TEST_DATABASE_URL', START.postgres, err);
  }
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}

async function withMysqlAdmin(fn: (c: mysql.Connection) => Promise<unknown>): Promise<void> {
  let admin: mysql.Connection;
  try {
    admin = await mysql.createConnection({ uri: MYSQL_ADMIN_URL, connectTimeout: 5000 });
  } catch (err) {
    throw unreachable('MySQL/MariaDB', MYSQL_ADMIN_URL, 'REWIND_TEST_MYSQL_URL', START.mysql, err);
  }
  try {
    await fn(admin);
  } finally {
    await admin.end();
  }
}

function unreachable(what: string, url: string, envVar: string, start: string, err: unknown): Error {
  const why = err instanceof Error ? err.message || (err as { code?: string }).code : String(err);
  return new Error(
    `${what} is not reachable at ${redactUrl(url)} (${why}). Start it with:\n  ${start}\n` +
      `or point ${envVar} at a server where the user may CREATE DATABASE.`,
    { cause: err },
  );
}
