// The migrator against real databases: a fresh database per test, migrations written to a
// temp folder and loaded the way an app's folder is.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { holdTableLock, openTarget, TARGETS } from '../../../test/support/db-targets.ts';
import { openDatabase } from './engines/registry.ts';
import type { DatabaseEngine } from './engines/types.ts';
import { loadMigrations } from './migration-files.ts';
import { createMigrator, type MigrationResultSet } from './migrator.ts';
import type { DatabaseEngineName, Migration } from './types.ts';

const root = await mkdtemp(join(tmpdir(), 'rewind-migrator-'));
after(() => rm(root, { recursive: true, force: true }));

let folders = 0;
async function folder(files: Record<string, string>): Promise<string> {
  const dir = join(root, `m${++folders}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

const INIT = {
  '0001_init.up.sql':
    '-- rewind:phase expand\ncreate table users (id integer primary key, name varchar(100) not null);\n' +
    'create table audit (id integer primary key, note varchar(100));\n',
  '0001_init.down.sql': 'drop table audit;\ndrop table users;\n',
};

const dropIndex = (engine: DatabaseEngineName, index: string, table: string) =>
  engine === 'mysql' ? `drop index ${index} on ${table}` : `drop index ${index}`;

interface Ctx {
  readonly engine: DatabaseEngineName;
  readonly db: DatabaseEngine;
  readonly url: string;
  /** Writes the files (plus 0001_init) to a new folder and loads it. */
  load(files: Record<string, string>): Promise<Migration[]>;
  /** Schema hash and table stats: what "exactly as before" compares. */
  snapshot(): Promise<{ hash: string; stats: unknown }>;
}

/** A fresh database at level 1 (users, audit) with a few rows. */
async function withDatabase(engine: DatabaseEngineName, fn: (ctx: Ctx) => Promise<void>) {
  const t = await openTarget(engine);
  try {
    const ctx: Ctx = {
      engine,
      db: t.db,
      url: t.target.url,
      load: async (files) => loadMigrations(await folder({ ...INIT, ...files }), engine),
      snapshot: async () => ({
        hash: (await t.db.schemaFingerprint()).hash,
        stats: await t.db.tableStats(await t.db.listTables(), { checksumRowLimit: 1000 }),
      }),
    };
    const init = await createMigrator(t.db, { app: 'shop' }).migrateUp(await ctx.load({}));
    assert.equal(init.error, undefined, init.error?.message);
    await t.db.exec("insert into users (id, name) values (1, 'ada'), (2, 'bob')");
    await t.db.exec("insert into audit (id, note) values (1, 'created')");
    await fn(ctx);
  } finally {
    await t.cleanup();
  }
}

const statuses = (set: MigrationResultSet) => set.results.map((r) => `${r.key}:${r.direction}:${r.status}`);

for (const engine of TARGETS) {
  describe(`migrator: ${engine}`, () => {
    test('expand (column + index) then migrateDown: schema and data exactly as before', () =>
      withDatabase(engine, async ({ db, load, snapshot }) => {
        const ms = await load({
          '0002_add_email.up.sql':
            '-- rewind:phase expand\nalter table users add column email varchar(200);\ncreate index users_email on users (email);\n',
          '0002_add_email.down.sql': `${dropIndex(engine, 'users_email', 'users')};\nalter table users drop column email;\n`,
        });
        const migrator = createMigrator(db, { app: 'shop' });
        const before = await snapshot();
        const progress: string[] = [];
        const up = await migrator.migrateUp(ms, {
          revision: 2,
          onProgress: (e) => progress.push(`${e.done}/${e.total}`),
        });
        assert.deepEqual(statuses(up), ['0002_add_email:up:Success']);
        assert.deepEqual(progress, ['1/2', '2/2']);
        assert.equal(up.results[0]!.fingerprintAfter, (await db.schemaFingerprint()).hash);
        const st = await migrator.status(ms);
        assert.equal(st.currentLevel, 2);
        assert.deepEqual(st.pending, []);
        assert.equal(st.applied.find((r) => r.key === '0002_add_email')?.revision, 2);
        assert.equal(await migrator.expectedFingerprint(1), before.hash);
        assert.equal(await migrator.expectedFingerprint(2), up.results[0]!.fingerprintAfter);

        const down = await migrator.migrateDown(ms, { toLevel: 1 });
        assert.deepEqual(statuses(down), ['0002_add_email:down:Success']);
        assert.deepEqual(await snapshot(), before);
        const after = await migrator.status(ms);
        assert.equal(after.currentLevel, 1);
        assert.deepEqual(
          after.pending.map((m) => m.key),
          ['0002_add_email'],
        );
        const row = (await migrator.ledger()).find((r) => r.key === '0002_add_email')!;
        assert.equal(row.state, 'reverted');
        assert.equal(row.fingerprintReverted, before.hash);
        const baseline = await migrator.baseline(1);
        assert.equal(baseline.fingerprint, before.hash);
        assert.deepEqual(baseline.statsBefore, before.stats);
        assert.deepEqual(baseline.changedTables, ['users']);
      }));

    test('a syntax error in statement 2: Error, later migrations not run, database exactly as before', () =>
      withDatabase(engine, async ({ db, load, snapshot }) => {
        const ms = await load({
          '0002_broken.up.sql':
            'alter table users add column nickname varchar(50);\nalter tablee users add column x integer;\n' +
            'alter table users add column y integer;\n',
          '0002_broken.down.sql':
            'alter table users drop column y;\nalter table users drop column x;\nalter table users drop column nickname;\n',
          '0003_later.up.sql': 'create table later (id integer primary key);\n',
          '0003_later.down.sql': 'drop table later;\n',
        });
        const migrator = createMigrator(db, { app: 'shop' });
        const before = await snapshot();
        const up = await migrator.migrateUp(ms);
        assert.deepEqual(statuses(up), ['0002_broken:up:Error', '0003_later:up:NotExecuted']);
        const error = up.results[0]!.error!;
        assert.equal(error.code, 'SQL_ERROR');
        assert.equal(error.statement?.index, 1);
        assert.equal(error.statement?.line, 2);
        assert.match(error.message, /0002_broken.up.sql:2/);
        assert.match(
          error.message,
          engine === 'mysql' ? /1 committed statement\(s\) were undone/ : /rolled back/,
        );
        assert.deepEqual(up.error, error);
        assert.deepEqual(await snapshot(), before);
        const row = (await migrator.ledger()).find((r) => r.key === '0002_broken')!;
        assert.equal(row.state, 'failed');
        assert.equal(row.statementsDone, 0);
        assert.match(row.lastError ?? '', /alter tablee|syntax/i);
        assert.equal((await migrator.status(ms)).currentLevel, 1);
      }));

    test('a failing down: Error, the ledger says so, nothing half-done where the engine allows; a fixed down resumes', () =>
      withDatabase(engine, async ({ db, load, snapshot }) => {
        const up =
          'create table flags (id integer primary key);\nalter table users add column flag integer;\n';
        const ms = await load({
          '0002_flags.up.sql': up,
          '0002_flags.down.sql': 'alter table users drop column flag;\ndrop table flags_typo;\n',
        });
        const migrator = createMigrator(db, { app: 'shop' });
        const before = await snapshot();
        assert.deepEqual(statuses(await migrator.migrateUp(ms)), ['0002_flags:up:Success']);
        const applied = await snapshot();

        const down = await migrator.migrateDown(ms, { toLevel: 1 });
        assert.deepEqual(statuses(down), ['0002_flags:down:Error']);
        assert.equal(down.error?.code, 'SQL_ERROR');
        assert.match(down.error!.message, /flags_typo/);
        const row = (await migrator.ledger()).find((r) => r.key === '0002_flags')!;
        assert.match(row.lastError ?? '', /flags_typo/);
        if (db.transactionalDdl) {
          assert.equal(row.state, 'applied');
          assert.deepEqual(await snapshot(), applied, 'the down ran in a transaction: nothing changed');
        } else {
          // MySQL committed the first down statement; the ledger knows what is left.
          assert.equal(row.state, 'reverting');
          assert.equal(row.undoRemaining, 1);
          const blocked = await migrator.migrateUp(ms);
          assert.equal(blocked.error?.code, 'INTERRUPTED');
        }

        const fixed = await load({
          '0002_flags.up.sql': up,
          '0002_flags.down.sql': 'alter table users drop column flag;\ndrop table flags;\n',
        });
        const again = await migrator.migrateDown(fixed, { toLevel: 1 });
        assert.deepEqual(statuses(again), ['0002_flags:down:Success']);
        assert.equal(
          again.results[0]!.statementsDone,
          db.transactionalDdl ? 2 : 1,
          'MySQL resumed at the failed statement',
        );
        assert.deepEqual(await snapshot(), before);
      }));

    test('no down file: Error MISSING_DOWN and nothing changes', () =>
      withDatabase(engine, async ({ db, load, snapshot }) => {
        const ms = await load({ '0002_oneway.up.sql': 'alter table users add column oneway integer;\n' });
        const migrator = createMigrator(db, { app: 'shop' });
        assert.deepEqual(statuses(await migrator.migrateUp(ms)), ['0002_oneway:up:Success']);
        const applied = await snapshot();
        const down = await migrator.migrateDown(ms, { toLevel: 0 });
        assert.deepEqual(statuses(down), ['0002_oneway:down:Error', '0001_init:down:NotExecuted']);
        assert.equal(down.error?.code, 'MISSING_DOWN');
        assert.deepEqual(await snapshot(), applied);
        assert.equal((await migrator.status(ms)).currentLevel, 2);
      }));

    test('a lock held by another session: gives up after the retries with a lock timeout, database unchanged', () =>
      withDatabase(engine, async ({ db, url, load, snapshot }) => {
        const ms = await load({
          '0002_blocked.up.sql':
            'create table side (id integer primary key);\nalter table users add column blocked integer;\n',
          '0002_blocked.down.sql': 'alter table users drop column blocked;\ndrop table side;\n',
        });
        const migrator = createMigrator(db, { app: 'shop' });
        const before = await snapshot();
        const holder = await holdTableLock(engine, url, 'users');
        let up: MigrationResultSet;
        try {
          up = await migrator.migrateUp(ms, { lockTimeoutMs: 100, retries: 1, retryDelayMs: 20 });
        } finally {
          await holder.release();
        }
        assert.deepEqual(statuses(up), ['0002_blocked:up:Error']);
        assert.equal(up.error?.code, 'LOCK_TIMEOUT');
        assert.match(up.error!.message, /gave up after 2 attempt\(s\): lock timeout/);
        assert.deepEqual(await snapshot(), before);
        assert.deepEqual(
          statuses(await migrator.migrateUp(ms)),
          ['0002_blocked:up:Success'],
          'works once the lock is gone',
        );
      }));

    test('two migrators at once: the second returns LOCKED, or waits and finds nothing left to do', () =>
      withDatabase(engine, async ({ db, url, load }) => {
        const ms = await load({
          '0002_a.up.sql':
            'create table a (id integer primary key);\ncreate table b (id integer primary key);\n',
          '0002_a.down.sql': 'drop table b;\ndrop table a;\n',
        });
        const other = await openDatabase(engine, url);
        const waiting = await openDatabase(engine, url);
        try {
          let second: Promise<MigrationResultSet> | undefined;
          let third: Promise<MigrationResultSet> | undefined;
          const first = await createMigrator(db, { app: 'shop' }).migrateUp(ms, {
            // Mid-migration, with the advisory lock held: start the others.
            onProgress: (e) => {
              if (e.done !== 1) return;
              second = createMigrator(other, { app: 'shop' }).migrateUp(ms, { advisoryLockWaitMs: 0 });
              third = createMigrator(waiting, { app: 'shop' }).migrateUp(ms, { advisoryLockWaitMs: 10_000 });
            },
          });
          assert.deepEqual(statuses(first), ['0002_a:up:Success']);
          const locked = await second!;
          assert.equal(locked.error?.code, 'LOCKED');
          assert.match(locked.error!.message, /rewind_migrate_shop/);
          assert.deepEqual(locked.results, []);
          const late = await third!;
          assert.equal(late.error, undefined, late.error?.message);
          assert.deepEqual(late.results, [], 'the migration ran once');
        } finally {
          await other.close();
          await waiting.close();
        }
      }));

    test('phases: expand runs up to the first contract migration, contract continues from there', () =>
      withDatabase(engine, async ({ db, load }) => {
        const ms = await load({
          '0002_add.up.sql': '-- rewind:phase expand\nalter table users add column legacy integer;\n',
          '0002_add.down.sql': 'alter table users drop column legacy;\n',
          '0003_drop.up.sql': '-- rewind:phase contract\nalter table users drop column legacy;\n',
          '0003_drop.down.sql': 'alter table users add column legacy integer;\n',
          '0004_more.up.sql': 'create table more (id integer primary key);\n',
          '0004_more.down.sql': 'drop table more;\n',
        });
        const migrator = createMigrator(db, { app: 'shop' });
        const expand = await migrator.migrateUp(ms, { phase: 'expand' });
        assert.deepEqual(statuses(expand), [
          '0002_add:up:Success',
          '0003_drop:up:NotExecuted',
          '0004_more:up:NotExecuted',
        ]);
        assert.deepEqual(expand.stoppedAt, { key: '0003_drop', phase: 'contract' });
        const contract = await migrator.migrateUp(ms, { phase: 'contract', toLevel: 3 });
        assert.deepEqual(statuses(contract), ['0003_drop:up:Success']);
        const undo = await migrator.migrateDown(ms, { toLevel: 1, phase: 'contract' });
        assert.deepEqual(statuses(undo), ['0003_drop:down:Success', '0002_add:down:NotExecuted']);
        assert.equal((await migrator.status(ms)).currentLevel, 2);
      }));

    test('a changed applied file is reported and blocks migrateUp; a down recorded at apply time still works', () =>
      withDatabase(engine, async ({ db, load, snapshot }) => {
        const before = await snapshot();
        const ms = await load({
          '0002_t.up.sql': 'create table t (id integer primary key);\n',
          '0002_t.down.sql': 'drop table t;\n',
        });
        const migrator = createMigrator(db, { app: 'shop' });
        await migrator.migrateUp(ms);
        const edited = await load({
          '0002_t.up.sql': 'create table t (id integer primary key, x integer);\n',
        });
        const st = await migrator.status(edited);
        assert.deepEqual(
          st.checksumMismatches.map((c) => c.key),
          ['0002_t'],
        );
        assert.equal((await migrator.migrateUp(edited)).error?.code, 'CHECKSUM_MISMATCH');
        // Rolled back to a revision whose folder stops at 0001: the ledger's copy of the down file is used.
        const older = await load({});
        assert.deepEqual(
          (await migrator.status(older)).unknown.map((r) => r.key),
          ['0002_t'],
        );
        assert.deepEqual(statuses(await migrator.migrateDown(older, { toLevel: 1 })), [
          '0002_t:down:Success',
        ]);
        assert.deepEqual(await snapshot(), before);
      }));

    if (engine === 'postgres') {
      test('CREATE INDEX CONCURRENTLY runs outside a transaction, counted statement by statement', () =>
        withDatabase(engine, async ({ db, load, snapshot }) => {
          const ms = await load({
            '0002_code.up.sql':
              'alter table users add column code varchar(10);\ncreate index concurrently users_code on users (code);\n',
            '0002_code.down.sql':
              'drop index concurrently users_code;\nalter table users drop column code;\n',
          });
          const migrator = createMigrator(db, { app: 'shop' });
          const before = await snapshot();
          assert.deepEqual(statuses(await migrator.migrateUp(ms)), ['0002_code:up:Success']);
          const row = (await migrator.ledger()).find((r) => r.key === '0002_code')!;
          assert.equal(row.state, 'applied');
          assert.equal(row.statementsDone, 2);
          assert.deepEqual(statuses(await migrator.migrateDown(ms, { toLevel: 1 })), [
            '0002_code:down:Success',
          ]);
          assert.deepEqual(await snapshot(), before);
        }));
    }
  });
}

// Issue 11 (4): a stepwise migration stopped half-way whose down file has fewer statements than
// its up file; issue 11 (5): transaction control inside a migration.
for (const engine of TARGETS) {
  describe(`migrator: ${engine}, files it cannot undo or run safely`, () => {
    if (engine !== 'sqlite')
      test('a half-applied migration whose down file is shorter: a clear INTERRUPTED, nothing run, no TypeError', () =>
        withDatabase(engine, async ({ db, load }) => {
          // PostgreSQL goes stepwise because of CONCURRENTLY; MySQL always does.
          const index = engine === 'postgres' ? 'create index concurrently' : 'create index';
          const ms = await load({
            '0002_three.up.sql':
              `create table t1 (id integer primary key);\n${index} users_name1 on users (name);\n` +
              `${index} audit_note1 on audit (note);\ninsert into no_such_table values (1);\n`,
            '0002_three.down.sql': 'drop table t1;\ndrop table t2;\n',
          });
          const migrator = createMigrator(db, { app: 'shop' });
          const up = await migrator.migrateUp(ms);
          assert.equal(up.error?.code, 'INTERRUPTED', up.error?.message);
          assert.match(up.error!.message, /cannot be undone automatically/);
          const row = (await migrator.ledger()).find((r) => r.key === '0002_three')!;
          assert.equal(row.state, 'applying');
          assert.equal(row.statementsDone, 3);
          // The rollback runs from the ledger alone (no folder), as DatabaseService.undo does.
          const down = await migrator.migrateDown([], { toLevel: 1 });
          assert.equal(down.error?.code, 'INTERRUPTED', down.error?.message);
          assert.doesNotMatch(down.error!.message, /TypeError|reading 'line'/);
          assert.match(down.error!.message, /3 of 4 up statement\(s\).*2 statement\(s\).*Nothing was run/);
          assert.equal((await db.listTables()).includes('t1'), true, 'nothing was undone');
          const after = (await migrator.ledger()).find((r) => r.key === '0002_three')!;
          assert.equal(after.state, 'applying');
        }));

    test('BEGIN/COMMIT inside a migration: lint RW306, the migrator refuses it, nothing runs', () =>
      withDatabase(engine, async ({ db, load, snapshot }) => {
        const ms = await load({
          '0002_tx.up.sql':
            'begin;\ncreate table t1 (id integer primary key);\ncommit;\nbegin;\ninsert into users (id, name) values (3, 7 / 0);\ncommit;\n',
          '0002_tx.down.sql': 'drop table t1;\n',
        });
        const { lintMigration } = await import('./lint.ts');
        const lint = lintMigration(ms[1]!, engine);
        assert.deepEqual(
          lint.findings.filter((f) => f.code === 'RW306').map((f) => f.line),
          [1, 3, 4, 6],
        );
        const before = await snapshot();
        const migrator = createMigrator(db, { app: 'shop' });
        const up = await migrator.migrateUp(ms);
        assert.equal(up.error?.code, 'REFUSED');
        assert.match(up.error!.message, /0002_tx.up.sql:1 BEGIN .*nothing was run/);
        assert.doesNotMatch(up.error!.message, /rolled back/);
        assert.deepEqual(await snapshot(), before);
        assert.equal((await migrator.status(ms)).currentLevel, 1);
      }));
  });
}
