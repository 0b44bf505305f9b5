// One server per data dir. Two servers on one data dir would both drive the same agent, and the
// one that stops first would stop the apps under the other.
//
// The lock is a kernel one: an exclusive SQLite transaction on <dataDir>/server.lock, i.e. an
// fcntl() write lock that Node's built-in node:sqlite takes for us (Node itself has no flock).
// The kernel drops it when the process dies, however it dies (SIGKILL included), so a restarted
// server gets it at once and there is no stale lock to clean up; taking it is one atomic step, so
// two servers starting together cannot both win (unlike a pid file checked for liveness, which
// races between the check and the write, and trusts a pid the kernel may have given to another
// process). The holder writes its pid into <dataDir>/server.pid only so that a refused server can
// name it; the lock alone decides.
import { readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pidAlive } from '../shared/pid-alive.ts';

export interface DataDirLock {
  readonly file: string;
  /** Drops the lock (the kernel would do it at exit anyway). Idempotent. */
  release(): void;
}

export class DataDirLocked extends Error {
  /** The holder's pid, or null when it has not written it yet (it is starting). */
  readonly pid: number | null;
  constructor(dataDir: string, pid: number | null) {
    super(
      `another rewind server${pid === null ? ' (starting; its pid is not written yet)' : ` (pid ${pid})`} holds the data dir ${dataDir}; ` +
        `one server per data dir: stop that one${pid === null ? '' : ` (kill ${pid})`}, or give this one another --data-dir`,
    );
    this.name = 'DataDirLocked';
    this.pid = pid;
  }
}

export function lockFiles(dataDir: string): { lock: string; pid: string } {
  return { lock: join(dataDir, 'server.lock'), pid: join(dataDir, 'server.pid') };
}

// The connections that hold locks. A DatabaseSync that nothing references is closed by the
// garbage collector, and closing it drops the kernel lock: a caller that keeps no handle (or
// loses it) must still hold the data dir, so the module keeps every connection until release().
const held = new Set<DatabaseSync>();

/** Takes the data dir's lock for this process's lifetime, or throws DataDirLocked at once. */
export function lockDataDir(dataDir: string): DataDirLock {
  const files = lockFiles(dataDir);
  // timeout 0: a held lock is refused now, not after a wait.
  const db = new DatabaseSync(files.lock, { timeout: 0 });
  try {
    db.exec('PRAGMA locking_mode = EXCLUSIVE');
    db.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    db.close();
    if ((err as { errcode?: number }).errcode === 5 /* SQLITE_BUSY */)
      throw new DataDirLocked(dataDir, livePid(files.pid));
    throw err;
  }
  held.add(db);
  writeFileSync(files.pid, `${process.pid}\n`, { mode: 0o600 });
  return {
    file: files.lock,
    release() {
      if (!held.delete(db)) return;
      try {
        if (readPid(files.pid) === process.pid) unlinkSync(files.pid);
      } catch {}
      db.close();
    },
  };
}

/** The pid in the file if that process lives (a holder that is starting may not have written its own yet). */
function livePid(file: string): number | null {
  const pid = readPid(file);
  return pid !== null && pidAlive(pid) ? pid : null;
}

function readPid(file: string): number | null {
  try {
    const pid = Number.parseInt(readFileSync(file, 'utf8'), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}
