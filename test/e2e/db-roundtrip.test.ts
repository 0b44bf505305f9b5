// Story: a CI job runs `rewind db roundtrip shop --config rewind.yaml` on every change, with no
// Rewind server. A down that forgets what its up did fails the job (exit 1) with the difference
// named; a correct folder passes; bad input says what to fix; Ctrl-C still drops the scratch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTarget, POSTGRES_ADMIN_URL, type TestTarget } from '../support/db-targets.ts';
import { ROOT, waitFor } from '../support/rewind-harness.ts';

const BIN = join(ROOT, 'bin/rewind.js');
let target: TestTarget;
let dir: string;

/** rewind.yaml for app `name` whose migrations are `files`. */
function project(name: string, files: Record<string, string>): string {
  const folder = mkdtempSync(join(dir, `${name}-`));
  mkdirSync(join(folder, 'migrations'));
  for (const [file, sql] of Object.entries(files)) writeFileSync(join(folder, 'migrations', file), sql);
  writeFileSync(
    join(folder, 'rewind.yaml'),
    `apps:
  - name: ${name}
    listen: 127.0.0.1:18080
    initialVersion: v1
    run: { command: node server.js }
    database: { engine: postgres, urlEnv: SHOP_DATABASE_URL, migrations: ./migrations }
`,
  );
  return join(folder, 'rewind.yaml');
}

