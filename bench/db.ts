// Database rollback benchmark, on a fresh database of the local PostgreSQL (removed at the end,
// also on failure or Ctrl-C). Two parts:
//  1. Rollback time vs table size. For each size, orders(id bigint primary key, customer_id int,
//     amount numeric, created_at timestamptz) is created by migration 0001 and filled with
//     generate_series; then two expand migrations, 0002 (add column with a constant default) and
//     0003 (create index concurrently), are applied with the migrator and undone with
//     migrateDown to level 1: Rewind's rollback. The peer is the backup way of undoing the same
//     change: `pg_dump -Fc -t orders` taken before the migrations, and after them (re-applied with
//     the same statements) `pg_restore --clean --if-exists` of that single-table dump. Both undos
//     are checked: same schema fingerprint as at level 1 and the same row count.
//  2. Locks while a writer runs, at one size: a connection inserts and updates single rows in a
//     closed loop, recording each statement's latency; a third one polls pg_locks (with
//     pg_stat_activity) about every millisecond. Each expand migration and its down file runs
//     alone; per step: the longest ACCESS EXCLUSIVE lock on orders seen, the longest lock of any
//     write-blocking mode, and the writer's max stall (max latency in the window minus the
//     baseline p99). As a contrast, a plain CREATE INDEX (what the linter's RW201 warns about).
//
//   node bench/db.ts [--rows 1e4,1e6,1e7] [--lock-rows 1e7] [--baseline-ms 3000] [--json]
//
// --lock-rows defaults to the largest of --rows; 0 skips part 2. Needs PostgreSQL at
// REWIND_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/postgres) and pg_dump /
// pg_restore of the same major version on PATH.
import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/features/database/engines/registry.ts';
import type { DatabaseEngine } from '../src/features/database/engines/types.ts';
import { lintMigration } from '../src/features/database/lint.ts';
import { loadMigrations } from '../src/features/database/migration-files.ts';
import { createMigrator, type MigrationResultSet } from '../src/features/database/migrator.ts';
import type { Migration } from '../src/features/database/types.ts';
import { createTarget, type TestTarget } from '../test/support/db-targets.ts';
import { heldMs, type LockEpisode, LockPoller, runTimed, Writer } from './lib/pg-load.ts';
import {
  commandLine,
  intFlag,
  machine,
  machineLine,
  round,
  sleep,
  summarize,
  table,
} from './lib/rewind-cycle.ts';

const ROLLBACK_TARGET_S = 1;
const LOCK_TARGET_MS = 100;
const args = process.argv.slice(2);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const sizes = rowsFlag('rows', [1e4, 1e6, 1e7]);
const lockRows = intFlag(args, 'lock-rows', Math.max(...sizes), true);
const baselineMs = intFlag(args, 'baseline-ms', 3000);
const now = () => performance.now();
const seconds = (ms: number) => ms / 1000;

const FILES: Record<string, string> = {
  '0001_create_orders.up.sql':
    'create table orders (id bigint primary key, customer_id int, amount numeric, created_at timestamptz);\n',
  '0001_create_orders.down.sql': 'drop table orders;\n',
  '0002_add_status.up.sql': "alter table orders add column status text not null default 'new';\n",
  '0002_add_status.down.sql': 'alter table orders drop column status;\n',
  '0003_index_customer.up.sql': 'create index concurrently orders_customer on orders (customer_id);\n',
  '0003_index_customer.down.sql': 'drop index concurrently orders_customer;\n',
  // The contrast for part 2: what RW201 warns about.
  '0004_index_customer_blocking.up.sql': 'create index orders_customer_blocking on orders (customer_id);\n',
  '0004_index_customer_blocking.down.sql': 'drop index orders_customer_blocking;\n',
};

function rowsFlag(name: string, fallback: number[]): number[] {
  const i = args.indexOf(`--${name}`);
  const eq = args.find((a) => a.startsWith(`--${name}=`));
  if (i < 0 && !eq) return fallback;
  const value = (i >= 0 ? args[i + 1] : eq!.slice(name.length + 3)) ?? '';
  const list = value.split(',').map((v) => Number(v.trim()));
  if (list.length === 0 || list.some((n) => !Number.isInteger(n) || n < 1)) {
    throw new Error(
      `--${name} needs a comma-separated list of positive row counts (1e4,1e6), got "${value}"`,
    );
  }
  return list;
}

