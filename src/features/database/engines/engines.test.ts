// The DatabaseEngine contract, against real PostgreSQL, MariaDB/MySQL and SQLite.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { holdTableLock, openTarget, TARGETS } from '../../../../test/support/db-targets.ts';
import type { DatabaseEngineName } from '../types.ts';
import { openDatabase } from './registry.ts';
import type { DatabaseEngine } from './types.ts';

/** Lets rows reference missing parents, the way a bulk load or a bad restore would. */
const UNCHECKED: Record<DatabaseEngineName, [string, string]> = {
  postgres: ['set session_replication_role = replica', 'set session_replication_role = origin'],
  mysql: ['set foreign_key_checks = 0', 'set foreign_key_checks = 1'],
  sqlite: ['select 1', 'select 1'], // enforcement is off on Rewind's SQLite connection
};

for (const engine of TARGETS) {
  describe(`database engine: ${engine}`, () => {
    let db: DatabaseEngine;
    let url: string;
    let cleanup: () => Promise<void>;

    before(async () => {
      const t = await openTarget(engine);
      db = t.db;
      url = t.target.url;
      cleanup = t.cleanup;
      await db.exec('create table users (id integer primary key, name varchar(100) not null, age integer)');
      await db.exec(
        'create table orders (id integer primary key, user_id integer references users (id), total integer)',
      );
      await db.exec(
        "insert into users (id, name, age) values (1, 'ada', 36), (2, 'bob', null), (3, 'cy', 7)",
      );
      await db.exec('insert into orders (id, user_id, total) values (10, 1, 5), (11, 2, 7)');
    });
    after(() => cleanup());

    test('the fingerprint is stable across calls and connections, and ignores Rewind tables', async () => {
      const first = await db.schemaFingerprint();
      assert.deepEqual(Object.keys(first.tables), ['orders', 'users']);
      assert.equal((await db.schemaFingerprint()).hash, first.hash);
      const other = await openDatabase(engine, url);
      try {
        assert.equal((await other.schemaFingerprint()).hash, first.hash);
      } finally {
        await other.close();
      }
      await db.exec('create table rewind_scratch (x integer)');
      assert.equal((await db.schemaFingerprint()).hash, first.hash);
      await db.exec('drop table rewind_scratch');
    });

    test('a column created then dropped leaves the fingerprint as it was; an index changes it', async () => {
      const before = await db.schemaFingerprint();
      await db.exec('alter table users add column email varchar(200)');
      assert.notEqual((await db.schemaFingerprint()).hash, before.hash);
      await db.exec('alter table users drop column email');
      assert.equal((await db.schemaFingerprint()).hash, before.hash);
      await db.exec('create index users_age on users (age)');
      const indexed = await db.schemaFingerprint();
      assert.notEqual(indexed.hash, before.hash);
      assert.ok(indexed.tables.users!.indexes.some((i) => i.includes('users_age')));
      await db.exec(engine === 'mysql' ? 'drop index users_age on users' : 'drop index users_age');
      assert.equal((await db.schemaFingerprint()).hash, before.hash);
    });

    test('table stats: counts, a checksum that sees content but not row order, none above the limit', async () => {
      const tables = await db.listTables();
      assert.deepEqual(tables, ['orders', 'users']);
      const before = await db.tableStats(tables, { checksumRowLimit: 100 });
      assert.equal(before.users!.rows, 3);
      assert.ok(before.users!.checksum);
      await db.exec("update users set name = 'bobby' where id = 2");
      const changed = await db.tableStats(['users'], { checksumRowLimit: 100 });
      assert.notEqual(changed.users!.checksum, before.users!.checksum);
      // Same rows, inserted in another order: same checksum.
      await db.exec("update users set name = 'bob' where id = 2");
      await db.exec('delete from users where id = 3');
      await db.exec("insert into users (id, name, age) values (3, 'cy', 7)");
      assert.deepEqual(await db.tableStats(['users'], { checksumRowLimit: 100 }), { users: before.users });
      assert.deepEqual(await db.tableStats(['users'], { checksumRowLimit: 2 }), {
        users: { rows: 3, checksum: null },
      });
    });

    test('foreign key orphans are counted per constraint', async () => {
      assert.deepEqual(await db.foreignKeyOrphans(), []);
      const [off, on] = UNCHECKED[engine];
      await db.exec(off);
      await db.exec('insert into orders (id, user_id, total) values (12, 99, 1), (13, 98, 1), (14, null, 1)');
      await db.exec(on);
      const orphans = await db.foreignKeyOrphans();
      assert.equal(orphans.length, 1);
      assert.equal(orphans[0]!.table, 'orders');
      assert.equal(orphans[0]!.parent, 'users');
      assert.equal(orphans[0]!.orphans, 2);
      await db.exec('delete from orders where id in (12, 13, 14)');
    });

    test('backup and merge: a dropped column and a dropped table come back; rows written since stay', async () => {
      const before = await db.tableStats(['users', 'orders'], { checksumRowLimit: 100 });
      const ordersShape = (await db.schemaFingerprint()).tables.orders;
      const definitions = await db.describeTables(['users', 'orders']);
      assert.deepEqual(definitions.users!.primaryKey, ['id']);
      await db.backupTables('bk_t1', ['users', 'orders']);
      assert.deepEqual(await db.listBackupIds(), ['bk_t1']);
      await assert.rejects(db.backupTables('bk_t1', ['users']), 'a second backup under the same id fails');
      assert.deepEqual(await db.listTables(), ['orders', 'users'], 'backups are not user tables');

      // A contract migration drops age and orders; its down brings age back empty.
      await db.exec('alter table users drop column age');
      await db.exec('drop table orders');
      await db.exec('alter table users add column age integer default 0');
      // The app writes meanwhile: a renamed user, a new user, an age set since.
      await db.exec("update users set name = 'bea' where id = 2");
      await db.exec("insert into users (id, name) values (4, 'dee')");
      await db.exec('update users set age = 40 where id = 1');
      const plans = [
        {
          table: 'users',
          key: ['id'],
          fill: ['age'],
          insertMissing: false,
          overwrite: false,
          recreate: null,
        },
        {
          table: 'orders',
          key: ['id'],
          fill: [],
          insertMissing: true,
          overwrite: false,
          recreate: definitions.orders!,
        },
      ];
      const preview = await db.mergeTables('bk_t1', plans, { dryRun: true });
      assert.deepEqual(
        preview.map((c) => [c.table, c.recreated, c.updated, c.inserted, c.deleted]),
        [
          ['users', false, 2, 0, 0],
          ['orders', true, 0, 2, 0],
        ],
      );
      assert.equal((await db.listTables()).includes('orders'), false, 'a dry run changes nothing');
      const merged = await db.mergeTables('bk_t1', plans, { dryRun: false });
      assert.deepEqual(
        merged.map((c) => [c.table, c.recreated, c.updated, c.inserted, c.deleted]),
        [
          ['users', false, 2, 0, 0],
          ['orders', true, 0, 2, 0],
        ],
      );
      // Values written since stay (ada's 40); rows still holding the re-added column's default
      // get the backup's value; a row added since keeps the default.
      assert.deepEqual(await db.query('select id, name, age from users order by id'), [
        { id: 1, name: 'ada', age: 40 },
        { id: 2, name: 'bea', age: null },
        { id: 3, name: 'cy', age: 7 },
        { id: 4, name: 'dee', age: 0 },
      ]);
      const stats = await db.tableStats(['orders'], { checksumRowLimit: 100 });
      assert.deepEqual(stats.orders, before.orders);
      assert.deepEqual(
        (await db.schemaFingerprint()).tables.orders,
        ordersShape,
        'columns, defaults, keys, indexes and the foreign key came back',
      );

      // Overwrite: the backup's rows exactly, after a preview of what it deletes.
      const over = [{ ...plans[0]!, fill: [], overwrite: true }];
      const shown = await db.mergeTables('bk_t1', over, { dryRun: true });
      assert.deepEqual(shown[0]!.deletedSample, [{ id: 4 }]);
      await db.mergeTables('bk_t1', over, { dryRun: false });
      assert.deepEqual(
        (await db.tableStats(['users'], { checksumRowLimit: 100 })).users!.rows,
        before.users!.rows,
      );

      await db.dropBackup('bk_t1');
      await db.dropBackup('bk_t1');
      assert.deepEqual(await db.listBackupIds(), []);
      await assert.rejects(db.mergeTables('bk_t1', plans, { dryRun: false }), /has no copy of table "users"/);
      await assert.rejects(db.backupTables('Bad-Id', ['users']), /backup id "Bad-Id" is invalid/);
    });

    // Issue 11 (6): each object kind changes the fingerprint, and undoing it restores it.
    test('every object kind changes the fingerprint; dropping it again restores it', async () => {
      const kinds: Record<DatabaseEngineName, [string, string, string][]> = {
        postgres: [
          ['view', 'create view v_users as select id from users', 'drop view v_users'],
          [
            'materialized view',
            'create materialized view mv_users as select id from users',
            'drop materialized view mv_users',
          ],
          ['sequence', 'create sequence s_orders', 'drop sequence s_orders'],
          [
            'sequence change',
            'alter sequence users_id_seq_x increment by 2',
            'alter sequence users_id_seq_x increment by 1',
          ],
          ['enum type', "create type mood as enum ('ok', 'bad')", 'drop type mood'],
          [
            'enum value',
            "alter type mood_x add value 'meh'",
            "drop type mood_x; create type mood_x as enum ('a')",
          ],
          ['composite type', 'create type pair as (a integer, b text)', 'drop type pair'],
          ['domain', 'create domain positive as integer check (value > 0)', 'drop domain positive'],
          [
            'function',
            'create function f_one() returns integer language sql as $$ select 1 $$',
            'drop function f_one()',
          ],
          ['procedure', 'create procedure p_one() language sql as $$ select 1 $$', 'drop procedure p_one()'],
          [
            'trigger',
            'create function t_fn() returns trigger language plpgsql as $$ begin return new; end $$; create trigger t_users before insert on users for each row execute function t_fn()',
            'drop trigger t_users on users; drop function t_fn()',
          ],
          ['extension', 'create extension if not exists pg_trgm', 'drop extension pg_trgm'],
          ['column order', 'alter table co_x drop column a; alter table co_x add column a integer', ''],
          [
            'column default',
            'alter table users alter column age set default 1',
            'alter table users alter column age set default 0',
          ],
        ],
        mysql: [
          ['view', 'create view v_users as select id from users', 'drop view v_users'],
          [
            'function',
            'create function f_one() returns integer deterministic return 1',
            'drop function f_one',
          ],
          ['procedure', 'create procedure p_one() select 1', 'drop procedure p_one'],
          [
            'trigger',
            'create trigger t_users before insert on users for each row set new.age = new.age',
            'drop trigger t_users',
          ],
          ['event', 'create event e_tick on schedule every 1 hour do select 1', 'drop event e_tick'],
          ['sequence', 'create sequence s_orders', 'drop sequence s_orders'],
          [
            'column order',
            'alter table users modify column age integer default 0 first',
            'alter table users modify column age integer default 0 after name',
          ],
          [
            'column default',
            'alter table users alter column age set default 1',
            'alter table users alter column age set default 0',
          ],
        ],
        sqlite: [
          ['view', 'create view v_users as select id from users', 'drop view v_users'],
          [
            'trigger',
            'create trigger t_users after insert on users begin select 1; end',
            'drop trigger t_users',
          ],
        ],
      };
      const setup: Record<DatabaseEngineName, string[]> = {
        postgres: [
          'create sequence users_id_seq_x',
          "create type mood_x as enum ('a')",
          'create table co_x (a integer, b integer)',
        ],
        mysql: [],
        sqlite: [],
      };
      for (const st of setup[engine]) await db.exec(st);
      try {
        for (const [kind, make, undo] of kinds[engine]) {
          const before = await db.schemaFingerprint();
          for (const st of make.split(/; (?=create|drop|alter)/)) await db.exec(st);
          const changed = await db.schemaFingerprint();
          assert.notEqual(changed.hash, before.hash, `${engine}: ${kind} must change the fingerprint`);
          if (!undo) continue;
          for (const st of undo.split(/; (?=create|drop|alter)/)) await db.exec(st.replaceAll("\\'", "'"));
          assert.equal(
            (await db.schemaFingerprint()).hash,
            before.hash,
            `${engine}: undoing ${kind} restores it`,
          );
        }
      } finally {
        for (const st of setup[engine])
          await db.exec(st.replace(/^create (sequence|type|table) (\w+).*/, 'drop $1 if exists $2'));
      }
    });

    test('advisory lock: a second session waits, gives up, then gets it once released', async () => {
      const other = await openDatabase(engine, url);
      try {
        assert.equal(await db.tryLock('rewind_migrate_shop', 0), true);
        assert.equal(
          await db.tryLock('rewind_migrate_shop', 0),
          true,
          'held locks are reentrant for their holder',
        );
        const started = Date.now();
        assert.equal(await other.tryLock('rewind_migrate_shop', 150), false);
        assert.ok(Date.now() - started >= 140, 'waited for the timeout');
        assert.equal(await other.tryLock('rewind_migrate_other', 0), true, 'names are independent');
        await db.unlock('rewind_migrate_shop');
        assert.equal(await other.tryLock('rewind_migrate_shop', 1000), true);
        assert.equal(await db.tryLock('rewind_migrate_shop', 0), false);
      } finally {
        await other.close();
      }
      assert.equal(await db.tryLock('rewind_migrate_shop', 1000), true, 'closing a session frees its locks');
      await db.unlock('rewind_migrate_shop');
    });

    test('a lock wait ends with an error the engine calls a lock timeout; others are not', async () => {
      const holder = await holdTableLock(engine, url, 'users');
      await db.setLockTimeout(100);
      try {
        const err = await db
          .transaction(() => db.exec('alter table users add column blocked integer'))
          .then(
            () => null,
            (e: unknown) => e,
          );
        assert.ok(err, 'the change waited and failed');
        assert.equal(db.isLockTimeout(err), true, String(err));
      } finally {
        await holder.release();
        await db.setLockTimeout(5000);
      }
      const syntax = await db.exec('alter tablee users').then(
        () => null,
        (e: unknown) => e,
      );
      assert.equal(db.isLockTimeout(syntax), false);
      const columns = (await db.schemaFingerprint()).tables.users!.columns.map((c) => c.name);
      assert.deepEqual(columns, ['age', 'id', 'name'], 'the blocked change did not happen');
    });
  });
}
