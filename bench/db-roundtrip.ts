// Round trip benchmark (`rewind db roundtrip`), on the local PostgreSQL: how long it takes to prove
// that each of N pending migrations' down undoes its up, for N = 10 and 100 by default.
//
// The app's database (a fresh one, dropped at the end, also on failure or Ctrl-C) holds
// users(id, name, status) and orders(id, user_id, total) with 1,000 rows, at level 1 through the
// migrator. Migration k (2..N+1) adds a column c<k> with a default to users and an index on it;
// its down drops both. Rewind: `roundTrip()`, what the CLI runs: a scratch database filled by
// `pg_dump --schema-only | psql`, then per migration up, fingerprint, down, fingerprint and
// compare, up again, fingerprint and compare, with the migrator's ledger and its own
// fingerprints around each step.
//
// The peer is the classic redo as a CI shell script does it today, with no comparison at all:
// on a database made the same way (createdb + pg_dump --schema-only | psql), for each migration
// `psql -1 -f up.sql`, `psql -1 -f down.sql`, `psql -1 -f up.sql`, one psql process per file. It
// finds a down that fails to run, never one that leaves the schema different.
//
//   node bench/db-roundtrip.ts [--migrations 10,100] [--runs 3] [--json]
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openDatabase } from '../src/features/database/engines/registry.ts';
import { loadMigrations } from '../src/features/database/migration-files.ts';
import { createMigrator } from '../src/features/database/migrator.ts';
import { type RoundTripReport, roundTrip } from '../src/features/database/roundtrip.ts';
import { createTarget, POSTGRES_ADMIN_URL, type TestTarget } from '../test/support/db-targets.ts';
import { commandLine, intFlag, machine, machineLine, round, summarize, table } from './lib/rewind-cycle.ts';

const args = process.argv.slice(2);
const json = args.includes('--json');
const log = (line: string) => (json ? process.stderr : process.stdout).write(`${line}\n`);
const counts = listFlag('migrations', [10, 100]);
const runs = intFlag(args, 'runs', 3);

function listFlag(name: string, fallback: number[]): number[] {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const list = (args[i + 1] ?? '').split(',').map(Number);
  if (!list.length || list.some((n) => !Number.isInteger(n) || n < 1))
    throw new Error(
      `--${name} takes whole numbers >= 1 separated by commas, e.g. 10,100; got "${args[i + 1]}"`,
    );
  return list;
}

const BASE_UP = `create table users (id integer primary key, name text not null, status text default 'active');
create table orders (id integer primary key, user_id integer not null references users (id), total integer not null check (total >= 0));
create index orders_user on orders (user_id);
insert into users (id, name) select g, 'user ' || g from generate_series(1, 1000) g;
insert into orders (id, user_id, total) select g, g, g from generate_series(1, 1000) g;
`;

async function folder(n: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `rewind-bench-rt-${n}-`));
  await writeFile(join(dir, '0001_base.up.sql'), BASE_UP);
  await writeFile(join(dir, '0001_base.down.sql'), 'drop table orders;\ndrop table users;\n');
  for (let k = 2; k <= n + 1; k++) {
    const key = `${String(k).padStart(4, '0')}_c${k}`;
    await writeFile(
      join(dir, `${key}.up.sql`),
      `alter table users add column c${k} integer default ${k};\ncreate index users_c${k} on users (c${k});\n`,
    );
    await writeFile(
      join(dir, `${key}.down.sql`),
      `drop index users_c${k};\nalter table users drop column c${k};\n`,
    );
  }
  return dir;
}