const fmtRows = (n: number) => {
  const e = Math.log10(n);
  return Number.isInteger(e) && n >= 1000 ? `10^${e}` : n.toLocaleString('en-US');
};

function check(set: MigrationResultSet, what: string): MigrationResultSet {
  if (set.error) throw new Error(`${what}: ${set.error.code} ${set.error.message}`);
  return set;
}

async function count(db: DatabaseEngine): Promise<number> {
  return Number((await db.query<{ n: string }>('select count(*) as n from orders'))[0]!.n);
}

/** Migration 0001 creates the table; the rows go in without the primary key, which is then rebuilt. */
async function createOrders(db: DatabaseEngine, app: string, ms: readonly Migration[], rows: number) {
  const migrator = createMigrator(db, { app });
  check(await migrator.migrateUp(ms.filter((m) => m.id === 1)), 'migration 0001');
  const started = now();
  await db.exec('alter table orders drop constraint orders_pkey');
  await db.exec(
    `insert into orders (id, customer_id, amount, created_at)
     select g, (random() * 100000)::int, round((random() * 1000)::numeric, 2),
            timestamptz '2024-01-01' + g * interval '1 second'
       from generate_series(1, ${rows}) g`,
  );
  await db.exec('alter table orders add primary key (id)');
  await db.exec('vacuum analyze orders');
  return now() - started;
}

interface SizeResult {
  readonly rows: number;
  readonly loadS: number;
  readonly migrateUpS: number;
  readonly migrateUpPerMigrationMs: Record<string, number>;
  readonly rewindRollbackS: number;
  readonly rewindRollbackPerMigrationMs: Record<string, number>;
  readonly pgDumpS: number;
  readonly dumpMB: number;
  readonly pgRestoreS: number;
  /** pg_restore time over Rewind rollback time. */
  readonly ratio: number;
  readonly tableMB: number;
}

const breakdown = (set: MigrationResultSet) =>
  set.results.map((r) => `${r.key} ${r.direction} ${r.durationMs} ms`).join(', ');
const perMigration = (set: MigrationResultSet) =>
  Object.fromEntries(set.results.map((r) => [r.key, r.durationMs]));

