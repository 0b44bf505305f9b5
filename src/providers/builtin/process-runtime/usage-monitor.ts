// What the supervisor's instances use, per second: CPU and resident memory of each instance's
// process tree (/proc, proc-stat.ts) and the error lines of its output. Nothing runs until an app
// is read: the first read starts watching it (a one-second timer, aligned on the clock's seconds,
// and counting its lines as they are captured), each read extends that by `leaseMs`, and once no
// app is read the timer stops and the counts go. The seconds before the first read get the log
// counts of the lines the supervisor still holds, and no CPU.
//
// CPU is the growth of the tree's utime+stime+cutime+cstime between two ticks over the wall time
// between them, in clock ticks of CLK_TCK (getconf, 100 on Linux). A process of the tree that was
// re-parented out of it (an orphan, reaped by init) takes its CPU time with it when it exits: its
// last reading is carried, so the sum does not go back.

import { execFileSync } from 'node:child_process';
import os from 'node:os';
import { errorLineMatcher } from '../../../spec/logs-spec.ts';
import type { InstanceUsage, UsageCapacity, UsageQuery, UsageRead, UsageSample } from '../../runtime.ts';
import { ProcessTable } from './proc-stat.ts';

/** A running instance, as the supervisor knows it. */
export interface MonitoredInstance {
  readonly id: string;
  readonly revision: number;
  readonly pid: number;
}

/** A line the supervisor still holds. */
export interface RetainedLine {
  readonly instance: string;
  readonly revision: number;
  readonly at: number;
  readonly line: string;
}

export interface UsageMonitorOptions {
  /** The app's instances that have a process now. */
  readonly instances: (app: string) => readonly MonitoredInstance[];
  /** The app's output lines still held (stdout and stderr), for the seconds before the first read. */
  readonly retained: (app: string) => Iterable<RetainedLine>;
  /** How long an app stays watched after a read. Default 15 000. */
  readonly leaseMs?: number;
  /** Seconds kept per app. Default 900. */
  readonly historySeconds?: number;
  readonly procRoot?: string;
  readonly now?: () => number;
  /** Default: getconf CLK_TCK (100 when it cannot say). */
  readonly clockTicks?: number;
  /** Default: getconf PAGESIZE (4096 when it cannot say). */
  readonly pageSize?: number;
  /** Default: the host's cores and memory (or the memory limit of this process's cgroup). */
  readonly capacity?: UsageCapacity;
}

interface Rec {
  readonly revision: number;
  cpuCores: number | null;
  memoryBytes: number | null;
  logLines: number;
  logErrors: number;
}

/** The CPU reading of one instance's tree at the last tick. */
interface TreeReading {
  readonly pid: number;
  readonly startTime: string;
  readonly at: number;
  /** Clock ticks of the live members plus those carried from orphans that exited. */
  readonly total: number;
  readonly carried: number;
  /** Each member's ticks, and whether its parent was outside the tree (an orphan). */
  readonly members: ReadonlyMap<number, { readonly ticks: number; readonly orphan: boolean }>;
}

interface AppWatch {
  leaseUntil: number;
  pattern: string | undefined;
  isError: (line: string) => boolean;
  /** second -> instance id -> record */
  readonly seconds: Map<number, Map<string, Rec>>;
  /** The newest second whose records are complete. */
  lastComplete: number;
  readonly trees: Map<string, TreeReading>;
}

export class UsageMonitor {
  readonly #options: UsageMonitorOptions;
  readonly #leaseMs: number;
  readonly #history: number;
  readonly #now: () => number;
  readonly #apps = new Map<string, AppWatch>();
  #table: ProcessTable | null = null;
  #timer: NodeJS.Timeout | null = null;
  #clockTicks: number | undefined;
  #pageSize: number | undefined;
  #capacity: UsageCapacity | undefined;
  #closed = false;

  constructor(options: UsageMonitorOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? 15_000;
    this.#history = options.historySeconds ?? 900;
    this.#now = options.now ?? Date.now;
    this.#clockTicks = options.clockTicks;
    this.#pageSize = options.pageSize;
    this.#capacity = options.capacity;
  }

  /** Whether some app is watched (the timer runs). */
  get active(): boolean {
    return this.#timer !== null;
  }