function cli(args: string[]) {
  const child = spawn(process.execPath, [BIN, ...args], {
    env: { ...process.env, SHOP_DATABASE_URL: target.url },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out = { stdout: '', stderr: '', code: null as number | null };
  child.stdout.on('data', (d) => (out.stdout += d));
  child.stderr.on('data', (d) => (out.stderr += d));
  const done = new Promise<typeof out>((res) =>
    child.on('close', (code) => {
      out.code = code;
      res(out);
    }),
  );
  return { child, out, done };
}

async function scratchesOf(app: string): Promise<string[]> {
  const c = new pg.Client({ connectionString: POSTGRES_ADMIN_URL });
  await c.connect();
  try {
    const r = await c.query<{ datname: string }>('select datname from pg_database where datname like $1', [
      `rewind_rt_${app.replaceAll('-', '_')}_%`,
    ]);
    return r.rows.map((x) => x.datname);
  } finally {
    await c.end();
  }
}

const PAIR = {
  '0001_users.up.sql': 'create table users (id integer primary key, name varchar(100) not null);\n',
  '0001_users.down.sql': 'drop table users;\n',
};

before(async () => {
  target = await createTarget('postgres');
  dir = mkdtempSync(join(tmpdir(), 'rewind-rt-cli-'));
});
after(async () => {
  await target?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('a correct folder passes with one line per migration; a forgetful down fails the job, naming what it forgot', async () => {
  const good = await cli([
    'db',
    'roundtrip',
    'good',
    '--config',
    project('good', {
      ...PAIR,
      '0002_email.up.sql':
        'alter table users add column email text;\ncreate index users_email on users (email);\n',
      '0002_email.down.sql': 'drop index users_email;\nalter table users drop column email;\n',
    }),
  ]).done;
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /^ok {4}0001_users \(up \d+ ms, down \d+ ms, redo \d+ ms\)$/m);
  assert.match(good.stdout, /^ok {4}0002_email /m);
  assert.match(good.stdout, /2 pending migration\(s\) round-tripped from level 0: 2 passed, 0 failed/);

  const bad = await cli([
    'db',
    'roundtrip',
    'bad',
    '--json',
    '--config',
    project('bad', {
      ...PAIR,
      '0002_status.up.sql': "alter table users add column status text default 'new' not null;\n",
      '0002_status.down.sql': 'alter table users alter column status drop default;\n',
    }),
  ]).done;
  assert.equal(bad.code, 1, bad.stderr);
  const report = JSON.parse(bad.stdout);
  assert.equal(report.passed, false);
  const status = report.migrations.find((m: { key: string }) => m.key === '0002_status');
  assert.equal(status.status, 'failed');
  assert.deepEqual(
    status.downDifferences.map(
      (d: { object: string; name: string; change: string }) => `${d.object} ${d.name} ${d.change}`,
    ),
    ['column users.status extra'],
  );
  assert.deepEqual(await scratchesOf('good'), []);
  assert.deepEqual(await scratchesOf('bad'), []);
});

test('bad input names the field and the fix, with exit 1', async () => {
  const config = project('known', PAIR);
  const unknown = await cli(['db', 'roundtrip', 'nosuch', '--config', config]).done;
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /no app named "nosuch" in .*rewind\.yaml/);
  const noUrl = spawn(process.execPath, [BIN, 'db', 'roundtrip', 'known', '--config', config], {
    env: { ...process.env, SHOP_DATABASE_URL: '' },
  });
  let stderr = '';
  noUrl.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise((res) => noUrl.on('close', res));
  assert.equal(code, 1);
  assert.match(stderr, /SHOP_DATABASE_URL is not set/);
});

test('Ctrl-C during a long round trip drops the scratch database before exiting', async () => {
  const files: Record<string, string> = { ...PAIR };
  for (let i = 2; i <= 300; i++) {
    const n = String(i).padStart(4, '0');
    files[`${n}_c${i}.up.sql`] = `alter table users add column c${i} integer;\n`;
    files[`${n}_c${i}.down.sql`] = `alter table users drop column c${i};\n`;
  }
  const app = `sigint-${randomBytes(3).toString('hex')}`;
  const run = cli(['db', 'roundtrip', app, '--config', project(app, files)]);
  await waitFor(
    'the round trip under way',
    async () => /^ok {4}0002_c2 /m.test(run.out.stdout),
    60_000,
  ).catch((err) => {
    throw new Error(
      `${err.message}; stdout: ${run.out.stdout.slice(0, 500)} stderr: ${run.out.stderr.slice(0, 2000)}`,
    );
  });
  assert.equal((await scratchesOf(app)).length, 1, 'the scratch exists while it runs');
  run.child.kill('SIGINT');
  const r = await run.done;
  assert.equal(r.code, 130, r.stderr);
  assert.match(r.stderr, /SIGINT: dropping the scratch database/);
  assert.deepEqual(await scratchesOf(app), []);
});

test('Ctrl-C while the schema is still being copied drops the half-made scratch and stops pg_dump', async () => {
  // A table of the app held in ACCESS EXCLUSIVE mode: pg_dump waits for it, with the scratch made.
  const lock = new pg.Client({ connectionString: target.url });
  await lock.connect();
  // Read from another session: pg_stat_activity is a snapshot per transaction.
  const dumps = async () => {
    const c = new pg.Client({ connectionString: target.url });
    await c.connect();
    try {
      const r = await c.query<{ n: number }>(
        "select count(*)::int as n from pg_stat_activity where application_name = 'pg_dump' and datname = current_database()",
      );
      return r.rows[0]!.n;
    } finally {
      await c.end();
    }
  };
  try {
    await lock.query('create table held (id integer)');
    await lock.query('begin');
    await lock.query('lock table held in access exclusive mode');
    const app = `copy-${randomBytes(3).toString('hex')}`;
    const run = cli(['db', 'roundtrip', app, '--config', project(app, PAIR)]);
    await waitFor(
      'pg_dump waiting on the lock, the scratch made',
      async () => {
        if (run.out.code !== null) throw new Error(`the CLI ended early: ${run.out.stderr}`);
        return (await scratchesOf(app)).length === 1 && (await dumps()) === 1;
      },
      60_000,
    ).catch((err: Error) => {
      throw new Error(`${err.message}; the CLI said: ${run.out.stderr}`);
    });
    run.child.kill('SIGINT');
    const r = await run.done;
    assert.equal(r.code, 130, r.stderr);
    assert.deepEqual(await scratchesOf(app), []);
    await waitFor('pg_dump gone', async () => (await dumps()) === 0);
  } finally {
    await lock.query('rollback').catch(() => {});
    await lock.query('drop table if exists held');
    await lock.end();
  }
});
