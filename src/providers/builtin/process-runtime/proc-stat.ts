// The processes of this host as Linux's /proc shows them, for measuring an instance with the
// processes it started (a shell wrapper's children, a server's workers). One line of
// /proc/<pid>/stat holds all we need: parent, group, session, CPU times and resident pages.
// Resident pages are the counter /proc/<pid>/status shows as VmRSS (both read the kernel's
// get_mm_rss), so one read per process is enough.
//
// Finding children: /proc/<pid>/task/<tid>/children needs CONFIG_PROC_CHILDREN, which not every
// kernel has, so the table lists /proc and reads each process once, when it first appears; after
// that only the members of the trees asked about are read again. A full re-read every
// `refreshEvery` scans catches a pid reused between two scans.

import { readdirSync, readFileSync } from 'node:fs';

export interface ProcStat {
  readonly pid: number;
  readonly ppid: number;
  readonly session: number;
  /** One of R, S, D, Z, T... (Z: exited, not yet reaped). */
  readonly state: string;
  /**
   * utime + stime + cutime + cstime, in clock ticks: the process's own CPU time and that of the
   * children it reaped. Summed over a tree it only grows while the tree's processes are reaped
   * inside the tree.
   */
  readonly ticks: number;
  /** Field 22: the kernel start time, which tells a process from a later one with the same pid. */
  readonly startTime: string;
  readonly rssPages: number;
}

/** Parses one /proc/<pid>/stat line; null when it is not one. */
export function parseProcStat(pid: number, text: string): ProcStat | null {
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const close = text.lastIndexOf(')');
  if (close === -1) return null;
  const f = text.slice(close + 2).split(' ');
  if (f.length < 22) return null;
  const n = (i: number) => Number(f[i]);
  const ticks = n(11) + n(12) + n(13) + n(14);
  const rssPages = n(21);
  if (!Number.isFinite(ticks) || !Number.isFinite(rssPages)) return null;
  return {
    pid,
    ppid: n(1),
    session: n(3),
    state: f[0] ?? '?',
    ticks,
    startTime: f[19] ?? '',
    rssPages: Math.max(0, rssPages),
  };
}

export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | null {
  try {
    return parseProcStat(pid, readFileSync(`${procRoot}/${pid}/stat`, 'latin1'));
  } catch {
    return null; // gone
  }
}

/** The members of one tree, read in the last scan. */
export interface ProcessTree {
  readonly root: ProcStat;
  readonly members: readonly ProcStat[];
}

export class ProcessTable {
  readonly #procRoot: string;
  readonly #refreshEvery: number;
  readonly #known = new Map<number, ProcStat>();
  /** Pids read in the current scan. */
  readonly #fresh = new Set<number>();
  /** Children and session members by pid, as of the scan; built by the first tree() after it. */
  #index: { children: Map<number, number[]>; sessions: Map<number, number[]> } | null = null;
  #scans = 0;
  /** Reads of stat files so far (what a scan costs). */
  reads = 0;

  constructor(options: { procRoot?: string; refreshEvery?: number } = {}) {
    this.#procRoot = options.procRoot ?? '/proc';
    this.#refreshEvery = options.refreshEvery ?? 30;
  }

  /** Lists /proc: drops the processes that are gone and reads the ones that are new. */
  scan(): void {
    this.#scans += 1;
    this.#fresh.clear();
    this.#index = null;
    if (this.#scans % this.#refreshEvery === 0) this.#known.clear();
    let names: string[];
    try {
      names = readdirSync(this.#procRoot);
    } catch {
      this.#known.clear();
      return;
    }
    const present = new Set<number>();
    for (const name of names) {
      const c = name.charCodeAt(0);
      if (c < 48 || c > 57) continue;
      const pid = Number(name);
      present.add(pid);
      if (!this.#known.has(pid)) this.#read(pid);
    }
    for (const pid of this.#known.keys()) if (!present.has(pid)) this.#known.delete(pid);
  }

  /**
   * The tree of `root` as of the last scan, its members read afresh: the root, its descendants,
   * and the processes of its session (an instance is a session leader: its orphans, re-parented
   * to init, stay in its session). Null when the root is gone or is another process now.
   */
  tree(root: number, startTime?: string): ProcessTree | null {
    const head = this.#current(root);
    if (!head || (startTime !== undefined && head.startTime !== startTime)) return null;
    const { children, sessions } = this.#indexed();
    const ids = new Set<number>([root, ...(sessions.get(root) ?? [])]);
    const queue = [...ids];
    while (queue.length > 0) {
      for (const child of children.get(queue.pop()!) ?? []) {
        if (ids.has(child)) continue;
        ids.add(child);
        queue.push(child);
      }
    }
    const members: ProcStat[] = [];
    for (const pid of ids) {
      const p = this.#current(pid);
      if (p) members.push(p);
    }
    return { root: head, members };
  }

  #indexed(): { children: Map<number, number[]>; sessions: Map<number, number[]> } {
    if (this.#index) return this.#index;
    const children = new Map<number, number[]>();
    const sessions = new Map<number, number[]>();
    const add = (map: Map<number, number[]>, key: number, pid: number) => {
      const list = map.get(key);
      if (list) list.push(pid);
      else map.set(key, [pid]);
    };
    for (const p of this.#known.values()) {
      add(children, p.ppid, p.pid);
      add(sessions, p.session, p.pid);
    }
    this.#index = { children, sessions };
    return this.#index;
  }

  /** The process read in this scan (reading it again if it was read in an earlier one). */
  #current(pid: number): ProcStat | null {
    if (this.#fresh.has(pid)) return this.#known.get(pid) ?? null;
    return this.#read(pid);
  }

  #read(pid: number): ProcStat | null {
    this.reads += 1;
    const stat = readProcStat(pid, this.#procRoot);
    this.#fresh.add(pid);
    if (stat) this.#known.set(pid, stat);
    else this.#known.delete(pid);
    return stat;
  }
}