async function sizeRun(
  db: DatabaseEngine,
  url: string,
  dir: string,
  ms: readonly Migration[],
  rows: number,
): Promise<SizeResult> {
  const app = `bench_${rows}`;
  const migrator = createMigrator(db, { app });
  const expand = ms.filter((m) => m.id <= 3);
  log(`\n${fmtRows(rows)} rows: loading`);
  const loadMs = await createOrders(db, app, ms, rows);
  const level1 = (await db.schemaFingerprint()).hash;
  const tableMB =
    Number((await db.query<{ b: string }>(`select pg_total_relation_size('orders') as b`))[0]!.b) / 2 ** 20;
  log(`  loaded in ${round(seconds(loadMs))} s (${round(tableMB)} MB with indexes); pg_dump`);

  const dumpFile = join(dir, `orders-${rows}.dump`);
  const dumpMs = await runTimed('pg_dump', ['-Fc', '-t', 'orders', '-f', dumpFile, '-d', url]);
  const dumpMB = (await stat(dumpFile)).size / 2 ** 20;

  log(`  pg_dump ${round(seconds(dumpMs), 2)} s (${round(dumpMB)} MB); migrate up`);
  let t = now();
  const up = check(await migrator.migrateUp(expand, { phase: 'expand', lockTimeoutMs: 5000 }), 'migrate up');
  const upMs = now() - t;
  if (up.results.length !== 2) throw new Error(`migrate up ran ${up.results.length} migrations, expected 2`);

  log(
    `  migrate up ${round(seconds(upMs), 2)} s (${breakdown(up)}); Rewind rollback (migrateDown to level 1)`,
  );
  t = now();
  const down = check(await migrator.migrateDown(expand, { toLevel: 1 }), 'migrate down');
  const downMs = now() - t;
  if ((await db.schemaFingerprint()).hash !== level1)
    throw new Error('schema after migrateDown differs from level 1');
  if ((await count(db)) !== rows) throw new Error('row count after migrateDown differs');

  // The backup way: the same change applied again (same statements, outside the ledger so it
  // stays at level 1), then undone by restoring the single-table dump.
  log(
    `  Rewind rollback ${round(seconds(downMs), 3)} s (${breakdown(down)}); re-applying the same statements for pg_restore`,
  );
  for (const m of expand.filter((m) => m.id > 1)) for (const st of m.upStatements) await db.exec(st.sql);
  if ((await db.schemaFingerprint()).hash === level1) throw new Error('re-applying changed nothing');
  // No -t at restore: the dump holds only orders, and `pg_restore -t` would leave out its primary
  // key (pg_restore -t selects the table and its data, not its indexes and constraints).
  const restoreMs = await runTimed('pg_restore', ['--clean', '--if-exists', '-d', url, dumpFile]);
  if ((await db.schemaFingerprint()).hash !== level1)
    throw new Error('schema after pg_restore differs from level 1');
  if ((await count(db)) !== rows) throw new Error('row count after pg_restore differs');
  log(`  pg_restore ${round(seconds(restoreMs), 2)} s`);
  await rm(dumpFile, { force: true });

  return {
    rows,
    loadS: round(seconds(loadMs), 2),
    migrateUpS: round(seconds(upMs), 3),
    migrateUpPerMigrationMs: perMigration(up),
    rewindRollbackS: round(seconds(downMs), 3),
    rewindRollbackPerMigrationMs: perMigration(down),
    pgDumpS: round(seconds(dumpMs), 2),
    dumpMB: round(dumpMB, 1),
    pgRestoreS: round(seconds(restoreMs), 2),
    ratio: round(restoreMs / downMs, 0),
    tableMB: round(tableMB, 1),
  };
}

interface LockStep {
  readonly step: string;
  readonly lint: string;
  readonly durationMs: number;
  /** Longest granted ACCESS EXCLUSIVE on orders: first-to-last sighting, and the poll bounds. */
  readonly accessExclusiveMs: { low: number; high: number } | null;
  /** Longest granted lock of a write-blocking mode on orders or one of its indexes. */
  readonly writeBlockingMs: { low: number; high: number; mode: string; on: string } | null;
  /** Longest a write-blocking lock request waited (it queues writers behind it). */
  readonly waitingMs: number | null;
  readonly writerMaxMs: number;
  readonly writerStallMs: number;
  /** The same, counting only statements that overlapped a write-blocking lock (bounds included). */
  readonly writerStallUnderLockMs: number | null;
  /** When the slowest writer statement started, ms after the step started. */
  readonly writerMaxAtMs: number;
  readonly writerStatements: number;
  readonly writerErrors: number;
  readonly contrast: boolean;
}

// Modes that conflict with the writers' ROW EXCLUSIVE.
const WRITE_BLOCKING = new Set([
  'ShareLock',
  'ShareRowExclusiveLock',
  'ExclusiveLock',
  'AccessExclusiveLock',
]);

