// Backups around contract migrations, against real databases: the rows a DROP COLUMN takes away
// come back after the rollback, and retention keeps whole revisions.

import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openTarget, TARGETS } from '../../../test/support/db-targets.ts';
import { backupForMigration, listBackups, pruneBackups, recordRemoved, restoreBackup } from './backups.ts';
import type { DatabaseEngine } from './engines/types.ts';
import { lintMigration } from './lint.ts';
import { loadMigrations } from './migration-files.ts';
import { createMigrator } from './migrator.ts';
import type { DatabaseEngineName } from './types.ts';
import { verifyDatabase } from './verify.ts';

const root = await mkdtemp(join(tmpdir(), 'rewind-backups-'));
after(() => rm(root, { recursive: true, force: true }));

const FILES = {
  '0001_init.up.sql':
    'create table users (id integer primary key, name varchar(100) not null, email varchar(200));\n' +
    'create table orders (id integer primary key, user_id integer references users (id), total integer);\n',
  '0001_init.down.sql': 'drop table orders;\ndrop table users;\n',
  '0002_drop_email.up.sql': '-- rewind:phase contract\nalter table users drop column email;\n',
  '0002_drop_email.down.sql': 'alter table users add column email varchar(200);\n',
};

async function withShop(engine: DatabaseEngineName, fn: (db: DatabaseEngine, dir: string) => Promise<void>) {
  const dir = join(root, `${engine}-${Math.random().toString(36).slice(2)}`);
  await mkdir(dir);
  for (const [name, text] of Object.entries(FILES)) await writeFile(join(dir, name), text);
  const t = await openTarget(engine);
  try {
    const init = await createMigrator(t.db, { app: 'shop' }).migrateUp(await loadMigrations(dir, engine), {
      toLevel: 1,
    });
    assert.equal(init.error, undefined, init.error?.message);
    await t.db.exec(
      "insert into users (id, name, email) values (1, 'ada', 'ada@example.com'), (2, 'bob', null)",
    );
    await t.db.exec('insert into orders (id, user_id, total) values (10, 1, 5)');
    await fn(t.db, dir);
  } finally {
    await t.cleanup();
  }
}

const users = (db: DatabaseEngine) => db.query('select id, name, email from users order by id');