  /** The complete seconds of the app from `sinceSecond`; starts or extends watching it. Throws on a bad pattern. */
  read(app: string, query: UsageQuery): UsageRead {
    if (this.#closed) throw new Error('the supervisor is shut down');
    const now = this.#now();
    let w = this.#apps.get(app);
    if (!w) w = this.#watch(app, query.errorPattern, now);
    else if (w.pattern !== query.errorPattern) {
      w.isError = errorLineMatcher(query.errorPattern);
      w.pattern = query.errorPattern;
    }
    w.leaseUntil = now + this.#leaseMs;
    const samples: UsageSample[] = [];
    const from = Math.max(query.sinceSecond, w.lastComplete - this.#history + 1);
    for (let second = from; second <= w.lastComplete; second++) {
      const held = w.seconds.get(second);
      if (!held) continue;
      const instances: InstanceUsage[] = [];
      for (const [instance, r] of held) instances.push({ instance, ...r });
      samples.push({ second, instances });
    }
    return { phase: 'Successful', capacity: this.#capacityNow(), samples };
  }

  /** A line an instance wrote (not the supervisor's own lines). Costs a map lookup unless its app is watched. */
  line(app: string, instance: string, revision: number, at: number, text: string): void {
    const w = this.#apps.get(app);
    if (w) countLine(w, instance, revision, at, text);
  }

  /** Stops watching everything. */
  close(): void {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#apps.clear();
  }

  #watch(app: string, pattern: string | undefined, now: number): AppWatch {
    const w: AppWatch = {
      leaseUntil: now,
      pattern,
      isError: errorLineMatcher(pattern),
      seconds: new Map(),
      lastComplete: Math.floor(now / 1000) - 1,
      trees: new Map(),
    };
    const oldest = (w.lastComplete - this.#history + 1) * 1000;
    for (const l of this.#options.retained(app))
      if (l.at >= oldest) countLine(w, l.instance, l.revision, l.at, l.line);
    this.#apps.set(app, w);
    // The first reading, so that the first tick has a difference to measure.
    this.#measure(this.#scan(), app, w, now, false);
    this.#schedule();
    return w;
  }

  #schedule(): void {
    if (this.#timer || this.#closed) return;
    const delay = 1000 - (this.#now() % 1000) + 10;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.sample();
    }, delay);
    this.#timer.unref();
  }

  /** Takes the readings of every watched app now (the timer does, just after each second). */
  sample(): void {
    if (this.#closed) return;
    const now = this.#now();
    for (const [app, w] of this.#apps) if (w.leaseUntil < now) this.#apps.delete(app);
    if (this.#apps.size === 0) {
      // Nobody reads: drop the table too, so an idle agent holds nothing.
      this.#table = null;
      return;
    }
    const table = this.#scan();
    for (const [app, w] of this.#apps) this.#measure(table, app, w, now, true);
    this.#schedule();
  }

  #scan(): ProcessTable {
    this.#table ??= new ProcessTable({ ...(this.#options.procRoot && { procRoot: this.#options.procRoot }) });
    this.#table.scan();
    return this.#table;
  }

  /** Reads each instance's tree; with `write`, records the seconds since the last tick. */
  #measure(table: ProcessTable, app: string, w: AppWatch, now: number, write: boolean): void {
    this.#clockTicks ??= getconf('CLK_TCK', 100);
    this.#pageSize ??= getconf('PAGESIZE', 4096);
    const ticksPerSecond = this.#clockTicks;
    const pageSize = this.#pageSize;
    const second = Math.floor(now / 1000) - 1;
    const seen = new Set<string>();
    for (const instance of this.#options.instances(app)) {
      seen.add(instance.id);
      const before = w.trees.get(instance.id);
      const same = before && before.pid === instance.pid;
      const tree = table.tree(instance.pid, same ? before.startTime : undefined);
      if (!tree) {
        w.trees.delete(instance.id);
        continue;
      }
      const ids = new Set(tree.members.map((m) => m.pid));
      let carried = same ? before.carried : 0;
      if (same) for (const [pid, m] of before.members) if (m.orphan && !ids.has(pid)) carried += m.ticks;
      const members = new Map<number, { ticks: number; orphan: boolean }>();
      let total = carried;
      let rss = 0;
      for (const m of tree.members) {
        members.set(m.pid, { ticks: m.ticks, orphan: m.pid !== instance.pid && !ids.has(m.ppid) });
        total += m.ticks;
        if (m.state !== 'Z') rss += m.rssPages;
      }
      const reading: TreeReading = {
        pid: instance.pid,
        startTime: tree.root.startTime,
        at: now,
        total,
        carried,
        members,
      };
      w.trees.set(instance.id, reading);
      if (!write) continue;
      const cpuCores =
        same && now > before.at
          ? Math.max(0, total - before.total) / ticksPerSecond / ((now - before.at) / 1000)
          : null;
      // A late tick covers several seconds: each gets the average.
      const first = same ? Math.max(w.lastComplete + 1, Math.floor(before.at / 1000)) : second;
      for (let s = Math.min(first, second); s <= second; s++) {
        const r = record(w, s, instance.id, instance.revision);
        r.cpuCores = cpuCores;
        r.memoryBytes = rss * pageSize;
      }
    }
    for (const id of w.trees.keys()) if (!seen.has(id)) w.trees.delete(id);
    if (!write) return;
    w.lastComplete = Math.max(w.lastComplete, second);
    const oldest = w.lastComplete - this.#history + 1;
    for (const s of w.seconds.keys()) if (s < oldest) w.seconds.delete(s);
  }

  #capacityNow(): UsageCapacity {
    if (this.#capacity) return this.#capacity;
    const total = os.totalmem();
    const limit = process.constrainedMemory();
    this.#capacity = {
      cpuCores: os.availableParallelism(),
      memoryBytes: limit > 0 && limit < total ? limit : total,
      scope: 'host',
    };
    return this.#capacity;
  }
}

function countLine(w: AppWatch, instance: string, revision: number, at: number, text: string): void {
  const r = record(w, Math.floor(at / 1000), instance, revision);
  r.logLines += 1;
  if (w.isError(text)) r.logErrors += 1;
}

function record(w: AppWatch, second: number, instance: string, revision: number): Rec {
  let bySecond = w.seconds.get(second);
  if (!bySecond) {
    bySecond = new Map();
    w.seconds.set(second, bySecond);
  }
  let r = bySecond.get(instance);
  if (!r) {
    r = { revision, cpuCores: null, memoryBytes: null, logLines: 0, logErrors: 0 };
    bySecond.set(instance, r);
  }
  return r;
}

function getconf(name: string, fallback: number): number {
  try {
    const value = Number(execFileSync('getconf', [name], { encoding: 'utf8', timeout: 2000 }).trim());
    return Number.isInteger(value) && value > 0 ? value : fallback;
  } catch {
    return fallback;
  }
}