function run(cmd: string, argv: string[], input?: NodeJS.ReadableStream): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr?.on('data', (d) => (err += d));
    if (input) input.pipe(child.stdin!);
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exit ${code}: ${err}`))));
  });
}

/** The peer: createdb + pg_dump --schema-only | psql, then psql -1 -f up, down, up per migration. */
async function peer(app: TestTarget, dir: string, n: number): Promise<number> {
  const t0 = performance.now();
  const name = `rewind_bench_peer_${Math.random().toString(16).slice(2, 10)}`;
  const url = new URL(POSTGRES_ADMIN_URL);
  url.pathname = `/${name}`;
  await run('psql', [
    '--no-psqlrc',
    '-q',
    POSTGRES_ADMIN_URL,
    '-c',
    `create database ${name} template template0`,
  ]);
  try {
    const dump = spawn('pg_dump', ['--schema-only', '--no-owner', '--no-privileges', app.url], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await run('psql', ['--no-psqlrc', '-q', '-1', '-v', 'ON_ERROR_STOP=1', url.toString()], dump.stdout);
    for (let k = 2; k <= n + 1; k++) {
      const key = `${String(k).padStart(4, '0')}_c${k}`;
      for (const file of [`${key}.up.sql`, `${key}.down.sql`, `${key}.up.sql`])
        await run('psql', [
          '--no-psqlrc',
          '-q',
          '-1',
          '-v',
          'ON_ERROR_STOP=1',
          '-f',
          join(dir, file),
          url.toString(),
        ]);
    }
    return performance.now() - t0;
  } finally {
    await run('psql', [
      '--no-psqlrc',
      '-q',
      POSTGRES_ADMIN_URL,
      '-c',
      `drop database if exists ${name} with (force)`,
    ]);
  }
}

interface Row {
  readonly migrations: number;
  readonly rewindMs: number[];
  readonly peerMs: number[];
  readonly stagesMs: { up: number; down: number; redo: number };
  /** From the call to the first migration: the app's schema read, the scratch made and checked. */
  readonly setupMs: number[];
}

const m0 = machine();
let app: TestTarget | null = null;
const dirs: string[] = [];
const stop = async () => {
  await app?.cleanup().catch(() => {});
  for (const d of dirs) await rm(d, { recursive: true, force: true });
};
process.once('SIGINT', () => void stop().finally(() => process.exit(130)));
const rows: Row[] = [];
try {
  app = await createTarget('postgres');
  const db = await openDatabase('postgres', app.url);
  const baseDir = await folder(0);
  dirs.push(baseDir);
  const applied = await createMigrator(db, { app: 'bench' }).migrateUp(
    await loadMigrations(baseDir, 'postgres'),
  );
  await db.close();
  if (applied.error) throw new Error(applied.error.message);
  for (const n of counts) {
    const dir = await folder(n);
    dirs.push(dir);
    const migrations = await loadMigrations(dir, 'postgres');
    const row: Row = {
      migrations: n,
      rewindMs: [],
      peerMs: [],
      stagesMs: { up: 0, down: 0, redo: 0 },
      setupMs: [],
    };
    for (let r = 0; r < runs; r++) {
      const t0 = performance.now();
      let first = 0;
      const report: RoundTripReport = await roundTrip({
        app: 'bench',
        engine: 'postgres',
        url: app.url,
        migrations,
        onProgress: () => {
          first ||= performance.now();
        },
      });
      row.setupMs.push(first - t0);
      row.rewindMs.push(performance.now() - t0);
      if (!report.passed || report.migrations.length !== n)
        throw new Error(
          `round trip of ${n} did not pass: ${JSON.stringify(report.migrations.find((m) => m.status !== 'passed'))}`,
        );
      for (const m of report.migrations)
        for (const s of ['up', 'down', 'redo'] as const) row.stagesMs[s] += m.ms[s] / runs;
      row.peerMs.push(await peer(app, dir, n));
      log(
        `${n} migrations, run ${r + 1}/${runs}: rewind ${round(row.rewindMs.at(-1)! / 1000, 2)} s, peer ${round(row.peerMs.at(-1)! / 1000, 2)} s`,
      );
    }
    rows.push(row);
  }
} finally {
  await stop();
}
const m1 = machine();
const result = {
  command: commandLine(),
  machine: { cpus: m0.cpus, loadavgAtStart: m0.loadavg, loadavgAtEnd: m1.loadavg },
  rows: rows.map((r) => {
    const rw = summarize(r.rewindMs).median;
    const pe = summarize(r.peerMs).median;
    const setup = summarize(r.setupMs).median;
    return {
      migrations: r.migrations,
      rewindS: round(rw / 1000, 2),
      setupS: round(setup / 1000, 2),
      rewindPerMigrationMs: round((rw - setup) / r.migrations, 0),
      statementsShare: round((r.stagesMs.up + r.stagesMs.down + r.stagesMs.redo) / rw, 2),
      peerS: round(pe / 1000, 2),
      peerPerMigrationMs: round(pe / r.migrations, 0),
      rewindOverPeer: round(rw / pe, 2),
    };
  }),
};
if (json) process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
else {
  log(`\n${result.command}`);
  log(machineLine(result.machine));
  log(
    `median of ${runs} run(s); peer: createdb + pg_dump --schema-only | psql, then psql -1 -f up/down/up per migration, no comparison\n`,
  );
  log(
    table(
      [
        'migrations',
        'rewind db roundtrip',
        'scratch setup',
        'per migration after it',
        'in up/down/redo',
        'peer (psql loop)',
        'per migration',
        'rewind / peer',
      ],
      result.rows.map((r) => [
        r.migrations,
        `${r.rewindS} s`,
        `${r.setupS} s`,
        `${r.rewindPerMigrationMs} ms`,
        `${Math.round(r.statementsShare * 100)}%`,
        `${r.peerS} s`,
        `${r.peerPerMigrationMs} ms`,
        `${r.rewindOverPeer}x`,
      ]),
    ),
  );
}