async function lockRun(
  db: DatabaseEngine,
  url: string,
  ms: readonly Migration[],
  rows: number,
  app: string,
): Promise<{
  baseline: { p50: number; p99: number; max: number; n: number };
  steps: LockStep[];
  pollGapMs: { median: number; p99: number; max: number };
}> {
  const migrator = createMigrator(db, { app });
  const byId = (...ids: number[]) => ms.filter((m) => ids.includes(m.id));
  const pid = (await db.query<{ pid: number }>('select pg_backend_pid() as pid'))[0]!.pid;
  const writer = new Writer(url, rows);
  await writer.start();
  const poller = new LockPoller(url, 'orders', [writer.pid]);
  await poller.start();
  try {
    log(`\nlocks at ${fmtRows(rows)} rows: writer baseline ${baselineMs} ms`);
    const b0 = now();
    await sleep(baselineMs);
    const b1 = now();
    const base = summarize(
      writer.statements.filter((s) => s.start >= b0 && s.end <= b1).map((s) => s.end - s.start),
    );
    log(
      `  writer baseline: ${base.n} statements, p50 ${round(base.median, 2)} ms, p99 ${round(base.p99, 2)} ms, max ${round(base.max, 2)} ms`,
    );
    const lintOf = (m: Migration) =>
      lintMigration(m, 'postgres')
        .findings.map((f) => f.code)
        .join(' ') || '-';
    const m2 = byId(2)[0]!;
    const m3 = byId(3)[0]!;
    const m4 = byId(4)[0]!;
    const plan: { step: string; lint: string; contrast: boolean; go: () => Promise<MigrationResultSet> }[] = [
      {
        step: "0002 up: add column status text not null default 'new'",
        lint: lintOf(m2),
        contrast: false,
        go: () => migrator.migrateUp(byId(1, 2, 3), { toLevel: 2 }),
      },
      {
        step: '0003 up: create index concurrently',
        lint: lintOf(m3),
        contrast: false,
        go: () => migrator.migrateUp(byId(1, 2, 3), { toLevel: 3 }),
      },
      {
        step: '0003 down: drop index concurrently',
        lint: '-',
        contrast: false,
        go: () => migrator.migrateDown(byId(1, 2, 3), { toLevel: 2 }),
      },
      {
        step: '0002 down: drop column status',
        lint: '-',
        contrast: false,
        go: () => migrator.migrateDown(byId(1, 2, 3), { toLevel: 1 }),
      },
      {
        step: 'contrast 0004 up: create index (not concurrently)',
        lint: lintOf(m4),
        contrast: true,
        go: () => migrator.migrateUp(byId(1, 4), { toLevel: 4 }),
      },
      {
        step: 'contrast 0004 down: drop index (not concurrently)',
        lint: '-',
        contrast: true,
        go: () => migrator.migrateDown(byId(1, 4), { toLevel: 1 }),
      },
    ];
    const steps: LockStep[] = [];
    for (const p of plan) {
      const t0 = now();
      const set = check(await p.go(), p.step);
      const t1 = now();
      if (set.results.length !== 1)
        throw new Error(`${p.step}: ran ${set.results.length} migrations, expected 1`);
      await sleep(300); // let the poller see the lock go and the writer finish its statement
      const inWindow = (e: LockEpisode) =>
        e.pid !== writer.pid && e.firstSeen <= t1 + 5 && e.lastSeen >= t0 - 5;
      const episodes = poller.episodes.filter(inWindow);
      const longest = (es: LockEpisode[]) =>
        es.reduce<LockEpisode | null>((a, e) => (!a || heldMs(e).high > heldMs(a).high ? e : a), null);
      const ae = longest(
        episodes.filter((e) => e.granted && e.kind === 'table' && e.mode === 'AccessExclusiveLock'),
      );
      const wb = longest(episodes.filter((e) => e.granted && WRITE_BLOCKING.has(e.mode)));
      const waiting = longest(episodes.filter((e) => !e.granted && WRITE_BLOCKING.has(e.mode)));
      const during = writer.statements.filter((s) => s.start <= t1 && s.end >= t0);
      const slowest = during.reduce<(typeof during)[number] | null>(
        (a, s) => (!a || s.end - s.start > a.end - a.start ? s : a),
        null,
      );
      const maxMs = slowest ? slowest.end - slowest.start : 0;
      const blocking = episodes.filter((e) => WRITE_BLOCKING.has(e.mode));
      const underLock = during.filter((s) =>
        blocking.some((e) => s.start <= e.notSeenAfter && s.end >= e.notSeenBefore),
      );
      const underLockMax = Math.max(0, ...underLock.map((s) => s.end - s.start));
      const step: LockStep = {
        step: p.step,
        lint: p.lint,
        durationMs: round(t1 - t0, 1),
        accessExclusiveMs: ae ? roundPair(heldMs(ae)) : null,
        writeBlockingMs: wb ? { ...roundPair(heldMs(wb)), mode: wb.mode, on: wb.relation } : null,
        waitingMs: waiting ? round(heldMs(waiting).high, 1) : null,
        writerMaxMs: round(maxMs, 1),
        writerStallMs: round(Math.max(0, maxMs - base.p99), 1),
        writerStallUnderLockMs: blocking.length ? round(Math.max(0, underLockMax - base.p99), 1) : null,
        writerMaxAtMs: round(slowest ? slowest.start - t0 : 0, 1),
        writerStatements: during.length,
        writerErrors: during.filter((s) => !s.ok).length,
        contrast: p.contrast,
      };
      steps.push(step);
      const others = episodes.filter((e) => e.pid !== pid && e.granted && WRITE_BLOCKING.has(e.mode));
      log(
        `  ${p.step}: ${round(t1 - t0)} ms; ACCESS EXCLUSIVE ${pairText(step.accessExclusiveMs)}; write-blocking ${pairText(step.writeBlockingMs)}${wb ? ` (${wb.mode} on ${wb.relation})` : ''}; writer max ${step.writerMaxMs} ms at +${step.writerMaxAtMs} ms over ${during.length} statements${others.length ? `; ${others.length} lock(s) from other sessions` : ''}`,
      );
    }
    const gaps = summarize(poller.gaps);
    if (writer.errors.length) log(`  writer errors: ${writer.errors.join(' | ')}`);
    return {
      baseline: { p50: round(base.median, 2), p99: round(base.p99, 2), max: round(base.max, 2), n: base.n },
      steps,
      pollGapMs: { median: round(gaps.median, 2), p99: round(gaps.p99, 2), max: round(gaps.max, 1) },
    };
  } finally {
    await writer.stop();
    await poller.stop();
  }
}

