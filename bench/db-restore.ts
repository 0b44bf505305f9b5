// Merge restore vs pg_restore, on a fresh database of the local PostgreSQL (removed at the end).
// orders(id bigint primary key, customer_id int, amount numeric, created_at timestamptz, note text)
// with --rows rows; a contract migration drops `note` (behind Rewind's backup, and a
// `pg_dump -Fc -t orders` taken at the same moment); the app keeps writing (a closed-loop writer:
// single-row inserts and updates) while the rollback's down migration adds `note` back empty and
// then:
//  - Rewind merges the backup back by primary key (the values of `note`; rows written since
//    keep theirs), the writer still running;
//  - the peer, on the same state, runs `pg_restore --clean --if-exists -t orders` of the dump.
// Per way: wall time, the writer's longest stall (max statement latency in the window), its
// failed statements, the longest write-blocking lock on orders seen in pg_locks, rows written
// since the backup that are gone afterwards, and `note` values back.
//
//   node bench/db-restore.ts [--rows 1000000] [--json]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  backupForMigration,
  listBackups,
  mergeBackups,
  recordRemoved,
} from '../src/features/database/backups.ts';
import { openDatabase } from '../src/features/database/engines/registry.ts';
import type { DatabaseEngine } from '../src/features/database/engines/types.ts';
import { loadMigrations } from '../src/features/database/migration-files.ts';
import { createMigrator, type MigrationResultSet } from '../src/features/database/migrator.ts';
import { createTarget, type TestTarget } from '../test/support/db-targets.ts';
import { heldMs, LockPoller, runTimed, Writer } from './lib/pg-load.ts';
import { commandLine, intFlag, machine, machineLine, round, sleep, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const rows = intFlag(args, 'rows', 1_000_000);
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const now = () => performance.now();

const FILES: Record<string, string> = {
  '0001_orders.up.sql':
    'create table orders (id bigint primary key, customer_id int, amount numeric, created_at timestamptz, note text);\n',
  '0001_orders.down.sql': 'drop table orders;\n',
  '0002_drop_note.up.sql': '-- rewind:phase contract\nalter table orders drop column note;\n',
  '0002_drop_note.down.sql': 'alter table orders add column note text;\n',
};

function check(set: MigrationResultSet, what: string): void {
  if (set.error) throw new Error(`${what}: ${set.error.code} ${set.error.message}`);
}

interface Way {
  way: string;
  ms: number;
  stallMs: number;
  failed: number;
  lockMs: number;
  lost: number;
  notesBack: number;
}

/** Runs `restore` with the writer and the lock poller going; measures what the app saw. */
async function measured(
  db: DatabaseEngine,
  url: string,
  way: string,
  restore: () => Promise<unknown>,
): Promise<Way> {
  // New ids start above everything already there (the other way's writer left rows too).
  const start = Number((await db.query<{ n: string }>('select max(id) as n from orders'))[0]!.n);
  const writer = new Writer(url, start);
  await writer.start();
  const poller = new LockPoller(url, 'orders', [writer.pid]);
  await poller.start();
  try {
    await sleep(1000); // the app writes after the backup
    const t0 = now();
    // The writer alternates insert (even statements, ids rows+1, rows+2, ...) and update.
    const sent = writer.statements.length;
    const insertedBefore = writer.statements.filter((s, i) => i % 2 === 0 && s.ok).length;
    const lastIdBefore = start + Math.ceil(sent / 2);
    await restore();
    const t1 = now();
    await sleep(300);
    const kept = Number(
      (
        await db.query<{ n: string }>('select count(*) as n from orders where id > ? and id <= ?', [
          start,
          lastIdBefore,
        ])
      )[0]!.n,
    );
    const inWindow = writer.statements.filter((s) => s.end >= t0 && s.start <= t1);
    const lockMs = Math.max(
      0,
      ...poller.episodes
        .filter((e) => e.granted && e.kind === 'table' && e.lastSeen >= t0)
        .map((e) => heldMs(e).high),
    );
    const notes = Number(
      (
        await db.query<{ n: string }>('select count(*) as n from orders where id <= ? and note is not null', [
          rows,
        ])
      )[0]!.n,
    );
    return {
      way,
      ms: round(t1 - t0, 0),
      stallMs: round(Math.max(0, ...inWindow.map((s) => s.end - s.start)), 1),
      failed: inWindow.filter((s) => !s.ok).length,
      lockMs: round(lockMs, 0),
      lost: Math.max(0, insertedBefore - kept),
      notesBack: notes,
    };
  } finally {
    await poller.stop();
    await writer.stop();
  }
}

async function main(): Promise<number> {
  const atStart = machine();
  let target: TestTarget | null = null;
  let db: DatabaseEngine | null = null;
  const dir = await mkdtemp(join(tmpdir(), 'rewind-bench-restore-'));
  try {
    target = await createTarget('postgres');
    db = await openDatabase('postgres', target.url);
    const version = (await db.query<{ v: string }>("select current_setting('server_version') as v"))[0]!.v;
    for (const [name, text] of Object.entries(FILES)) await writeFile(join(dir, name), text);
    const ms = await loadMigrations(dir, 'postgres');
    const migrator = createMigrator(db, { app: 'bench' });
    check(await migrator.migrateUp(ms, { toLevel: 1 }), '0001');
    log(`PostgreSQL ${version}; loading ${rows.toLocaleString('en-US')} rows`);
    await db.exec(
      `insert into orders select g, g % 100000, (g % 1000) / 10.0, now(), 'note ' || g from generate_series(1, ${rows}) g`,
    );
    await db.exec('analyze orders');
    const dump = join(dir, 'orders.dump');
    const dumpMs = await runTimed('pg_dump', ['-Fc', '-t', 'orders', '-f', dump, target.url]);
    const b0 = now();
    const backupId = await backupForMigration(db, ms[1]!, ['orders'], { app: 'bench', revision: 2 });
    const backupMs = now() - b0;
    check(await migrator.migrateUp(ms, { toLevel: 2 }), '0002 up');
    await recordRemoved(db, backupId);
    check(await migrator.migrateDown(ms, { toLevel: 1 }), '0002 down');

    const backups = (await listBackups(db, 'bench')).filter((b) => b.backupId === backupId);
    const merge = await measured(db, target.url, 'Rewind merge restore (by primary key)', () =>
      mergeBackups(db!, 'bench', backups),
    );
    // Same starting point for the peer: the column dropped and added back empty again.
    check(await migrator.migrateUp(ms, { toLevel: 2 }), '0002 up again');
    check(await migrator.migrateDown(ms, { toLevel: 1 }), '0002 down again');
    const peer = await measured(db, target.url, 'pg_restore --clean --if-exists -t orders', () =>
      runTimed('pg_restore', ['--clean', '--if-exists', '-t', 'orders', '-d', target!.url, dump]),
    );
    const results = [merge, peer];
    const atEnd = machine();
    if (json) {
      process.stdout.write(
        `${JSON.stringify({ rows, version, dumpMs, backupMs, results, atStart, atEnd }, null, 2)}\n`,
      );
      return 0;
    }
    log(`\n${commandLine()}`);
    log(machineLine({ cpus: atStart.cpus, loadavgAtStart: atStart.loadavg, loadavgAtEnd: atEnd.loadavg }));
    log(
      `backups taken before the contract migration: pg_dump ${round(dumpMs, 0)} ms, Rewind ${round(backupMs, 0)} ms`,
    );
    log(
      table(
        [
          'way',
          'time ms',
          'writer max stall ms',
          'writer failed',
          'longest write-blocking lock ms',
          'rows written since, lost',
          'note values back',
        ],
        results.map((r) => [r.way, r.ms, r.stallMs, r.failed, r.lockMs, r.lost, `${r.notesBack} / ${rows}`]),
      ),
    );
    return 0;
  } finally {
    await db?.close().catch(() => {});
    await target?.cleanup().catch((err) => log(`could not drop the bench database: ${err}`));
    await rm(dir, { recursive: true, force: true });
  }
}

process.exit(await main());