for (const engine of TARGETS) {
  describe(`backups: ${engine}`, () => {
    test('DROP COLUMN contract, rollback, restore: rows, schema and verification as before', () =>
      withShop(engine, async (db, dir) => {
        const ms = await loadMigrations(dir, engine);
        const migrator = createMigrator(db, { app: 'shop' });
        const before = { rows: await users(db), hash: (await db.schemaFingerprint()).hash };
        const contract = ms.find((m) => m.key === '0002_drop_email')!;
        const tables = lintMigration(contract, engine).touchedTables;
        assert.deepEqual(tables, ['users']);
        const backupId = await backupForMigration(db, contract, tables, { app: 'shop', revision: 2 });
        assert.match(backupId, /^bk_\d{14}_[0-9a-f]{6}$/);

        const up = await migrator.migrateUp(ms, { phase: 'contract' });
        assert.equal(up.error, undefined, up.error?.message);
        assert.deepEqual(await recordRemoved(db, backupId), {
          tables: [],
          columns: { users: ['email'] },
          rows: [],
        });
        assert.deepEqual(await db.query('select id, name from users order by id'), [
          { id: 1, name: 'ada' },
          { id: 2, name: 'bob' },
        ]);

        const down = await migrator.migrateDown(ms, { toLevel: 1 });
        assert.equal(down.error, undefined, down.error?.message);
        assert.equal((await users(db))[0]!.email, null, 'the down migration brings the column back empty');
        const restored = await restoreBackup(db, { app: 'shop', revision: 2 });
        assert.deepEqual(
          restored.map((b) => [
            b.backupId,
            b.migrationKey,
            b.tables.map((t) => [t.table, t.filled, t.updated]),
          ]),
          [[backupId, '0002_drop_email', [['users', ['email'], 1]]]],
        );
        assert.deepEqual(await users(db), before.rows);
        assert.equal((await db.schemaFingerprint()).hash, before.hash);

        const baseline = await migrator.baseline(1);
        const verdict = await verifyDatabase(db, {
          expectedFingerprint: baseline.fingerprint,
          statsBefore: baseline.statsBefore,
          changedTables: [],
        });
        assert.equal(verdict.ok, true, JSON.stringify(verdict.checks));
      }));

    test('a manual backup merges back deleted rows and keeps rows changed since; overwrite is explicit', () =>
      withShop(engine, async (db) => {
        const before = await users(db);
        await backupForMigration(db, { key: 'manual' }, ['users'], { app: 'shop', revision: 5 });
        await db.exec("update users set name = 'changed' where id = 1");
        await db.exec('delete from users where id = 2');
        await db.exec("insert into users (id, name) values (3, 'new')");
        const [merge] = await restoreBackup(db, { app: 'shop', revision: 5 });
        assert.deepEqual(
          merge!.tables.map((t) => [t.table, t.updated, t.inserted, t.deleted]),
          [['users', 0, 1, 0]],
        );
        assert.deepEqual(
          (await users(db)).map((u) => `${u.id} ${u.name}`),
          ['1 changed', '2 bob', '3 new'],
        );
        const [preview] = await restoreBackup(
          db,
          { app: 'shop', revision: 5 },
          { overwrite: true, dryRun: true },
        );
        assert.deepEqual(preview!.tables[0]!.deletedSample, [{ id: 3 }]);
        assert.equal((await users(db)).length, 3, 'a preview changes nothing');
        await restoreBackup(db, { app: 'shop', revision: 5 }, { overwrite: true });
        assert.deepEqual(await users(db), before);
        assert.deepEqual(
          await restoreBackup(db, { app: 'shop', revision: 99 }),
          [],
          'no backups, nothing done',
        );
      }));

    test('a table without a primary key: the merge is refused with the reason, nothing changes', () =>
      withShop(engine, async (db) => {
        await db.exec('create table notes (body varchar(100))');
        await db.exec("insert into notes (body) values ('a')");
        await backupForMigration(db, { key: 'manual' }, ['notes', 'users'], { app: 'shop', revision: 6 });
        await db.exec('delete from notes');
        await db.exec('delete from orders');
        await db.exec('delete from users where id = 2');
        await assert.rejects(
          restoreBackup(db, { app: 'shop', revision: 6 }),
          /table notes has no primary key, so backed-up rows cannot be matched.*Nothing was restored/,
        );
        assert.equal((await users(db)).length, 1, 'users was not merged either');
      }));

    test('retention keeps the backups of the newest revisions, whole', () =>
      withShop(engine, async (db) => {
        const ids: string[] = [];
        for (const revision of [1, 2, 3, 3]) {
          ids.push(
            await backupForMigration(db, { key: `000${revision}_x` }, ['users', 'orders'], {
              app: 'shop',
              revision,
            }),
          );
        }
        await backupForMigration(db, { key: '0001_x' }, ['users'], { app: 'other', revision: 1 });
        assert.deepEqual(
          (await listBackups(db, 'shop')).map((b) => b.revision),
          [3, 3, 2, 1],
        );
        assert.deepEqual(await pruneBackups(db, 'shop', 2), [ids[0]]);
        assert.deepEqual(
          (await listBackups(db, 'shop')).map((b) => b.backupId),
          [ids[3], ids[2], ids[1]],
        );
        assert.equal(
          (await db.listBackupIds()).length,
          4,
          'the dropped backup is gone from the database too',
        );
        assert.deepEqual(await pruneBackups(db, 'shop', 2), []);
        assert.equal((await listBackups(db, 'other')).length, 1, 'other apps keep theirs');
      }));
  });
}