const roundPair = (p: { low: number; high: number }) => ({ low: round(p.low, 1), high: round(p.high, 1) });
const pairText = (p: { low: number; high: number } | null) => (p ? `${p.low}-${p.high} ms` : 'none seen');

let interrupted = false;

async function main(): Promise<number> {
  const atStart = machine();
  const versions = {
    node: process.version,
    postgres: '',
    pgDump: '',
  };
  let target: TestTarget | null = null;
  let db: DatabaseEngine | null = null;
  const dir = await mkdtemp(join(tmpdir(), 'rewind-bench-db-'));
  let cleaning: Promise<void> | null = null;
  // Memoized: a signal and the main path's finally both wait for the same drop.
  const cleanup = () => {
    cleaning ??= (async () => {
      await db?.close().catch(() => {});
      await target?.cleanup().catch((err) => log(`could not drop the bench database: ${err}`));
      await rm(dir, { recursive: true, force: true });
    })();
    return cleaning;
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      interrupted = true;
      log(`\n${sig}: dropping the bench database`);
      cleanup().finally(() => process.exit(130));
    });
  }
  try {
    target = await createTarget('postgres');
    db = await openDatabase('postgres', target.url);
    versions.postgres = (
      await db.query<{ v: string }>("select current_setting('server_version') as v")
    )[0]!.v;
    versions.pgDump = await new Promise<string>((resolve) => {
      const c = spawn('pg_dump', ['--version']);
      let out = '';
      c.stdout.on('data', (d) => {
        out += d;
      });
      c.on('close', () => resolve(out.trim()));
      c.on('error', () => resolve('pg_dump not found'));
    });
    const settings = await db.query<{ name: string; setting: string; unit: string | null }>(
      `select name, setting, unit from pg_settings
        where name in ('shared_buffers', 'maintenance_work_mem', 'max_parallel_maintenance_workers', 'synchronous_commit', 'max_wal_size')
        order by name`,
    );
    const settingsText = settings.map((s) => `${s.name}=${s.setting}${s.unit ?? ''}`).join(', ');
    for (const [name, text] of Object.entries(FILES)) await writeFile(join(dir, name), text);
    const ms = await loadMigrations(dir, 'postgres');
    log(
      `bench database ${target.url.replace(/:[^:@/]*@/, ':***@')}; PostgreSQL ${versions.postgres}; ${versions.pgDump}`,
    );
    log(`server settings: ${settingsText}`);

    const sizeResults: SizeResult[] = [];
    let kept: number | null = null;
    for (const rows of sizes) {
      sizeResults.push(await sizeRun(db, target.url, dir, ms, rows));
      if (rows === lockRows && kept === null) kept = rows;
      else await db.exec('drop table orders');
    }
    let locks: Awaited<ReturnType<typeof lockRun>> | null = null;
    if (lockRows > 0) {
      let app = `bench_${lockRows}`;
      if (kept === null) {
        app = `bench_locks_${lockRows}`;
        log(`\n${fmtRows(lockRows)} rows for the lock measurements: loading`);
        await createOrders(db, app, ms, lockRows);
      } else {
        await db.exec('vacuum analyze orders'); // pg_restore left it without statistics
      }
      await db.exec('checkpoint'); // the load's or the restore's dirty pages, flushed before the baseline
      locks = await lockRun(db, target.url, ms, lockRows, app);
    }

    const out = {
      command: commandLine(),
      machine: { cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: machine().loadavg },
      versions,
      serverSettings: settingsText,
      targets: { rollbackS: ROLLBACK_TARGET_S, lockMs: LOCK_TARGET_MS },
      sizes: sizeResults,
      locks: locks && { rows: lockRows, ...locks },
    };
    if (json) {
      process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      return 0;
    }
    log('');
    log(`command: ${out.command}`);
    log(machineLine(out.machine));
    log(`node ${versions.node}, PostgreSQL ${versions.postgres}, ${versions.pgDump}; ${settingsText}`);
    log('');
    log(
      'Rollback of 0002 (add column) + 0003 (create index concurrently) vs restoring a pg_dump of the table, seconds',
    );
    log(
      table(
        [
          'rows',
          'migrate up s',
          'Rewind rollback s',
          'pg_dump s',
          'pg_restore s',
          'ratio',
          'table MB',
          'dump MB',
        ],
        sizeResults.map((r) => [
          fmtRows(r.rows),
          r.migrateUpS,
          r.rewindRollbackS,
          r.pgDumpS,
          r.pgRestoreS,
          `${r.ratio}x`,
          r.tableMB,
          r.dumpMB,
        ]),
      ),
    );
    const largest = sizeResults[sizeResults.length - 1]!;
    log(
      `target: rollback under ${ROLLBACK_TARGET_S} s at the largest size, not growing with the table -> ${largest.rewindRollbackS} s at ${fmtRows(largest.rows)} rows (smallest size: ${sizeResults[0]!.rewindRollbackS} s): ${largest.rewindRollbackS < ROLLBACK_TARGET_S ? 'PASS' : 'over target'}`,
    );
    if (locks) {
      log('');
      log(
        `Locks at ${fmtRows(lockRows)} rows with a writer running (baseline p50 ${locks.baseline.p50} ms, p99 ${locks.baseline.p99} ms; poll gap median ${locks.pollGapMs.median} ms, p99 ${locks.pollGapMs.p99} ms)`,
      );
      log(
        table(
          [
            'step',
            'lint',
            'duration ms',
            'ACCESS EXCL. held ms',
            'write-blocking lock held ms',
            'writer max stall ms',
            'stall under the lock ms',
          ],
          locks.steps.map((s) => [
            s.step,
            s.lint,
            s.durationMs,
            pairText(s.accessExclusiveMs),
            s.writeBlockingMs ? `${pairText(s.writeBlockingMs)} ${s.writeBlockingMs.mode}` : 'none seen',
            s.writerStallMs,
            s.writerStallUnderLockMs ?? '-',
          ]),
        ),
      );
      const expandSteps = locks.steps.filter((s) => !s.contrast);
      const worstLock = Math.max(0, ...expandSteps.map((s) => s.writeBlockingMs?.high ?? 0));
      const worstStall = Math.max(0, ...expandSteps.map((s) => s.writerStallMs));
      log(
        `target: write-blocking locks under ${LOCK_TARGET_MS} ms for the expand migrations and their downs -> longest lock ${worstLock} ms (upper bound), writer max stall ${worstStall} ms: ${worstLock < LOCK_TARGET_MS && worstStall < LOCK_TARGET_MS ? 'PASS' : 'over target'}`,
      );
    }
    return 0;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err) => {
    if (!interrupted) console.error(err);
    process.exit(interrupted ? 130 : 2);
  },
);
