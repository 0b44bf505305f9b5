// SQLite has no advisory lock, so a lock row (owner, host, pid, expiry) stands in for one. It
// lives in its own file next to the database (`<db>.rewind-lock`): a row in the app's file could
// only be written when no one else is writing, so an app's long write transaction would look
// like another migrator holding the lock, instead of the lock timeout it is.

import { hostname } from 'node:os';
import { DatabaseSync } from 'node:sqlite';
import { sha256 } from './fingerprint.ts';

// A crashed holder on another host is only recognised by expiry; on this host, by its pid.
const LOCK_TTL_MS = 60 * 60 * 1000;

export interface LockFile {
  /** One attempt, never waiting on the file (a synchronous wait would block the event loop). */
  tryOnce(name: string): boolean;
  release(name: string): void;
  close(): void;
}

export function openLockFile(dbPath: string): LockFile {
  const owner = `${hostname()}:${process.pid}:${sha256(`${Math.random()}${Date.now()}`).slice(0, 12)}`;
  let file: DatabaseSync | null = null;
  const open = () => {
    if (!file) {
      file = new DatabaseSync(dbPath === ':memory:' ? ':memory:' : `${dbPath}.rewind-lock`);
      file.exec('pragma busy_timeout = 0');
    }
    return file;
  };
  return {
    tryOnce(name) {
      const db = open();
      try {
        db.exec('begin immediate');
      } catch (err) {
        if (isBusy(err)) return false;
        throw err;
      }
      try {
        db.exec(
          'create table if not exists rewind_locks (name text primary key, owner text not null, host text, pid integer, expires_at integer)',
        );
        const row = db
          .prepare('select owner, host, pid, expires_at from rewind_locks where name = ?')
          .get(name) as { owner: string; host: string; pid: number; expires_at: number } | undefined;
        if (row && row.owner !== owner && !isStale(row)) {
          db.exec('rollback');
          return false;
        }
        db.prepare(
          'insert or replace into rewind_locks (name, owner, host, pid, expires_at) values (?, ?, ?, ?, ?)',
        ).run(name, owner, hostname(), process.pid, Date.now() + LOCK_TTL_MS);
        db.exec('commit');
        return true;
      } catch (err) {
        if (db.isTransaction) db.exec('rollback');
        if (isBusy(err)) return false;
        throw err;
      }
    },
    release(name) {
      // A busy lock file is retried briefly here: a lock left behind would block the next migrator.
      const db = open();
      db.exec('pragma busy_timeout = 2000');
      try {
        db.prepare('delete from rewind_locks where name = ? and owner = ?').run(name, owner);
      } finally {
        db.exec('pragma busy_timeout = 0');
      }
    },
    close() {
      file?.close();
      file = null;
    },
  };
}

export function isBusy(err: unknown): boolean {
  // SQLITE_BUSY and SQLITE_LOCKED, including their extended codes.
  return [5, 6].includes(((err as { errcode?: number } | null)?.errcode ?? 0) & 0xff);
}

function isStale(row: { host: string; pid: number; expires_at: number }): boolean {
  if (row.expires_at < Date.now()) return true;
  if (row.host !== hostname()) return false;
  try {
    process.kill(row.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}
