// The data plane: worker threads running the proxy engine, each listening on every app's port
// with SO_REUSEPORT, counting into per-app SharedArrayBuffers that this (main) thread reads.
// A worker that dies (an uncaught exception, an exit) is replaced by a new one that gets every
// table in force; the others serve meanwhile, since they share the listening ports.

import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { WorkerReply, WorkerRequest } from './proxy-worker.ts';
import {
  allocateShared,
  claimBucket,
  clearSlot,
  nowSecond,
  readBuckets,
  type SharedViews,
  SLOTS,
  viewsOf,
} from './shared.ts';
import type { AppliedTable, DataPlane, DataPlaneHealth, MetricsBucket, RouteTable } from './types.ts';

export interface DataPlaneOptions {
  /** Worker threads (default: os.availableParallelism()). */
  readonly workers?: number;
  /** Where to say that a worker died and was replaced. */
  readonly log?: (message: string) => void;
}

export interface RewindDataPlane extends DataPlane {
  /** The port an app's listener is bound to (useful when its table asked for port 0). */
  port(app: string): number | undefined;
  readonly workerCount: number;
  health(): DataPlaneHealth;
  /** Ends worker `index` the way a crash would (tests and drills): it is replaced like one. */
  killWorker(index: number): Promise<void>;
}

/** Crash loops: after this many deaths within RECENT_MS, wait before the next replacement. */
const QUICK_DEATHS = 3;
const RECENT_MS = 10_000;

interface AppState {
  table: RouteTable | undefined;
  readonly sab: SharedArrayBuffer;
  readonly views: SharedViews;
  /** slot -> revision */
  readonly slotRevision: (number | undefined)[];
  /** slot -> last time (ms) its revision was in a table */
  readonly slotUsed: number[];
  readonly slotOf: Map<number, number>;
  port: number | undefined;
  readonly firstSecond: number;
  chain: Promise<void>;
}

interface WorkerHandle {
  readonly worker: Worker;
  /** worker.threadId, which reads -1 once it exited. */
  readonly threadId: number;
  readonly pending: Map<number, { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }>;
  dead: Error | undefined;
  /** Has every table (a replacement gets them after it starts). */
  serving: boolean;
}

export function validateTable(t: RouteTable): void {
  if (typeof t.app !== 'string' || t.app.length === 0) throw new Error('route table: app is required');
  if (!Number.isInteger(t.listen.port) || t.listen.port < 0 || t.listen.port > 65535) {
    throw new Error(`route table ${t.app}: invalid listen port ${t.listen.port}`);
  }
  if (typeof t.forceHeader !== 'string' || t.forceHeader.length === 0) {
    throw new Error(`route table ${t.app}: forceHeader is required`);
  }
  for (const [name, ms] of Object.entries(t.timeouts ?? {})) {
    if (!(Number.isInteger(ms) && ms >= 1)) {
      throw new Error(`route table ${t.app}: timeouts.${name} is ${ms}; give a whole number of ms >= 1`);
    }
  }
  if (t.maxConnections !== undefined && !(Number.isInteger(t.maxConnections) && t.maxConnections >= 1)) {
    throw new Error(`route table ${t.app}: maxConnections is ${t.maxConnections}; give a whole number >= 1`);
  }
  const m = t.maintenance;
  if (m !== undefined && !(Number.isInteger(m.retryAfterSeconds) && m.retryAfterSeconds >= 1)) {
    throw new Error(
      `route table ${t.app}: maintenance.retryAfterSeconds is ${m.retryAfterSeconds}; give a whole number >= 1`,
    );
  }
  if (m !== undefined && (typeof m.page !== 'string' || m.page.length === 0)) {
    throw new Error(`route table ${t.app}: maintenance.page is empty; give the HTML page to answer with`);
  }
  const seen = new Set<number>();
  for (const b of t.backends) {
    if (!Number.isInteger(b.revision))
      throw new Error(`route table ${t.app}: invalid revision ${b.revision}`);
    if (seen.has(b.revision)) throw new Error(`route table ${t.app}: duplicate revision ${b.revision}`);
    seen.add(b.revision);
    if (!(b.weight >= 0 && b.weight <= 100)) {
      throw new Error(`route table ${t.app}: weight of revision ${b.revision} must be 0..100`);
    }
  }
  if (seen.size > SLOTS) throw new Error(`route table ${t.app}: at most ${SLOTS} revisions`);
}

