// Pieces of bench/db.ts and bench/db-restore.ts: a PostgreSQL client tool run and timed, a writer that hammers one table with single-row statements and records
// each one's latency, and a poller that watches pg_locks for the locks other sessions hold on
// that table and its indexes, grouping consecutive sightings into episodes.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

const now = () => performance.now();

/** Runs a client tool (pg_dump, pg_restore) to its end; resolves with its wall time in ms. */
export function runTimed(cmd: string, argv: string[]): Promise<number> {
  const started = now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0) resolve(now() - started);
      else reject(new Error(`${cmd} ${argv.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

export interface WriterStatement {
  readonly start: number;
  readonly end: number;
  readonly ok: boolean;
}

/**
 * A closed loop on its own connection: alternately `insert` a new row (ids above `maxId`) and
 * `update ... amount = amount + 1` a random existing one, each in autocommit.
 */
export class Writer {
  readonly statements: WriterStatement[] = [];
  errors: string[] = [];
  pid = 0;
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly client: pg.Client;
  private nextId: number;
  private readonly maxId: number;

  constructor(url: string, maxId: number) {
    this.maxId = maxId;
    this.client = new pg.Client({ connectionString: url });
    this.client.on('error', () => {});
    this.nextId = maxId + 1;
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.pid = (await this.client.query('select pg_backend_pid() as pid')).rows[0].pid;
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    let i = 0;
    while (this.running) {
      const insert = i++ % 2 === 0;
      const start = now();
      let ok = true;
      try {
        if (insert) {
          await this.client.query({
            name: 'bench_insert',
            text: 'insert into orders (id, customer_id, amount, created_at) values ($1, $2, $3, now())',
            values: [this.nextId++, Math.floor(Math.random() * 100_000), '9.99'],
          });
        } else {
          await this.client.query({
            name: 'bench_update',
            text: 'update orders set amount = amount + 1 where id = $1',
            values: [1 + Math.floor(Math.random() * this.maxId)],
          });
        }
      } catch (err) {
        ok = false;
        if (this.errors.length < 20) this.errors.push(err instanceof Error ? err.message : String(err));
      }
      this.statements.push({ start, end: now(), ok });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop?.catch(() => {});
    await this.client.end().catch(() => {});
  }
}

export interface LockEpisode {
  readonly pid: number;
  readonly relation: string;
  /** 'table' for the watched table, 'index' for one of its indexes. */
  readonly kind: 'table' | 'index';
  readonly mode: string;
  readonly granted: boolean;
  readonly query: string;
  /** Midpoint of the first and of the last poll that saw it. */
  readonly firstSeen: number;
  readonly lastSeen: number;
  /** Midpoints of the polls just before and just after that did not see it (bounds). */
  readonly notSeenBefore: number;
  readonly notSeenAfter: number;
}

interface Open {
  pid: number;
  relation: string;
  kind: 'table' | 'index';
  mode: string;
  granted: boolean;
  query: string;
  firstSeen: number;
  lastSeen: number;
  notSeenBefore: number;
}

/**
 * Polls pg_locks (joined with pg_stat_activity for the statement) about every `intervalMs` for
 * relation locks on `table` and its indexes held or awaited by any session except its own and
 * the ones in `ignorePids`. Weak modes that never block writers (AccessShare, RowShare,
 * RowExclusive) are left out.
 */
export class LockPoller {
  readonly episodes: LockEpisode[] = [];
  polls = 0;
  /** Gaps between consecutive poll midpoints: the measurement's resolution. */
  readonly gaps: number[] = [];
  private running = false;
  private loop: Promise<void> | null = null;
  private readonly client: pg.Client;
  private readonly table: string;
  private readonly ignorePids: readonly number[];
  private readonly intervalMs: number;

  constructor(url: string, table: string, ignorePids: readonly number[], intervalMs = 1) {
    this.table = table;
    this.ignorePids = ignorePids;
    this.intervalMs = intervalMs;
    this.client = new pg.Client({ connectionString: url });
    this.client.on('error', () => {});
  }

  async start(): Promise<void> {
    await this.client.connect();
    this.running = true;
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    const open = new Map<string, Open>();
    let previous = now();
    const sql = `select l.pid, l.mode, l.granted, c.relname as relation,
                        (c.oid = t.oid) as is_table, left(a.query, 100) as query
                   from pg_locks l
                   join pg_class c on c.oid = l.relation
                   join pg_class t on t.relname = $1 and t.relnamespace = c.relnamespace
                   left join pg_stat_activity a on a.pid = l.pid
                  where l.locktype = 'relation'
                    and l.database = (select oid from pg_database where datname = current_database())
                    and (c.oid = t.oid or c.oid in (select indexrelid from pg_index where indrelid = t.oid))
                    and l.mode not in ('AccessShareLock', 'RowShareLock', 'RowExclusiveLock')
                    and l.pid <> pg_backend_pid() and not (l.pid = any($2::int[]))`;
    while (this.running) {
      const start = now();
      let rows: {
        pid: number;
        mode: string;
        granted: boolean;
        relation: string;
        is_table: boolean;
        query: string | null;
      }[];
      try {
        rows = (
          await this.client.query({
            name: 'bench_locks',
            text: sql,
            values: [this.table, this.ignorePids],
          })
        ).rows;
      } catch {
        if (!this.running) break;
        continue;
      }
      const end = now();
      const at = (start + end) / 2;
      this.polls++;
      this.gaps.push(at - previous);
      const seen = new Set<string>();
      for (const r of rows) {
        const key = `${r.pid}|${r.relation}|${r.mode}|${r.granted}`;
        seen.add(key);
        const o = open.get(key);
        if (o) o.lastSeen = at;
        else {
          open.set(key, {
            pid: r.pid,
            relation: r.relation,
            kind: r.is_table ? 'table' : 'index',
            mode: r.mode,
            granted: r.granted,
            query: (r.query ?? '').replace(/\s+/g, ' ').trim(),
            firstSeen: at,
            lastSeen: at,
            notSeenBefore: previous,
          });
        }
      }
      for (const [key, o] of open) {
        if (seen.has(key)) continue;
        this.episodes.push({ ...o, notSeenAfter: at });
        open.delete(key);
      }
      previous = at;
      const wait = this.intervalMs - (now() - start);
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
    for (const o of open.values()) this.episodes.push({ ...o, notSeenAfter: now() });
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop?.catch(() => {});
    await this.client.end().catch(() => {});
  }
}

/** Lower bound (first to last sighting) and upper bound (the polls around it) of an episode, ms. */
export function heldMs(e: LockEpisode): { low: number; high: number } {
  return { low: e.lastSeen - e.firstSeen, high: e.notSeenAfter - e.notSeenBefore };
}
