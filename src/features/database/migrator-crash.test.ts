// Issue 11 (2): a stepwise migration (MariaDB: every DDL commits on its own) killed at every
// statement boundary, and killed while the server still works on a statement it finishes after
// the client died. The restarted migrator asks the catalog what took effect instead of trusting
// its counter, then either finishes the migration or undoes exactly what ran.

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openTarget } from '../../../test/support/db-targets.ts';
import { openDatabase } from './engines/registry.ts';
import type { DatabaseEngine } from './engines/types.ts';
import { loadMigrations } from './migration-files.ts';
import { createMigrator } from './migrator.ts';
import type { DatabaseEngineName } from './types.ts';

const CHILD = fileURLToPath(new URL('../../../test/support/migrator-crash-child.ts', import.meta.url));
const root = await mkdtemp(join(tmpdir(), 'rewind-crash-'));
after(() => rm(root, { recursive: true, force: true }));

const FILES: Record<'mysql' | 'postgres', Record<string, string>> = {
  mysql: {
    '0001_init.up.sql':
      'create table users (id integer primary key, name varchar(50));\ncreate table audit (id integer primary key);',
    '0001_init.down.sql': 'drop table audit;\ndrop table users;',
    '0002_steps.up.sql':
      'alter table users add column a integer;\n' +
      'update users set a = 1;\n' +
      'alter table users add column b integer, algorithm=copy;\n' +
      'create index users_a on users (a);',
    '0002_steps.down.sql':
      'drop index users_a on users;\nalter table users drop column b;\nupdate users set a = null;\nalter table users drop column a;',
  },
  postgres: {
    '0001_init.up.sql':
      'create table users (id integer primary key, name varchar(50));\ncreate table audit (id integer primary key);',
    '0001_init.down.sql': 'drop table audit;\ndrop table users;',
    '0002_steps.up.sql':
      'alter table users add column a integer;\ncreate index concurrently users_a on users (a);\nalter table users add column b integer;',
    '0002_steps.down.sql':
      'alter table users drop column b;\ndrop index concurrently users_a;\nalter table users drop column a;',
  },
};