export async function createDataPlane(options: DataPlaneOptions = {}): Promise<RewindDataPlane> {
  const count = Math.max(1, Math.floor(options.workers ?? availableParallelism()));
  let nextId = 1;
  const workers: WorkerHandle[] = [];
  const apps = new Map<string, AppState>();
  let closed = false;
  const log = options.log ?? (() => {});
  let restarts = 0;
  let lastExit: DataPlaneHealth['lastExit'] = null;
  const deaths: number[] = [];

  const spawn = (): Promise<WorkerHandle> =>
    new Promise((resolve, reject) => {
      const worker = new Worker(new URL('./proxy-worker.ts', import.meta.url));
      const h: WorkerHandle = {
        worker,
        threadId: worker.threadId,
        pending: new Map(),
        dead: undefined,
        serving: true,
      };
      const fail = (err: Error): void => {
        h.dead = err;
        for (const p of h.pending.values()) p.reject(err);
        h.pending.clear();
      };
      worker.on('message', (r: WorkerReply) => {
        const p = h.pending.get(r.id);
        if (p === undefined) return;
        h.pending.delete(r.id);
        p.resolve(r);
      });
      worker.once('online', () => resolve(h));
      worker.on('error', (err) => {
        fail(err);
        reject(err);
      });
      worker.on('exit', (code) => {
        const why = h.dead ?? new Error(`exited with code ${code}`);
        fail(new Error(`proxy worker exited (code ${code})`));
        replace(h, why);
      });
    });

  const live = (): WorkerHandle[] => workers.filter((w) => w.dead === undefined);

  const setMessage = (a: AppState, t: RouteTable, port: number): WorkerRequest => ({
    op: 'set',
    id: nextId++,
    table: t,
    sab: a.sab,
    slots: [...a.slotOf.entries()],
    port,
  });

  /** A worker died: take it out now, bring a new one up with every table (later, if it crash-loops). */
  const replace = (h: WorkerHandle, why: Error): void => {
    const i = workers.indexOf(h);
    if (closed || i < 0) return;
    workers.splice(i, 1);
    const now = Date.now();
    lastExit = { at: now, reason: why.message };
    deaths.push(now);
    while ((deaths[0] as number) < now - RECENT_MS) deaths.shift();
    const delay =
      deaths.length > QUICK_DEATHS ? Math.min(5000, 250 * 2 ** (deaths.length - QUICK_DEATHS)) : 0;
    log(
      `proxy worker ${h.threadId} died (${why.message}); ${live().length} of ${count} serve; replacing it${delay ? ` in ${delay} ms (${deaths.length} deaths in ${RECENT_MS / 1000} s)` : ''}`,
    );
    setTimeout(() => void respawn(), delay).unref();
  };

  const respawn = async (): Promise<void> => {
    if (closed) return;
    let h: WorkerHandle;
    try {
      h = await spawn();
    } catch (err) {
      log(`cannot start a proxy worker: ${(err as Error).message}; trying again in 1 s`);
      setTimeout(() => void respawn(), 1000).unref();
      return;
    }
    if (closed) {
      await h.worker.terminate();
      return;
    }
    h.serving = false;
    workers.push(h);
    // Each app's chain orders this after any table change in progress, and any later one after it.
    const restored = await Promise.allSettled(
      [...apps.values()].map((a) => {
        const run = a.chain.then(async () => {
          if (a.table !== undefined) await call(h, setMessage(a, a.table, a.port ?? a.table.listen.port));
        });
        a.chain = run.catch(() => {});
        return run;
      }),
    );
    const failed = restored.filter((r) => r.status === 'rejected');
    h.serving = true;
    restarts++;
    log(
      `proxy worker ${h.threadId} started with ${apps.size - failed.length} of ${apps.size} route tables${failed.length ? ` (${failed.map((r) => String((r as PromiseRejectedResult).reason)).join('; ')})` : ''}`,
    );
  };

  const ask = (h: WorkerHandle, msg: WorkerRequest): Promise<WorkerReply & { ok: true }> => {
    if (h.dead !== undefined) return Promise.reject(h.dead);
    return new Promise<WorkerReply>((resolve, reject) => {
      h.pending.set(msg.id, { resolve, reject });
      h.worker.postMessage(msg);
    }).then((r) => {
      if (!r.ok) throw new Error(r.error);
      return r;
    });
  };
  const call = async (h: WorkerHandle, msg: WorkerRequest): Promise<number | undefined> =>
    (await ask(h, msg)).port;

  try {
    for (let i = 0; i < count; i++) workers.push(await spawn());
  } catch (err) {
    closed = true; // no replacements for these
    await Promise.all(workers.map((w) => w.worker.terminate()));
    throw err;
  }

  // Pre-clear the next seconds' buckets so that workers never have to.
  const prepare = (): void => {
    const now = nowSecond();
    for (const a of apps.values()) for (let s = now; s <= now + 3; s++) claimBucket(a.views, s);
  };
  const timer = setInterval(prepare, 250);
  timer.unref();

  const assignSlots = (a: AppState, t: RouteTable): void => {
    const now = Date.now();
    const inTable = new Set(t.backends.map((b) => b.revision));
    for (const rev of inTable) {
      const s = a.slotOf.get(rev);
      if (s !== undefined) {
        a.slotUsed[s] = now;
        continue;
      }
      let slot = a.slotRevision.indexOf(undefined);
      if (slot < 0) {
        // Recycle the slot whose revision left the tables longest ago.
        let best = -1;
        for (let i = 0; i < SLOTS; i++) {
          const r = a.slotRevision[i] as number;
          if (inTable.has(r)) continue;
          if (best < 0 || (a.slotUsed[i] as number) < (a.slotUsed[best] as number)) best = i;
        }
        if (best < 0) throw new Error(`app ${t.app}: out of revision slots`);
        slot = best;
        a.slotOf.delete(a.slotRevision[slot] as number);
        clearSlot(a.views, slot);
      }
      a.slotRevision[slot] = rev;
      a.slotUsed[slot] = now;
      a.slotOf.set(rev, slot);
    }
  };

  /** Puts the table in force in every worker; resolves with the moment the last one had it. */
  const apply = async (a: AppState, t: RouteTable): Promise<number> => {
    assignSlots(a, t);
    const prev = a.table;
    const listenChanged =
      prev === undefined || prev.listen.host !== t.listen.host || prev.listen.port !== t.listen.port;
    const msg = (port: number): WorkerRequest => setMessage(a, t, port);
    const serving = live();
    if (serving.length === 0) throw new Error('no proxy worker is up (they are being replaced)');
    let replies: (WorkerReply & { ok: true })[];
    if (listenChanged && t.listen.port === 0) {
      // Ephemeral port: the first worker binds it, the others join with SO_REUSEPORT.
      const [first, ...rest] = serving as [WorkerHandle, ...WorkerHandle[]];
      const head = await ask(first, msg(0));
      const bound = head.port;
      if (bound === undefined) throw new Error('worker did not report its port');
      replies = [head, ...(await Promise.all(rest.map((w) => ask(w, msg(bound)))))];
      a.port = bound;
    } else {
      replies = await Promise.all(serving.map((w) => ask(w, msg(t.listen.port))));
      a.port = replies[0]?.port ?? t.listen.port;
    }
    a.table = t;
    return Math.max(...replies.map((r) => r.at));
  };

  const dp: RewindDataPlane = {
    workerCount: count,

    setRoutes(table: RouteTable): Promise<AppliedTable> {
      if (closed) return Promise.reject(new Error('data plane closed'));
      try {
        validateTable(table);
      } catch (err) {
        return Promise.reject(err);
      }
      let a = apps.get(table.app);
      if (a === undefined) {
        const sab = allocateShared();
        a = {
          table: undefined,
          sab,
          views: viewsOf(sab),
          slotRevision: new Array<number | undefined>(SLOTS).fill(undefined),
          slotUsed: new Array<number>(SLOTS).fill(0),
          slotOf: new Map(),
          port: undefined,
          firstSecond: nowSecond(),
          chain: Promise.resolve(),
        };
        apps.set(table.app, a);
        const now = nowSecond();
        for (let s = now; s <= now + 3; s++) claimBucket(a.views, s);
      }
      const state = a;
      const run = state.chain.then(async (): Promise<AppliedTable> => {
        try {
          return { inForceAt: await apply(state, table) };
        } catch (err) {
          if (state.table === undefined) {
            // Never served: undo the listeners that did open.
            await Promise.allSettled(
              live().map((w) => call(w, { op: 'remove', id: nextId++, app: table.app })),
            );
            if (apps.get(table.app) === state) apps.delete(table.app);
          }
          throw err;
        }
      });
      state.chain = run.then(
        () => {},
        () => {},
      );
      return run;
    },

    routes(app: string): RouteTable | undefined {
      return apps.get(app)?.table;
    },

    health(): DataPlaneHealth {
      return { workers: count, up: live().filter((w) => w.serving).length, restarts, lastExit };
    },

    async killWorker(index: number): Promise<void> {
      const h = workers[index];
      if (h === undefined) throw new Error(`no proxy worker ${index} (${workers.length} up)`);
      await h.worker.terminate();
    },

    port(app: string): number | undefined {
      return apps.get(app)?.port;
    },

    removeApp(app: string): Promise<void> {
      const a = apps.get(app);
      if (a === undefined) return Promise.resolve();
      const run = a.chain.then(async () => {
        await Promise.all(live().map((w) => call(w, { op: 'remove', id: nextId++, app })));
        if (apps.get(app) === a) apps.delete(app);
      });
      a.chain = run.catch(() => {});
      return run;
    },

    metrics(app: string, sinceSecond: number): MetricsBucket[] {
      const a = apps.get(app);
      if (a === undefined) return [];
      const always = new Set((a.table?.backends ?? []).map((b) => b.revision));
      return readBuckets(a.views, a.slotRevision, always, sinceSecond, a.firstSecond, nowSecond());
    },

    inflight(app: string, revision: number): number {
      const a = apps.get(app);
      const slot = a?.slotOf.get(revision);
      if (a === undefined || slot === undefined) return 0;
      return Math.max(0, Atomics.load(a.views.inflight, slot));
    },

    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      clearInterval(timer);
      await Promise.allSettled([...apps.keys()].map((app) => dp.removeApp(app)));
      await Promise.allSettled(live().map((w) => call(w, { op: 'close', id: nextId++ })));
      await Promise.all(workers.map((w) => w.worker.terminate()));
      apps.clear();
    },
  };
  return dp;
}