let n = 0;
async function setup(engine: 'mysql' | 'postgres') {
  const dir = join(root, `m${++n}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(FILES[engine])) await writeFile(join(dir, name), text);
  const t = await openTarget(engine);
  const ms = await loadMigrations(dir, engine);
  const init = await createMigrator(t.db, { app: 'shop' }).migrateUp(ms, { toLevel: 1 });
  assert.equal(init.error, undefined, init.error?.message);
  await t.db.exec("insert into users (id, name) values (1, 'ada'), (2, 'bob')");
  const level1 = await state(t.db);
  const full = await createMigrator(t.db, { app: 'shop' }).migrateUp(ms);
  assert.equal(full.error, undefined, full.error?.message);
  const level2 = await state(t.db);
  const down = await createMigrator(t.db, { app: 'shop' }).migrateDown(ms, { toLevel: 1 });
  assert.equal(down.error, undefined, down.error?.message);
  assert.deepEqual(await state(t.db), level1, 'the down file undoes the up file exactly');
  return { ...t, dir, ms, level1, level2 };
}

async function state(db: DatabaseEngine) {
  return {
    schema: (await db.schemaFingerprint()).hash,
    rows: await db.query('select id, name from users order by id'),
  };
}

/** Runs the child until it dies (or, with hang, until it says it is sending); returns its exit. */
function runChild(engine: DatabaseEngineName, url: string, dir: string, crashAt: string, hang = false) {
  const child = spawn(process.execPath, [CHILD, engine, url, dir, crashAt, ...(hang ? ['hang'] : [])], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const exited = new Promise<{ signal: string | null; out: string }>((resolve) =>
    // 'close', not 'exit': stdout may still hold output when the process has exited.
    child.on('close', (_code, signal) => resolve({ signal, out })),
  );
  // A child that exits without saying it (a step index that never came, a failed migration)
  // fails the test with what it printed, instead of leaving it waiting for the test timeout.
  const sending = new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('sending')) resolve();
    });
    void exited.then(({ signal }) =>
      reject(new Error(`the child exited (${signal ?? 'no signal'}) before sending: ${out}`)),
    );
  });
  sending.catch(() => {}); // only the hang case awaits it
  return { child, sending, exited };
}

async function until(what: string, ok: () => Promise<boolean>, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

for (const engine of ['mysql', 'postgres'] as const) {
  describe(`crash safety of stepwise migrations: ${engine}`, () => {
    const statements = FILES[engine]['0002_steps.up.sql']!.split(';\n').length;
    for (let k = 0; k < statements; k++) {
      for (const at of ['sent', 'done'] as const) {
        test(`killed at up statement ${k + 1} ${at}: resuming finishes it; undoing restores level 1 exactly`, async () => {
          const t = await setup(engine);
          try {
            for (const direction of ['forward', 'back'] as const) {
              const run = runChild(engine, t.target.url, t.dir, `up:${k}:${at}`);
              assert.equal((await run.exited).signal, 'SIGKILL', (await run.exited).out);
              const row = (await createMigrator(t.db, { app: 'shop' }).ledger()).find(
                (r) => r.key === '0002_steps',
              )!;
              assert.equal(row.state, 'applying');
              const migrator = createMigrator(t.db, { app: 'shop' });
              if (direction === 'forward') {
                const up = await migrator.migrateUp(t.ms);
                assert.equal(up.error, undefined, up.error?.message);
                assert.deepEqual(await state(t.db), t.level2);
                const down = await migrator.migrateDown(t.ms, { toLevel: 1 });
                assert.equal(down.error, undefined, down.error?.message);
              } else {
                const down = await migrator.migrateDown([], { toLevel: 1 });
                assert.equal(down.error, undefined, down.error?.message);
              }
              assert.deepEqual(await state(t.db), t.level1, `${direction}: level 1 exactly`);
            }
          } finally {
            await t.cleanup();
          }
        });
      }
    }

    test('killed while the server works on a statement it finishes after the client died: the catalog decides', async () => {
      const t = await setup(engine);
      try {
        // The ALTER (MySQL) or the concurrent index build (PostgreSQL) waits behind a lock the
        // child's other session holds; killing the child frees it and the server carries on.
        const index = engine === 'mysql' ? 2 : 1;
        // PostgreSQL: an old snapshot (on another table) the build waits out, its index still INVALID.
        const snapshot = engine === 'postgres' ? await openDatabase(engine, t.target.url) : null;
        await snapshot?.exec('begin isolation level repeatable read');
        await snapshot?.query('select count(*) as n from audit');
        const run = runChild(engine, t.target.url, t.dir, `up:${index}:sent`, true);
        await run.sending;
        const waiting =
          engine === 'mysql'
            ? "select 1 from information_schema.processlist where info like 'alter table users add column b%'"
            : "select 1 from pg_stat_activity where query like 'create index concurrently users_a%' and wait_event_type = 'Lock'";
        await until('the statement to reach the server', async () => (await t.db.query(waiting)).length > 0);
        run.child.kill('SIGKILL');
        await run.exited;
        // MariaDB finishes the orphaned ALTER. PostgreSQL's build is cut short here, as a server
        // restart would: it leaves its INVALID index behind.
        if (snapshot) {
          await t.db.query(
            "select pg_terminate_backend(pid) from pg_stat_activity where query like 'create index concurrently users_a%'",
          );
          await snapshot.exec('rollback');
          await snapshot.close();
        }
        const migrator = createMigrator(t.db, { app: 'shop' });
        const down = await migrator.migrateDown([], { toLevel: 1, advisoryLockWaitMs: 30_000 });
        assert.equal(down.error, undefined, down.error?.message);
        const recovered = down.results.find((r) => r.key === '0002_steps')?.recovered ?? '';
        assert.match(
          recovered,
          engine === 'mysql'
            ? /up statement 3 was in flight .*the catalog shows it took effect/
            : /up statement 2 was in flight .*did not take effect \(dropped the INVALID index\(es\) it left: users_a\)/,
        );
        assert.deepEqual(await state(t.db), t.level1);
      } finally {
        await t.cleanup();
      }
    });
  });
}
